"""SIGKILL the export worker at 20 random points of a NestWatch export, for real.

`ticketforge worker` runs as a subprocess on the test's database (SQLite, then
PostgreSQL), Jira sandbox and nats-server. Twenty times, at a point drawn from a seeded
random generator, it is killed with SIGKILL and a new one is started, which takes the
export over and resumes it.
The points are Jira writes (a kill the moment the sandbox receives the Nth write: mid
bulk-create, mid attachment, mid link, between Jira's answer and our record of it) and
moments (a random delay after a run started: pre-flight, the search for what an earlier
run made, the link check, saving). Then the export runs to completion, and:

- Jira holds exactly one issue per ticket, one "Blocks" link per dependency and one
  attachment per over-long description;
- the event store lost nothing: every event stored before each kill is still there,
  unchanged; versions are contiguous; each ticket, link and attachment recorded once;
- the read models equal a fresh rebuild from event 1.

The seed is printed (`-s` or on failure); `TICKETFORGE_CHAOS_SEED=<seed>` replays it.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest

from application.adf.ticket_document import attachment_filename
from domain.export import Export
from domain.session import Session, Stage
from infrastructure.nats.embedded import NatsServerProcess
from interfaces.bootstrap import Container, bootstrap
from tests.conftest import make_settings
from tests.integration.chaos.support import (
    LEASE_S,
    Recorded,
    assert_nothing_lost,
    assert_read_models_equal_a_rebuild,
    assert_versions_contiguous,
    attachment_names,
    event_log,
    jira_writes,
    topic_name,
    worker_env,
)
from tests.integration.export.support import (
    Edits,
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    jira_env,
    plan_edges,
    prepare_session,
    retry_export,
    start_export,
    wait_export,
)
from tests.integration.export.test_export_fixes import long_analysis
from tests.support.workers import WorkerProcesses

pytestmark = [pytest.mark.slow, pytest.mark.nats, pytest.mark.timeout(240)]

KILLS = 20
TICKETS, LINKS = 235, 269
ATTACHMENTS = 4  # tickets whose description is too long for Jira: a Markdown attachment each
BULK_CREATES = -(-TICKETS // 50)
WRITES = BULK_CREATES + ATTACHMENTS + LINKS  # Jira writes of a run that is never killed
# No kill point this close to the last write: the export must still be running at each.
END_MARGIN = 60


@dataclass(frozen=True)
class KillPoint:
    """`write`: kill when the sandbox has received this many Jira writes in all;
    `moment`: kill this many seconds after the run started."""

    kind: str
    value: float

    def __str__(self) -> str:
        return f"{self.kind} {self.value:g}" if self.kind == "write" else f"+{self.value:.2f}s"


def kill_plan(rng: random.Random) -> list[KillPoint]:
    """Write points over the whole export (creation and attachments drawn more often
    than their share: that is where a lost answer could become a duplicate), and
    moments anywhere but last."""
    creation = sorted(rng.randint(1, BULK_CREATES + ATTACHMENTS) for _ in range(5))
    linking = sorted(rng.sample(range(BULK_CREATES + ATTACHMENTS + 1, WRITES - END_MARGIN), 10))
    plan = [KillPoint("write", n) for n in creation + linking]
    for _ in range(KILLS - len(plan)):
        plan.insert(rng.randrange(len(plan)), KillPoint("moment", round(rng.uniform(0.05, 0.6), 2)))
    return plan


@dataclass
class Kill:
    point: KillPoint
    writes: int  # Jira writes received when the worker died
    recorded: Counter[str]  # the export's events stored by then, by kind
    log: list[Recorded]
    took: tuple[float, float]  # seconds from the worker's start to its run, and to the kill


@pytest.fixture
def chaos_container(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    sandbox: Sandbox,
    nats_server: NatsServerProcess,
) -> Iterator[Container]:
    """The API's side: event store, read models, projector and live progress; no worker."""
    assert nats_server.url is not None
    settings = make_settings(
        backend,
        tmp_path,
        request,
        TICKETFORGE_EMBEDDED_WORKERS=0,
        TICKETFORGE_TASK_LEASE_S=LEASE_S,
        NATS_URL=nats_server.url,
        **jira_env(sandbox.server),
    )
    container = bootstrap(settings)
    try:
        yield container
    finally:
        container.close()


def with_long_descriptions(chosen: list[UUID]) -> Edits:
    return {ticket_id: {"analysis": long_analysis()} for ticket_id in chosen}


def seed() -> int:
    given = os.environ.get("TICKETFORGE_CHAOS_SEED")
    return int(given) if given else random.SystemRandom().randrange(2**32)


def test_export_survives_20_worker_sigkills_without_duplicates_or_lost_events(
    chaos_container: Container,
    sandbox: Sandbox,
    nats_server: NatsServerProcess,
    tmp_path: Path,
) -> None:
    container = chaos_container
    chaos_seed = seed()
    print(f"\nchaos seed {chaos_seed} (TICKETFORGE_CHAOS_SEED={chaos_seed} replays it)")
    rng = random.Random(chaos_seed)
    plan = kill_plan(rng)
    print("kill points:", ", ".join(str(p) for p in plan))

    long_ones: list[UUID] = []

    def edits(session: Session) -> Edits:
        tickets = session.tickets_in_export_order()
        long_ones.extend(t.id for t in rng.sample(tickets, ATTACHMENTS))
        return with_long_descriptions(long_ones)

    session_id = prepare_session(container, "nestwatch", edits=edits)
    container.start()
    assert nats_server.url is not None
    workers = WorkerProcesses(
        worker_env(container.settings, sandbox.server, nats_server.url), tmp_path
    )
    kills: list[Kill] = []
    started_at = time.monotonic()
    try:
        worker = workers.spawn()
        spawned = time.monotonic()
        start_position = container.app.head_position()
        export_id = start_export(container, session_id).export_id
        for number, point in enumerate(plan, 1):
            context = f"seed {chaos_seed}, kill {number} ({point})"
            wait_for_run(container, export_id, len(kills) + 1, worker, workers, context)
            running = time.monotonic()
            if point.kind == "moment":
                time.sleep(point.value)
            else:
                target = max(int(point.value), jira_writes(sandbox.stats()) + 1)
                wait_for_writes(container, sandbox, export_id, target, worker, workers, context)
            workers.kill(worker)
            took = (running - spawned, time.monotonic() - spawned)
            export = container.app.load_export(export_id)
            assert export.status == "running", (context, export.status, export.failure)
            log = event_log(container, start_position)
            kinds = Counter(topic_name(r.topic) for r in log if r.originator_id == export_id)
            kills.append(Kill(point, jira_writes(sandbox.stats()), kinds, log, took))
            worker = workers.spawn()  # takes the export over once the lease runs out
            spawned = time.monotonic()
        export = wait_export(container, export_id, timeout=90)
        for _ in range(3):  # "then retry to completion" (no kill should make it fail)
            if export.status != "failed":
                break
            print("export failed after the kills:", export.failure)
            retry_export(container, session_id)
            export = wait_export(container, export_id, timeout=90, ended=("completed", "failed"))
        assert export.status == "completed", (chaos_seed, export.failure, workers.output())
    finally:
        workers.stop_all()
    print(f"{len(kills)} kills and the completion took {time.monotonic() - started_at:.1f}s")
    for number, kill in enumerate(kills, 1):
        print(
            f"  kill {number:2} at {kill.point!s:>10}: {kill.writes:3} Jira writes, recorded "
            f"{kill.recorded['Export.TicketExported']:3} issues, "
            f"{kill.recorded['Export.AttachmentUploaded']} attachments, "
            f"{kill.recorded['Export.DependencyLinked']:3} links; "
            f"run started {kill.took[0]:.1f}s after the worker, killed at {kill.took[1]:.1f}s"
        )
    assert len(kills) == KILLS
    assert export.runs >= KILLS + 1, export.runs
    assert container.app.load_session(session_id).stage == Stage.COMPLETED

    # --- Jira: one issue per ticket, one link per dependency, one attachment each --------
    issues = assert_no_duplicates(sandbox, export)
    assert len(issues) == TICKETS
    assert_links_once(issues, export)
    assert len(plan_edges(export)) == LINKS
    session = container.app.load_session(session_id)
    expected_files = {t: [attachment_filename(session.tickets[t].config_name)] for t in long_ones}
    assert export.attachments == expected_files
    for ticket_id, issue in issues.items():
        assert attachment_names(sandbox, issue.key) == expected_files.get(ticket_id, [])
    stats = sandbox.stats()
    assert stats["issues_created"] == TICKETS, f"seed {chaos_seed}: an issue was created twice"
    assert stats["links_created"] == LINKS
    assert stats["attachments_uploaded"] == ATTACHMENTS, f"seed {chaos_seed}: attached twice"

    # --- the event store lost nothing ----------------------------------------------------
    final = event_log(container, start_position)
    for number, kill in enumerate(kills, 1):
        try:
            assert_nothing_lost(kill.log, final)
        except AssertionError as exc:
            raise AssertionError(f"seed {chaos_seed}, events stored before kill {number}") from exc
    before = event_log(container)[: -len(final)]
    first_versions: dict[UUID, int] = {}
    for record in before:
        first_versions[record.originator_id] = record.version
    assert_versions_contiguous(final, first_versions)
    mine = [r for r in final if r.originator_id == export_id]
    kinds = Counter(topic_name(r.topic) for r in mine)
    assert kinds["Export.TicketExported"] == TICKETS
    assert kinds["Export.DependencyLinked"] == LINKS
    assert kinds["Export.AttachmentUploaded"] == ATTACHMENTS
    assert kinds["Export.ExportCompleted"] == 1
    assert kinds["Export.ExportStarted"] == export.runs
    loaded = container.app.load_export(export_id)
    assert len(loaded.issues) == TICKETS and len(loaded.links) == LINKS
    assert [e.originator_version for e in container.app.events.get(export_id)] == list(
        range(1, loaded.version + 1)
    )
    exported = [
        e.ticket_id
        for e in container.app.events.get(export_id)
        if isinstance(e, Export.TicketExported)
    ]
    assert len(set(exported)) == TICKETS

    # --- the read models equal a fresh rebuild --------------------------------------------
    assert_read_models_equal_a_rebuild(container)


def wait_for_run(
    container: Container,
    export_id: UUID,
    run: int,
    worker: subprocess.Popen[bytes],
    workers: WorkerProcesses,
    context: str,
    timeout: float = 30.0,
) -> None:
    """Until the worker has started run number `run` of the export (its ExportStarted)."""
    deadline = time.monotonic() + timeout
    while container.app.load_export(export_id).runs < run:
        assert worker.poll() is None, (context, "the worker died by itself", workers.output())
        assert time.monotonic() < deadline, (context, "no run started", workers.output())
        time.sleep(0.01)


def wait_for_writes(
    container: Container,
    sandbox: Sandbox,
    export_id: UUID,
    target: int,
    worker: subprocess.Popen[bytes],
    workers: WorkerProcesses,
    context: str,
    timeout: float = 30.0,
) -> None:
    """Until the sandbox has received `target` Jira writes (polled as fast as it answers)."""
    deadline = time.monotonic() + timeout
    checked = time.monotonic()
    while jira_writes(sandbox.stats()) < target:
        assert worker.poll() is None, (context, "the worker died by itself", workers.output())
        now = time.monotonic()
        assert now < deadline, (context, f"Jira writes did not reach {target}", workers.output())
        if now - checked > 0.5:
            checked = now
            status = container.app.load_export(export_id).status
            assert status == "running", (context, f"the export is {status}", workers.output())
