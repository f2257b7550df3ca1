"""The Export aggregate's invariants, and its old stored shapes loading (in memory)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from application.sessions import TicketForge
from application.unit_of_work import get
from domain.errors import ConflictError, InvalidCommandError, NotFoundError
from domain.export import KEEP_JIRA, MAX_EXPORT_RETRIES, Export

ACTOR = "system:exporter"
FIRST, SECOND, THIRD = (UUID(int=n) for n in (1, 2, 3))


def new_export(*, with_dependencies: bool = True) -> Export:
    """Three tickets in export order; THIRD depends on FIRST and SECOND."""
    plan = [
        {"ticket_id": str(FIRST), "order": 1, "depends_on": []},
        {"ticket_id": str(SECOND), "order": 2, "depends_on": []},
        {
            "ticket_id": str(THIRD),
            "order": 3,
            "depends_on": [str(FIRST), str(SECOND)] if with_dependencies else [],
        },
    ]
    return Export(
        session_id=uuid4(),
        task_id=uuid4(),
        project_key="DEMO",
        issue_type="Task",
        content_version=1,
        plan=plan,
        carried={},
        actor="alice",
    )


def running(**options: Any) -> Export:
    export = new_export(**options)
    export.start(0, 1, "worker-1", ACTOR)
    return export


def record(export: Export, ticket_id: UUID, number: int) -> None:
    key = f"DEMO-{number}"
    export.record_issue(ticket_id, key, f"https://jira/browse/{key}", str(10000 + number), ACTOR)


def record_all(export: Export) -> None:
    for number, ticket_id in enumerate((FIRST, SECOND, THIRD), 1):
        record(export, ticket_id, number)


def events_of(export: Export, kind: type) -> list[Any]:
    return [e for e in export.pending_events if isinstance(e, kind)]


# --- issues, order, what is left -------------------------------------------------------------


def test_recording_an_issue_twice_keeps_the_first() -> None:
    export = running()
    record(export, FIRST, 1)
    record(export, FIRST, 7)  # a second answer for the same ticket
    assert export.issues[FIRST].key == "DEMO-1"
    assert export.issues[FIRST].order == 1
    assert len(events_of(export, Export.TicketExported)) == 1


def test_an_issue_found_by_search_says_so() -> None:
    export = running()
    export.record_issue(SECOND, "DEMO-9", "u", "10009", ACTOR, found_by_search=True)
    (exported,) = events_of(export, Export.TicketExported)
    assert exported.found_by_search and export.issues[SECOND].found_by_search
    assert exported.order == 2


def test_issues_are_recorded_only_while_the_export_runs_and_only_for_its_tickets() -> None:
    export = running()
    with pytest.raises(NotFoundError):
        record(export, uuid4(), 1)
    export.fail("temporary", "Jira went away", None, None, [], ACTOR)
    with pytest.raises(ConflictError):
        record(export, FIRST, 1)
    assert export.issues == {}


def test_order_of_is_the_plans_order() -> None:
    export = new_export()
    assert [export.order_of(t) for t in (THIRD, FIRST, SECOND)] == [3, 1, 2]
    with pytest.raises(NotFoundError):
        export.order_of(uuid4())


def test_pending_tickets_are_the_plan_items_without_an_issue_in_order() -> None:
    export = running()
    assert [p["order"] for p in export.pending_tickets()] == [1, 2, 3]
    record(export, SECOND, 1)
    assert [p["order"] for p in export.pending_tickets()] == [1, 3]
    record(export, FIRST, 2)
    record(export, THIRD, 3)
    assert export.pending_tickets() == []


def test_pending_links_are_the_dependencies_not_linked_yet() -> None:
    export = running()
    record_all(export)
    assert export.pending_links() == [(THIRD, FIRST), (THIRD, SECOND)]
    export.record_link(THIRD, SECOND, ACTOR)
    export.record_link(THIRD, SECOND, ACTOR)  # twice: one link
    assert export.pending_links() == [(THIRD, FIRST)]
    (linked,) = events_of(export, Export.DependencyLinked)
    assert (linked.blocker_key, linked.blocked_key) == ("DEMO-2", "DEMO-3")
    assert running(with_dependencies=False).pending_links() == []


# --- manual fixes ---------------------------------------------------------------------------


def test_the_same_manual_fix_is_recorded_once() -> None:
    export = running()
    record(export, FIRST, 1)
    for _ in range(2):
        export.record_manual_fix(FIRST, "priority", "'Urgent' unknown", "Set it by hand", ACTOR)
    export.record_manual_fix(FIRST, "priority", "'Critical' unknown", "Set it by hand", ACTOR)
    export.record_manual_fix(None, "sprint", "Moving to sprint 7 failed", "By hand", ACTOR)
    assert len(export.fixes) == 3
    assert len(events_of(export, Export.ManualFixRecorded)) == 3
    by_detail = {f.detail: f for f in export.fixes.values()}
    assert by_detail["'Urgent' unknown"].issue_key == "DEMO-1"
    assert by_detail["Moving to sprint 7 failed"].issue_key is None


def test_a_manual_fix_has_the_same_id_in_every_run() -> None:
    """Its id follows from the export and the fix, so a resumed run finds it recorded."""
    export = running()
    export.record_manual_fix(FIRST, "assignee", "bob unknown", "Assign by hand", ACTOR)
    (fix_id,) = export.fixes
    copy = Export.Snapshot.take(export).mutate(None)
    assert isinstance(copy, Export)
    copy.record_manual_fix(FIRST, "assignee", "bob unknown", "Assign by hand", ACTOR)
    assert list(copy.fixes) == [fix_id] and not copy.pending_events


def test_resolving_a_manual_fix() -> None:
    export = running()
    export.record_manual_fix(FIRST, "link", "DEMO-1 blocks DEMO-3", "Link by hand", ACTOR)
    (fix_id,) = export.fixes
    with pytest.raises(NotFoundError):
        export.resolve_manual_fix(uuid4(), None, "alice")
    with pytest.raises(InvalidCommandError):
        export.resolve_manual_fix(fix_id, None, "alice", choice=KEEP_JIRA)  # not a conflict
    export.resolve_manual_fix(fix_id, "linked", "alice")
    export.resolve_manual_fix(fix_id, "again", "alice")
    assert export.fixes[fix_id].resolved
    assert export.fixes[fix_id].resolution_note == "linked"
    assert len(events_of(export, Export.ManualFixResolved)) == 1


# --- failing, retrying, completing ----------------------------------------------------------


def test_a_failed_export_is_retried_at_most_max_export_retries_times() -> None:
    export = running()
    tasks = []
    for attempt in range(1, MAX_EXPORT_RETRIES + 1):
        export.fail("temporary", "Jira went away", SECOND, 2, ["Retry"], ACTOR)
        assert export.failure is not None and export.failure.failed_ticket_order == 2
        task_id = uuid4()
        export.retry(task_id, "alice")
        tasks.append(task_id)
        assert (export.status, export.retries, export.task_id) == ("requested", attempt, task_id)
        export.start(attempt, attempt + 1, "worker-1", ACTOR)
        assert export.failure is None
    export.fail("temporary", "Jira went away", SECOND, 2, ["Retry"], ACTOR)
    with pytest.raises(ConflictError) as refused:
        export.retry(uuid4(), "alice")
    assert getattr(refused.value, "error_category", None) == "admin_required"
    assert export.retries == MAX_EXPORT_RETRIES and export.task_id == tasks[-1]


def test_only_a_failed_export_can_be_retried() -> None:
    export = running()
    with pytest.raises(ConflictError):
        export.retry(uuid4(), "alice")  # still running
    record_all(export)
    export.complete(ACTOR)
    with pytest.raises(ConflictError):
        export.retry(uuid4(), "alice")
    assert export.retries == 0


def test_completing_with_tickets_missing_is_refused() -> None:
    export = running()
    record(export, SECOND, 1)
    with pytest.raises(ConflictError, match=r"orders \[1, 3\]"):
        export.complete(ACTOR)
    assert export.status == "running"
    record(export, FIRST, 2)
    record(export, THIRD, 3)
    export.complete(ACTOR, {"create": 1.23456, "link": 0.0004})
    assert export.status == "completed"
    assert export.phases == {"create": 1.235, "link": 0.0}
    (completed,) = events_of(export, Export.ExportCompleted)
    assert (completed.created, completed.links, completed.manual_fixes) == (3, 0, 0)
    with pytest.raises(ConflictError):
        export.complete(ACTOR)


# --- the key watermark and the estimate -------------------------------------------------------


def test_the_key_watermark_is_noted_once() -> None:
    export = running()
    export.note_key_watermark(5, ACTOR)
    export.note_key_watermark(9, ACTOR)  # a later run keeps the first
    assert export.key_watermark == 5
    assert len(events_of(export, Export.KeyWatermarkNoted)) == 1


def test_no_key_watermark_after_issues_exist() -> None:
    """Every issue of the export has a key above its watermark: noted later, it would not
    be below the issues already made (an export from before watermarks)."""
    export = running()
    record(export, FIRST, 3)
    export.note_key_watermark(12, ACTOR)
    assert export.key_watermark is None
    assert events_of(export, Export.KeyWatermarkNoted) == []


def test_the_estimate_is_recorded_as_given() -> None:
    export = running()
    estimate: dict[str, Any] = {"duration_s": 3.2, "requests": {"links": 2, "total": 3}}
    export.record_estimate(estimate, ACTOR)
    estimate["duration_s"] = 99.0  # the caller's dict is not the aggregate's
    assert export.estimate == {"duration_s": 3.2, "requests": {"links": 2, "total": 3}}
    (estimated,) = events_of(export, Export.ExportEstimated)
    assert estimated.estimate["requests"]["total"] == 3


# --- old stored shapes ------------------------------------------------------------------------


@pytest.fixture
def app() -> TicketForge:
    return TicketForge(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_a_v1_export_completed_event_without_phases_loads(app: TicketForge) -> None:
    export = running()
    record_all(export)
    app.save(export)
    v1_state = {
        "timestamp": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "originator_topic": get_topic(Export),
        "task_id": export.task_id,
        "created": 3,
        "links": 0,
        "manual_fixes": 0,
        "actor": ACTOR,
    }  # no class_version, no phases: the v1 shape
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=export.id,
                originator_version=export.version + 1,
                topic=get_topic(Export.ExportCompleted),
                state=app.mapper.transcoder.encode(v1_state),
            )
        ]
    )
    loaded = get(app, Export, export.id)
    assert (loaded.status, loaded.phases) == ("completed", {})
    completed = [e for e in app.events.get(export.id) if isinstance(e, Export.ExportCompleted)]
    assert completed[0].phases == {}


def test_export_completed_events_are_stored_as_v2_with_phases(app: TicketForge) -> None:
    export = running()
    record_all(export)
    export.complete(ACTOR, {"create": 0.5})
    app.save(export)
    (stored,) = app.recorder.select_events(export.id, gt=export.version - 1)
    state = app.mapper.transcoder.decode(stored.state)
    assert state["class_version"] == 2 and state["phases"] == {"create": 0.5}


def snapshot_of(export: Export, drop: tuple[str, ...], class_version: int | None) -> Snapshot:
    """A snapshot of `export` as an older release would have stored it."""
    state = dict(Export.Snapshot.take(export).state)
    for name in drop:
        del state[name]
    state.pop("class_version")
    if class_version is not None:
        state["class_version"] = class_version
    return Snapshot(
        originator_id=export.id,
        originator_version=export.version,
        timestamp=datetime(2024, 1, 2, tzinfo=UTC),
        topic=get_topic(Export),
        state=state,
    )


BEFORE_REEXPORTS = (
    "previous_export_id",
    "sent",
    "updated",
    "conflicts",
    "to_unlink",
    "unlinked",
    "to_mark_obsolete",
    "obsolete",
    "force",
)


def load_from(app: TicketForge, export: Export, snapshot: Snapshot) -> Export:
    app.save(export)
    assert app.snapshots is not None
    app.snapshots.put([snapshot])
    return get(app, Export, export.id)


def test_a_v1_snapshot_without_estimate_watermark_or_phases_loads(app: TicketForge) -> None:
    export = running()
    record(export, FIRST, 1)
    v1 = snapshot_of(export, ("estimate", "key_watermark", "phases", *BEFORE_REEXPORTS), None)
    loaded = load_from(app, export, v1)
    assert (loaded.estimate, loaded.key_watermark, loaded.phases) == (None, None, {})
    assert loaded.issues[FIRST].key == "DEMO-1"
    # ... and it works on: a watermark (not after issues), more issues, completion.
    loaded.note_key_watermark(4, ACTOR)
    assert loaded.key_watermark is None
    record(loaded, SECOND, 2)
    record(loaded, THIRD, 3)
    loaded.complete(ACTOR)
    assert loaded.status == "completed" and loaded.pending_updates() == []


def test_a_v2_snapshot_from_before_reexports_loads(app: TicketForge) -> None:
    export = running()
    record(export, FIRST, 1)
    loaded = load_from(app, export, snapshot_of(export, BEFORE_REEXPORTS, 2))
    record(loaded, SECOND, 2)
    assert loaded.pending_updates() == []
