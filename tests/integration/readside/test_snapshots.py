"""Snapshots of `Session` and `Export` round-trip through the event store (both backends)."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from application.sessions import TicketForge
from domain.export import Export
from domain.session import Session
from interfaces.bootstrap import Container
from tests.integration.readside.support import ALICE, failed_export, reviewed_session


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def uncached(container: Container) -> TicketForge:
    """A second application on the same store, without an aggregate cache."""
    env = {**container.settings.eventsourcing_env(), "AGGREGATE_CACHE_MAXSIZE": ""}
    return TicketForge(env=env)


def snapshot_versions(app: TicketForge, aggregate_id: UUID) -> list[int]:
    assert app.snapshots is not None
    return [s.originator_version for s in app.snapshots.get(aggregate_id)]


def test_a_session_and_an_export_load_identically_from_their_snapshots(
    container: Container,
) -> None:
    session_id = reviewed_session(container)
    export_id = failed_export(container, session_id)
    app = container.app
    app.take_snapshot(session_id)
    app.take_snapshot(export_id)

    other = uncached(container)
    try:
        session_version = app.repository.get(session_id).version
        assert snapshot_versions(other, session_id) == [session_version]
        # Loaded from the snapshot alone (no event after it) ...
        from_snapshot = other.repository.get(session_id)
        # ... equals the aggregate replayed from its events.
        replayed = other.repository.get(session_id, version=session_version)
        assert isinstance(from_snapshot, Session)
        assert state(from_snapshot) == state(replayed)
        assert state(from_snapshot) == state(app.repository.get(session_id))
        ticket = next(iter(from_snapshot.tickets.values()))
        assert isinstance(next(iter(from_snapshot.tickets)), UUID)
        assert isinstance(ticket.depends_on, set)
        entity = next(iter(from_snapshot.entities.values()))
        assert isinstance(entity.depends_on, tuple) and entity.kind.value

        export = other.repository.get(export_id)
        assert isinstance(export, Export)
        assert state(export) == state(app.repository.get(export_id))
        assert export.links and all(isinstance(link, tuple) for link in export.links)
        assert export.failure is not None and export.fixes
        # Commands keep working on an aggregate loaded from a snapshot.
        ticket_id = next(iter(from_snapshot.tickets))
        other.edit_ticket(session_id, ticket_id, {"title": "After snapshot"}, None, ALICE)
        assert other.repository.get(session_id).tickets[ticket_id].title == "After snapshot"
    finally:
        other.close()


def test_snapshots_are_taken_at_the_interval(container: Container) -> None:
    """Every `interval`-th event of a session is snapshotted as it is saved."""
    interval = TicketForge.snapshotting_intervals[Session]
    session_id = reviewed_session(container)
    app = container.app
    session = app.load_session(session_id)
    ticket_id = next(iter(session.tickets))
    for n in range(session.version, 2 * interval + 1):
        app.edit_ticket(session_id, ticket_id, {"title": f"Title {n}"}, None, ALICE)
    assert app.repository.get(session_id).version >= 2 * interval
    other = uncached(container)
    try:
        assert snapshot_versions(other, session_id) == [interval, 2 * interval]
        assert state(other.repository.get(session_id)) == state(app.repository.get(session_id))
    finally:
        other.close()


class WithoutSnapshots(TicketForge):
    """Loads by replaying every event: what a snapshot must agree with."""

    name = "ticketforge"  # the same tables (PostgreSQL names them after the application)
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}


def test_a_snapshot_taken_as_a_command_saves_equals_the_replayed_aggregate(
    container: Container,
) -> None:
    """The command whose event lands on the interval snapshots the aggregate it just
    saved (no reload): loading from that snapshot must give what replaying gives."""
    interval = TicketForge.snapshotting_intervals[Session]
    session_id = reviewed_session(container)
    app = container.app
    session = app.load_session(session_id)
    tickets = sorted(session.tickets)
    ready: dict[UUID, bool] = {t: session.tickets[t].ready for t in tickets}
    version, n = session.version, 0
    while version < interval + 2:
        n += 1
        ticket_id = tickets[n % len(tickets)]
        if n % 3:
            result = app.edit_ticket(session_id, ticket_id, {"title": f"Title {n}"}, None, ALICE)
        else:  # another kind of event, changing other state
            ready[ticket_id] = not ready[ticket_id]
            result = app.mark_ready(session_id, [ticket_id], ready[ticket_id], ALICE)
        version = result.version
    env = {**container.settings.eventsourcing_env(), "AGGREGATE_CACHE_MAXSIZE": ""}
    other, replaying = uncached(container), WithoutSnapshots(env=env)
    try:
        assert snapshot_versions(other, session_id) == [interval]
        for version in (interval, interval + 2):
            from_snapshot = other.repository.get(session_id, version=version)
            assert state(from_snapshot) == state(
                replaying.repository.get(session_id, version=version)
            )
    finally:
        other.close()
        replaying.close()
