"""Rebuild from event 1 into a shadow copy, swapped in atomically (both backends)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from infrastructure.sql.database import SQLiteDatabase
from interfaces.bootstrap import Container
from projections import tickets as tickets_view
from projections.base import RebuildRefusedError
from projections.store import shadow_name
from projections.tickets import CONFLICT_FIXES
from tests.integration.readside.support import ALICE, BOB, failed_export, reviewed_session


def snapshot_of(container: Container) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of every projection."""
    return {
        table: container.store.list(table)
        for projection in container.projector.projections.values()
        for table in projection.tables
    }


def tasks_of(container: Container) -> list[tuple[Any, ...]]:
    db = container.store.db  # type: ignore[attr-defined]
    with db.read() as cur:
        cur.execute(
            "SELECT task_id, kind, session_id, payload, state, attempts, created_at, finished_at"
            " FROM rm_tasks ORDER BY task_id"
        )
        return [tuple(r) for r in cur.fetchall()]


def populated(container: Container) -> None:
    first = reviewed_session(container, ALICE)
    failed_export(container, first)
    reviewed_session(container, BOB)
    container.settle()


def test_a_rebuilt_read_model_equals_the_incrementally_built_one(container: Container) -> None:
    populated(container)
    before = snapshot_of(container)
    tasks_before = tasks_of(container)
    # every table holds rows (but the conflicts', which only a re-export fills)
    filled = {k: v for k, v in before.items() if k != CONFLICT_FIXES}
    assert all(filled.values()), {k: len(v) for k, v in before.items()}
    head = container.app.head_position()

    for name in container.projector.projections:
        assert container.projector.rebuild(name) == head

    assert snapshot_of(container) == before
    assert {p.name: p.position for p in container.store.positions() if "#" not in p.name} == {
        name: head for name in container.projector.projections
    }
    # No shadow copy is left behind.
    for projection in container.projector.projections.values():
        for table in projection.tables:
            assert container.store.count(shadow_name(table)) == 0
    assert all("#" not in p.name for p in container.store.positions())
    # The replayed work queue converges: finished tasks stay finished, untouched.
    assert tasks_of(container) == tasks_before


def test_a_rebuild_from_an_emptied_read_model_restores_it(container: Container) -> None:
    populated(container)
    before = snapshot_of(container)
    tickets = container.projector.projections["tickets"]
    container.store.drop_projection("tickets", tickets.tables)
    assert container.store.count(tickets_view.TABLE) == 0
    container.projector.rebuild("tickets")
    assert snapshot_of(container) == before


def test_the_work_queue_replay_does_not_reopen_finished_tasks(container: Container) -> None:
    populated(container)
    finished = [t for t in tasks_of(container) if t[4] != "pending"]
    assert finished, "the sessions' generation tasks are finished"
    container.projector.rebuild("work_queue")
    after = {t[0]: t for t in tasks_of(container)}
    for task in finished:
        assert after[task[0]] == task


def test_queries_answer_from_the_old_copy_during_a_rebuild(container: Container) -> None:
    populated(container)
    session_ids = {d["id"] for d in container.store.list("sessions")}
    expected = {sid: container.store.list(tickets_view.TABLE, partition=sid) for sid in session_ids}
    container.projector.rebuild_batch_size = 5  # many small batches: a long rebuild
    answers: list[int] = []
    wrong: list[str] = []
    done = threading.Event()

    def query() -> None:
        while not done.is_set():
            for sid, rows in expected.items():
                got = container.store.list(tickets_view.TABLE, partition=sid)
                answers.append(len(got))
                if got != rows:
                    wrong.append(sid)

    reader = threading.Thread(target=query)
    reader.start()
    try:
        container.projector.rebuild("tickets")
    finally:
        done.set()
        reader.join()
    assert len(answers) > 10 and not wrong


def test_events_written_during_a_rebuild_are_in_the_swapped_copy(container: Container) -> None:
    populated(container)
    container.projector.rebuild_batch_size = 5
    extra: list[Any] = []
    original_read = container.projector.source.read

    def read_and_write(after: int, limit: int, stop: int) -> Any:
        if not extra and after > 20:  # in the middle of the rebuild: a new command
            extra.append(
                container.app.create_session(
                    name="late",
                    site={"site_name": "x"},
                    jira_project_key="TF",
                    issue_type="Task",
                    user=ALICE,
                )
            )
        return original_read(after, limit, stop)

    container.projector.source.read = read_and_write  # type: ignore[method-assign]
    try:
        container.projector.rebuild("sessions")
    finally:
        container.projector.source.read = original_read  # type: ignore[method-assign]
    assert extra
    assert container.store.get("sessions", str(extra[0].session_id)) is not None
    assert container.store.position("sessions") == container.app.head_position()


def test_background_rebuild_refuses_unknown_and_running(container: Container) -> None:
    with pytest.raises(RebuildRefusedError):
        container.projector.start_rebuild("nope")


def all_rows(container: Container) -> int:
    db = container.store.db  # type: ignore[attr-defined]
    with db.read() as cur:
        cur.execute("SELECT COUNT(*) FROM rm_docs")
        return int(cur.fetchone()[0])


def test_rebuilding_again_and_again_leaves_one_copy(container: Container) -> None:
    """The swap re-points a table at its rebuilt rows: the rows it replaced are gone,
    and the next rebuild's copy is a new one, not the live one."""
    populated(container)
    before = snapshot_of(container)
    rows = all_rows(container)
    db = container.store.db  # type: ignore[attr-defined]
    container.projector.rebuild_batch_size = 5  # the store's writer thread commits batches

    connections = None
    for _ in range(3):
        for name in ("tickets", "audit", "sessions"):
            container.projector.rebuild(name)
        assert snapshot_of(container) == before
        assert all_rows(container) == rows
        if isinstance(db, SQLiteDatabase):  # each rebuild's writer thread closes its own
            assert connections in (None, db.open_connections)
            connections = db.open_connections

    container.store.drop_projection("tickets", container.projector.projections["tickets"].tables)
    assert container.store.count(tickets_view.TABLE) == 0
    container.projector.pump("tickets")
    assert snapshot_of(container) == before


def test_a_rebuild_that_fails_midway_changes_nothing_and_the_next_one_works(
    container: Container,
) -> None:
    populated(container)
    before = snapshot_of(container)
    rows = all_rows(container)
    container.projector.rebuild_batch_size = 5  # batches committed before the failure
    tickets = container.projector.projections["tickets"]
    seen = 0
    original = tickets.handler

    def failing(event_type: type[Any]) -> Any:
        handle = original(event_type)

        def counted(event: Any, tx: Any) -> None:
            nonlocal seen
            seen += 1
            if seen == 60:
                raise RuntimeError("projection bug")
            handle(event, tx)

        return counted

    tickets.handler = failing  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="projection bug"):
            container.projector.rebuild("tickets")
    finally:
        del tickets.handler
    assert snapshot_of(container) == before  # queries never saw the half-built copy

    container.projector.rebuild("tickets")
    assert snapshot_of(container) == before
    assert all_rows(container) == rows


def test_a_second_rebuild_writing_the_same_copy_is_refused(container: Container) -> None:
    """Two rebuilds of one projection at once: the one whose copy moved under it stops."""
    populated(container)
    before = snapshot_of(container)
    container.projector.rebuild_batch_size = 5
    original_read = container.projector.source.read
    raced: list[int] = []

    def read_and_race(after: int, limit: int, stop: int) -> Any:
        if not raced and after > 30:  # mid-rebuild: another rebuild starts from scratch
            raced.append(after)
            container.store.drop_projection(
                shadow_name("sessions"),
                [shadow_name(t) for t in container.projector.projections["sessions"].tables],
            )
        return original_read(after, limit, stop)

    container.projector.source.read = read_and_race  # type: ignore[method-assign]
    try:
        with pytest.raises(RebuildRefusedError, match="Another rebuild"):
            container.projector.rebuild("sessions")
    finally:
        container.projector.source.read = original_read  # type: ignore[method-assign]
    assert raced
    assert snapshot_of(container) == before
    container.projector.rebuild("sessions")
    assert snapshot_of(container) == before
