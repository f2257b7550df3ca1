"""Every REST v2 request the client sends to Jira Data Center, and the sandbox's answers,
checked against `specs/jira-datacenter-rest-v2.requests.json`: JSON Schemas built from the
real request/response examples it cites (Atlassian's Data Center REST examples,
pycontribs/jira, atlassian-python-api), as the Cloud v3 bodies are checked against
Atlassian's OpenAPI spec. A real client, with a personal access token, against a real
Data Center sandbox on loopback; nothing is mocked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from infrastructure.jira import JiraClient, JiraFieldError, JiraNotFound, NewIssue
from infrastructure.jira_sandbox import SandboxServer, create_sandbox_app
from tests.integration.jira.support import (
    FAST_RETRY,
    SANDBOX_LIMITS,
    V2_SCHEMAS,
    Exchange,
    Recorder,
    V2Checker,
    multipart_parts,
)

PAT = "demo-bearer-token"
EPIC_LINK, EPIC_NAME = "customfield_10100", "customfield_10102"


@pytest.fixture(scope="module")
def checker() -> V2Checker:
    document = json.loads(V2_SCHEMAS.read_text(encoding="utf-8"))
    for op in document["operations"]:  # every schema rests on a cited example
        assert op["sources"] and set(op["sources"]) <= set(document["sources"]), op["id"]
    return V2Checker(document)


@pytest.fixture(scope="module")
def dc_server() -> Iterator[SandboxServer]:
    app = create_sandbox_app(None, limits=SANDBOX_LIMITS, flavor="datacenter")
    with SandboxServer(app) as server:
        yield server


def exercise(jira: JiraClient) -> None:
    me = jira.myself()
    jira.my_permissions("DEMO")
    jira.get_project("DEMO")
    types = {t.name: t.id for t in jira.get_issue_types("DEMO")}
    jira.get_create_fields("DEMO", types["Task"])
    jira.get_create_fields("DEMO", types["Epic"])
    jira.get_priorities()
    jira.get_fields()
    jira.get_link_types()
    jira.find_users("alice")
    jira.find_assignable_users("DEMO", "a")
    epic = jira.create_issue(
        NewIssue("DEMO", "Content model", issue_type="Epic", extra_fields={EPIC_NAME: "CM"})
    )
    story = jira.create_issue(
        NewIssue(
            "DEMO",
            "Article type",
            issue_type="Story",
            description="h2. User story\n\nAs an *editor* …\n\n* one\n* two",
            labels=("spec", "tf-ticket-1"),
            assignee_account_id=me.account_id,
            priority="High",
            extra_fields={EPIC_LINK: epic.key},
            properties={"ticketforge": {"ticket_id": "1"}},
        )
    )
    jira.create_issues(
        [NewIssue("DEMO", "bulk ok", labels=("spec",)), NewIssue("DEMO", "bulk bad", priority="No")]
    )
    with pytest.raises(JiraFieldError):
        jira.create_issue(NewIssue("DEMO", "s" * 300))
    jira.update_issue(story.key, {"description": "h2. Changed"}, add_labels=["x"])
    jira.add_comment(story.key, "ticketforge: a note")
    jira.get_comments(story.key)
    jira.add_attachment(story.key, "Détails.md", b"# details", "text/markdown")
    jira.link_blocks(epic.key, story.key)
    jira.search('project = DEMO AND labels = "spec" ORDER BY key', page_size=2)
    jira.get_issue(story.key, ["summary", "description", "issuelinks", EPIC_LINK])
    jira.get_issue_property(story.key, "ticketforge")


@pytest.fixture(scope="module")
def exchanges(dc_server: SandboxServer) -> list[Exchange]:
    recorder = Recorder()
    with JiraClient(
        dc_server.base_url,
        bearer_token=PAT,
        flavor="auto",  # detected from serverInfo: Data Center answers "Server"
        retry=FAST_RETRY,
        timeout=5.0,
        event_hooks=recorder.hooks(),
    ) as jira:
        exercise(jira)
        assert jira.flavor == "datacenter"
    return recorder.exchanges


def test_every_v2_request_matches_the_cited_schemas(
    checker: V2Checker, exchanges: list[Exchange]
) -> None:
    covered: set[str] = set()
    problems: list[str] = []
    for exchange in exchanges:
        where = f"{exchange.method} {exchange.path}"
        if exchange.path.startswith("/rest/agile/1.0/"):
            continue
        assert exchange.path.startswith("/rest/api/2/"), where  # never v3 on Data Center
        assert exchange.request_headers["Authorization"] == f"Bearer {PAT}"
        operation = checker.operation(exchange.method, exchange.path)
        if operation is None:
            problems.append(f"{where}: no schema")
            continue
        covered.add(operation.id)
        declared = set(operation.definition["query"])
        problems += [
            f"{where}: query {name!r} undeclared" for name in set(exchange.query) - declared
        ]
        if operation.definition.get("multipart"):
            assert exchange.request_headers["X-Atlassian-Token"] == "no-check"
            assert [n for n, _, _ in multipart_parts(exchange)] == ["file"]
        elif exchange.request_body:
            problems += [
                f"{where}: {e}" for e in checker.request_errors(operation, exchange.request_json())
            ]
        elif "request" in operation.definition:
            problems.append(f"{where}: a body is expected")
    assert problems == []
    assert covered >= {
        "getServerInfo", "getCurrentUser", "getCreateIssueMetaProjectIssueTypes",
        "getCreateIssueMetaFields", "getFields", "createIssue", "createIssues", "editIssue",
        "addComment", "addAttachment", "linkIssues", "searchPost", "getIssue",
        "findAssignableUsers",
    }  # fmt: skip


def test_the_data_center_sandbox_answers_match_the_cited_schemas(
    checker: V2Checker, exchanges: list[Exchange]
) -> None:
    problems: list[str] = []
    checked: set[str] = set()
    for exchange in exchanges:
        operation = checker.operation(exchange.method, exchange.path)
        if operation is None or exchange.status >= 400 or not exchange.response_body:
            continue
        if exchange.status == 400 and operation.id == "createIssues":
            continue
        problems += [
            f"{exchange.method} {exchange.path} -> {exchange.status}: {e}"
            for e in checker.response_errors(operation, exchange.response_json())
        ]
        checked.add(operation.id)
    assert problems == []
    assert {"searchPost", "getCurrentUser", "getCreateIssueMetaFields", "createIssues"} <= checked


def test_the_checker_refuses_cloud_shapes_on_data_center(checker: V2Checker) -> None:
    """What would be right on Cloud is wrong here: an ADF description, an accountId, the
    token-paged search."""
    create = checker.operation("POST", "/rest/api/2/issue")
    search = checker.operation("POST", "/rest/api/2/search")
    comment = checker.operation("POST", "/rest/api/2/issue/DEMO-1/comment")
    myself = checker.operation("GET", "/rest/api/2/myself")
    assert create and search and comment and myself
    fields = {"project": {"key": "DEMO"}, "summary": "s", "issuetype": {"name": "Task"}}
    assert checker.request_errors(create, {"fields": fields}) == []
    adf = {"type": "doc", "version": 1, "content": []}
    assert checker.request_errors(create, {"fields": {**fields, "description": adf}})
    assert checker.request_errors(create, {"fields": {**fields, "assignee": {"accountId": "1"}}})
    assert checker.request_errors(create, {"fields": {**fields, "parent": {"key": "DEMO-1"}}})
    assert checker.request_errors(search, {"jql": "project = A", "nextPageToken": "x"})
    assert checker.request_errors(comment, {"body": adf})
    assert checker.response_errors(myself, {"accountId": "1", "displayName": "A"})
    assert checker.operation("POST", "/rest/api/2/issue/bulk").id == "createIssues"  # type: ignore[union-attr]


def test_the_data_center_sandbox_has_no_rest_v3(dc_server: SandboxServer) -> None:
    v3 = JiraClient(dc_server.base_url, bearer_token=PAT, flavor="cloud", retry=FAST_RETRY)
    with v3, pytest.raises(JiraNotFound):
        v3.myself()
