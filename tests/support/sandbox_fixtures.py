"""Fixtures for a real Jira sandbox per test (own SQLite file, free loopback port)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.jira_sandbox import SandboxServer
from tests.integration.export.support import Sandbox, start_sandbox


@pytest.fixture
def sandbox_server(tmp_path: Path) -> Iterator[SandboxServer]:
    server = start_sandbox(tmp_path)
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
