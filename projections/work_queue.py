"""The durable hand-off to workers, derived from the events that request work.

Because the queue is a projection, accepting work is just recording the request event:
there is no second write that a crash could lose, and a rebuilt queue has the same rows.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any, ClassVar

from domain.export import Export
from domain.session import Session
from projections.base import Projection
from projections.store import ViewTransaction

GENERATION = "generation"
EXPORT = "export"
EXPORT_SESSIONS = "export_sessions"


class WorkQueueProjection(Projection):
    name: ClassVar[str] = "work_queue"
    tables: ClassVar[tuple[str, ...]] = (EXPORT_SESSIONS,)

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

    @process.register
    def _export_requested(self, event: Export.ExportRequested, tx: ViewTransaction) -> None:
        tx.enqueue_task(
            str(event.task_id),
            EXPORT,
            str(event.session_id),
            {"export_id": str(event.originator_id)},
        )
        tx.put(EXPORT_SESSIONS, str(event.originator_id), {"session_id": str(event.session_id)})

    @process.register
    def _export_retried(self, event: Export.ExportRetried, tx: ViewTransaction) -> None:
        owner = tx.get(EXPORT_SESSIONS, str(event.originator_id)) or {}
        tx.enqueue_task(
            str(event.task_id),
            EXPORT,
            str(owner.get("session_id", "")),
            {"export_id": str(event.originator_id)},
        )

    @process.register
    def _export_completed(self, event: Export.ExportCompleted, tx: ViewTransaction) -> None:
        tx.finish_task(str(event.task_id), "completed")

    @process.register
    def _export_failed(self, event: Export.ExportFailed, tx: ViewTransaction) -> None:
        tx.finish_task(str(event.task_id), "failed")
