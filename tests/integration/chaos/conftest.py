"""Chaos fixtures: a real nats-server per test (the workers and the container are pointed
at it through NATS_URL, as in a deployment) and a Jira sandbox without latency."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.nats.embedded import NatsServerProcess
from tests.support.postgres import free_port


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServerProcess]:
    """JetStream on a fixed free port, so a test can kill it and start it again."""
    server = NatsServerProcess(tmp_path / "nats", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
