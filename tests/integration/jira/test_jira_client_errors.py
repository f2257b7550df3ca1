"""What Jira says no with, and which error family and category the client turns it into."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from infrastructure.jira import (
    ADMIN_REQUIRED,
    USER_FIXABLE,
    JiraAuthError,
    JiraClient,
    JiraError,
    JiraFieldError,
    JiraNotFound,
    NewIssue,
)
from tests.integration.jira.support import (
    DEMO_EMAIL,
    DEMO_TOKEN,
    VIEWER_EMAIL,
    VIEWER_TOKEN,
    SandboxAdmin,
    adf,
)


def account(jira: JiraClient, email: str) -> str:
    return next(u.account_id for u in jira.find_users(email) if u.email == email)


FIELD_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown assignee": ({"assignee_account_id": "712020:nobody"}, "assignee"),
    "assignee not assignable here": ({"assignee_account_id": "dave@example.com"}, "assignee"),
    "unknown priority": ({"priority": "Urgent"}, "priority"),
    "summary over 255": ({"summary": "s" * 256}, "summary"),
    "summary missing": ({"summary": ""}, "summary"),
    "summary with newline": ({"summary": "two\nlines"}, "summary"),
    "description not ADF": ({"description": {"type": "paragraph", "content": []}}, "description"),
    "description wrong ADF version": ({"description": adf("x") | {"version": 2}}, "description"),
    "description bad node": (
        {"description": {"type": "doc", "version": 1, "content": [{"text": "no type"}]}},
        "description",
    ),
    "unknown sprint": ({"extra_fields": {"customfield_10020": 999}}, "customfield_10020"),
    "closed sprint": ({"extra_fields": {"customfield_10020": 1}}, "customfield_10020"),
    "label with a space": ({"labels": ("two words",)}, "labels"),
    "field not on screen": ({"extra_fields": {"customfield_99999": "x"}}, "customfield_99999"),
    "unknown issue type": ({"issue_type": "Saga"}, "issuetype"),
    "parent of wrong level": ({"parent_key": "DEMO-1"}, "parent"),
}


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_errors_are_user_fixable_and_name_the_field(jira: JiraClient, case: str) -> None:
    jira.create_issue(NewIssue("DEMO", "a task to be a wrong parent"))
    changes, field = FIELD_CASES[case]
    if changes.get("assignee_account_id") == "dave@example.com":
        changes = {"assignee_account_id": account(jira, "dave@example.com")}
    issue = NewIssue(**{"project_key": "DEMO", "summary": "A ticket"} | changes)
    with pytest.raises(JiraFieldError) as caught:
        jira.create_issue(issue)
    error = caught.value
    assert (error.status, error.category) == (400, USER_FIXABLE)
    assert error.failed_fields == (field,)
    assert field in str(error)
    assert error.recovery_actions


def test_all_field_errors_come_back_together(jira: JiraClient) -> None:
    with pytest.raises(JiraFieldError) as caught:
        jira.create_issue(
            NewIssue("DEMO", "A ticket", assignee_account_id="712020:nobody", priority="Urgent")
        )
    assert set(caught.value.failed_fields) == {"assignee", "priority"}


def test_required_custom_field_missing(jira: JiraClient) -> None:
    with pytest.raises(JiraFieldError) as caught:
        jira.create_issue(NewIssue("TF", "A bug", issue_type="Bug"))
    assert caught.value.field_errors == {"customfield_10040": "Environment is required."}
    jira.create_issue(
        NewIssue("TF", "A bug", issue_type="Bug", extra_fields={"customfield_10040": "prod"})
    )


def test_bad_credentials_need_an_admin(
    make_client: Callable[..., JiraClient], sandbox: SandboxAdmin
) -> None:
    client = make_client(DEMO_EMAIL, "revoked-token")
    with pytest.raises(JiraAuthError) as caught:
        client.myself()
    assert (caught.value.status, caught.value.category) == (401, ADMIN_REQUIRED)
    assert sandbox.requests("GET /rest/api/3/myself") == 1  # never retried
    with pytest.raises(JiraAuthError):
        make_client(None, None, bearer_token="not-a-token").myself()


def test_missing_create_permission_is_403(make_client: Callable[..., JiraClient]) -> None:
    viewer = make_client(VIEWER_EMAIL, VIEWER_TOKEN)
    with pytest.raises(JiraAuthError) as caught:
        viewer.create_issue(NewIssue("DEMO", "Not allowed"))
    assert (caught.value.status, caught.value.category) == (403, ADMIN_REQUIRED)
    assert "permission" in str(caught.value)


def test_project_gone(jira: JiraClient, make_client: Callable[..., JiraClient]) -> None:
    with pytest.raises(JiraNotFound) as caught:
        jira.get_project("GONE")
    assert (caught.value.status, caught.value.category) == (404, ADMIN_REQUIRED)
    with pytest.raises(JiraNotFound) as on_create:
        jira.create_issue(NewIssue("GONE", "Into the void"))
    assert on_create.value.field_errors == {"project": "Specify a valid project ID or key"}
    # A project the account cannot browse looks the same as one that is gone.
    with pytest.raises(JiraNotFound):
        make_client(VIEWER_EMAIL, VIEWER_TOKEN).get_project("TF")


def test_unknown_issue_and_property(jira: JiraClient) -> None:
    with pytest.raises(JiraNotFound):
        jira.get_issue_snapshot("DEMO-999")
    created = jira.create_issue(NewIssue("DEMO", "No properties"))
    with pytest.raises(JiraNotFound):
        jira.get_issue_property(created.key, "ticketforge")


def test_attachment_too_large_is_413(jira: JiraClient, sandbox: SandboxAdmin) -> None:
    sandbox.limits(max_attachment_bytes=100)
    issue = jira.create_issue(NewIssue("DEMO", "Big file"))
    with pytest.raises(JiraError) as caught:
        jira.add_attachment(issue.key, "big.md", b"x" * 101)
    assert (caught.value.status, caught.value.category) == (413, USER_FIXABLE)
    assert jira.add_attachment(issue.key, "small.md", b"x" * 100)


def test_attachment_without_the_xsrf_header_is_refused(
    jira: JiraClient, sandbox: SandboxAdmin
) -> None:
    issue = jira.create_issue(NewIssue("DEMO", "XSRF"))
    url = f"{sandbox.base_url}/rest/api/3/issue/{issue.key}/attachments"
    files = {"file": ("a.md", b"a", "text/markdown")}
    refused = httpx.post(url, files=files, auth=(DEMO_EMAIL, DEMO_TOKEN))
    assert (refused.status_code, refused.text) == (403, "XSRF check failed")
    accepted = httpx.post(
        url, files=files, auth=(DEMO_EMAIL, DEMO_TOKEN), headers={"X-Atlassian-Token": "no-check"}
    )
    assert accepted.status_code == 200
    assert jira.get_issue(issue.key, ["attachment"]).fields["attachment"][0]["filename"] == "a.md"


def test_missing_blocks_link_type(jira: JiraClient, sandbox: SandboxAdmin) -> None:
    a = jira.create_issue(NewIssue("DEMO", "A"))
    b = jira.create_issue(NewIssue("DEMO", "B"))
    sandbox.faults(missing_link_types=["Blocks"])
    assert "Blocks" not in {t.name for t in jira.get_link_types()}
    with pytest.raises(JiraNotFound) as caught:
        jira.link_blocks(a.key, b.key)
    assert "Blocks" in str(caught.value)
    jira.create_link("Relates", a.key, b.key)


def test_unauthorized_from_the_nth_request_on(jira: JiraClient, sandbox: SandboxAdmin) -> None:
    sandbox.faults(unauthorized_from_request=3)
    jira.myself()
    jira.get_project("DEMO")
    for _ in range(2):
        with pytest.raises(JiraAuthError) as caught:
            jira.get_priorities()
        assert caught.value.category == ADMIN_REQUIRED
    assert sandbox.stats()["faults_injected"] == {"unauthorized": 2}


def test_jql_outside_the_subset_is_a_400(jira: JiraClient) -> None:
    for jql in (
        "project = DEMO OR project = TF",
        "summary ~ foo",
        "ORDER BY key",
        'labels = "a" (',
    ):
        with pytest.raises(JiraError) as caught:
            jira.search(jql)
        assert caught.value.status == 400
        assert caught.value.error_messages
