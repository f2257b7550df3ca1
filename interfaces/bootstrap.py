"""The composition root: the one place that picks adapters and wires them together.

Nothing here runs at import time; `bootstrap()` builds a container from settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from application.generation.offline import OfflineDrafter
from application.generation.port import TicketDrafter
from application.generation.run import GenerationRunner, Progress
from application.inventory.model import UploadedFile
from application.sessions import TicketForge
from application.tasks import ClaimedTask, TaskQueue
from application.users import UserDirectory
from application.worker import Worker
from infrastructure.eventstore import ApplicationEventSource
from infrastructure.sql.database import Database, PostgresDatabase, SQLiteDatabase
from infrastructure.sql.readmodels import SqlReadModelStore
from infrastructure.sql.tasks import SqlTaskQueue
from infrastructure.sql.users import SqlUserDirectory
from interfaces.settings import Settings
from projections.base import Projection, ProjectionRunner
from projections.sessions import SessionsProjection
from projections.store import ReadModelStore
from projections.tickets import TicketsProjection
from projections.work_queue import GENERATION, WorkQueueProjection

log = logging.getLogger(__name__)


def all_projections() -> list[Projection]:
    return [SessionsProjection(), TicketsProjection(), WorkQueueProjection()]


@dataclass
class Container:
    settings: Settings
    app: TicketForge
    store: ReadModelStore
    projector: ProjectionRunner
    queue: TaskQueue
    users: UserDirectory
    generation: GenerationRunner
    worker: Worker
    drafter_for: Callable[[str], TicketDrafter]
    progress_listeners: list[Callable[[Progress], None]] = field(default_factory=list)
    _started: bool = False

    def start(self) -> None:
        """Follow the event store and run queued work in background threads."""
        if self._started:
            return
        self.projector.start()
        if self.settings.embedded_workers:
            self.worker.start(self.settings.embedded_workers)
        self._started = True

    def wrote(self, position: int | None) -> None:
        """A command recorded events: let the projector and workers look now."""
        self.projector.notify()
        self.worker.notify()

    def settle(self, position: int | None = None, timeout: float = 10.0) -> bool:
        """Bring the read models up to `position` (default: the head)."""
        target = self.app.head_position() if position is None else position
        return self.projector.wait_for(target, timeout)

    def close(self) -> None:
        self.worker.stop()
        self.projector.stop()
        self.store.close()
        self.app.close()


def _database(settings: Settings) -> Database:
    if settings.uses_postgres:
        return PostgresDatabase(settings.postgres_conninfo())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteDatabase(settings.data_dir / "readmodels.db")


def _drafter_factory(settings: Settings) -> Callable[[str], TicketDrafter]:
    offline = OfflineDrafter()
    cache: dict[str, TicketDrafter] = {}

    def drafter_for(name: str) -> TicketDrafter:
        if name == "offline":
            return offline
        if name not in cache:
            from infrastructure.llm.openai_drafter import OpenAIDrafter

            key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
            cache[name] = OpenAIDrafter(
                api_key=key or "not-needed",
                base_url=settings.openai_base_url,
                model=name.split(":", 1)[1] if ":" in name else settings.openai_model,
                timeout_s=settings.openai_timeout_s,
            )
        return cache[name]

    return drafter_for


def bootstrap(settings: Settings | None = None, *, start: bool = False) -> Container:
    settings = settings or Settings()
    app = TicketForge(env=settings.eventsourcing_env())
    db = _database(settings)
    store = SqlReadModelStore(db)
    store.create_tables()
    projector = ProjectionRunner(ApplicationEventSource(app), store, all_projections())
    queue = SqlTaskQueue(db)
    users = SqlUserDirectory(db)
    drafter_for = _drafter_factory(settings)
    generation = GenerationRunner(app, drafter_for, settings.generation_concurrency)
    listeners: list[Callable[[Progress], None]] = []

    def publish(progress: Progress) -> None:
        for listener in list(listeners):
            try:
                listener(progress)
            except Exception:  # progress must never break the work
                log.exception("progress listener failed")

    def run_generation(task: ClaimedTask, keep_going: Callable[[], bool]) -> None:
        session_id, task_id = UUID(task.session_id), UUID(task.task_id)
        try:
            generation.run(session_id, task_id, publish, keep_going)
        except Exception as exc:
            log.exception("generation task %s broke down", task.task_id)
            generation.fail(session_id, task_id, f"{type(exc).__name__}: {exc}")
        projector.notify()

    handlers: dict[str, Any] = {GENERATION: run_generation}
    worker = Worker(queue, handlers, lease_s=settings.task_lease_s)
    container = Container(
        settings=settings,
        app=app,
        store=store,
        projector=projector,
        queue=queue,
        users=users,
        generation=generation,
        worker=worker,
        drafter_for=drafter_for,
        progress_listeners=listeners,
    )
    if start:
        container.start()
    return container


def read_inventory_path(path: Path) -> list[UploadedFile]:
    """Files of an inventory on disk (a CSV, a directory, or a zip)."""
    from infrastructure.inventory_files import read_inventory_path as read

    return read(path)


def run_jira_sandbox(host: str, port: int, db: Path) -> None:
    from infrastructure.jira_sandbox import run_sandbox

    run_sandbox(host, port, db)
