"""Export fixtures: a real Jira sandbox per test (own SQLite file, free loopback port) and a
container on each backend pointed at it through the JIRA_* settings, as at a customer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.jira_sandbox import SandboxServer
from interfaces.bootstrap import Container, bootstrap
from tests.conftest import make_settings
from tests.integration.export.support import (
    LATENCY_MS,
    LEASE_S,
    Sandbox,
    jira_env,
    start_sandbox,
)


@pytest.fixture
def container(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, sandbox_server: SandboxServer
) -> Iterator[Container]:
    """Not started: tests prepare their session first, then start the worker and projector.

    No NATS: progress is observed through `progress_listeners`, in process."""
    settings = make_settings(
        backend, tmp_path, request, TICKETFORGE_EMBEDDED_NATS=False, **jira_env(sandbox_server)
    )
    c = bootstrap(settings)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def slow_sandbox(tmp_path: Path, jira_flavor: str) -> Iterator[Sandbox]:
    """A sandbox answering LATENCY_MS late, so a worker can be killed mid-export."""
    server = start_sandbox(tmp_path, latency_ms=LATENCY_MS, flavor=jira_flavor)
    admin = Sandbox(server)
    try:
        yield admin
    finally:
        admin.close()
        server.stop()


@pytest.fixture
def queue_only_container(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, slow_sandbox: Sandbox
) -> Iterator[Container]:
    """The test's container: event store, read models and projector, but no worker
    (worker processes, started by the test, run the tasks)."""
    settings = make_settings(
        backend,
        tmp_path,
        request,
        TICKETFORGE_EMBEDDED_WORKERS=0,
        TICKETFORGE_EMBEDDED_NATS=False,
        TICKETFORGE_TASK_LEASE_S=LEASE_S,
        **jira_env(slow_sandbox.server),
    )
    container = bootstrap(settings)
    try:
        yield container
    finally:
        container.close()
