"""The workers' entry point: a claimed task becomes the run it asks for.

A task (`ClaimedTask`: its kind, ids and payload, whether it came from NATS or from
the `rm_tasks` queue) is turned into a call of the application's runner for it; the
run itself (is the task still the current one, what is left to do, what happened)
is the application's, recorded as events. Which events request which task is
`projections/work_requests.py`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from application.export.run import ExportRunner
from application.generation.run import GenerationRunner
from application.progress import ProgressCallback
from application.tasks import ClaimedTask
from application.worker import TaskHandler
from projections.work_requests import EXPORT, GENERATION

log = logging.getLogger(__name__)


class TaskEntryPoints:
    """One handler per kind of task, for the worker named `worker`.

    `progress` hears each step of a run; `ran` is told when a run has recorded its
    last events (the read models can catch up now).
    """

    def __init__(
        self,
        generation: GenerationRunner,
        exports: ExportRunner,
        *,
        worker: str,
        progress: ProgressCallback,
        ran: Callable[[], None],
    ) -> None:
        self.generation = generation
        self.exports = exports
        self.worker = worker
        self.progress = progress
        self.ran = ran

    def handlers(self) -> dict[str, TaskHandler]:
        return {GENERATION: self.generate, EXPORT: self.export}

    def generate(self, task: ClaimedTask, keep_going: Callable[[], bool]) -> None:
        """Draft the session's tickets; a breakdown is recorded as the run's failure."""
        session_id, task_id = UUID(task.session_id), UUID(task.task_id)
        try:
            self.generation.run(session_id, task_id, self.progress, keep_going)
        except Exception as exc:
            log.exception("generation task %s broke down", task.task_id)
            self.generation.fail(session_id, task_id, f"{type(exc).__name__}: {exc}")
        self.ran()

    def export(self, task: ClaimedTask, keep_going: Callable[[], bool]) -> None:
        """Run (or resume) the export; an error leaves the task to be retried."""
        self.exports.run(
            UUID(task.payload["export_id"]),
            self.worker,
            self.progress,
            keep_going,
            task_id=UUID(task.task_id),
        )
        self.ran()
