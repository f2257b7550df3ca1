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

from functools import partial
from typing import Any, ClassVar, Protocol

from projections.base import Projection
from projections.store import ViewTransaction
from projections.work_requests import WorkRequest, work_requested


class TaskDispatcher(Protocol):
    def dispatch(self, task_id: str, kind: str, session_id: str, payload: dict[str, Any]) -> None:
        """Hand a task to the workers; raise if the bus cannot take it now.

        Dispatching a task id again must not deliver it twice (the bus deduplicates).
        """
        ...


class TaskDispatchProjection(Projection):
    name: ClassVar[str] = "task_dispatch"
    # None of its own: it writes the owner rows of the work queue's table (the same
    # rows, see `work_requests.py`), and its effect is the published messages.
    tables: ClassVar[tuple[str, ...]] = ()
    rebuildable: ClassVar[bool] = False

    def __init__(self, dispatcher: TaskDispatcher) -> None:
        self.dispatcher = dispatcher

    def process(self, event: Any, tx: ViewTransaction) -> None:
        """An event that requests work: its task goes on the bus just before the batch
        commits."""
        request = work_requested(event, tx)
        if request is not None:
            tx.before_commit(partial(self._dispatch, request))

    def _dispatch(self, request: WorkRequest) -> None:
        self.dispatcher.dispatch(request.task_id, request.kind, request.session_id, request.payload)
