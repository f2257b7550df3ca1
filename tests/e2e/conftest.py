"""End-to-end fixtures: the real FastAPI app on a started container, on each backend.

Every test that uses `api` runs twice (sqlite and postgres, through the shared
`backend` / `container` fixtures). The container is started, so the projector
thread and the embedded worker run exactly as under `ticketforge serve`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from interfaces.api.app import create_app
from interfaces.bootstrap import Container, bootstrap
from tests.conftest import make_settings

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
NESTWATCH_CSV = SAMPLES / "nestwatch" / "inventory"
NESTWATCH_CONFIG = SAMPLES / "nestwatch" / "config-sync"
SMALL_SITE_CSV = SAMPLES / "small-site" / "inventory"

ERROR_CATEGORIES = {"user_fixable", "admin_required", "temporary"}
PROCESS_TIMEOUT_S = 60.0


def assert_error(
    response: Response, status: int, *contains: str, problems: bool = False
) -> dict[str, Any]:
    """The response is `status` with the documented error shape; return its body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, dict), body
    assert {"detail", "error_category", "recovery_actions"} <= set(body), body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert body["error_category"] in ERROR_CATEGORIES, body
    assert isinstance(body["recovery_actions"], list), body
    assert all(isinstance(a, str) for a in body["recovery_actions"]), body
    for text in contains:
        assert text in body["detail"], (text, body["detail"])
    if problems:
        assert isinstance(body.get("problems"), list) and body["problems"], body
    return body


def csv_files(directory: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart `files` parts for every CSV of an inventory directory."""
    return [
        ("files", (p.name, p.read_bytes(), "text/csv")) for p in sorted(directory.glob("*.csv"))
    ]


@dataclass
class Api:
    """The HTTP API of one started container, with a few users."""

    client: TestClient
    container: Container
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def request(self, method: str, url: str, *, user: str = "alice", **kwargs: Any) -> Response:
        headers = {**self.auth(user), **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Response:
        return self.request("PATCH", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        return self.request("DELETE", url, **kwargs)

    # --- workflow helpers ------------------------------------------------

    def create_session(self, user: str = "alice", **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "NestWatch rebuild",
            "site_context": {
                "site_name": "NestWatch",
                "description": "Citizen science for nest monitoring",
                "audience": "Volunteers and researchers",
            },
            "jira_project_key": "NW",
            "issue_type": "Task",
            "default_labels": ["drupal", "ticketforge"],
        }
        body.update(overrides)
        response = self.post("/api/sessions", json=body, user=user)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def session(self, session_id: str, user: str = "alice") -> dict[str, Any]:
        response = self.get(f"/api/sessions/{session_id}", user=user)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def upload(
        self, session_id: str, directory: Path = SMALL_SITE_CSV, user: str = "alice"
    ) -> dict[str, Any]:
        response = self.post(
            f"/api/sessions/{session_id}/files", files=csv_files(directory), user=user
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def wait_processed(
        self, session_id: str, user: str = "alice", timeout: float = PROCESS_TIMEOUT_S
    ) -> dict[str, Any]:
        """Poll the status until the run ends (bounded; short polls, no long sleeps).

        No other wait: once the status says "completed", the ticket list shows every
        ticket (test_api_processing.py::test_completed_status_implies_the_tickets_are_listed).
        """
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/api/sessions/{session_id}/process/status", user=user)
            assert response.status_code == 200, response.text
            status = dict(response.json())
            if status["status"] in ("completed", "failed", "cancelled"):
                return status
            assert time.monotonic() < deadline, f"generation still {status} after {timeout}s"
            time.sleep(0.02)

    def process(self, session_id: str, user: str = "alice") -> dict[str, Any]:
        response = self.post(f"/api/sessions/{session_id}/process", user=user)
        assert response.status_code == 202, response.text
        status = self.wait_processed(session_id, user)
        assert status["status"] == "completed", status
        return status

    def tickets(self, session_id: str, order: str = "export", user: str = "alice") -> list[Any]:
        response = self.get(f"/api/sessions/{session_id}/tickets?order={order}", user=user)
        assert response.status_code == 200, response.text
        return list(response.json()["tickets"])

    def reviewed_session(self, directory: Path = SMALL_SITE_CSV) -> tuple[str, list[Any]]:
        """A session with generated tickets, in review; returns (id, tickets)."""
        session_id = self.create_session()["id"]
        self.upload(session_id, directory)
        self.process(session_id)
        return session_id, self.tickets(session_id)


def open_api(
    container: Container, tokens: dict[str, str] | None = None, start: bool = True
) -> Iterator[Api]:
    """Start the container and serve its app; create the users unless `tokens` are given.

    With `start=False` no projector thread or worker runs: queries read what the test
    pumped, and commands bring the read models to their own position synchronously.
    """
    if start:
        container.start()
    app = create_app(container)
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client=client, container=container)
        if tokens is not None:
            api.tokens.update(tokens)
        else:
            for name, is_admin in (("alice", False), ("bob", False), ("root", True)):
                _, token = container.users.create(name, is_admin)
                api.tokens[name] = token
        yield api


@pytest.fixture
def api(container: Container) -> Iterator[Api]:
    """The API on the `container` fixture (closed by that fixture)."""
    yield from open_api(container)


@pytest.fixture
def api_with(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Api]]:
    """Build an API on settings with extra values (e.g. a small upload limit).

    `build(like=other_api)` opens a second instance on the same settings and database
    (another API process, as in production), sharing the first one's users.
    """
    opened: list[tuple[Container, Iterator[Api]]] = []

    def build(like: Api | None = None, start: bool = True, **extra: object) -> Api:
        if like is not None:
            settings = like.container.settings
        else:
            settings = make_settings(backend, tmp_path, request, **extra)
        container = bootstrap(settings)
        generator = open_api(container, like.tokens if like is not None else None, start)
        opened.append((container, generator))
        return next(generator)

    yield build
    for container, generator in reversed(opened):
        generator.close()
        container.close()


@pytest.fixture
def reviewed(api: Api) -> tuple[str, list[Any]]:
    """A small-site session (49 tickets) whose generation completed."""
    return api.reviewed_session()
