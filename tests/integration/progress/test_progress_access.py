"""Who may watch: the session's own authorization (401, 404), and 503 without NATS."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from interfaces.api.app import create_app
from interfaces.bootstrap import Container, bootstrap
from tests.conftest import make_settings
from tests.integration.progress.support import new_session

pytestmark = [pytest.mark.nats, pytest.mark.timeout(60)]


def denial(
    client: TestClient, url: str, headers: dict[str, str] | None = None
) -> WebSocketDenialResponse:
    """The HTTP answer that refused a WebSocket handshake."""
    try:
        with client.websocket_connect(url, headers=dict(headers or {})):
            pass
    except WebSocketDenialResponse as refused:
        return refused
    raise AssertionError(f"the handshake to {url} was accepted")


def test_strangers_are_refused_on_sse(live: Container, client: TestClient) -> None:
    alice, alice_token = live.users.create("alice", False)
    _, bob_token = live.users.create("bob", False)
    session_id = new_session(live, alice)
    live.settle()
    url = f"/api/sessions/{session_id}/progress/stream"
    anonymous = client.get(url)
    assert anonymous.status_code == 401
    assert anonymous.json()["error_category"] == "user_fixable"
    assert client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    other = client.get(url, headers={"Authorization": f"Bearer {bob_token}"})
    assert other.status_code == 404
    assert set(other.json()) >= {"detail", "error_category", "recovery_actions"}
    garbled = {"Last-Event-ID": "x"}
    other = client.get(url, headers={"Authorization": f"Bearer {bob_token}", **garbled})
    assert other.status_code == 404  # the session check comes first
    mine = client.get(url, headers={"Authorization": f"Bearer {alice_token}", **garbled})
    assert mine.status_code == 422


def test_strangers_are_refused_on_websocket(live: Container, client: TestClient) -> None:
    alice, _ = live.users.create("alice", False)
    _, bob_token = live.users.create("bob", False)
    session_id = new_session(live, alice)
    live.settle()
    base = f"/api/sessions/{session_id}/progress/ws"
    for url, headers, status in [
        (base, {}, 401),
        (f"{base}?token=nope", {}, 401),
        (f"{base}?token={bob_token}", {}, 404),
        (base, {"Authorization": f"Bearer {bob_token}"}, 404),
    ]:
        refused = denial(client, url, headers)
        assert refused.status_code == status
        assert refused.json()["error_category"] == "user_fixable"


def test_without_nats_the_bridges_answer_503_and_point_to_the_status_endpoints(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = make_settings(backend, tmp_path, request, TICKETFORGE_EMBEDDED_NATS=False)
    container = bootstrap(settings, start=True)
    try:
        assert container.live_progress is None
        alice, token = container.users.create("alice", False)
        session_id = new_session(container, alice)
        container.settle()
        with TestClient(create_app(container)) as client:
            auth = {"Authorization": f"Bearer {token}"}
            answer = client.get(f"/api/sessions/{session_id}/progress/stream", headers=auth)
            assert answer.status_code == 503
            assert answer.headers["Retry-After"] == "5"
            body = answer.json()
            assert body["error_category"] == "temporary"
            assert "NATS is not configured" in body["detail"]
            assert f"GET /api/sessions/{session_id}/process/status" in body["recovery_actions"][0]
            assert f"GET /api/sessions/{session_id}/export/status" in body["recovery_actions"][1]
            refused = denial(client, f"/api/sessions/{session_id}/progress/ws?token={token}")
            assert refused.status_code == 503
            assert refused.json()["error_category"] == "temporary"
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"]["nats"] == {
                "ok": False,
                "configured": False,
                "required": False,
            }
    finally:
        container.close()
