"""The Jira gateway port (`application.export.port.JiraGateway`), one suite for every
implementation: the in-memory fake (`tests/support/jira_fake.py`) and the real client
(`JiraClient`) against the Jira sandbox on loopback.

What the export and its recovery rely on: keys allocated in order, a missing key is
`JiraNotFound`, the JQL the export sends (labels, key lists, ORDER BY key both ways,
pages), a search index that lags while reading by key does not (and `reconcile`
ids that bypass the lag), "Blocks" links read from both ends, bulk creates answered
per element, attachments, sprints, edits and comments, what the pre-flight reads, and
the faults: a create stored but answered 5xx, an answer that comes too late, 401,
429 storms. The fake's own test controls (`work`, `faults`, `limits`, another
account) are held to the sandbox's `/_sandbox` control API the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.export.jira_errors import (
    JiraAuthError,
    JiraError,
    JiraFieldError,
    JiraNotFound,
    JiraOutcomeUnknown,
)
from application.export.jira_types import Board, NewIssue, Sprint
from application.export.port import JiraGateway, jql_date, jql_quote
from application.export.preflight import run_preflight
from application.export.recovery import IssueFinder
from infrastructure.jira import JiraClient
from infrastructure.jira_sandbox import LimitConfig, SandboxServer, create_sandbox_app
from infrastructure.jira_sandbox.store import account_id_for
from tests.integration.jira.support import (
    DEMO_EMAIL,
    DEMO_TOKEN,
    FAST_RETRY,
    VIEWER_EMAIL,
    VIEWER_TOKEN,
    SandboxAdmin,
)
from tests.support.jira_fake import InMemoryJira

PROJECT = "DEMO"
FIVE_MINUTES_MS = 300_000
IMPATIENT_S = 0.5  # a client's timeout, for the answers that come too late
LATE_S = 2.0  # how late those answers come
SPRINT_FIELD = "customfield_10020"
ALICE = account_id_for("alice@example.com")


def adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


class JiraHarness:
    """One implementation of the port (`jira`, acting as demo@example.com), and the
    levers a test pulls on the Jira behind it."""

    name: str
    jira: JiraGateway

    def faults(self, **changes: Any) -> None:
        raise NotImplementedError

    def limits(self, **changes: Any) -> None:
        raise NotImplementedError

    def work(self, key: str, **changes: Any) -> None:
        """Someone works on the issue in Jira (status, resolution, assignee, text)."""
        raise NotImplementedError

    def issues_created(self) -> int:
        raise NotImplementedError

    def as_viewer(self) -> JiraGateway:
        """The same Jira as viewer@example.com, who may only browse DEMO."""
        raise NotImplementedError

    def impatient(self) -> JiraGateway:
        """A gateway whose requests time out before an answer `LATE_S` late."""
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""


class FakeHarness(JiraHarness):
    name = "fake"

    def __init__(self) -> None:
        self.fake = InMemoryJira()
        self.jira = self.fake

    def faults(self, **changes: Any) -> None:
        self.fake.faults(**changes)

    def limits(self, **changes: Any) -> None:
        self.fake.limits(**changes)

    def work(self, key: str, **changes: Any) -> None:
        self.fake.work(key, **changes)

    def issues_created(self) -> int:
        return self.fake.issues_created

    def as_viewer(self) -> JiraGateway:
        return self.fake.as_account(VIEWER_EMAIL)

    def impatient(self) -> JiraGateway:
        return self.fake  # the fake takes every late answer as timed out


class SandboxHarness(JiraHarness):
    name = "sandbox"

    def __init__(self, server: SandboxServer) -> None:
        self.admin = SandboxAdmin(server.base_url)
        self.admin.reset()
        self.clients: list[JiraClient] = []
        self.jira = self._client(DEMO_EMAIL, DEMO_TOKEN)

    def _client(self, email: str, token: str, timeout: float = 5.0) -> JiraClient:
        client = JiraClient(self.admin.base_url, email, token, timeout=timeout, retry=FAST_RETRY)
        self.clients.append(client)
        return client

    def faults(self, **changes: Any) -> None:
        self.admin.faults(**changes)

    def limits(self, **changes: Any) -> None:
        self.admin.limits(**changes)

    def work(self, key: str, **changes: Any) -> None:
        self.admin.work(key, **changes)

    def issues_created(self) -> int:
        return int(self.admin.stats()["issues_created"])

    def as_viewer(self) -> JiraGateway:
        return self._client(VIEWER_EMAIL, VIEWER_TOKEN)

    def impatient(self) -> JiraGateway:
        return self._client(DEMO_EMAIL, DEMO_TOKEN, timeout=IMPATIENT_S)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.admin.close()


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[SandboxServer]:
    """One sandbox (in memory) for the module; each test starts from a reset."""
    app = create_sandbox_app(None, limits=LimitConfig(retry_after_seconds=0.01))
    with SandboxServer(app) as server:
        yield server


@pytest.fixture(params=["fake", "sandbox"])
def harness(request: pytest.FixtureRequest) -> Iterator[JiraHarness]:
    if request.param == "fake":
        made: JiraHarness = FakeHarness()
    else:
        made = SandboxHarness(request.getfixturevalue("shared_sandbox"))
    try:
        yield made
    finally:
        made.close()


def issue(summary: str, *labels: str, project: str = PROJECT, **fields: Any) -> NewIssue:
    return NewIssue(project_key=project, summary=summary, labels=labels, **fields)


def keys(found: Any) -> list[str]:
    return [i.key for i in found]


def labels_jql(*labels: str, order: str = "ORDER BY key") -> str:
    wanted = ", ".join(jql_quote(label) for label in labels)
    return f"project = {jql_quote(PROJECT)} AND labels in ({wanted}) {order}"


# --- creating: keys, reading back, refusals -----------------------------------------------


def test_keys_in_a_project_are_allocated_in_order(harness: JiraHarness) -> None:
    jira = harness.jira
    first = jira.create_issue(issue("one"))
    bulk = jira.create_issues([issue("two"), issue("three")])
    other = jira.create_issue(issue("elsewhere", project="TF"))
    last = jira.create_issue(issue("four"))

    assert first.key == "DEMO-1"
    assert {i: c.key for i, c in bulk.created.items()} == {0: "DEMO-2", 1: "DEMO-3"}
    assert not bulk.failed
    assert other.key == "TF-1"
    assert last.key == "DEMO-4"
    made = [first, *bulk.created.values(), other, last]
    assert len({c.id for c in made}) == 5 and all(c.id.isdigit() for c in made)
    assert first.browse_url == jira.browse_url("DEMO-1")
    assert first.browse_url.endswith("/browse/DEMO-1")
    assert harness.issues_created() == 5


def test_a_created_issue_reads_back_by_key_with_what_was_sent(harness: JiraHarness) -> None:
    jira = harness.jira
    created = jira.create_issue(
        issue("Build the thing", "tf-abc", "tf-s-123", description=adf("Why and how"))
    )
    found = jira.get_issue(created.key, ("summary", "labels", "description", "status"))
    assert (found.key, found.id) == (created.key, created.id)
    assert found.fields["summary"] == "Build the thing"
    assert sorted(found.labels) == ["tf-abc", "tf-s-123"]
    assert found.fields["description"] == adf("Why and how")
    assert found.fields["status"]["name"] == "To Do"
    assert set(jira.get_issue(created.key, ("labels",)).fields) == {"labels"}


def test_reading_a_key_that_does_not_exist_raises_not_found(harness: JiraHarness) -> None:
    jira = harness.jira
    jira.create_issue(issue("only one"))
    with pytest.raises(JiraNotFound):
        jira.get_issue("DEMO-2", ("labels",))
    with pytest.raises(JiraNotFound):
        jira.get_issue("NOPE-1", ("labels",))
    hidden = jira.create_issue(issue("not for viewers", project="TF"))
    with pytest.raises(JiraNotFound):
        harness.as_viewer().get_issue(hidden.key, ("labels",))
    assert harness.as_viewer().get_issue("DEMO-1", ("labels",)).key == "DEMO-1"


def test_a_create_jira_refuses_names_the_fields_and_uses_no_key(harness: JiraHarness) -> None:
    jira = harness.jira
    with pytest.raises(JiraFieldError) as refused:
        jira.create_issue(issue("bad", "has space", priority="Urgent"))
    assert set(refused.value.failed_fields) == {"labels", "priority"}
    assert refused.value.status == 400
    with pytest.raises(JiraNotFound):
        jira.create_issue(issue("nowhere", project="NOPE"))
    assert harness.issues_created() == 0
    assert jira.create_issue(issue("good")).key == "DEMO-1"


def test_bulk_create_answers_per_element(harness: JiraHarness) -> None:
    jira = harness.jira
    result = jira.create_issues(
        [issue("ok 1"), issue("bad", priority="Urgent"), issue("ok 2", "tf-x")]
    )
    assert {i: c.key for i, c in result.created.items()} == {0: "DEMO-1", 2: "DEMO-2"}
    assert list(result.failed) == [1]
    failure = result.failed[1]
    assert (failure.index, failure.status) == (1, 400)
    assert "priority" in failure.field_errors
    assert jira.get_issue("DEMO-2", ("labels",)).labels == ("tf-x",)

    nothing = jira.create_issues([issue("bad", priority="Urgent"), issue("")])
    assert not nothing.created
    assert sorted(nothing.failed) == [0, 1]
    assert "summary" in nothing.failed[1].field_errors
    assert harness.issues_created() == 2


def test_bulk_create_of_nothing_or_too_much(harness: JiraHarness) -> None:
    jira = harness.jira
    empty = jira.create_issues([])
    assert not empty.created and not empty.failed
    with pytest.raises(ValueError, match="at most 50"):
        jira.create_issues([issue(f"n{i}") for i in range(51)])
    assert harness.issues_created() == 0


# --- faults: stored but answered 5xx, late answers, 401, 429 -----------------------------------


@pytest.mark.parametrize("status", [500, 502])
def test_a_create_answered_5xx_after_commit_exists(harness: JiraHarness, status: int) -> None:
    jira = harness.jira
    harness.faults(fail_create_next=1, fail_create_status=status)
    with pytest.raises(JiraOutcomeUnknown):
        jira.create_issue(issue("lost answer", "tf-lost"))
    assert jira.get_issue("DEMO-1", ("labels",)).labels == ("tf-lost",)
    assert jira.create_issue(issue("answered")).key == "DEMO-2"  # one create only
    assert harness.issues_created() == 2


def test_a_bulk_create_answered_5xx_after_commit_made_every_issue(harness: JiraHarness) -> None:
    jira = harness.jira
    harness.faults(fail_create_next=1)
    with pytest.raises(JiraOutcomeUnknown):
        jira.create_issues([issue("a", "tf-a"), issue("b", "tf-b"), issue("c", "tf-c")])
    assert [jira.get_issue(f"DEMO-{n}", ("labels",)).labels for n in (1, 2, 3)] == [
        ("tf-a",),
        ("tf-b",),
        ("tf-c",),
    ]
    assert harness.issues_created() == 3


def test_every_nth_create_is_answered_5xx(harness: JiraHarness) -> None:
    jira = harness.jira
    harness.faults(fail_create_every=2)
    outcomes = []
    for n in range(4):
        try:
            jira.create_issue(issue(f"n{n}"))
            outcomes.append("created")
        except JiraOutcomeUnknown:
            outcomes.append("unknown")
    assert outcomes == ["created", "unknown", "created", "unknown"]
    assert harness.issues_created() == 4


def test_a_write_answered_too_late_was_done_and_a_read_is_retried(harness: JiraHarness) -> None:
    blocker = harness.jira.create_issue(issue("blocker"))
    blocked = harness.jira.create_issue(issue("blocked"))
    impatient = harness.impatient()
    harness.faults(timeout_next=1, timeout_seconds=LATE_S)
    with pytest.raises(JiraOutcomeUnknown):
        impatient.link_blocks(blocker.key, blocked.key)
    finder = IssueFinder(harness.jira, PROJECT)
    assert finder.blockers_of(blocked.key) == [blocker.key]

    harness.faults(timeout_next=1, timeout_seconds=LATE_S)
    assert impatient.get_issue(blocked.key, ("labels",)).key == blocked.key


def test_a_rejected_account_gets_auth_errors(harness: JiraHarness) -> None:
    harness.jira.create_issue(issue("before"))
    harness.faults(unauthorized_from_request=1)
    with pytest.raises(JiraAuthError) as rejected:
        harness.jira.get_issue("DEMO-1", ("labels",))
    assert rejected.value.status == 401
    with pytest.raises(JiraAuthError):
        harness.jira.create_issue(issue("after"))
    harness.faults(unauthorized_from_request=0)
    assert harness.issues_created() == 1


def test_a_rate_limit_storm_is_waited_out_and_writes_once(harness: JiraHarness) -> None:
    harness.faults(rate_limit_storm_next=2, rate_limit_storm_retry_after=0.01)
    created = harness.jira.create_issue(issue("after the storm"))
    assert created.key == "DEMO-1"
    assert harness.issues_created() == 1


# --- the search -----------------------------------------------------------------------------


def test_search_by_labels_in_key_order_over_pages(harness: JiraHarness) -> None:
    jira = harness.jira
    wanted = {1: ("a",), 3: ("b",), 4: ("a", "b"), 10: ("b",), 11: ("a",)}
    jira.create_issues([issue(f"n{n}", *wanted.get(n, ("other",))) for n in range(1, 12)])
    jira.create_issue(issue("same label, other project", "a", project="TF"))

    expected = ["DEMO-1", "DEMO-3", "DEMO-4", "DEMO-10", "DEMO-11"]
    found = jira.search(labels_jql("a", "b"), ("labels",))
    assert keys(found) == expected
    assert all(set(i.fields) == {"labels"} for i in found)
    assert {i.key: tuple(sorted(i.labels)) for i in found}["DEMO-4"] == ("a", "b")
    assert keys(jira.iter_search(labels_jql("a", "b"), ("labels",), page_size=2)) == expected
    assert keys(jira.search(labels_jql("a", "b", order="ORDER BY key DESC"))) == expected[::-1]


def test_the_highest_key_comes_first_in_descending_key_order(harness: JiraHarness) -> None:
    jira = harness.jira
    finder = IssueFinder(jira, PROJECT)
    assert finder.highest_key_number() == 0
    jira.create_issues([issue(f"n{n}") for n in range(12)])
    jira.create_issue(issue("not ours", project="TF"))
    assert finder.highest_key_number() == 12
    jql = f"project = {jql_quote(PROJECT)} ORDER BY key DESC"
    assert keys(jira.iter_search(jql, ("labels",), 1))[:3] == ["DEMO-12", "DEMO-11", "DEMO-10"]


def test_search_by_a_list_of_keys(harness: JiraHarness) -> None:
    jira = harness.jira
    jira.create_issues([issue(f"n{n}") for n in range(11)])
    jql = f'project = {jql_quote(PROJECT)} AND key in ("DEMO-11", "DEMO-2", "DEMO-99") ORDER BY key'
    assert keys(jira.search(jql)) == ["DEMO-2", "DEMO-11"]


def test_search_refuses_what_it_cannot_run(harness: JiraHarness) -> None:
    jira = harness.jira
    jira.create_issue(issue("something"))
    for jql in (
        'project = "NOPE" ORDER BY key',  # no such project
        "ORDER BY key",  # unbounded
        'project = "DEMO" OR labels = "x"',  # outside the JQL subset
    ):
        with pytest.raises(JiraError) as refused:
            jira.search(jql)
        assert refused.value.status == 400, jql
        assert not isinstance(refused.value, JiraNotFound | JiraFieldError), jql


def test_the_search_lags_behind_new_issues_but_reading_by_key_does_not(
    harness: JiraHarness,
) -> None:
    jira = harness.jira
    harness.faults(search_lag_ms=FIVE_MINUTES_MS)
    first = jira.create_issue(issue("first", "tf-lag"))
    second = jira.create_issue(issue("second", "tf-lag"))

    assert jira.search(labels_jql("tf-lag")) == []
    assert IssueFinder(jira, PROJECT).highest_key_number() == 0  # lower than the truth
    assert jira.get_issue(second.key, ("labels",)).labels == ("tf-lag",)
    assert keys(jira.search(labels_jql("tf-lag"), reconcile=[second.id])) == [second.key]

    harness.faults(search_lag_ms=0)
    assert keys(jira.search(labels_jql("tf-lag"))) == [first.key, second.key]


def test_search_snapshots_show_what_people_did_in_jira(harness: JiraHarness) -> None:
    jira = harness.jira
    done = jira.create_issue(issue("finished", "tf-s-sync"))
    todo = jira.create_issue(issue("not started", "tf-s-sync"))
    harness.work(done.key, status="Done", assignee=ALICE)

    jql = f'project = {jql_quote(PROJECT)} AND labels = "tf-s-sync" ORDER BY key'
    snapshots = {s.key: s for s in jira.search_snapshots(jql)}
    assert set(snapshots) == {done.key, todo.key}
    finished = snapshots[done.key]
    assert (finished.status, finished.status_category, finished.resolution) == (
        "Done",
        "done",
        "Done",
    )
    assert finished.assignee is not None and finished.assignee.email == "alice@example.com"
    assert finished.updated is not None
    assert snapshots[todo.key].status_category == "new" and snapshots[todo.key].assignee is None


def test_updated_dates_in_jql_are_read_in_the_users_time_zone(harness: JiraHarness) -> None:
    jira = harness.jira
    harness.faults(user_time_zone="Pacific/Auckland")
    zone = jira.myself().time_zone
    assert zone == "Pacific/Auckland"
    jira.create_issue(issue("recent", "tf-s-tz"))
    now = datetime.now(UTC)
    base = f'project = {jql_quote(PROJECT)} AND labels = "tf-s-tz" AND updated >= '
    assert keys(jira.search(base + jql_date(now - timedelta(minutes=2), zone))) == ["DEMO-1"]
    assert jira.search(base + jql_date(now + timedelta(minutes=2), zone)) == []
    # The same moment written in UTC is 12-13 hours earlier there: it would match.
    assert keys(jira.search(base + jql_date(now + timedelta(minutes=2), None))) == ["DEMO-1"]


# --- links ------------------------------------------------------------------------------


def test_a_blocks_link_reads_back_from_both_issues(harness: JiraHarness) -> None:
    jira = harness.jira
    blocker, blocked = jira.create_issue(issue("blocker")), jira.create_issue(issue("blocked"))
    jira.link_blocks(blocker.key, blocked.key)
    jira.link_blocks(blocker.key, blocked.key)  # the same link again: still one

    (seen_by_blocked,) = jira.get_issue(blocked.key, ("issuelinks",)).fields["issuelinks"]
    assert seen_by_blocked["type"]["name"] == "Blocks"
    assert seen_by_blocked["inwardIssue"]["key"] == blocker.key
    assert "outwardIssue" not in seen_by_blocked
    (seen_by_blocker,) = jira.get_issue(blocker.key, ("issuelinks",)).fields["issuelinks"]
    assert seen_by_blocker["outwardIssue"]["key"] == blocked.key
    assert seen_by_blocker["id"] == seen_by_blocked["id"]
    finder = IssueFinder(jira, PROJECT)
    assert finder.blockers_of(blocked.key) == [blocker.key]
    assert finder.blockers_of(blocker.key) == []


def test_links_jira_refuses(harness: JiraHarness) -> None:
    jira = harness.jira
    a, b = jira.create_issue(issue("a")), jira.create_issue(issue("b"))
    with pytest.raises(JiraNotFound):
        jira.link_blocks(a.key, "DEMO-99")
    with pytest.raises(JiraError) as itself:
        jira.link_blocks(a.key, a.key)
    assert itself.value.status == 400
    harness.faults(missing_link_types=["Blocks"])
    assert "Blocks" not in {t.name for t in jira.get_link_types()}
    with pytest.raises(JiraNotFound):
        jira.link_blocks(a.key, b.key)
    assert IssueFinder(jira, PROJECT).blockers_of(b.key) == []


def test_a_deleted_link_is_gone_from_both_issues_and_deleting_again_is_fine(
    harness: JiraHarness,
) -> None:
    jira = harness.jira
    a, b, c = (jira.create_issue(issue(n)) for n in "abc")
    jira.link_blocks(a.key, b.key)
    jira.link_blocks(c.key, b.key)
    links = jira.get_issue(b.key, ("issuelinks",)).fields["issuelinks"]
    from_a = next(link for link in links if link["inwardIssue"]["key"] == a.key)
    jira.delete_link(str(from_a["id"]), (a.key, b.key))
    jira.delete_link(str(from_a["id"]), (a.key, b.key))
    assert IssueFinder(jira, PROJECT).blockers_of(b.key) == [c.key]
    assert jira.get_issue(a.key, ("issuelinks",)).fields["issuelinks"] == []


# --- attachments, sprints, edits, comments ------------------------------------------------------


def test_an_attachment_is_listed_on_its_issue(harness: JiraHarness) -> None:
    jira = harness.jira
    key = jira.create_issue(issue("long one")).key
    (attached,) = jira.add_attachment(key, "full-description.md", b"# Hello\n", "text/markdown")
    assert (attached.filename, attached.size, attached.mime_type) == (
        "full-description.md",
        8,
        "text/markdown",
    )
    listed = jira.get_issue(key, ("attachment",)).fields["attachment"]
    assert [(a["filename"], a["size"]) for a in listed] == [("full-description.md", 8)]
    finder = IssueFinder(jira, PROJECT)
    assert finder.attached(key, "full-description.md")
    assert not finder.attached(key, "other.md")
    with pytest.raises(JiraNotFound):
        jira.add_attachment("DEMO-99", "x.md", b"x", "text/markdown")


def test_an_attachment_over_the_limit_is_refused(harness: JiraHarness) -> None:
    key = harness.jira.create_issue(issue("limited")).key
    harness.limits(max_attachment_bytes=10)
    with pytest.raises(JiraError) as refused:
        harness.jira.add_attachment(key, "big.md", b"x" * 11, "text/markdown")
    assert refused.value.status == 413
    assert not IssueFinder(harness.jira, PROJECT).attached(key, "big.md")


def test_issues_moved_to_a_sprint_show_it(harness: JiraHarness) -> None:
    jira = harness.jira
    made = jira.create_issues([issue("a"), issue("b"), issue("c")])
    a, b, c = (made.created[i].key for i in range(3))
    jira.move_issues_to_sprint(2, [a, b])
    jira.move_issues_to_sprint(2, [])  # nothing to send
    sprint = jira.get_issue(a, (SPRINT_FIELD,)).fields[SPRINT_FIELD]
    assert [(s["id"], s["name"], s["state"]) for s in sprint] == [(2, "DEMO Sprint 1", "active")]
    assert jira.get_issue(c, (SPRINT_FIELD,)).fields[SPRINT_FIELD] is None
    with pytest.raises(JiraError) as closed:
        jira.move_issues_to_sprint(1, [c])
    assert closed.value.status == 400
    with pytest.raises(JiraNotFound):
        jira.move_issues_to_sprint(99, [c])
    with pytest.raises(JiraNotFound):
        jira.move_issues_to_sprint(2, ["DEMO-99"])


def test_an_edit_sets_text_and_labels_and_keeps_a_persons_own(harness: JiraHarness) -> None:
    jira = harness.jira
    key = jira.create_issue(issue("old title", "tf-abc", "theirs", "old-mark")).key
    harness.faults(fail_write_next=1)  # the edit is idempotent: retried, done once
    jira.update_issue(
        key,
        {"summary": "new title", "description": adf("new text")},
        add_labels=["new-mark"],
        remove_labels=["old-mark"],
    )
    fields = jira.get_issue(key, ("summary", "description", "labels")).fields
    assert fields["summary"] == "new title"
    assert fields["description"] == adf("new text")
    assert sorted(fields["labels"]) == ["new-mark", "tf-abc", "theirs"]
    with pytest.raises(JiraFieldError) as refused:
        jira.update_issue(key, {"summary": "x" * 300})
    assert "summary" in refused.value.failed_fields
    with pytest.raises(JiraNotFound):
        jira.update_issue("DEMO-99", {"summary": "nothing"})


def test_comments_are_kept_in_order_and_a_lost_answer_still_commented(
    harness: JiraHarness,
) -> None:
    jira = harness.jira
    key = jira.create_issue(issue("discussed")).key
    first = jira.add_comment(key, adf("first"))
    harness.faults(fail_write_next=1)
    with pytest.raises(JiraOutcomeUnknown):
        jira.add_comment(key, adf("second"))
    bodies = [c["body"] for c in jira.get_comments(key)]
    assert bodies == [adf("first"), adf("second")]
    assert first and first == str(jira.get_comments(key)[0]["id"])
    with pytest.raises(JiraFieldError):
        jira.add_comment(key, {"type": "not a doc"})
    with pytest.raises(JiraNotFound):
        jira.get_comments("DEMO-99")


# --- what the pre-flight reads --------------------------------------------------------------


def test_the_preflight_finds_what_the_export_uses(harness: JiraHarness) -> None:
    found = run_preflight(
        harness.jira,
        PROJECT,
        "task",
        assignees=["alice@example.com", "nobody@example.com", "former@example.com"],
        sprints=["DEMO Sprint 1", "TF Sprint 1", "DEMO Sprint 0"],
        priorities=["High", "Urgent"],
    )
    assert found.ok, found.problems
    assert found.issue_type_id == "10001"
    assert found.account == DEMO_EMAIL
    assert found.blocks_link_type
    assert found.priorities == {"Highest", "High", "Medium", "Low", "Lowest"}
    assert found.sprints == {"DEMO Sprint 1": 2, "DEMO Sprint 2": 3}  # open, of DEMO's board
    assert found.assignees == {
        "alice@example.com": ALICE,
        "nobody@example.com": None,
        "former@example.com": None,
    }
    assert any("Urgent" in w for w in found.warnings)
    assert any("TF Sprint 1" in w for w in found.warnings)


def test_the_preflight_names_what_would_stop_an_export(harness: JiraHarness) -> None:
    required = run_preflight(harness.jira, "TF", "Bug")
    assert not required.ok and "Environment" in required.problems[0]
    unknown = run_preflight(harness.jira, PROJECT, "Saga")
    assert not unknown.ok and "Saga" in unknown.problems[0]
    viewer = run_preflight(harness.as_viewer(), PROJECT, "Task")
    assert not viewer.ok
    assert "CREATE_ISSUES" in viewer.problems[0] and "LINK_ISSUES" in viewer.problems[0]
    with pytest.raises(JiraNotFound):
        run_preflight(harness.as_viewer(), "TF", "Task")

    harness.faults(
        missing_link_types=["Blocks"], forbidden_routes=["GET /rest/api/3/priority/search"]
    )
    degraded = run_preflight(harness.jira, PROJECT, "Task", priorities=["High"])
    assert degraded.ok
    assert not degraded.blocks_link_type
    assert degraded.priorities == set()
    assert any("Priorities could not be read" in w for w in degraded.warnings)


def test_project_permissions_and_issue_types(harness: JiraHarness) -> None:
    jira, viewer = harness.jira, harness.as_viewer()
    project = jira.get_project(PROJECT)
    assert (project.id, project.key) == ("10000", PROJECT)
    assert jira.get_project("10000").key == PROJECT
    assert [t.name for t in project.issue_types] == ["Epic", "Task", "Story", "Bug"]
    assert [(t.id, t.hierarchy_level) for t in jira.get_issue_types(PROJECT)] == [
        ("10000", 1),
        ("10001", 0),
        ("10002", 0),
        ("10003", 0),
    ]
    assert viewer.get_issue_types(PROJECT) == []
    with pytest.raises(JiraNotFound):
        jira.get_project("NOPE")
    with pytest.raises(JiraNotFound):
        viewer.get_project("TF")

    wanted = ("BROWSE_PROJECTS", "CREATE_ISSUES", "LINK_ISSUES")
    assert jira.my_permissions(PROJECT, wanted) == dict.fromkeys(wanted, True)
    assert viewer.my_permissions(PROJECT, wanted) == {
        "BROWSE_PROJECTS": True,
        "CREATE_ISSUES": False,
        "LINK_ISSUES": False,
    }
    with pytest.raises(JiraError):
        jira.my_permissions(PROJECT, ["FLY"])


def test_create_fields_say_which_are_required(harness: JiraHarness) -> None:
    jira = harness.jira
    task = {f.field_id: f for f in jira.get_create_fields(PROJECT, "10001")}
    assert {k for k, f in task.items() if f.required} == {"summary", "issuetype", "project"}
    assert task["priority"].has_default_value
    assert task[SPRINT_FIELD].custom is not None
    assert "parent" in task
    epic = {f.field_id for f in jira.get_create_fields(PROJECT, "10000")}
    assert "parent" not in epic
    bug = {f.field_id: f for f in jira.get_create_fields("TF", "10003")}
    assert bug["customfield_10040"].required and bug["customfield_10040"].name == "Environment"
    with pytest.raises(JiraNotFound):
        jira.get_create_fields(PROJECT, "99999")


def test_people_boards_sprints_priorities_and_link_types(harness: JiraHarness) -> None:
    jira = harness.jira
    me = jira.myself()
    assert (me.email, me.display_name, me.active, me.time_zone) == (
        DEMO_EMAIL,
        "Demo Admin",
        True,
        "UTC",
    )
    assignable = jira.find_assignable_users(PROJECT)
    assert [u.display_name for u in assignable] == [
        "Alice Builder",
        "Bob Reviewer",
        "Carol Themer",
        "Demo Admin",
    ]
    assert [u.account_id for u in jira.find_assignable_users(PROJECT, "alice")] == [ALICE]
    # `query` matches names and emails (as Jira's does), never an account id.
    assert jira.find_assignable_users(PROJECT, ALICE) == []
    assert jira.find_assignable_users(PROJECT, "former@example.com") == []
    assert len(jira.find_assignable_users(PROJECT, "", max_results=2)) == 2

    assert jira.get_boards(PROJECT) == [Board(1, "DEMO board", "scrum")]
    assert jira.get_sprints(1) == [
        Sprint(2, "DEMO Sprint 1", "active", 1),
        Sprint(3, "DEMO Sprint 2", "future", 1),
    ]
    assert jira.get_sprints(1, ("closed",)) == [Sprint(1, "DEMO Sprint 0", "closed", 1)]
    with pytest.raises(JiraNotFound):
        jira.get_sprints(99)

    priorities = jira.get_priorities()
    assert [p.name for p in priorities] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert [p.name for p in priorities if p.is_default] == ["Medium"]
    assert [(t.name, t.inward, t.outward) for t in jira.get_link_types()] == [
        ("Blocks", "is blocked by", "blocks"),
        ("Duplicates", "is duplicated by", "duplicates"),
        ("Relates", "relates to", "relates to"),
    ]


def test_the_flavour_and_the_sites_fields(harness: JiraHarness) -> None:
    """Both speak Jira Cloud; the field list names the custom fields by their type (how
    Data Center's Epic Link is found: a Cloud site has none)."""
    jira = harness.jira
    assert jira.flavor == "cloud"
    fields = {f.id: f for f in jira.get_fields()}
    assert fields[SPRINT_FIELD].custom == "com.pyxis.greenhopper.jira:gh-sprint"
    assert fields["summary"].custom is None and "parent" in fields
    assert not any((f.custom or "").endswith("gh-epic-link") for f in fields.values())
