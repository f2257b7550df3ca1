"""Fixtures for a real Jira sandbox per test (own SQLite file, free loopback port)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.jira_sandbox import SandboxServer
from tests.integration.export.support import FLAVORS, Sandbox, start_sandbox

# On a test: run it against a Jira Cloud sandbox and a Jira Data Center sandbox.
BOTH_FLAVORS = pytest.mark.parametrize("jira_flavor", FLAVORS, indirect=True)


@pytest.fixture
def jira_flavor(request: pytest.FixtureRequest) -> str:
    """`cloud` unless a test is parametrized over both (`BOTH_FLAVORS`, indirect)."""
    return str(getattr(request, "param", "cloud"))


@pytest.fixture
def sandbox_server(tmp_path: Path, jira_flavor: str) -> Iterator[SandboxServer]:
    server = start_sandbox(tmp_path, flavor=jira_flavor)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[Sandbox]:
    admin = Sandbox(sandbox_server)
    try:
        yield admin
    finally:
        admin.close()
