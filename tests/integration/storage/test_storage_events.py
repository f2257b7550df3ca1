"""The event store: durability across instances, encryption at rest, snapshots, and
optimistic concurrency between application instances."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, ClassVar
from uuid import UUID

import pytest
from eventsourcing.cipher import AESCipher
from pydantic import SecretStr

from application.sessions import TicketForge
from application.users import User
from domain.errors import StaleVersionError
from domain.session import Session
from interfaces.bootstrap import Container, bootstrap
from interfaces.settings import Settings
from tests.integration.storage.conftest import (
    ALICE,
    TINY_INVENTORY,
    create_session,
    read_models,
    seed_session,
)


class WithoutSnapshots(TicketForge):
    """Loads by replaying every event: what the snapshots must agree with."""

    name = "ticketforge"  # the same tables (PostgreSQL names them after the application)
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}


def aggregate_state(session: Session) -> dict[str, Any]:
    """Everything a session knows, comparable between two loads."""
    return {
        "version": session.version,
        "name": session.name,
        "owner": session.owner,
        "stage": session.stage,
        "content_version": session.content_version,
        "files": session.files,
        "entities": {n: e.to_dict() for n, e in session.entities.items()},
        "tickets": {str(i): asdict(t) for i, t in session.tickets.items()},
        "generation": asdict(session.generation) if session.generation else None,
        "last_validation": session.last_validation,
        "validation_state": session.validation_state(),
        "export_blockers": session.export_blockers(),
    }


def review_a_little(container: Container, session_id: UUID) -> None:
    session = container.app.load_session(session_id)
    ids = sorted(session.tickets)
    container.app.edit_ticket(session_id, ids[0], {"title": "Reviewed title"}, 1, ALICE)
    container.app.reorder_tickets(session_id, ids[::-1], ALICE)
    container.app.mark_ready(session_id, None, True, ALICE)
    container.app.validate_tickets(session_id, ids[:3], ALICE)
    container.app.edit_ticket(session_id, ids[1], {"labels": ["later"]}, 1, ALICE)


def test_a_new_instance_sees_every_event_and_the_same_read_models(settings: Settings) -> None:
    first = bootstrap(settings)
    try:
        session_id = seed_session(first)
        review_a_little(first, session_id)
        assert first.settle()
        before = aggregate_state(first.app.load_session(session_id))
        rows = read_models(first)
        head = first.app.head_position()
    finally:
        first.close()

    second = bootstrap(settings)  # a new process on the same store
    try:
        session = second.app.load_session(session_id)
        assert aggregate_state(session) == before
        assert len(session.tickets) == 49
        checked = [t for t in session.tickets.values() if t.validated_at or t.validation_error]
        assert len(checked) == 3
        assert second.app.head_position() == head
        assert read_models(second) == rows
        assert second.store.position("sessions") == head
        assert second.settle()
        assert read_models(second) == rows
    finally:
        second.close()


def test_a_session_past_its_snapshot_loads_the_same_everywhere(
    settings: Settings, open_container: Callable[..., Container]
) -> None:
    """A Session is snapshotted every `interval` events: a save whose events cross a
    multiple snapshots that version (reloaded), the command that records the next
    multiple succeeds and snapshots what it saved, and a fresh instance (snapshot +
    later events) loads the same state."""
    interval = TicketForge.snapshotting_intervals[Session]
    writer = open_container()
    session_id = seed_session(writer, TINY_INVENTORY)
    session = writer.app.load_session(session_id)
    ids = sorted(session.tickets)
    # Past the first multiple, up to the event before the second, in one save (a long
    # review, compressed), then real commands.
    i = 0
    while session.version < 2 * interval - 1:
        session.edit_ticket(ids[i % len(ids)], {"analysis": f"Pass {i}"}, None, "alice")
        i += 1
    writer.app.save(session)
    assert writer.app.load_session(session_id).version == 2 * interval - 1
    assert writer.app.snapshots is not None
    assert [s.originator_version for s in writer.app.snapshots.get(session_id)] == [interval]

    result = writer.app.edit_ticket(session_id, ids[0], {"title": "Event 2n"}, None, ALICE)
    assert result.version == 2 * interval
    writer.app.reorder_tickets(session_id, ids[::-1], ALICE)
    writer.app.validate_tickets(session_id, ids[:3], ALICE)
    expected = aggregate_state(writer.app.load_session(session_id))

    reader = open_container()
    assert reader.app.snapshots is not None
    snapshots = list(reader.app.snapshots.get(session_id))
    assert [s.originator_version for s in snapshots] == [interval, 2 * interval]
    assert aggregate_state(reader.app.load_session(session_id)) == expected
    as_of = reader.app.repository.get(session_id, version=2 * interval)
    assert as_of.version == 2 * interval
    assert as_of.tickets[ids[0]].title == "Event 2n"
    replayed = WithoutSnapshots(env=reader.settings.eventsourcing_env())
    try:
        for version in (interval, 2 * interval, expected["version"]):
            assert aggregate_state(reader.app.repository.get(session_id, version=version)) == (
                aggregate_state(replayed.repository.get(session_id, version=version))
            )
    finally:
        replayed.close()
    assert reader.settle()
    doc = reader.store.get("sessions", str(session_id))
    assert doc is not None
    assert doc["version"] == expected["version"]
    assert doc["content_version"] == expected["content_version"]


@pytest.mark.parametrize("encrypted", [True, False], ids=["cipher", "plain"])
def test_events_at_rest_are_unreadable_with_a_cipher_key(
    other_settings: Callable[..., Settings], encrypted: bool
) -> None:
    key = AESCipher.create_key(32)
    settings = other_settings(**({"CIPHER_KEY": key} if encrypted else {}))
    canary_name = "Canary-Session-Name-7f3a9"
    canary_title = "Canary ticket title 91b2c"
    container = bootstrap(settings)
    try:
        session_id = seed_session(container, name=canary_name)
        first = sorted(container.app.load_session(session_id).tickets)[0]
        container.app.edit_ticket(session_id, first, {"title": canary_title}, 1, ALICE)
        table = container.app.recorder.events_table_name  # type: ignore[attr-defined]
    finally:
        container.close()

    states = raw_event_states(settings, table)

    assert len(states) > 49
    found = [s for s in states if canary_name.encode() in s or canary_title.encode() in s]
    if encrypted:
        assert found == [], "plaintext in an encrypted event store"
        assert not any(b"node.type.article" in s for s in states)
    else:
        assert found, "the check would not see plaintext (control case)"

    reopened = bootstrap(settings)  # same key: reads everything back
    try:
        session = reopened.app.load_session(session_id)
        assert session.name == canary_name
        assert session.tickets[first].title == canary_title
        assert len(session.tickets) == 49
    finally:
        reopened.close()

    if encrypted:
        wrong = settings.model_copy(update={"cipher_key": SecretStr(AESCipher.create_key(32))})
        stranger = bootstrap(wrong)
        try:
            with pytest.raises(Exception):
                stranger.app.load_session(session_id)
        finally:
            stranger.close()


def raw_event_states(settings: Settings, table: str) -> list[bytes]:
    """The `state` column of every stored event, straight from the database."""
    if settings.uses_postgres:
        import psycopg
        from psycopg import sql

        with psycopg.connect(settings.postgres_conninfo()) as conn:
            rows = conn.execute(
                sql.SQL("SELECT state FROM {}").format(sql.Identifier(table))
            ).fetchall()
    else:
        with sqlite3.connect(settings.data_dir / "events.db") as conn:
            rows = conn.execute(f"SELECT state FROM {table}").fetchall()
    return [bytes(row[0]) for row in rows]


def test_two_instances_editing_one_session_at_once_both_succeed(
    settings: Settings, open_container: Callable[..., Container]
) -> None:
    """Each round, both instances send one command at the same moment: one wins the
    version race, the other gets a conflict, reloads, re-applies and saves."""
    first = open_container()
    second = open_container()
    session_id = seed_session(first)
    ids = sorted(first.app.load_session(session_id).tickets)
    start = first.app.load_session(session_id)
    rounds = 12
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)
    actors = {"first": User("alice"), "second": User("root", is_admin=True)}

    def edit(container: Container, who: str, ticket: UUID) -> None:
        for i in range(rounds):
            barrier.wait(timeout=30)
            try:
                container.app.edit_ticket(
                    session_id, ticket, {"analysis": f"{who} pass {i}"}, None, actors[who]
                )
            except BaseException as exc:
                errors.append(exc)

    threads = [
        threading.Thread(target=edit, args=(first, "first", ids[0])),
        threading.Thread(target=edit, args=(second, "second", ids[1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    end = second.app.load_session(session_id)
    assert end.version == start.version + 2 * rounds
    assert end.tickets[ids[0]].version == 1 + rounds
    assert end.tickets[ids[1]].version == 1 + rounds
    assert end.tickets[ids[0]].analysis == f"first pass {rounds - 1}"
    assert end.tickets[ids[1]].analysis == f"second pass {rounds - 1}"
    events = list(first.app.events.get(session_id, gt=start.version))
    edits = [e for e in events if isinstance(e, Session.TicketEdited)]
    assert len(edits) == 2 * rounds
    assert sorted(e.actor for e in edits) == ["alice"] * rounds + ["root"] * rounds
    assert [e.originator_version for e in events] == list(range(start.version + 1, end.version + 1))
    assert first.settle()
    doc = first.store.get("sessions", str(session_id))
    assert doc is not None
    assert doc["content_version"] == end.content_version


def test_a_stale_expected_version_loses_nothing_across_instances(
    settings: Settings, open_container: Callable[..., Container]
) -> None:
    first = open_container()
    second = open_container()
    session_id = seed_session(first)
    ticket = sorted(first.app.load_session(session_id).tickets)[0]
    first.app.load_session(session_id)  # cached in the first instance
    second.app.edit_ticket(session_id, ticket, {"title": "Second wins"}, 1, ALICE)

    with pytest.raises(StaleVersionError) as refused:
        first.app.edit_ticket(session_id, ticket, {"title": "First, on version 1"}, 1, ALICE)

    assert refused.value.current_version == 2
    assert first.app.load_session(session_id).tickets[ticket].title == "Second wins"


def test_sessions_are_independent_streams(container: Container) -> None:
    a = create_session(container, "A")
    b = create_session(container, "B")

    assert container.app.load_session(a).name == "A"
    assert container.app.load_session(b).name == "B"
    assert container.app.head_position() == 2
