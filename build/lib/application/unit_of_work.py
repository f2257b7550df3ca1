"""One way to save: load, apply, save one or several aggregates atomically, and on a
concurrent write (optimistic concurrency: `RecordConflictError`) do it all again.

Commands use `save_with_retry` (load -> call -> save, as the library's bank-accounts
example does, with the retry it leaves to us). Runners that write one aggregate many
times over a long run (generation, export) keep a `Held` copy: each command is applied
to it and saved, and it is reloaded only when another writer got there first.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError, Recording

from domain.errors import NotFoundError

CONFLICT_RETRIES = 8

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")


def backoff(attempt: int) -> None:
    """Two writers that collided should not collide again at once."""
    time.sleep(random.uniform(0, 0.005 * 2**attempt))


def get(app: Application[UUID], kind: type[A], aggregate_id: UUID) -> A:
    """The aggregate of that kind, or NotFoundError (also when the id is of another kind)."""
    found: object
    try:
        found = app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        found = None
    if not isinstance(found, kind):
        raise NotFoundError(f"{kind.__name__} {aggregate_id} not found")
    return found


def save_with_retry(
    app: Application[UUID],
    work: Callable[[], tuple[Sequence[Aggregate], R]],
    busy: str,
) -> tuple[R, list[Recording[Any]]]:
    """Run `work` (load, apply: it returns the aggregates to save and its own result) and
    save those aggregates in one atomic write; on a conflict, back off and run it again.
    Returns the result and the recordings (empty when nothing changed)."""
    for attempt in range(CONFLICT_RETRIES):
        aggregates, result = work()
        changed = [a for a in aggregates if a.pending_events]
        if not changed:
            return result, []
        try:
            return result, app.save(*changed)
        except RecordConflictError:
            backoff(attempt)
    raise RecordConflictError(f"{busy} is too busy; try again")


class Held(Generic[A]):
    """A runner's long-lived copy of one aggregate."""

    def __init__(self, app: Application[UUID], aggregate: A) -> None:
        self.app = app
        self.aggregate = aggregate

    def apply(self, command: Callable[[A], None]) -> list[Recording[Any]]:
        """Apply `command` to the copy and save it; on a conflict, reload, apply again."""
        for attempt in range(CONFLICT_RETRIES):
            command(self.aggregate)
            try:
                return self.app.save(self.aggregate)
            except RecordConflictError:
                self.reload()
                backoff(attempt)
        raise RecordConflictError(f"{type(self.aggregate).__name__} {self.id} is too busy")

    def reload(self) -> A:
        self.aggregate = get(self.app, type(self.aggregate), self.aggregate.id)
        return self.aggregate

    @property
    def id(self) -> UUID:
        return self.aggregate.id
