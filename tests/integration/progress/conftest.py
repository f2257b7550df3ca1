"""A real nats-server per test (JetStream, file store in tmp_path, a fixed free port so a
test can kill and restart it), and containers wired to it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.nats.embedded import NatsServerProcess
from interfaces.bootstrap import Container, bootstrap
from tests.conftest import make_settings

pytestmark = pytest.mark.nats


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServerProcess]:
    server = NatsServerProcess(tmp_path / "nats", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, nats_server: NatsServerProcess
) -> Iterator[Container]:
    """A started container that publishes progress to `nats_server` (no embedded server)."""
    settings = make_settings(
        backend,
        tmp_path,
        request,
        NATS_URL=nats_server.url,
        TICKETFORGE_EMBEDDED_NATS=False,
        TICKETFORGE_EMBEDDED_WORKERS=0,
    )
    container = bootstrap(settings)
    container.start()
    try:
        yield container
    finally:
        container.close()
