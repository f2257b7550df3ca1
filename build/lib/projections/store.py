"""The read-model store port: document tables plus a tracked position per projection.

A projection's rows and its position are written in one transaction, so each event is
applied exactly once however often a projector stops, restarts or races another one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Doc:
    key: str
    doc: dict[str, Any]
    partition: str = ""
    owner: str = ""
    sort: int = 0


class ViewTransaction(Protocol):
    """What a projection may do inside its batch transaction."""

    position: int
    # The notification id of the event being processed (a global, gap-free-in-order
    # sequence: the event store's order), for read models that keep that order.
    event_position: int

    def get(self, table: str, key: str) -> dict[str, Any] | None: ...

    def put(
        self,
        table: str,
        key: str,
        doc: dict[str, Any],
        *,
        partition: str = "",
        owner: str = "",
        sort: int = 0,
    ) -> None: ...

    def delete(self, table: str, key: str) -> None: ...

    def partition(self, table: str, partition: str) -> list[dict[str, Any]]: ...

    def enqueue_task(
        self, task_id: str, kind: str, session_id: str, payload: dict[str, Any]
    ) -> None:
        """Hand work to the workers (a durable queue row)."""
        ...

    def finish_task(self, task_id: str, state: str) -> None: ...

    def before_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the batch's rows are written, just before it commits.

        Actions run in the order given; if one raises, the whole batch (rows and
        position) rolls back, so a side effect that must happen exactly once per
        event (publishing it) is retried with the batch.
        """
        ...


class ShadowWriter(Protocol):
    def batch(self) -> AbstractContextManager[ViewTransaction]:
        """A batch of the rebuild copy, starting where the previous one ended; on a
        clean exit it is queued for its commit (exactly as `transaction(shadow=True)`
        would have committed it), and the next batch can start at once."""
        ...

    def settled(self) -> None:
        """Wait until every queued batch is committed; raise `PositionMovedError` if
        another rebuild wrote the copy meanwhile."""
        ...


class PositionMovedError(Exception):
    """The rebuild copy's position is not where this rebuild left it: another rebuild
    of the same projection wrote it."""


@dataclass(frozen=True)
class ProjectionPosition:
    name: str
    position: int
    updated_at: float | None


class ReadModelStore(Protocol):
    def create_tables(self) -> None: ...

    def transaction(
        self, projection: str, *, shadow: bool = False
    ) -> AbstractContextManager[ViewTransaction]:
        """Exclusive per projection: a second projector blocks until the first commits.

        With `shadow`, the batch goes to the projection's rebuild copy: its tables
        are `<table>#rebuild` and its position is tracked as `<name>#rebuild`.
        """
        ...

    def shadow_writer(self, projection: str) -> AbstractContextManager[ShadowWriter]:
        """The rebuild copy's batches, each committed (rows and position, in one
        transaction, in order) in the background while the next one is computed.
        Leaving the context waits for the last commit; a failed commit is raised by the
        next `batch()` or on leaving (`PositionMovedError` if another rebuild wrote)."""
        ...

    def swap_in(
        self, projection: str, tables: Sequence[str], catch_up: Callable[[ViewTransaction], None]
    ) -> int:
        """Replace the live copy by the rebuilt one, atomically; return the new position.

        In one transaction holding the projection's lock: `catch_up` brings the shadow
        copy to the head, then the live rows are deleted, the shadow rows renamed to
        the live tables, and the live position set to the shadow's.
        """
        ...

    def position(self, projection: str) -> int: ...

    def positions(self) -> list[ProjectionPosition]: ...

    def get(self, table: str, key: str) -> dict[str, Any] | None: ...

    def list(
        self,
        table: str,
        *,
        partition: str | None = None,
        owner: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]: ...

    def count(
        self, table: str, *, partition: str | None = None, owner: str | None = None
    ) -> int: ...

    def drop_projection(self, projection: str, tables: Sequence[str]) -> None:
        """Forget a projection's rows and position (for a rebuild from event 1)."""
        ...

    def close(self) -> None: ...


class LeaderLock(Protocol):
    """Which process does a projection's work; another one waits and takes over if it dies."""

    def acquire(self, name: str) -> bool:
        """Try to lead `name` (cheap when already leading; renews a lease). True if we lead."""
        ...

    def release(self, name: str) -> None: ...

    def leaders(self) -> dict[str, str]:
        """Who leads each projection now (for the admin view)."""
        ...

    def close(self) -> None: ...


SHADOW_SUFFIX = "#rebuild"


def shadow_name(name: str) -> str:
    """The name of a projection's (or table's) rebuild copy."""
    return name + SHADOW_SUFFIX


def iter_batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
