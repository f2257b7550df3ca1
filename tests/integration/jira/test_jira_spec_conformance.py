"""Every body the client sends, and the sandbox's answers, checked against Jira's OpenAPI spec.

The exchanges are recorded with httpx event hooks on a real client talking to the
real sandbox; nothing is mocked. The Agile API (`/rest/agile/1.0`) is not part
of the platform spec, so it is only checked for being Agile.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from infrastructure.jira import JiraClient, JiraFieldError, NewIssue
from tests.integration.jira.support import (
    DEMO_EMAIL,
    DEMO_TOKEN,
    Exchange,
    Recorder,
    SandboxAdmin,
    SpecChecker,
    adf,
    multipart_parts,
)

EXPECTED_OPERATIONS = {
    "getCurrentUser",
    "getMyPermissions",
    "getProject",
    "getCreateIssueMetaIssueTypes",
    "getCreateIssueMetaIssueTypeId",
    "searchPriorities",
    "getPriorities",
    "getIssueLinkTypes",
    "findUsers",
    "findAssignableUsers",
    "createIssue",
    "createIssues",
    "addAttachment",
    "linkIssues",
    "searchAndReconsileIssuesUsingJqlPost",
    "searchAndReconsileIssuesUsingJql",
    "getIssue",
    "getIssueProperty",
}
AGILE_CALLS = {
    "GET /rest/agile/1.0/board",
    "GET /rest/agile/1.0/board/1/sprint",
    "POST /rest/agile/1.0/sprint/2/issue",
}


def exercise_every_endpoint(jira: JiraClient, recorder: Recorder, base_url: str) -> None:
    me = jira.myself()
    jira.my_permissions("DEMO")
    jira.get_project("DEMO")
    task = next(t for t in jira.get_issue_types("DEMO") if t.name == "Task")
    jira.get_create_fields("DEMO", task.id)
    jira.get_priorities()
    jira.get_link_types()
    jira.find_users("alice")
    jira.find_assignable_users("DEMO", "a")
    (board,) = jira.get_boards("DEMO")
    sprint = jira.get_sprints(board.id)[0]
    epic = jira.create_issue(NewIssue("DEMO", "Content model", issue_type="Epic", labels=("spec",)))
    story = jira.create_issue(
        NewIssue(
            "DEMO",
            "Article type",
            issue_type="Story",
            description=adf("As an editor…", "Fields: body."),
            labels=("spec", "tf-ticket-1"),
            assignee_account_id=me.account_id,
            priority="High",
            parent_key=epic.key,
            extra_fields={"customfield_10020": sprint.id},
            properties={"ticketforge": {"ticket_id": "1"}},
        )
    )
    bulk = jira.create_issues(
        [NewIssue("DEMO", "bulk ok", labels=("spec",)), NewIssue("DEMO", "bulk bad", priority="No")]
    )
    jira.create_issues([NewIssue("DEMO", "")])  # every element fails: 400 with CreatedIssues
    with pytest.raises(JiraFieldError):
        jira.create_issue(NewIssue("DEMO", "s" * 300))  # 400 with ErrorCollection
    jira.add_attachment(story.key, "Détails · 数据.md", b"# details", "text/markdown")
    jira.link_blocks(epic.key, story.key)
    jira.move_issues_to_sprint(sprint.id, [bulk.created[0].key])
    jira.search('project = DEMO AND labels = "spec" ORDER BY key', page_size=2)
    jira.find_issues_by_label("tf-ticket-1", "DEMO")
    jira.get_issue(
        story.key, ["summary", "issuelinks", "attachment", "parent", "customfield_10020"]
    )
    jira.get_issue_snapshot(story.key)
    jira.get_issue_property(story.key, "ticketforge")
    # What the client does not call but the sandbox serves: GET search and the old priority list.
    with httpx.Client(
        base_url=base_url, auth=(DEMO_EMAIL, DEMO_TOKEN), event_hooks=recorder.hooks()
    ) as raw:
        raw.get(
            "/rest/api/3/search/jql", params={"jql": "project = DEMO", "fields": "summary,status"}
        )
        raw.get("/rest/api/3/priority")


@pytest.fixture
def exchanges(
    make_client: Callable[..., JiraClient], recorder: Recorder, sandbox: SandboxAdmin
) -> list[Exchange]:
    jira = make_client(event_hooks=recorder.hooks())
    exercise_every_endpoint(jira, recorder, sandbox.base_url)
    return recorder.exchanges


def test_every_request_the_client_sends_matches_the_spec(
    spec: SpecChecker, exchanges: list[Exchange]
) -> None:
    covered: set[str] = set()
    agile: set[str] = set()
    problems: list[str] = []
    for exchange in exchanges:
        operation = spec.operation(exchange.method, exchange.path)
        if operation is None:
            assert exchange.path.startswith("/rest/agile/1.0/"), exchange.path
            agile.add(f"{exchange.method} {exchange.path}")
            continue
        covered.add(operation.operation_id)
        where = f"{exchange.method} {exchange.path}"
        undeclared = spec.undeclared_query(operation, exchange.query)
        problems += [f"{where}: query parameter {name!r} is not in the spec" for name in undeclared]
        if operation.operation_id == "addAttachment":
            assert exchange.request_headers["X-Atlassian-Token"] == "no-check"
            assert [(name, filename) for name, filename, _ in multipart_parts(exchange)] == [
                ("file", "Détails · 数据.md")
            ]
        elif exchange.request_body:
            problems += [
                f"{where}: {e}" for e in spec.request_errors(operation, exchange.request_json())
            ]
        elif "requestBody" in operation.definition:
            problems.append(f"{where}: the spec expects a body")
    assert problems == []
    assert covered == EXPECTED_OPERATIONS
    assert agile == AGILE_CALLS


def test_the_sandbox_answers_match_the_spec(spec: SpecChecker, exchanges: list[Exchange]) -> None:
    validated: set[tuple[str, int]] = set()
    problems: list[str] = []
    for exchange in exchanges:
        operation = spec.operation(exchange.method, exchange.path)
        if operation is None or not spec.response_schema_known(operation, exchange.status):
            continue
        assert exchange.response_type.startswith("application/json")
        errors = spec.response_errors(operation, exchange.status, exchange.response_json())
        problems += [f"{exchange.method} {exchange.path} -> {exchange.status}: {e}" for e in errors]
        validated.add((operation.operation_id, exchange.status))
    assert problems == []
    assert {
        ("createIssue", 201),
        ("createIssue", 400),
        ("createIssues", 201),
        ("createIssues", 400),
        ("searchAndReconsileIssuesUsingJqlPost", 200),
        ("searchAndReconsileIssuesUsingJql", 200),
        ("getCurrentUser", 200),
        ("getIssue", 200),
        ("getProject", 200),
        ("addAttachment", 200),
    } <= validated
    assert len(validated) >= 18


def test_the_checker_rejects_what_the_spec_forbids(spec: SpecChecker) -> None:
    link = spec.operation("POST", "/rest/api/3/issueLink")
    create = spec.operation("POST", "/rest/api/3/issue")
    search = spec.operation("POST", "/rest/api/3/search/jql")
    assert link and create and search
    assert spec.request_errors(link, {"inwardIssue": {"key": "A-1"}, "type": {"name": "Blocks"}})
    assert spec.request_errors(search, {"jql": "project = A", "startAt": 0})  # the removed /search
    assert spec.response_errors(create, 201, {"id": "1", "key": "A-1", "self": "x", "url": "y"})
    assert spec.response_errors(search, 200, {"issues": [], "isLast": True, "total": 0})
    assert spec.operation("POST", "/rest/api/3/issue/bulk").operation_id == "createIssues"  # type: ignore[union-attr]
