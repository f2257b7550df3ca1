"""The Jira sandbox as a real uvicorn server on a free loopback port, and clients for it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infrastructure.jira import JiraClient
from infrastructure.jira_sandbox import SandboxServer, create_sandbox_app
from tests.integration.jira.support import (
    DEMO_EMAIL,
    DEMO_TOKEN,
    FAST_RETRY,
    SANDBOX_LIMITS,
    SPEC_PATH,
    Recorder,
    SandboxAdmin,
    SpecChecker,
)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer(create_sandbox_app(None, limits=SANDBOX_LIMITS)) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxAdmin]:
    admin = SandboxAdmin(sandbox_server.base_url)
    admin.reset()
    yield admin
    admin.close()


@pytest.fixture
def make_client(sandbox: SandboxAdmin) -> Iterator[Callable[..., JiraClient]]:
    clients: list[JiraClient] = []

    def make(
        email: str | None = DEMO_EMAIL, api_token: str | None = DEMO_TOKEN, **options: Any
    ) -> JiraClient:
        options.setdefault("timeout", 5.0)
        options.setdefault("retry", FAST_RETRY)
        client = JiraClient(sandbox.base_url, email, api_token, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def jira(make_client: Callable[..., JiraClient]) -> JiraClient:
    return make_client()


@pytest.fixture(scope="session")
def spec() -> SpecChecker:
    if not SPEC_PATH.exists():
        pytest.fail(f"Jira's OpenAPI spec is not at {SPEC_PATH} (set TICKETFORGE_JIRA_SPEC)")
    return SpecChecker(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
