"""How aggregates are rebuilt from their events (and snapshots), quickly.

The library's default `project_aggregate` asserts, for every event, that it satisfies
a runtime-checkable Protocol; `isinstance` against such a Protocol walks the class's
attributes each time, which is about half the cost of loading a long history. Our
events are all the library's own aggregate events (they can mutate), so we skip it.

Snapshots are compressed: a large session's snapshot holds all its tickets' text (a
megabyte or more), and loading it means moving it from the database every time.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import ProjectorFunction, Repository
from eventsourcing.persistence import Compressor

A = TypeVar("A")


def replay_events(aggregate: A | None, events: Iterable[Any]) -> A | None:
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class QuickRepository(Repository[UUID]):
    """The library's repository, with `replay_events` as the default projector."""

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = replay_events,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        return super().get(
            aggregate_id,
            version=version,
            projector_func=projector_func,
            fastforward_skipping=fastforward_skipping,
            deepcopy_from_cache=deepcopy_from_cache,
        )


class SnapshotCompressor(Compressor):
    """zlib at its fastest level: a snapshot is taken in a user's command, so
    compressing must cost a few milliseconds, not tens."""

    def compress(self, data: bytes) -> bytes:
        return zlib.compress(data, 1)

    def decompress(self, data: bytes) -> bytes:
        return zlib.decompress(data)
