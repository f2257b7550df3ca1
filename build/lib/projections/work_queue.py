"""The durable hand-off to workers, derived from the events that request work.

Because the queue is a projection, accepting work is just recording the request event:
there is no second write that a crash could lose, and a rebuilt queue has the same rows.
Which events request which task is `work_requests.py`'s; this projection writes the
task's row (`rm_tasks`), and ends it with the run.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any, ClassVar

from domain.export import Export
from domain.session import Session
from projections.base import Projection
from projections.store import ViewTransaction
from projections.work_requests import EXPORT_OWNERS, work_requested


class WorkQueueProjection(Projection):
    name: ClassVar[str] = "work_queue"
    tables: ClassVar[tuple[str, ...]] = (EXPORT_OWNERS,)

    @singledispatchmethod
    def process(self, event: Any, tx: ViewTransaction) -> None:
        """An event that requests work queues its task; others that do not end work
        change nothing."""
        request = work_requested(event, tx)
        if request is not None:
            tx.enqueue_task(request.task_id, request.kind, request.session_id, request.payload)

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
    def _export_completed(self, event: Export.ExportCompleted, tx: ViewTransaction) -> None:
        tx.finish_task(str(event.task_id), "completed")

    @process.register
    def _export_failed(self, event: Export.ExportFailed, tx: ViewTransaction) -> None:
        tx.finish_task(str(event.task_id), "failed")
