"""The composition root: the one place that picks adapters and wires them together.

Nothing here runs at import time; `bootstrap()` builds a container from settings.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from application.export.port import JiraGateway
from application.export.run import ExportRunner
from application.generation.offline import OfflineDrafter
from application.generation.port import TicketDrafter
from application.generation.run import GenerationRunner
from application.inventory.model import UploadedFile
from application.operations.port import ProgressReport
from application.operations.rekey import BATCH as REKEY_BATCH
from application.operations.rekey import RotationReport
from application.progress import Progress
from application.sessions import TicketForge
from application.tasks import TaskQueue
from application.users import UserDirectory
from application.worker import Worker, new_worker_name
from infrastructure.eventstore import ApplicationEventSource, PostgresEventWaker
from infrastructure.nats.live import LiveProgress
from infrastructure.nats.stream import ProgressStream
from infrastructure.sql.database import Database, PostgresDatabase, SQLiteDatabase
from infrastructure.sql.leases import PostgresLeaderLock, SqliteLeaderLock
from infrastructure.sql.readmodels import SqlReadModelStore
from infrastructure.sql.tasks import SqlTaskQueue, open_tasks
from infrastructure.sql.users import SqlUserDirectory
from interfaces.settings import Settings
from interfaces.tasks import TaskEntryPoints
from projections.audit import AuditProjection
from projections.base import Projection, ProjectionRunner
from projections.exports import ExportsProjection
from projections.revisions import RevisionsProjection
from projections.sessions import SessionsProjection
from projections.store import LeaderLock, ReadModelStore
from projections.tickets import TicketsProjection
from projections.views import Views
from projections.work_queue import WorkQueueProjection

if TYPE_CHECKING:
    from infrastructure.backup.operations import Operations

log = logging.getLogger(__name__)


def all_projections() -> list[Projection]:
    return [
        SessionsProjection(),
        TicketsProjection(),
        RevisionsProjection(),
        WorkQueueProjection(),
        ExportsProjection(),
        AuditProjection(),
    ]


# Projections that publish to NATS; they run in a runner of their own (`LiveProgress`).
BUS_PROJECTIONS = ("progress", "task_dispatch")


def projections_named(only: Sequence[str] | None) -> list[Projection]:
    """All projections, or those named (unknown names are refused with the known ones)."""
    every = all_projections()
    if not only:
        return every
    known = {p.name for p in every} | set(BUS_PROJECTIONS)
    unknown = sorted(set(only) - known)
    if unknown:
        raise ValueError(f"Unknown projection(s) {unknown}; known: {sorted(known)}")
    return [p for p in every if p.name in set(only)]


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
    jira: JiraConnector
    exports: ExportRunner
    views: Views  # the queries on the read models
    progress_listeners: list[Callable[[Progress], None]] = field(default_factory=list)
    live_progress: LiveProgress | None = None  # NATS: None when neither NATS_URL nor embedded
    waker: PostgresEventWaker | None = None  # LISTEN/NOTIFY; None on SQLite (polling)
    leases: LeaderLock | None = None
    local_queue: TaskQueue | None = None  # the hand-off if the embedded NATS cannot start
    _started: bool = False

    def start(
        self, *, projections: bool = True, publish: bool = True, workers: int | None = None
    ) -> None:
        """Run in background threads: the projections (`projections`), the NATS
        follower that publishes progress and dispatches work (`publish`), and
        `workers` worker threads (default: the embedded workers of the settings).

        `serve` runs everything; `api`, `worker` and `projector` each a part.
        """
        if self._started:
            return
        if projections:
            self.projector.start(
                poll_interval=POLL_INTERVAL_S if self.waker is None else NOTIFIED_POLL_INTERVAL_S
            )
        if self.waker is not None and (projections or (publish and self.live_progress)):
            self.waker.start()
        if self.live_progress is not None:
            # Live progress hops between threads (the follower, the NATS loops, the API's
            # loop): each hop waits for the GIL up to the switch interval (5 ms by
            # default) while another thread computes; 1 ms keeps that off the latency.
            sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
            self.live_progress.start(follow=publish)
            if self.live_progress.embedded_error is not None and self.local_queue is not None:
                # No NATS at all: this lone process hands work to its own workers.
                log.error("no embedded NATS: work goes to this process's workers directly")
                self.queue = self.worker.queue = self.local_queue
        threads = self.settings.embedded_workers if workers is None else workers
        if threads:
            self.worker.start(threads)
        self._started = True

    def wrote(self, position: int | None) -> None:
        """A command recorded events: let the projector and workers look now."""
        self.projector.notify()
        self.worker.notify()
        if self.live_progress is not None:
            self.live_progress.notify()

    def settle(self, position: int | None = None, timeout: float = 10.0) -> bool:
        """Bring the read models up to `position` (default: the head)."""
        target = self.app.head_position() if position is None else position
        return self.projector.wait_for(target, timeout)

    def close(self) -> None:
        self.worker.stop()
        if self.waker is not None:
            self.waker.stop()
        self.projector.stop()
        if self.leases is not None:
            self.leases.close()
        if self.live_progress is not None:
            self.live_progress.close()
        self.jira.close()
        self.store.close()
        self.app.close()


class JiraConnector:
    """Jira Cloud or Data Center when configured (the flavour from JIRA_FLAVOR, else from
    the site's serverInfo); else the bundled sandbox, started on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._sandbox: Any = None

    @property
    def configured(self) -> bool:
        return self.settings.jira_configured

    def _credentials(self) -> tuple[str | None, str | None, str | None]:
        s = self.settings
        if s.jira_pat is not None:
            return None, None, s.jira_pat.get_secret_value()
        token = s.jira_api_token.get_secret_value() if s.jira_api_token else None
        return s.jira_email, token, None

    def flavor(self) -> str:
        """JIRA_FLAVOR (`cloud`, `datacenter`), or `auto`: the client reads serverInfo's
        `deploymentType` on its first request (Data Center 10.x still answers `Server`),
        where a failure is the export's (or the check's) to report."""
        return self.settings.jira_flavor if self.configured else "cloud"

    def base_url(self) -> str:
        if self.configured:
            assert self.settings.jira_base_url is not None
            return self.settings.jira_base_url
        with self._lock:
            if self._sandbox is None:
                from infrastructure.jira_sandbox.app import create_sandbox_app
                from infrastructure.jira_sandbox.server import SandboxServer

                db = self.settings.data_dir / "jira-sandbox.db"
                db.parent.mkdir(parents=True, exist_ok=True)
                self._sandbox = SandboxServer(create_sandbox_app(db)).start()
            return str(self._sandbox.base_url)

    def __call__(self) -> JiraGateway:
        from infrastructure.jira.client import JiraClient

        if self.configured:
            email, token, bearer = self._credentials()
            return JiraClient(
                self.base_url(),
                email,
                token,
                bearer,
                timeout=self.settings.jira_timeout_s,
                flavor=self.flavor(),
            )
        return JiraClient(
            self.base_url(), SANDBOX_EMAIL, SANDBOX_TOKEN, timeout=self.settings.jira_timeout_s
        )

    def close(self) -> None:
        with self._lock:
            if self._sandbox is not None:
                self._sandbox.stop()
                self._sandbox = None


# How often a projector looks for new events written by other processes: on SQLite
# by polling (a read; the write lock is taken only when there is something to do),
# on PostgreSQL LISTEN/NOTIFY wakes it and the poll is only a fallback.
POLL_INTERVAL_S = 0.05
GIL_SWITCH_INTERVAL_S = 0.001
NOTIFIED_POLL_INTERVAL_S = 2.0

SANDBOX_EMAIL = "demo@example.com"
SANDBOX_TOKEN = "demo-token"  # noqa: S105 - the sandbox's documented demo credential


def _database(settings: Settings) -> Database:
    if settings.uses_postgres:
        return PostgresDatabase(settings.postgres_conninfo())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteDatabase(settings.data_dir / "readmodels.db")


def _live_progress(
    settings: Settings, app: TicketForge, store: ReadModelStore, leases: LeaderLock
) -> LiveProgress | None:
    """NATS_URL, else an embedded nats-server (started with the container), else nothing."""
    if not settings.nats_url and not settings.embedded_nats:
        return None
    return LiveProgress(
        url=settings.nats_url,
        embedded_dir=settings.data_dir / "nats",
        stream=ProgressStream(
            max_age_s=settings.progress_max_age_s,
            max_msgs_per_subject=settings.progress_max_msgs,
        ),
        source=ApplicationEventSource(app),
        store=store,
        task_lease_s=settings.task_lease_s,
        leases=leases,
    )


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


def _leases(settings: Settings, db: Database) -> LeaderLock:
    if settings.uses_postgres:
        return PostgresLeaderLock(settings.postgres_conninfo(), db)
    return SqliteLeaderLock(db)


def bootstrap(
    settings: Settings | None = None,
    *,
    start: bool = False,
    only: Sequence[str] | None = None,
) -> Container:
    """Build the container; `only` limits its projector to the named projections."""
    settings = settings or Settings()
    app = TicketForge(env=settings.eventsourcing_env())
    db = _database(settings)
    store = SqlReadModelStore(db)
    store.create_tables()
    leases = _leases(settings, db)
    projector = ProjectionRunner(
        ApplicationEventSource(app), store, projections_named(only), leases=leases
    )
    live = _live_progress(settings, app, store, leases)
    if live is not None:
        # Live progress is published as soon as this process commits an event, not at
        # the follower's next poll.
        app.on_commit.append(live.notify)
    waker = None
    if settings.uses_postgres:
        channel = str(getattr(app.recorder, "channel_name", "stored_events"))

        def wake() -> None:  # a commit by any process: LISTEN/NOTIFY
            projector.notify()
            if live is not None:
                live.notify()

        waker = PostgresEventWaker(settings.postgres_conninfo(), channel, wake)
    # With NATS, work goes to the workers through JetStream; a lone process without
    # it hands work to its own worker threads through the `rm_tasks` read model.
    local_queue = SqlTaskQueue(db)
    queue: TaskQueue = live.tasks if live is not None else local_queue
    if live is not None:
        live.tasks.open_tasks = lambda: open_tasks(db)
    users = SqlUserDirectory(db)
    drafter_for = _drafter_factory(settings)
    generation = GenerationRunner(app, drafter_for, settings.generation_concurrency)
    listeners: list[Callable[[Progress], None]] = []

    def publish(progress: Progress) -> None:
        if live is not None:  # the worker just recorded an event: publish it now
            live.notify()
        for listener in list(listeners):
            try:
                listener(progress)
            except Exception:  # progress must never break the work
                log.exception("progress listener failed")

    jira = JiraConnector(settings)
    exports = ExportRunner(app, jira)
    worker_name = new_worker_name()
    tasks = TaskEntryPoints(
        generation, exports, worker=worker_name, progress=publish, ran=projector.notify
    )
    worker = Worker(queue, tasks.handlers(), name=worker_name, lease_s=settings.task_lease_s)
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
        jira=jira,
        exports=exports,
        views=Views.over(
            store,
            projector,
            app.head_position,
            publishing=live.follower.runner if live is not None else None,
        ),
        progress_listeners=listeners,
        live_progress=live,
        local_queue=local_queue,
        waker=waker,
        leases=leases,
    )
    if start:
        container.start()
    return container


def read_inventory_path(path: Path) -> list[UploadedFile]:
    """Files of an inventory on disk (a CSV, a directory, or a zip)."""
    from infrastructure.inventory_files import read_inventory_path as read

    return read(path)


def run_jira_sandbox(host: str, port: int, db: Path, flavor: str = "cloud") -> None:
    from infrastructure.jira_sandbox import run_sandbox

    run_sandbox(host, port, db, flavor=flavor)


def operations(container: Container) -> Operations:
    """Backup, restore and verify of this container's store (`ticketforge backup` ...)."""
    from infrastructure.backup.operations import Operations

    settings = container.settings
    if not isinstance(container.store, SqlReadModelStore):
        raise TypeError("backups compare read models on the SQL store")
    key = settings.cipher_key.get_secret_value() if settings.cipher_key else None
    return Operations(
        container.app,
        container.store,
        all_projections,
        cipher_key=key or None,
        readmodels_db=settings.data_dir / "readmodels.db",
        conninfo=settings.postgres_conninfo() if settings.uses_postgres else None,
    )


def rebuild_after_restore(container: Container, rebuilt: Callable[[str, int], None]) -> None:
    """Every read model from event 1; the projections that publish start from event 1 too
    (the old history's progress is too old to be sent; its tasks end at once)."""
    from projections.progress import ProgressProjection
    from projections.task_dispatch import TaskDispatchProjection

    for bus in (ProgressProjection, TaskDispatchProjection):
        container.store.drop_projection(bus.name, bus.tables)
    for name, projection in container.projector.projections.items():
        if projection.rebuildable:
            rebuilt(name, container.projector.rebuild(name))


def rotate_key(
    settings: Settings, progress: ProgressReport, batch_size: int = REKEY_BATCH
) -> RotationReport:
    """Re-encrypt every stored event and snapshot from CIPHER_KEY to CIPHER_KEY_NEW."""
    from infrastructure.backup.operations import rotate_store_key

    new = settings.model_copy(update={"cipher_key": settings.cipher_key_new})
    return rotate_store_key(
        settings.eventsourcing_env(),
        new.eventsourcing_env(),
        readmodels_db=settings.data_dir / "readmodels.db",
        conninfo=settings.postgres_conninfo() if settings.uses_postgres else None,
        progress=progress,
        batch_size=batch_size,
    )
