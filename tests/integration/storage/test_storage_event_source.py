"""The projections' event source reads the notification log its own way (its own query,
a JSON batch on PostgreSQL, orjson): the events must be exactly the ones the library's
`select_notifications` and mapper give, on both backends, encrypted or not, and
wherever the fast path has to step aside."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any
from uuid import uuid4

from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.session import Session
from infrastructure.eventstore import ApplicationEventSource
from interfaces.bootstrap import Container
from interfaces.settings import Settings
from tests.integration.storage.conftest import ALICE, TINY_INVENTORY, seed_session


def same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down, dict keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def library_read(container: Container, after: int, limit: int, stop: int) -> list[Any]:
    app = container.app
    notifications = app.recorder.select_notifications(
        start=after, limit=limit, stop=stop, inclusive_of_start=False
    )
    return [(n.id, app.mapper.to_domain_event(n)) for n in notifications]


def assert_reads_as_the_library(container: Container, limits: Sequence[int] = (1, 7, 1000)) -> int:
    source = ApplicationEventSource(container.app)
    head = source.head()
    assert head > 0
    for limit in limits:
        position = 0
        while position < head:
            ours = source.read(position, limit, head)
            theirs = library_read(container, position, limit, head)
            assert [p for p, _ in ours] == [p for p, _ in theirs]
            for (_, mine), (_, expected) in zip(ours, theirs, strict=True):
                assert type(mine) is type(expected)
                assert same(vars(mine), vars(expected)), (vars(mine), vars(expected))
            position = ours[-1][0]
    return head


def test_every_event_reads_as_the_library_reads_it(container: Container) -> None:
    session_id = seed_session(container)
    app = container.app
    ticket = sorted(app.load_session(session_id).tickets)[0]
    title = 'Ünïcödé \u2028 "quoted" \\ \n\t'
    app.edit_ticket(session_id, ticket, {"title": title}, None, ALICE)
    app.mark_ready(session_id, None, True, ALICE)
    app.validate_tickets(session_id, None, ALICE)

    assert assert_reads_as_the_library(container) == app.head_position()


def test_encrypted_events_read_as_the_library_reads_them(
    other_settings: Callable[..., Settings], open_container: Callable[..., Container]
) -> None:
    """With a cipher the states are not JSON text: PostgreSQL's batch steps aside."""
    container = open_container(other_settings(CIPHER_KEY=AESCipher.create_key(32)))
    seed_session(container, TINY_INVENTORY)

    assert_reads_as_the_library(container)


def test_states_orjson_would_read_differently_go_the_library_way(container: Container) -> None:
    """NaN (orjson refuses it) and integers beyond 64 bits (orjson makes floats of them),
    in a batch with ordinary events: the batch is read, each event exactly."""
    seed_session(container, TINY_INVENTORY)
    app = container.app
    odd_changes = [
        {"nan": float("nan"), "inf": float("inf")},  # orjson refuses these
        {"big": 2**70, "small": -(2**64), "fine": 2**63 - 1},  # orjson reads floats
    ]
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=uuid4(),
                originator_version=1,
                topic=get_topic(Session.TicketEdited),
                state=app.mapper.transcoder.encode(
                    {
                        "timestamp": Session.TicketEdited.create_timestamp(),
                        "ticket_id": uuid4(),
                        "changes": changes,
                        "ticket_version": 2,
                        "actor": "alice",
                    }
                ),
            )
            for changes in odd_changes
        ]
    )
    seed_session(container, TINY_INVENTORY, name="after the odd one")

    assert_reads_as_the_library(container)
    read = ApplicationEventSource(app).read(0, 10_000, app.head_position())
    edits = [e.changes for _, e in read if isinstance(e, Session.TicketEdited)]
    assert math.isnan(edits[0]["nan"]) and edits[0]["inf"] == float("inf")
    assert edits[1] == {"big": 2**70, "small": -(2**64), "fine": 2**63 - 1}
    assert all(type(v) is int for v in edits[1].values())
