"""Hands requested work to the workers through a message bus, derived from the events.

A command that asks for work (`GenerationRequested`, `ExportRequested`,
`ExportRetried`) records only its event. This projection, followed in its own
runner like live progress, publishes one task message per request *before its
position commits*, with the task id as the bus's message id: a crash between
publishing and committing publishes the same id again, which the bus drops. With
the bus away, the batch rolls back and is retried; the requests wait in the event
store, nothing is lost. A rebuild publishes nothing (a shadow transaction drops
`before_commit` actions), so replaying history never re-dispatches old work.

A message for work that has meanwhile ended (re-published after the bus's
duplicate window) is harmless: the runners look at the aggregate first and return
at once for a task that is no longer the current one.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any, ClassVar, Protocol

from domain.export import Export
from domain.session import Session
from projections.base import Projection
from projections.store import ViewTransaction
from projections.work_queue import EXPORT, GENERATION

EXPORT_OWNERS = "dispatch_export_sessions"


class TaskDispatcher(Protocol):
    def dispatch(self, task_id: str, kind: str, session_id: str, payload: dict[str, Any]) -> None:
        """Hand a task to the workers; raise if the bus cannot take it now.

        Dispatching a task id again must not deliver it twice (the bus deduplicates).
        """
        ...


class TaskDispatchProjection(Projection):
    name: ClassVar[str] = "task_dispatch"
    tables: ClassVar[tuple[str, ...]] = (EXPORT_OWNERS,)
    rebuildable: ClassVar[bool] = False  # its effect is the published messages

    def __init__(self, dispatcher: TaskDispatcher) -> None:
        self.dispatcher = dispatcher

    def _dispatch(
        self, tx: ViewTransaction, task_id: str, kind: str, session_id: str, payload: dict[str, Any]
    ) -> None:
        tx.before_commit(lambda: self.dispatcher.dispatch(task_id, kind, session_id, payload))

    @singledispatchmethod
    def process(self, event: Any, tx: ViewTransaction) -> None:
        """Events that request no work."""

    @process.register
    def _generation(self, event: Session.GenerationRequested, tx: ViewTransaction) -> None:
        payload = {"generator": event.generator, "attempt": event.attempt}
        self._dispatch(tx, str(event.task_id), GENERATION, str(event.originator_id), payload)

    @process.register
    def _export(self, event: Export.ExportRequested, tx: ViewTransaction) -> None:
        export_id, session_id = str(event.originator_id), str(event.session_id)
        tx.put(EXPORT_OWNERS, export_id, {"session_id": session_id})
        self._dispatch(tx, str(event.task_id), EXPORT, session_id, {"export_id": export_id})

    @process.register
    def _export_retried(self, event: Export.ExportRetried, tx: ViewTransaction) -> None:
        export_id = str(event.originator_id)
        session_id = str((tx.get(EXPORT_OWNERS, export_id) or {}).get("session_id", ""))
        self._dispatch(tx, str(event.task_id), EXPORT, session_id, {"export_id": export_id})
