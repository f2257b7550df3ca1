"""The durable hand-off to workers, derived from the events that request work.

Because the queue is a projection, accepting work is just recording the request event:
there is no second write that a crash could lose, and a rebuilt queue has the same rows.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any, ClassVar

from domain.session import Session
from projections.base import Projection
from projections.store import ViewTransaction

GENERATION = "generation"


class WorkQueueProjection(Projection):
    name: ClassVar[str] = "work_queue"
    tables: ClassVar[tuple[str, ...]] = ()

    @singledispatchmethod
    def process(self, event: Any, tx: ViewTransaction) -> None:
        """Events that neither request nor end work."""

    @process.register
    def _requested(self, event: Session.GenerationRequested, tx: ViewTransaction) -> None:
        tx.enqueue_task(
            str(event.task_id),
            GENERATION,
            str(event.originator_id),
            {"generator": event.generator, "attempt": event.attempt},
        )

    @process.register
    def _completed(self, event: Session.GenerationCompleted, tx: ViewTransaction) -> None:
        tx.finish_task(str(event.task_id), "completed")

    @process.register
    def _failed(self, event: Session.GenerationFailed, tx: ViewTransaction) -> None:
        tx.finish_task(str(event.task_id), "failed")

    @process.register
    def _cancelled(self, event: Session.GenerationCancelled, tx: ViewTransaction) -> None:
        tx.finish_task(str(event.task_id), "cancelled")
