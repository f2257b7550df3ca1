"""The read-model store port: document tables plus a tracked position per projection.

A projection's rows and its position are written in one transaction, so each event is
applied exactly once however often a projector stops, restarts or races another one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


@dataclass(frozen=True)
class ProjectionPosition:
    name: str
    position: int
    updated_at: float | None


class ReadModelStore(Protocol):
    def create_tables(self) -> None: ...

    def transaction(self, projection: str) -> AbstractContextManager[ViewTransaction]:
        """Exclusive per projection: a second projector blocks until the first commits."""
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


def iter_batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
