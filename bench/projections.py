"""Read side and snapshots: rebuild throughput, command latency, projection lag.

On SQLite and on a throwaway PostgreSQL cluster (started here, as in the tests):

1. Rebuild of a read model from N events (default 100,000): our batched runner
   (`ProjectionRunner.rebuild`: many events per transaction, one tracking write per
   batch) against the library's per-event `eventsourcing.projection.ProjectionRunner`
   (one transaction per event), run on the same projection code and the same store
   in the same run. The library runner is measured on the first `--baseline-events`
   events (it is the slow one). Goal: >= 20x and >= 20,000 events/s.
2. A command (`edit_ticket`) on a session with 5,000 events, loading it from the
   store each time (no aggregate cache, as in another process): p50/p99 with and
   without snapshots. Goal: p99 < 50 ms with snapshots.
3. Projection lag under a steady write load, as a separate projector process sees it
   (no in-process nudge): PostgreSQL is woken by LISTEN/NOTIFY, SQLite polls.

    .venv/bin/python -m bench.projections [--events 100000] [--backends sqlite postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError, ListenNotifySubscription, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection as LibraryProjection
from eventsourcing.projection import ProjectionRunner as LibraryRunner
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteTrackingRecorder
from eventsourcing.utils import get_topic

from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from application.sessions import TicketForge
from bench.report import Figure, compare
from domain.session import Session
from infrastructure.eventstore import ApplicationEventSource, PostgresEventWaker
from infrastructure.sql.database import Database, PostgresDatabase, SQLiteDatabase
from infrastructure.sql.readmodels import SqlReadModelStore
from interfaces.bootstrap import POLL_INTERVAL_S
from interfaces.settings import Settings
from projections.audit import AuditProjection
from projections.base import Projection, ProjectionRunner
from projections.tickets import TicketsProjection
from tests.support.postgres import ThrowawayPostgres

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "nestwatch" / "inventory"
ACTOR = "bench"


# --- the event store's content ---------------------------------------------------


class WritingApp(TicketForge):
    """Fills the store fast: no snapshots while writing the bench's history."""

    name = "ticketforge"  # the same tables (the library names them after the application)
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}


def inventory_entities() -> Any:
    files = [UploadedFile(p.name, p.read_bytes()) for p in sorted(SAMPLE.glob("*.csv"))]
    return parse_inventory(files)


VOCABULARY = """
editor content field bundle media image view display workflow state transition role
permission menu taxonomy term reference required optional cardinality revision publish
moderation draft review archive listing filter sort page block path alias language
translation upload file style crop thumbnail access anonymous authenticated administrator
verify configure create update delete schedule notify volunteer nest observation species
"""


def prose(seed: str) -> Callable[[int], str]:
    """Ticket-like text that compresses like real prose, not like a repeated phrase."""
    rng = random.Random(seed)
    vocabulary = VOCABULARY.split()

    def words(n: int) -> str:
        return " ".join(rng.choices(vocabulary, k=n)) + "."

    return words


def write_session(app: TicketForge, events: int, parsed: Any) -> UUID:
    """A NestWatch session: created, uploaded, 235 tickets generated, then edits."""
    session = Session(
        name="bench",
        owner=ACTOR,
        site={"site_name": "NestWatch"},
        jira_project_key="NW",
        issue_type="Task",
        default_labels=["bench"],
        epic_key=None,
        epic_mode="none",
        actor=ACTOR,
    )
    session.upload_inventory(parsed.files, parsed.entities, parsed.warnings, ACTOR)
    task_id = uuid4()
    session.request_generation(task_id, "offline", ACTOR)
    ordered = session.entities_in_order()
    session.start_generation(task_id, len(ordered), ACTOR)
    budget = events - 5
    words = prose(seed=str(session.id))
    for order, entity in enumerate(ordered[: max(1, min(len(ordered), budget // 2))], 1):
        body = f"{entity.label} ({entity.config_name}): " + words(120)
        session.record_ticket(
            task_id,
            entity,
            {
                "title": f"Implement {entity.label}",
                "user_story": "As an editor I want " + body,
                "analysis": body * 3,
                "verification": "Check that " + body,
            },
            "offline",
            {"prompt_tokens": 100, "completion_tokens": 200, "total_tokens": 300},
            order,
            ACTOR,
        )
        if len(session.pending_events) >= 500:
            app.save(session)
    session.complete_generation(task_id, ACTOR)
    ticket_ids = list(session.tickets)
    n = 0
    while session.version < events:
        ticket_id = ticket_ids[n % len(ticket_ids)]
        n += 1
        session.edit_ticket(ticket_id, {"title": f"Edited title {n}"}, None, ACTOR)
        if len(session.pending_events) >= 1000:
            app.save(session)
    app.save(session)
    return session.id


def fill(env: dict[str, str], total: int, per_session: int = 2000) -> float:
    """Write `total` events as sessions of `per_session` events; return seconds taken."""
    app = WritingApp(env=env)
    parsed = inventory_entities()
    started = time.perf_counter()
    while (app.recorder.max_notification_id() or 0) < total:
        remaining = total - (app.recorder.max_notification_id() or 0)
        write_session(app, max(10, min(per_session, remaining)), parsed)
    elapsed = time.perf_counter() - started
    app.close()
    return elapsed


# --- backends ----------------------------------------------------------------------


class Backend:
    def __init__(self, name: str, settings: Settings, database: Callable[[], Database]) -> None:
        self.name = name
        self.settings = settings
        self.database = database

    @property
    def env(self) -> dict[str, str]:
        return self.settings.eventsourcing_env()


@contextmanager
def sqlite_backend(root: Path) -> Iterator[Backend]:
    settings = Settings(TICKETFORGE_DATA_DIR=str(root / "sqlite"))
    yield Backend("SQLite", settings, lambda: SQLiteDatabase(settings.data_dir / "readmodels.db"))


@contextmanager
def postgres_backend(root: Path) -> Iterator[Backend]:
    cluster = ThrowawayPostgres().start()
    try:
        settings = Settings(
            TICKETFORGE_DATA_DIR=str(root / "pg"),
            PERSISTENCE_MODULE="postgres",
            POSTGRES_DBNAME=cluster.create_database(),
            POSTGRES_HOST="127.0.0.1",
            POSTGRES_PORT=cluster.port,
            POSTGRES_USER=cluster.user,
        )
        conninfo = settings.postgres_conninfo()
        yield Backend("PostgreSQL", settings, lambda: PostgresDatabase(conninfo))
    finally:
        cluster.stop()


# --- 1. rebuild: ours against the library's per-event runner -----------------------

BASELINE_STORE: dict[str, SqlReadModelStore] = {}
BASELINE_NAME = "library_tickets"


class StoreView:
    """The tracking-recorder view the library runner needs, over our read-model store:
    each event's rows and its position are written in one transaction of their own."""

    @property
    def store(self) -> SqlReadModelStore:
        return BASELINE_STORE["store"]

    def create_table(self) -> None:
        """Our store has its tables already."""

    def max_tracking_id(self, application_name: str) -> int | None:
        return self.store.position(BASELINE_NAME) or None

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.store.transaction(BASELINE_NAME) as tx:
            tx.position = tracking.notification_id


class SqliteStoreView(StoreView, SQLiteTrackingRecorder):
    pass


class PostgresStoreView(StoreView, PostgresTrackingRecorder):
    pass


class PerEventTickets(LibraryProjection[Any]):
    """Our tickets projection, driven by the library: one transaction per event."""

    name = "library_tickets"
    logic = TicketsProjection()

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        with self.view.store.transaction(BASELINE_NAME) as tx:
            tx.event_position = tracking.notification_id
            self.logic.process(domain_event, tx)
            tx.position = tracking.notification_id


class PollingSubscription(ListenNotifySubscription[Any]):
    """SQLite has no NOTIFY (and the library's SQLite recorder no subscriptions): poll."""

    def __init__(self, recorder: Any, gt: int | None = None, topics: Any = ()) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._has_been_stopped:
            self._has_been_notified.set()
            time.sleep(0.01)


class PollingSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def subscribe(self, gt: int | None = None, topics: Any = ()) -> Any:
        return PollingSubscription(self, gt=gt, topics=topics)


def library_rebuild(backend: Backend, events: int) -> tuple[float, float]:
    """events/s of the library's ProjectionRunner over the first `events` events
    (wall clock, and per CPU-second of this process)."""
    store = SqlReadModelStore(backend.database())
    store.create_tables()
    store.drop_projection(BASELINE_NAME, TicketsProjection.tables)
    BASELINE_STORE["store"] = store
    env = dict(backend.env)
    if backend.name == "SQLite":
        env["APPLICATION_RECORDER_TOPIC"] = get_topic(PollingSQLiteApplicationRecorder)
        view: type[Any] = SqliteStoreView
    else:
        view = PostgresStoreView
    started = time.perf_counter()
    cpu = time.process_time()
    runner = LibraryRunner(
        application_class=TicketForge,
        projection_class=PerEventTickets,
        view_class=view,
        env=env,
    )
    with runner:
        while store.position(BASELINE_NAME) < events:
            runner.run_forever(timeout=0.05)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    done = store.position(BASELINE_NAME)
    store.close()
    return done / elapsed, done / cpu


def our_rebuild(backend: Backend, projection: Projection) -> tuple[float, float, int]:
    app = TicketForge(env=backend.env)
    store = SqlReadModelStore(backend.database())
    store.create_tables()
    runner = ProjectionRunner(ApplicationEventSource(app), store, [projection])
    started = time.perf_counter()
    cpu = time.process_time()
    position = runner.rebuild(projection.name)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    store.close()
    app.close()
    return position / elapsed, position / cpu, position


# --- 2. command latency on a long session ----------------------------------------


class NoSnapshots(TicketForge):
    name = "ticketforge"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}


class SparseSnapshots(TicketForge):
    """The alternative to weigh: fewer snapshots, a longer tail of events after one."""

    name = "ticketforge"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        **TicketForge.snapshotting_intervals,
        Session: 500,
    }


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def command_latency(
    backend: Backend, session_events: int, commands: int
) -> dict[str, tuple[float, float]]:
    from application.users import User

    uncached = {**backend.env, "AGGREGATE_CACHE_MAXSIZE": ""}  # load from the store each time
    writer = WritingApp(env=uncached)
    session_id = write_session(writer, session_events, inventory_entities())
    writer.close()
    user = User(ACTOR)
    results: dict[str, tuple[float, float]] = {}
    modes: list[tuple[str, type[TicketForge], int]] = [
        ("without snapshots", NoSnapshots, min(commands, 100)),
        *(
            (f"with snapshots every {cls.snapshotting_intervals[Session]} events", cls, commands)
            for cls in (TicketForge, SparseSnapshots)
        ),
    ]
    for label, cls, count in modes:
        app = cls(env=uncached)
        interval = cls.snapshotting_intervals.get(Session)
        if interval:  # the snapshot the interval would have taken, had it been on
            version: int = app.repository.get(session_id).version
            with suppress(IntegrityError):  # the other interval took this one already
                app.take_snapshot(session_id, version=version - version % interval)
        ticket_id = next(iter(app.load_session(session_id).tickets))
        samples = []
        for n in range(count):
            started = time.perf_counter()
            app.edit_ticket(session_id, ticket_id, {"title": f"{label} {n}"}, None, user)
            samples.append((time.perf_counter() - started) * 1000)
        results[label] = (statistics.median(samples), percentile(samples, 99))
        app.close()
    return results


# --- 3. lag under load ---------------------------------------------------------------


def lag_under_load(
    backend: Backend, rate: float, seconds: float
) -> tuple[float, float, int, float]:
    """p50/p99 ms from a command's commit to the tickets read model showing it."""
    from application.users import User

    app = TicketForge(env=backend.env)
    writer = WritingApp(env=backend.env)
    session_id = write_session(writer, 300, inventory_entities())
    writer.close()
    store = SqlReadModelStore(backend.database())
    store.create_tables()
    runner = ProjectionRunner(ApplicationEventSource(app), store, [TicketsProjection()])
    runner.pump("tickets")
    seen: list[tuple[int, float]] = []
    runner.on_batch = lambda _name, position: seen.append((position, time.perf_counter()))
    waker = None
    if backend.settings.uses_postgres:
        channel = str(getattr(app.recorder, "channel_name", "stored_events"))
        waker = PostgresEventWaker(backend.settings.postgres_conninfo(), channel, runner.notify)
        runner.start(poll_interval=2.0)
        waker.start()
    else:
        runner.start(poll_interval=POLL_INTERVAL_S)
    time.sleep(0.5)
    user = User(ACTOR)
    ticket_id = next(iter(app.load_session(session_id).tickets))
    written: list[tuple[int, float]] = []
    interval = 1.0 / rate
    deadline = time.perf_counter() + seconds
    next_at = time.perf_counter()
    n = 0
    began = time.perf_counter()
    while time.perf_counter() < deadline:
        n += 1
        result = app.edit_ticket(session_id, ticket_id, {"title": f"load {n}"}, None, user)
        if result.position is not None:
            written.append((result.position, time.perf_counter()))
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    achieved = len(written) / (time.perf_counter() - began)
    time.sleep(1.0)
    if waker is not None:
        waker.stop()
    runner.stop()
    lags = []
    for position, at in written:
        shown = next((t for p, t in seen if p >= position), None)
        if shown is not None:
            lags.append((shown - at) * 1000)
    store.close()
    app.close()
    return statistics.median(lags), percentile(lags, 99), len(lags), achieved


# --- the run -------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    events: int = 100_000
    baseline_events: int = 10_000
    session_events: int = 5_000
    commands: int = 500
    rate: float = 100.0
    load_seconds: float = 10.0
    backends: tuple[str, ...] = ("sqlite", "postgres")


@dataclass(frozen=True)
class Rebuild:
    model: str
    events: int
    per_s: float
    per_cpu_s: float


@dataclass(frozen=True)
class BackendFigures:
    backend: str
    library_per_s: float
    library_per_cpu_s: float
    rebuilds: list[Rebuild]
    latency: dict[str, tuple[float, float]]  # mode -> (p50, p99) ms
    lag: tuple[float, float, int, float]  # p50 ms, p99 ms, commands, commands/s
    lag_how: str


def measure(options: Options) -> list[BackendFigures]:
    measured: list[BackendFigures] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in options.backends:
            factory = sqlite_backend if name == "sqlite" else postgres_backend
            with factory(Path(tmp)) as backend:
                print(f"== {backend.name}: writing {options.events:,} events ...", flush=True)
                wrote = fill(backend.env, options.events)
                print(f"   written in {wrote:.1f}s ({options.events / wrote:,.0f} events/s)")
                library, library_cpu = library_rebuild(
                    backend, min(options.baseline_events, options.events)
                )
                print(f"   library per-event runner: {library:,.0f} events/s", flush=True)
                rebuilds = []
                for projection in (TicketsProjection(), AuditProjection()):
                    ours, ours_cpu, position = our_rebuild(backend, projection)
                    print(f"   our rebuild of {projection.name}: {ours:,.0f} events/s", flush=True)
                    rebuilds.append(Rebuild(projection.name, position, ours, ours_cpu))
                latency = command_latency(backend, options.session_events, options.commands)
                lag = lag_under_load(backend, options.rate, options.load_seconds)
                how = (
                    "LISTEN/NOTIFY"
                    if backend.name == "PostgreSQL"
                    else f"polling every {POLL_INTERVAL_S * 1000:.0f} ms"
                )
                measured.append(
                    BackendFigures(backend.name, library, library_cpu, rebuilds, latency, lag, how)
                )
    return measured


def results(quick: bool = False) -> list[Figure]:
    """For `bench/run`. Quick: 20,000 events, a 2,000-event session, 3 s of load;
    full: 100,000 events and a 5,000-event session, as the issue asks."""
    options = (
        Options(
            events=20_000,
            baseline_events=3_000,
            session_events=2_000,
            commands=200,
            load_seconds=3.0,
        )
        if quick
        else Options()
    )
    figures: list[Figure] = []
    for m in measure(options):
        for rebuild in m.rebuilds:
            figures.append(
                compare(
                    f"{m.backend}: rebuild '{rebuild.model}' from {rebuild.events:,} events",
                    rebuild.per_s,
                    "events/s",
                    m.library_per_s,
                    min_ratio=20,
                    min_value=20_000,
                    notes="baseline: the library's per-event ProjectionRunner on the same "
                    f"projection and store, first {min(options.baseline_events, options.events):,} "
                    "events",
                )
            )
        without = m.latency["without snapshots"][1]
        for label, (p50, p99) in m.latency.items():
            if label == "without snapshots":
                continue
            figures.append(
                compare(
                    f"{m.backend}: command p99, {options.session_events:,}-event session, {label}",
                    p99,
                    "ms",
                    without,
                    lower_is_better=True,
                    below=50,
                    notes=f"p50 {p50:.1f} ms; baseline: p99 without snapshots",
                )
            )
        p50, p99, count, achieved = m.lag
        figures.append(
            compare(
                f"{m.backend}: projection lag p99 under steady writes",
                p99,
                "ms",
                notes=f"p50 {p50:.1f} ms; {count} commands at {achieved:.0f}/s; {m.lag_how}",
            )
        )
    return figures


def main() -> None:
    defaults = Options()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--baseline-events", type=int, default=defaults.baseline_events)
    parser.add_argument("--session-events", type=int, default=defaults.session_events)
    parser.add_argument(
        "--commands",
        type=int,
        default=defaults.commands,
        help="per mode (at least one snapshot interval)",
    )
    parser.add_argument(
        "--rate", type=float, default=defaults.rate, help="commands/s for the lag run"
    )
    parser.add_argument("--load-seconds", type=float, default=defaults.load_seconds)
    parser.add_argument("--backends", nargs="+", default=list(defaults.backends))
    args = parser.parse_args()
    options = Options(
        args.events,
        args.baseline_events,
        args.session_events,
        args.commands,
        args.rate,
        args.load_seconds,
        tuple(args.backends),
    )

    rows: list[tuple[str, str, str, str]] = []
    for m in measure(options):
        for r in m.rebuilds:
            rows.append(
                (
                    m.backend,
                    f"rebuild '{r.model}' from {r.events:,} events",
                    f"{r.per_s:,.0f} events/s ({r.per_cpu_s:,.0f} per CPU-s)",
                    f"{r.per_s / m.library_per_s:.1f}x the library's per-event runner "
                    f"({m.library_per_s:,.0f} events/s, {m.library_per_cpu_s:,.0f} per CPU-s)",
                )
            )
        without = m.latency["without snapshots"]
        for label, (p50, p99) in m.latency.items():
            rows.append(
                (
                    m.backend,
                    f"command, {options.session_events:,}-event session, {label}",
                    f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                    f"goal p99 < 50 ms; p99 {without[1] / p99:.1f}x lower than without snapshots"
                    if label != "without snapshots"
                    else f"replays all {options.session_events:,} events per command",
                )
            )
        p50, p99, count, achieved = m.lag
        rows.append(
            (
                m.backend,
                f"projection lag, steady writes ({count} commands, {achieved:.0f}/s)",
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                m.lag_how,
            )
        )

    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("backend", "measure", "result", "against")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    line = "  ".join("-" * w for w in widths)
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
