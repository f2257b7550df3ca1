"""Export runs end to end on the embedded worker against a real Jira sandbox over HTTP:
the happy path, 5xx after commit, 401 from a point on, and 429 storms.

Every test ends by counting in Jira itself: one issue per ticket mark, one "Blocks" link
per dependency edge in the right direction.
"""

from __future__ import annotations

import re
from uuid import UUID, uuid4

from application.export.descriptions import issue_text
from application.export.preflight import run_preflight
from application.progress import Progress
from domain.export import Export
from domain.session import Session, Stage
from infrastructure.jira_sandbox.wiki_render import wiki_to_adf
from infrastructure.sql.tasks import open_tasks
from interfaces.bootstrap import Container
from projections import exports as exports_view
from projections import tickets as tickets_view
from tests.integration.export.support import (
    PROJECT,
    Edits,
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    exported_events,
    plan_edges,
    prepare_session,
    retry_export,
    start_export,
    wait_export,
)
from tests.support.sandbox_fixtures import BOTH_FLAVORS
from tests.support.wiki_structure import structure


def key_number(key: str) -> int:
    match = re.fullmatch(rf"{PROJECT}-(\d+)", key)
    assert match, key
    return int(match.group(1))


def preflight_requests(sandbox: Sandbox) -> int:
    """How many API requests the export's pre-flight makes (no assignees, no sprints)."""
    before = sandbox.stats()["total_requests"]
    assert run_preflight(sandbox.jira, PROJECT, "Task").ok
    return int(sandbox.stats()["total_requests"] - before)


@BOTH_FLAVORS
def test_happy_path_one_issue_per_ticket_in_dependency_order_with_blocks_links(
    container: Container, sandbox: Sandbox
) -> None:
    session_id = prepare_session(container)
    seen: list[Progress] = []
    container.progress_listeners.append(seen.append)
    container.start()
    started = start_export(container, session_id)
    export = wait_export(container, started.export_id)
    assert export.status == "completed", export.failure

    session = container.app.load_session(session_id)
    assert session.stage == Stage.COMPLETED
    assert len(export.plan) == len(session.tickets) == 49
    edges = plan_edges(export)
    assert len(edges) == 17

    # every ticket became exactly one issue, the one recorded, and links exist once
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)
    # ... also as GET issue?fields=issuelinks shows it, for one dependent
    dependent, dependency = edges[0]
    assert ("inwardIssue", issues[dependency].key) in sandbox.blocks_links(issues[dependent].key)
    assert ("outwardIssue", issues[dependent].key) in sandbox.blocks_links(issues[dependency].key)

    # dependency order: a dependency's key number is lower than its dependent's,
    # and keys follow the plan's order
    for dependent, dependency in edges:
        assert key_number(issues[dependency].key) < key_number(issues[dependent].key)
    numbers = [key_number(export.issues[UUID(str(p["ticket_id"]))].key) for p in export.plan]
    assert numbers == sorted(numbers)

    # TicketExported recorded each key and URL at once
    events = exported_events(container, export.id, Export.TicketExported)
    assert len(events) == 49
    base = sandbox.base_url
    for event in events:
        assert event.key == issues[event.ticket_id].key
        assert event.url == f"{base}/browse/{event.key}"
        assert not event.found_by_search
    assert len(exported_events(container, export.id, Export.DependencyLinked)) == 17
    stats = sandbox.stats()
    assert stats["issues_created"] == 49 and stats["links_created"] == 17
    assert stats["requests"][f"POST {sandbox.api}/issue/bulk"] == 1  # 49 <= 50: one bulk
    # the description in the format of this Jira: ADF on Cloud, wiki markup on Data Center
    description = sandbox.issue(issues[dependent].key, "description")["description"]
    if sandbox.flavor == "datacenter":
        assert isinstance(description, str) and description.startswith("h2. User story")
        # ... which Jira renders to the structure the ADF sent to Cloud has
        ticket = session.tickets[dependent]
        cloud = issue_text(
            "cloud",
            ticket.config_name,
            ticket.title,
            ticket.user_story,
            ticket.analysis,
            ticket.verification,
        ).description
        assert isinstance(cloud, dict)
        assert structure(wiki_to_adf(description)) == structure(cloud)
    else:
        assert description["type"] == "doc" and description["version"] == 1

    # the summary (read model) lists every key, URL and title
    assert container.settle()
    doc = container.store.get(exports_view.TABLE, str(export.id))
    assert doc is not None
    tickets = container.store.list(tickets_view.TABLE, partition=str(session_id))
    titles = {t["id"]: t["title"] for t in tickets}
    summary = exports_view.summary_view(doc, titles)
    assert summary["status"] == "completed"
    listed = {row["jira_key"]: row for row in summary["jira_tickets"]}
    assert set(listed) == {i.key for i in issues.values()}
    for ticket_id, issue in issues.items():
        row = listed[issue.key]
        assert row["ticket_id"] == str(ticket_id)
        assert row["jira_url"] == f"{base}/browse/{issue.key}"
        assert row["title"] == session.tickets[ticket_id].title
    assert len(summary["dependencies"]) == 17
    assert container.store.get("sessions", str(session_id))["stage"] == "completed"

    # progress reached 100, never going back
    mine = [p.percentage for p in seen if p.task_id == export.task_id]
    assert mine and mine[-1] == 100.0
    assert mine == sorted(mine)


@BOTH_FLAVORS
def test_5xx_after_commit_is_found_by_its_mark_not_created_again(
    container: Container, sandbox: Sandbox
) -> None:
    """The bulk create is stored by Jira but answered 500: the run searches the marks,
    and records the manual fixes the lost answer's issues implied."""
    edited: list[UUID] = []

    def edits(session: Session) -> Edits:
        edited.extend(t.id for t in session.tickets_in_export_order()[:2])
        return {edited[0]: {"assignee": "dave@example.com"}, edited[1]: {"priority": "Urgent"}}

    session_id = prepare_session(container, edits=edits)
    container.start()
    sandbox.faults(fail_create_next=1)
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    assert export.retries == 0  # recovered within the run, no retry needed

    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)
    assert sandbox.stats()["issues_created"] == 49
    events = exported_events(container, export.id, Export.TicketExported)
    assert len(events) == 49 and all(e.found_by_search for e in events)
    fixes = sorted((f.ticket_id == edited[0], f.kind, f.issue_key) for f in export.fixes.values())
    assert fixes == [
        (False, "priority", issues[edited[1]].key),
        (True, "assignee", issues[edited[0]].key),
    ]


def test_a_lost_answer_while_the_search_index_lags_creates_nothing_twice(
    container: Container, sandbox: Sandbox
) -> None:
    """Jira stored the bulk create but the answer was lost, and its search index shows new
    issues only 1.5 s later (as Jira Cloud's may): the run searches again before it would
    create anything anew, and finds them all."""
    session_id = prepare_session(container)
    container.start()
    sandbox.faults(fail_create_next=1, search_lag_ms=1500)
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)
    assert sandbox.stats()["issues_created"] == 49
    events = exported_events(container, export.id, Export.TicketExported)
    assert len(events) == 49 and all(e.found_by_search for e in events)


def test_5xx_after_commit_then_the_run_dies_and_the_retry_finds_the_issues(
    container: Container, sandbox: Sandbox
) -> None:
    """Jira stored the batch, the answer was lost, and the search for the marks failed
    too (401): nothing was recorded. The retry must find the issues, not create them."""
    session_id = prepare_session(container)
    container.start()
    # pre-flight, then the bulk create (stored, answered 500), then 401 on the search
    sandbox.faults(fail_create_next=1, unauthorized_from_request=preflight_requests(sandbox) + 2)
    started = start_export(container, session_id)
    failed = wait_export(container, started.export_id)
    assert failed.status == "failed"
    assert failed.failure is not None and failed.failure.category == "admin_required"
    assert failed.issues == {}  # nothing recorded ...
    assert sandbox.stats()["issues_created"] == 49  # ... but Jira has them all

    sandbox.clear_faults()
    retry_export(container, session_id)
    export = wait_export(container, started.export_id, ended=("completed",))
    assert export.retries == 1
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)
    assert sandbox.stats()["issues_created"] == 49
    events = exported_events(container, export.id, Export.TicketExported)
    assert len(events) == 49 and all(e.found_by_search for e in events)
    assert container.app.load_session(session_id).stage == Stage.COMPLETED


def test_401_mid_run_fails_admin_required_and_the_retry_resumes_without_duplicates(
    container: Container, sandbox: Sandbox
) -> None:
    session_id = prepare_session(container)
    container.start()
    # pre-flight and the bulk create pass; the links get 401 from then on
    sandbox.faults(unauthorized_from_request=preflight_requests(sandbox) + 2)
    started = start_export(container, session_id)
    failed = wait_export(container, started.export_id)

    assert failed.status == "failed"
    assert failed.failure is not None
    assert failed.failure.category == "admin_required"
    assert failed.failure.failed_ticket_order is not None
    assert failed.failure.failed_ticket_id is not None
    assert failed.order_of(failed.failure.failed_ticket_id) == failed.failure.failed_ticket_order
    assert failed.failure.recovery_actions
    assert len(failed.issues) == 49 and not failed.links
    assert container.app.load_session(session_id).stage == Stage.EXPORT_FAILED
    assert container.settle()
    status = exports_view.status_view(container.store.get(exports_view.TABLE, str(failed.id)))
    assert status["status"] == "failed"
    assert status["retry_available"] is True
    assert status["error_category"] == "admin_required"
    assert status["failed_at_ticket_order"] == failed.failure.failed_ticket_order
    assert container.store.get("sessions", str(session_id))["stage"] == "export_failed"

    sandbox.clear_faults()
    retry_export(container, session_id)
    export = wait_export(container, started.export_id, ended=("completed",))
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)
    stats = sandbox.stats()
    assert stats["issues_created"] == 49 and stats["links_created"] == 17
    assert container.app.load_session(session_id).stage == Stage.COMPLETED


@BOTH_FLAVORS
def test_429_storm_at_the_start_is_waited_out_and_the_export_completes(
    container: Container, sandbox: Sandbox
) -> None:
    session_id = prepare_session(container)
    container.start()
    sandbox.faults(rate_limit_storm_next=4, rate_limit_storm_retry_after=0.05)
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    stats = sandbox.stats()
    assert stats["statuses"].get("429", 0) == 4
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)


def test_429_storm_while_linking_concurrently_is_waited_out(
    container: Container, sandbox: Sandbox
) -> None:
    """The storm starts right after the issues are created, when the links go out
    concurrently: every 429 is honoured (Retry-After) and no link is made twice."""
    session_id = prepare_session(container)
    stormed: list[str] = []

    def storm_after_creation(progress: Progress) -> None:
        if progress.stage.startswith("Created") and not stormed:
            stormed.append(progress.stage)
            sandbox.faults(rate_limit_storm_next=20, rate_limit_storm_retry_after=0.05)

    container.progress_listeners.append(storm_after_creation)
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id)
    assert stormed
    assert export.status == "completed", export.failure
    stats = sandbox.stats()
    assert stats["statuses"].get("429", 0) == 20
    assert stats["responses"]["POST /rest/api/3/issueLink"].get("429", 0) > 0
    assert stats["links_created"] == 17
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)


def test_interrupted_run_resumes_and_finds_links_it_made_but_never_recorded(
    container: Container, sandbox: Sandbox
) -> None:
    """A run that lets go after creating the issues (lost lease, shutdown) while one link
    already exists in Jira unrecorded (the dead run's last answer was lost): the next run
    records that link from Jira instead of posting it again, and links the rest."""
    session_id = prepare_session(container)
    export_id = start_export(container, session_id).export_id

    def until_all_issues_recorded() -> bool:
        return len(container.app.load_export(export_id).issues) < 49

    assert container.exports.run(export_id, "w1", None, until_all_issues_recorded) == (
        "interrupted"
    )
    interrupted = container.app.load_export(export_id)
    assert interrupted.status == "running" and not interrupted.links
    dependent, dependency = plan_edges(interrupted)[0]
    sandbox.jira.link_blocks(interrupted.issues[dependency].key, interrupted.issues[dependent].key)
    posted_before = sandbox.stats()["requests"]["POST /rest/api/3/issueLink"]
    assert posted_before == 1

    assert container.exports.run(export_id, "w2") == "completed"
    export = container.app.load_export(export_id)
    assert export.runs == 2
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)
    stats = sandbox.stats()
    assert stats["requests"]["POST /rest/api/3/issueLink"] == posted_before + 16
    assert stats["issues_created"] == 49 and stats["links_created"] == 17
    assert len(exported_events(container, export_id, Export.DependencyLinked)) == 17
    assert container.app.load_session(session_id).stage == Stage.COMPLETED


def test_a_stale_task_does_not_run_the_export(container: Container, sandbox: Sandbox) -> None:
    """A task the export has moved on from (its message came back late, after a retry
    made a new task) changes nothing and calls nobody."""
    session_id = prepare_session(container)
    export_id = start_export(container, session_id).export_id
    before = container.app.load_export(export_id)
    assert container.exports.run(export_id, "w1", task_id=uuid4()) == "requested"
    after = container.app.load_export(export_id)
    assert (after.version, after.runs) == (before.version, 0)
    assert sandbox.stats()["issues_created"] == 0
    assert container.settle()
    db = container.store.db  # type: ignore[attr-defined]
    assert [t.task_id for t in open_tasks(db)] == [str(before.task_id)]  # what NATS would lose
    assert container.exports.run(export_id, "w1", task_id=before.task_id) == "completed"
    assert_no_duplicates(sandbox, container.app.load_export(export_id))
    assert container.settle()
    assert open_tasks(db) == []


def test_a_run_another_run_took_over_records_what_it_did_and_stops(
    container: Container, sandbox: Sandbox
) -> None:
    """Run 1 lost its lease without noticing; run 2 started. Run 1's next write records
    the issues it had created (Jira did create them) and then it stops; run 2 finishes
    with one issue per ticket."""
    session_id = prepare_session(container)
    export_id = start_export(container, session_id).export_id
    taken_over: list[int] = []

    def still_leading() -> bool:  # run 1 believes it still holds the lease
        export = container.app.load_export(export_id)
        if export.issues and not taken_over:  # another worker starts a run now
            export.start(export.retries, export.runs + 1, "w2", "test")
            container.app.save(export)
            taken_over.append(export.runs)
        return True

    assert container.exports.run(export_id, "w1", None, still_leading) == "interrupted"
    assert taken_over == [2]
    halfway = container.app.load_export(export_id)
    assert halfway.status == "running" and halfway.runs == 2
    stats = sandbox.stats()
    assert 0 < len(halfway.issues) == stats["issues_created"]  # nothing left unrecorded
    assert len(halfway.links) == stats["links_created"]  # and not completed: run 2 does

    assert container.exports.run(export_id, "w2") == "completed"
    export = container.app.load_export(export_id)
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)
    assert sandbox.stats()["issues_created"] == 49


def test_5xx_after_commit_on_single_creates_after_a_refused_field(
    container: Container, sandbox: Sandbox
) -> None:
    """The epic does not exist: the bulk create refuses `parent` on every element, so each
    ticket is created alone without it (a manual fix each); two of those single creates
    are stored but answered 502. Each is found by its mark, none created twice."""
    session_id = prepare_session(container, epic_key="DEMO-999")
    container.start()
    sandbox.faults(fail_create_next=2, fail_create_status=502)
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)
    stats = sandbox.stats()
    assert stats["issues_created"] == 49
    assert stats["responses"]["POST /rest/api/3/issue"].get("502", 0) == 2
    found = [e for e in exported_events(container, export.id, Export.TicketExported)]
    assert sum(1 for e in found if e.found_by_search) == 2
    kinds = [f.kind for f in export.fixes.values()]
    assert kinds == ["parent"] * 49
    assert all(sandbox.issue(i.key, "parent")["parent"] is None for i in list(issues.values())[:3])
