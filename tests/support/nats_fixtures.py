"""A real nats-server per test: JetStream, its file store in tmp_path, a fixed free port
so that a test can kill it and start it again on the same address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.nats.embedded import NatsServerProcess
from tests.support.postgres import free_port


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServerProcess]:
    server = NatsServerProcess(tmp_path / "nats", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
