"""Containers wired to the test's real nats-server (the `nats_server` fixture of
`tests/support/nats_fixtures.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from application.users import User
from infrastructure.nats.embedded import NatsServerProcess
from interfaces.api.app import create_app
from interfaces.bootstrap import Container, bootstrap
from tests.conftest import make_settings

pytestmark = pytest.mark.nats


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


@pytest.fixture
def alice(live: Container) -> tuple[User, str]:
    """A user (not an admin) and her bearer token."""
    return live.users.create("alice", False)


@pytest.fixture
def client(live: Container) -> Iterator[TestClient]:
    """The API of `live`, in this process."""
    with TestClient(create_app(live)) as test_client:
        yield test_client
