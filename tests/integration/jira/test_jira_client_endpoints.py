"""JiraClient against the real sandbox over HTTP: every endpoint the export and sync use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from infrastructure.jira import EXPORT_PERMISSIONS, JiraClient, NewIssue
from tests.integration.jira.support import (
    DEMO_EMAIL,
    DEMO_TOKEN,
    VIEWER_EMAIL,
    VIEWER_TOKEN,
    SandboxAdmin,
    adf,
)


def account_of(jira: JiraClient, email: str) -> str:
    (user,) = [u for u in jira.find_users(email) if u.email == email]
    return user.account_id


def test_myself_with_basic_and_bearer_auth(
    jira: JiraClient, make_client: Callable[..., JiraClient]
) -> None:
    me = jira.myself()
    assert (me.email, me.display_name, me.active) == (DEMO_EMAIL, "Demo Admin", True)
    bearer = make_client(None, None, bearer_token="demo-bearer-token")
    assert bearer.myself().account_id == me.account_id


def test_permissions_for_the_export(
    jira: JiraClient, make_client: Callable[..., JiraClient]
) -> None:
    assert jira.my_permissions("DEMO") == dict.fromkeys(EXPORT_PERMISSIONS, True)
    viewer = make_client(VIEWER_EMAIL, VIEWER_TOKEN)
    assert viewer.my_permissions("DEMO") == dict.fromkeys(EXPORT_PERMISSIONS, False)


def test_project_issue_types_and_required_fields(jira: JiraClient) -> None:
    project = jira.get_project("DEMO")
    assert (project.key, project.name) == ("DEMO", "Demo project")
    types = {t.name: t for t in jira.get_issue_types("DEMO")}
    assert set(types) == {"Task", "Story", "Bug", "Epic"}
    assert {t.name for t in project.issue_types} == set(types)
    task_fields = jira.get_create_fields("DEMO", types["Task"].id)
    assert {f.field_id for f in task_fields if f.required} == {"summary", "issuetype", "project"}
    sprint = next(f for f in task_fields if f.name == "Sprint")
    assert sprint.custom == "com.pyxis.greenhopper.jira:gh-sprint"
    # TF's bugs need an Environment that ticketforge does not fill: pre-flight must see it.
    bug_fields = jira.get_create_fields("TF", types["Bug"].id)
    assert {f.name for f in bug_fields if f.required} >= {"Environment"}


def test_priorities(jira: JiraClient) -> None:
    priorities = jira.get_priorities()
    assert [p.name for p in priorities] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert [p.name for p in priorities if p.is_default] == ["Medium"]


def test_create_issue_with_every_field_and_a_property(
    jira: JiraClient, sandbox: SandboxAdmin
) -> None:
    alice = account_of(jira, "alice@example.com")
    created = jira.create_issue(
        NewIssue(
            project_key="DEMO",
            summary="Configure the Article content type",
            issue_type="Story",
            description=adf("As an editor I want articles.", "Fields: title, body."),
            labels=("ticketforge", "tf-ticket-1"),
            assignee_account_id=alice,
            priority="High",
            properties={"ticketforge": {"ticket_id": "t-1", "session_id": "s-1"}},
        )
    )
    assert created.key == "DEMO-1"
    assert created.browse_url == f"{sandbox.base_url}/browse/DEMO-1"
    assert created.self_url.endswith(f"/rest/api/3/issue/{created.id}")
    issue = jira.get_issue(
        created.key, ["summary", "issuetype", "labels", "assignee", "priority", "description"]
    )
    assert issue.fields["summary"] == "Configure the Article content type"
    assert issue.fields["issuetype"]["name"] == "Story"
    assert issue.labels == ("tf-ticket-1", "ticketforge")  # Jira answers labels sorted
    assert issue.fields["assignee"]["accountId"] == alice
    assert issue.fields["priority"]["name"] == "High"
    assert issue.fields["description"] == adf(
        "As an editor I want articles.", "Fields: title, body."
    )
    assert jira.get_issue_property(created.key, "ticketforge") == {
        "ticket_id": "t-1",
        "session_id": "s-1",
    }


def test_story_under_an_epic(jira: JiraClient) -> None:
    epic = jira.create_issue(NewIssue("DEMO", "Content model", issue_type="Epic"))
    story = jira.create_issue(
        NewIssue("DEMO", "Article type", issue_type="Story", parent_key=epic.key)
    )
    assert jira.get_issue(story.key, ["parent"]).fields["parent"]["key"] == epic.key


def test_bulk_create_maps_failed_elements_back_to_inputs(jira: JiraClient) -> None:
    issues = [
        NewIssue("DEMO", "first", labels=("bulk",)),
        NewIssue("DEMO", "second", labels=("bulk",), priority="Urgent"),
        NewIssue("DEMO", "third", labels=("bulk",)),
        NewIssue("DEMO", "x" * 256, labels=("bulk",)),
    ]
    result = jira.create_issues(issues)
    assert sorted(result.created) == [0, 2]
    assert [result.created[0].key, result.created[2].key] == ["DEMO-1", "DEMO-2"]
    assert sorted(result.failed) == [1, 3]
    assert list(result.failed[1].field_errors) == ["priority"]
    assert list(result.failed[3].field_errors) == ["summary"]
    assert result.failed[1].status == 400
    found = jira.find_issues_by_label("bulk", "DEMO")
    assert [(i.key, i.fields["summary"]) for i in found] == [
        ("DEMO-1", "first"),
        ("DEMO-2", "third"),
    ]


def test_bulk_create_where_every_element_fails(jira: JiraClient) -> None:
    result = jira.create_issues([NewIssue("DEMO", ""), NewIssue("DEMO", "ok", priority="Nope")])
    assert result.created == {}
    assert {i: list(f.field_errors) for i, f in result.failed.items()} == {
        0: ["summary"],
        1: ["priority"],
    }


def test_bulk_create_refuses_more_than_fifty(jira: JiraClient, sandbox: SandboxAdmin) -> None:
    with pytest.raises(ValueError, match="50"):
        jira.create_issues([NewIssue("DEMO", f"issue {n}") for n in range(51)])
    assert sandbox.requests("POST /rest/api/3/issue/bulk") == 0


def test_attachments_with_non_ascii_file_names(jira: JiraClient) -> None:
    issue = jira.create_issue(NewIssue("DEMO", "Has attachments"))
    name = "Spécification · données 数据.md"
    content = "# Détails\n\nLong analysis…\n".encode()
    (attachment,) = jira.add_attachment(issue.key, name, content, "text/markdown")
    assert (attachment.filename, attachment.size, attachment.mime_type) == (
        name,
        len(content),
        "text/markdown",
    )
    jira.add_attachment(issue.key, "second.txt", b"two")
    listed = jira.get_issue(issue.key, ["attachment"]).fields["attachment"]
    assert [a["filename"] for a in listed] == [name, "second.txt"]
    download = httpx.get(attachment.content_url, auth=(DEMO_EMAIL, DEMO_TOKEN))
    assert download.content == content


def test_blocks_link_reads_dependency_blocks_dependent(jira: JiraClient) -> None:
    types = {t.name: t for t in jira.get_link_types()}
    assert (types["Blocks"].inward, types["Blocks"].outward) == ("is blocked by", "blocks")
    assert {"Relates", "Duplicates"} <= set(types)
    dependency = jira.create_issue(NewIssue("DEMO", "Vocabulary: Tags"))
    dependent = jira.create_issue(NewIssue("DEMO", "Field: field_tags"))
    jira.link_blocks(dependency.key, dependent.key)
    (on_dependency,) = jira.get_issue(dependency.key, ["issuelinks"]).fields["issuelinks"]
    assert on_dependency["type"]["name"] == "Blocks"
    assert on_dependency["outwardIssue"]["key"] == dependent.key  # "blocks DEMO-2"
    (on_dependent,) = jira.get_issue(dependent.key, ["issuelinks"]).fields["issuelinks"]
    assert on_dependent["inwardIssue"]["key"] == dependency.key  # "is blocked by DEMO-1"


def test_search_follows_next_page_token_over_several_pages(
    jira: JiraClient, sandbox: SandboxAdmin
) -> None:
    jira.create_issues([NewIssue("DEMO", f"paged {n}", labels=("paged",)) for n in range(12)])
    jira.create_issue(NewIssue("DEMO", "not paged", labels=("other",)))
    found = jira.search('project = DEMO AND labels = "paged" ORDER BY key', page_size=5)
    assert [i.key for i in found] == [f"DEMO-{n}" for n in range(1, 13)]
    assert sandbox.requests("POST /rest/api/3/search/jql") == 3


def test_search_with_the_jql_subset(jira: JiraClient) -> None:
    keys = [
        jira.create_issue(NewIssue("DEMO", f"s{n}", labels=(f"l{n % 3}",))).key for n in range(6)
    ]
    jira.create_issue(NewIssue("TF", "elsewhere", labels=("l0",)))

    def search(jql: str) -> list[str]:
        return [i.key for i in jira.search(jql)]

    assert search('project = DEMO AND labels in ("l0", "l2") ORDER BY key') == [
        keys[0], keys[2], keys[3], keys[5]
    ]  # fmt: skip
    assert search('labels = "l0" ORDER BY key DESC') == ["TF-1", keys[3], keys[0]]
    assert search(f"key in ({keys[1]}, {keys[4]}) ORDER BY key") == [keys[1], keys[4]]
    assert search(f"key = {keys[2]}") == [keys[2]]
    minute_ago = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
    in_an_hour = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y/%m/%d %H:%M")
    assert len(search(f'project = DEMO AND updated >= "{minute_ago}"')) == 6
    assert search(f'project = DEMO AND updated >= "{in_an_hour}"') == []


def test_user_search_and_assignable_users(jira: JiraClient) -> None:
    assert [u.email for u in jira.find_users("bob")] == ["bob@example.com"]
    demo = {u.email for u in jira.find_assignable_users("DEMO")}
    assert demo == {"demo@example.com", "alice@example.com", "bob@example.com", "carol@example.com"}
    assert {u.email for u in jira.find_assignable_users("TF", "dave")} == {"dave@example.com"}


def test_boards_sprints_and_moving_issues_to_a_sprint(jira: JiraClient) -> None:
    (board,) = jira.get_boards("DEMO")
    sprints = jira.get_sprints(board.id)
    assert [(s.name, s.state) for s in sprints] == [
        ("DEMO Sprint 1", "active"),
        ("DEMO Sprint 2", "future"),
    ]
    keys = [jira.create_issue(NewIssue("DEMO", f"sprint {n}")).key for n in range(3)]
    jira.move_issues_to_sprint(sprints[1].id, keys[:2])
    sprint_field = [
        jira.get_issue(k, ["customfield_10020"]).fields["customfield_10020"] for k in keys
    ]
    assert [s[0]["id"] if s else None for s in sprint_field] == [sprints[1].id, sprints[1].id, None]


def test_sync_back_reads_status_assignee_and_resolution(
    jira: JiraClient, sandbox: SandboxAdmin
) -> None:
    created = jira.create_issue(NewIssue("DEMO", "Build the view", labels=("synced",)))
    fresh = jira.get_issue_snapshot(created.key)
    assert (fresh.status, fresh.status_category, fresh.assignee, fresh.resolution) == (
        "To Do", "new", None, None
    )  # fmt: skip
    bob = account_of(jira, "bob@example.com")
    sandbox.work(created.key, status="Done", assignee=bob)
    done = jira.get_issue_snapshot(created.key)
    assert (done.status, done.status_category, done.resolution) == ("Done", "done", "Done")
    assert done.assignee is not None and done.assignee.email == "bob@example.com"
    assert done.updated is not None and done.updated >= fresh.updated  # type: ignore[operator]
    since = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
    (snapshot,) = jira.search_snapshots(f'labels = "synced" AND updated >= "{since}"')
    assert snapshot == done
