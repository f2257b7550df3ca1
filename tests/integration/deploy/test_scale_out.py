"""The production topology, for real, on this machine: PostgreSQL, nats-server, the Jira
sandbox, 2 `ticketforge api`, 3 `ticketforge worker` and 1 `ticketforge projector`
processes. Five sessions are prepared and exported at once over HTTP (spread over both
APIs); the worker running one of the exports is killed with SIGKILL mid-run. JetStream
redelivers its task to another worker, which resumes it: every session completes with
exactly one issue per ticket (NestWatch: 235) and one link per dependency, and no export
was ever run by two workers at the same time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from uuid import UUID

import pytest

from domain.export import Export
from interfaces.bootstrap import Container, bootstrap
from tests.integration.export.support import (
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    exported_events,
)
from tests.support.cluster import Cluster, Process, export_status, ready_session, wait_for
from tests.support.postgres import ThrowawayPostgres

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.nats,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]

SESSIONS = 5


@pytest.fixture
def cluster(postgres_cluster: ThrowawayPostgres, tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path / "cluster", postgres_cluster, lease_s=3.0, sandbox_latency_ms=25)
    try:
        running.start(apis=2, workers=3, projectors=1)
        yield running
    except BaseException:
        print(running.logs())
        raise
    finally:
        running.stop()


def worker_names(cluster: Cluster) -> dict[str, Process]:
    """Each worker process by the name it announced (`worker <name> running ...`)."""
    names: dict[str, Process] = {}
    deadline = time.monotonic() + 30
    while len(names) < len(cluster.role("worker")):
        for process in cluster.role("worker"):
            found = re.search(r"worker (\S+) running", process.output(100_000))
            if found:
                names[found.group(1)] = process
        assert time.monotonic() < deadline, cluster.logs()
        time.sleep(0.1)
    return names


def test_five_exports_at_once_survive_a_sigkilled_worker(cluster: Cluster) -> None:
    clients = [cluster.client(i) for i in range(SESSIONS)]
    sessions = [ready_session(client, "nestwatch") for client in clients]
    names = worker_names(cluster)

    tasks: dict[str, str] = {}
    for client, session_id in zip(clients, sessions, strict=True):
        response = client.post(f"/api/sessions/{session_id}/export")
        assert response.status_code == 202, response.text
        tasks[session_id] = str(response.json()["task_id"])

    container: Container = bootstrap(cluster.settings())
    try:
        # Kill the worker of the first export that is under way.
        victim: Process | None = None
        deadline = time.monotonic() + 60
        while victim is None:
            for client, session_id in zip(clients, sessions, strict=True):
                status = export_status(client, session_id)
                completed, total = status["tickets_completed"], status["total_tickets"]
                if status["status"] == "running" and 0 < completed < total:
                    export_id = Export.create_id(UUID(session_id), UUID(tasks[session_id]))
                    started = exported_events(container, export_id, Export.ExportStarted)
                    victim = names[started[-1].worker]
                    break
            assert time.monotonic() < deadline, "no export got under way"
            time.sleep(0.02)
        cluster.kill(victim)

        finals = [
            wait_for(
                client,
                f"/api/sessions/{session_id}/export/status",
                lambda b: b["status"] in ("completed", "failed"),
                240,
                f"export of {session_id}",
            )
            for client, session_id in zip(clients, sessions, strict=True)
        ]
        assert [f["status"] for f in finals] == ["completed"] * SESSIONS, finals

        sandbox = Sandbox(SimpleNamespace(base_url=cluster.sandbox_url, flavor="cloud"))  # type: ignore[arg-type]
        resumed = 0
        try:
            for session_id in sessions:
                export_id = Export.create_id(UUID(session_id), UUID(tasks[session_id]))
                export = container.app.load_export(export_id)
                assert export.status == "completed"
                issues = assert_no_duplicates(sandbox, export)
                assert_links_once(issues, export)
                runners = [
                    e.worker for e in exported_events(container, export_id, Export.ExportStarted)
                ]
                if len(runners) > 1:
                    resumed += 1
                    # The run was taken over, never shared: the killed worker's run is the
                    # only one before the take-over.
                    assert len(set(runners)) == len(runners) == 2, runners
        finally:
            sandbox.close()
        assert resumed >= 1, "the killed worker's export was not resumed by another worker"
        assert all(p.alive for p in cluster.role("worker") if p is not victim)
    finally:
        container.close()
        for client in clients:
            client.close()
