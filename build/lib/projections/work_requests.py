"""Which events request work, and the task each one asks for.

Three events request work: `Session.GenerationRequested`, `Export.ExportRequested`
and `Export.ExportRetried`. Two projections hand that work to the workers, the
`rm_tasks` queue (`work_queue.py`) and the message bus (`task_dispatch.py`); both
take the task from `work_requested`, so a queue row and a message for one request
are the same task.

An `ExportRetried` names its export, not the export's session: the session is in
the owner table, where `ExportRequested` put it. Each projection that calls
`work_requested` writes that row in its own batch (the same row from the same
event), so neither depends on how far the other has got; the work queue owns the
table (it is rebuilt with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch
from typing import Any

from domain.export import Export
from domain.session import Session
from projections.store import ViewTransaction

# The kinds of task, as the workers' handlers are named.
GENERATION = "generation"
EXPORT = "export"

EXPORT_OWNERS = "export_sessions"  # export id -> {"session_id": ...}


@dataclass(frozen=True)
class WorkRequest:
    task_id: str
    kind: str
    session_id: str
    payload: dict[str, Any]


@singledispatch
def work_requested(event: object, tx: ViewTransaction) -> WorkRequest | None:
    """The task `event` requests, or None for an event that requests no work."""
    return None


@work_requested.register
def _generation(event: Session.GenerationRequested, tx: ViewTransaction) -> WorkRequest:
    return WorkRequest(
        str(event.task_id),
        GENERATION,
        str(event.originator_id),
        {"generator": event.generator, "attempt": event.attempt},
    )


@work_requested.register
def _export(event: Export.ExportRequested, tx: ViewTransaction) -> WorkRequest:
    export_id, session_id = str(event.originator_id), str(event.session_id)
    tx.put(EXPORT_OWNERS, export_id, {"session_id": session_id})
    return WorkRequest(str(event.task_id), EXPORT, session_id, {"export_id": export_id})


@work_requested.register
def _export_retried(event: Export.ExportRetried, tx: ViewTransaction) -> WorkRequest:
    export_id = str(event.originator_id)
    owner = tx.get(EXPORT_OWNERS, export_id) or {}
    session_id = str(owner.get("session_id", ""))
    return WorkRequest(str(event.task_id), EXPORT, session_id, {"export_id": export_id})
