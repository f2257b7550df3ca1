"""Export fixtures: a real Jira sandbox per test (own SQLite file, free loopback port) and a
container on each backend pointed at it through the JIRA_* settings, as at a customer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.jira_sandbox import SandboxServer
from interfaces.bootstrap import Container, bootstrap
from tests.conftest import make_settings
from tests.integration.export.support import jira_env


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
