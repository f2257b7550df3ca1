"""The services the export leans on go away mid-export and come back:

- nats-server is killed (SIGKILL) and restarted on the same port and store while two
  `ticketforge worker` processes share the work: the export completes once, without a
  duplicate, and the live progress stream ends complete, each message once, no gap;
- PostgreSQL (a cluster of this test's own) is stopped for a while and then restarted
  with `pg_ctl restart`, mid-export: while it is away the API answers 503 with
  Retry-After (never 500), it recovers by itself once the database is back, the worker
  carries on without being restarted, and the export completes without a duplicate.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from domain.export import Export
from domain.session import Stage
from infrastructure.jira_sandbox import SandboxServer
from infrastructure.nats.embedded import NatsServerProcess
from interfaces.api.app import create_app
from interfaces.bootstrap import Container, bootstrap
from interfaces.settings import Settings
from tests.conftest import make_settings
from tests.integration.chaos.support import (
    LEASE_S,
    assert_versions_contiguous,
    event_log,
    topic_name,
    worker_env,
)
from tests.integration.export.support import (
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    jira_env,
    prepare_session,
    start_export,
    start_sandbox,
    wait_export,
    wait_until,
)
from tests.integration.progress.support import progress_caught_up, stream_messages
from tests.support.postgres import ThrowawayPostgres
from tests.support.workers import WorkerProcesses

pytestmark = [pytest.mark.slow, pytest.mark.nats, pytest.mark.timeout(240)]

TICKETS, LINKS = 235, 269
# Each Jira request answered this much later: an export of a few seconds, long enough
# to break things in the middle of it.
LATENCY_MS = 30


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    server: SandboxServer = start_sandbox(tmp_path, latency_ms=LATENCY_MS)
    admin = Sandbox(server)
    try:
        yield admin
    finally:
        admin.close()
        server.stop()


def chaos_settings(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    sandbox: Sandbox,
    nats: NatsServerProcess,
    **extra: object,
) -> Settings:
    assert nats.url is not None
    return make_settings(
        backend,
        tmp_path,
        request,
        TICKETFORGE_EMBEDDED_WORKERS=0,
        TICKETFORGE_TASK_LEASE_S=LEASE_S,  # the workers' too (worker_env)
        NATS_URL=nats.url,
        **jira_env(sandbox.server),
        **extra,
    )


def assert_exported_once_each(container: Container, sandbox: Sandbox, export: Export) -> None:
    assert export.status == "completed", export.failure
    assert container.app.load_session(export.session_id).stage == Stage.COMPLETED
    issues = assert_no_duplicates(sandbox, export)
    assert len(issues) == TICKETS
    assert_links_once(issues, export)
    stats = sandbox.stats()
    assert stats["issues_created"] == TICKETS, "an issue was created twice"
    assert stats["links_created"] == LINKS
    recorded = Counter(
        topic_name(r.topic) for r in event_log(container) if r.originator_id == export.id
    )
    assert recorded["Export.TicketExported"] == TICKETS
    assert recorded["Export.DependencyLinked"] == LINKS
    assert recorded["Export.ExportCompleted"] == 1
    assert_versions_contiguous(event_log(container), {})


# --- NATS ----------------------------------------------------------------------------------


@pytest.fixture
def nats_container(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    slow_sandbox: Sandbox,
    nats_server: NatsServerProcess,
) -> Iterator[Container]:
    container = bootstrap(chaos_settings("sqlite", tmp_path, request, slow_sandbox, nats_server))
    try:
        yield container
    finally:
        container.close()


def test_nats_killed_and_restarted_mid_export_the_export_completes_once(
    nats_container: Container,
    slow_sandbox: Sandbox,
    nats_server: NatsServerProcess,
    tmp_path: Path,
) -> None:
    container, sandbox = nats_container, slow_sandbox
    session_id = prepare_session(container, "nestwatch")
    container.start()
    assert nats_server.url is not None
    workers = WorkerProcesses(
        worker_env(container.settings, sandbox.server, nats_server.url), tmp_path
    )
    try:
        first, second = workers.spawn(), workers.spawn()
        export_id = start_export(container, session_id).export_id
        wait_until(lambda: sandbox.stats()["issues_created"] > 0, 60, "the export to create issues")
        nats_server.kill()  # no clean shutdown: JetStream's store is left as it was
        killed_at = container.app.load_export(export_id)
        assert killed_at.status == "running"
        time.sleep(1.0)
        nats_server.start()  # same port, same store
        export = wait_export(container, export_id, timeout=90)
        assert export.status == "completed", (export.failure, workers.output())
        assert first.poll() is None and second.poll() is None, workers.output()
    finally:
        workers.stop_all()
    assert len(killed_at.issues) < TICKETS  # it was mid-export
    assert_exported_once_each(container, sandbox, export)

    # live progress caught up by itself: each message once, in order, ending complete
    wait_until(lambda: progress_caught_up(container), 30, "live progress to catch up")
    messages = [m for _, m in stream_messages(container, session_id)]
    assert [m["sequence"] for m in messages] == list(range(1, len(messages) + 1))
    exported = [m for m in messages if m.get("kind") == "export"]
    assert exported[-1]["type"] == "export_complete"
    created = [m for m in exported if m["event"] == "Export.TicketExported"]
    assert [m["tickets_completed"] for m in created] == list(range(1, TICKETS + 1))


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A cluster for this test alone: it is stopped and restarted under the test."""
    cluster = ThrowawayPostgres().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_container(
    tmp_path: Path,
    own_postgres: ThrowawayPostgres,
    slow_sandbox: Sandbox,
    nats_server: NatsServerProcess,
    request: pytest.FixtureRequest,
) -> Iterator[Container]:
    settings = chaos_settings(
        "sqlite",
        tmp_path,
        request,
        slow_sandbox,
        nats_server,
        PERSISTENCE_MODULE="postgres",
        POSTGRES_DBNAME=own_postgres.create_database(),
        POSTGRES_HOST="127.0.0.1",
        POSTGRES_PORT=own_postgres.port,
        POSTGRES_USER=own_postgres.user,
    )
    container = bootstrap(settings)
    try:
        yield container
    finally:
        container.close()


@pytest.mark.postgres
def test_postgres_away_and_restarted_mid_export_api_503_then_recovers_and_export_completes(
    pg_container: Container,
    own_postgres: ThrowawayPostgres,
    slow_sandbox: Sandbox,
    nats_server: NatsServerProcess,
    tmp_path: Path,
) -> None:
    container, sandbox = pg_container, slow_sandbox
    _, token = container.users.create("alice", False)
    auth = {"Authorization": f"Bearer {token}"}
    session_id = prepare_session(container, "nestwatch")
    container.start()
    assert container.settle(), "the read models did not catch up"  # the API reads them
    assert nats_server.url is not None
    workers = WorkerProcesses(
        worker_env(container.settings, sandbox.server, nats_server.url), tmp_path
    )
    status_url = f"/api/sessions/{session_id}/export/status"
    with TestClient(create_app(container), raise_server_exceptions=False) as api:
        try:
            worker = workers.spawn()
            started = api.post(f"/api/sessions/{session_id}/export", headers=auth)
            assert started.status_code == 202, started.text
            export_id = UUID(started.json()["export_id"])
            wait_until(lambda: sandbox.stats()["issues_created"] > 0, 60, "issues in Jira")

            # --- the database goes away: the API says 503, with Retry-After ------------
            own_postgres.stop_server()
            away = [
                api.get(status_url, headers=auth),
                api.get(f"/api/sessions/{session_id}", headers=auth),
                api.post(f"/api/sessions/{session_id}/export/retry", headers=auth),
            ]
            for response in away:
                assert response.status_code == 503, (response.request.url, response.text)
                body = response.json()
                assert body["error_category"] == "temporary"
                assert "database" in body["detail"].lower()
                assert body["recovery_actions"]
                assert int(response.headers["Retry-After"]) > 0
            assert api.get("/healthz").status_code == 200  # alive, only not serving
            probed = time.monotonic()
            ready = api.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"]["event_store"]["ok"] is False
            # a probe answers within its own timeout, not the database driver's (~20 s)
            assert time.monotonic() - probed < 10
            created_while_away = sandbox.stats()["issues_created"]

            # --- it comes back: the API recovers by itself ------------------------------
            own_postgres.start_server()
            wait_until(
                lambda: api.get(status_url, headers=auth).status_code == 200,
                60,
                "the API to answer again",
            )
            # mid-export again, a `pg_ctl restart`: every connection is cut once more
            wait_until(
                lambda: sandbox.stats()["links_created"] > 0 or worker.poll() is not None,
                60,
                "the export to link issues",
            )
            assert container.app.load_export(export_id).status == "running"
            own_postgres.restart()

            export = wait_export(container, export_id, timeout=120)
            assert export.status == "completed", (export.failure, workers.output())
            assert worker.poll() is None, workers.output()  # it carried on by itself
            assert len(workers.started) == 1
        finally:
            workers.stop_all()
        final = api.get(status_url, headers=auth, params={"min_position": 0})
        assert final.status_code == 200, final.text
        wait_until(
            lambda: api.get(status_url, headers=auth).json()["status"] == "completed",
            30,
            "the status read model to say completed",
        )
    assert created_while_away < TICKETS
    assert_exported_once_each(container, sandbox, export)
