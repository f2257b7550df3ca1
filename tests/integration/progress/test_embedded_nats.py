"""The embedded default: without NATS_URL, the container runs a real nats-server of its
own (loopback, free port, store in the data directory) and stops it when it closes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from application.users import User
from infrastructure.nats.embedded import NatsServerProcess
from interfaces.api.app import create_app
from interfaces.bootstrap import bootstrap
from tests.conftest import make_settings
from tests.integration.progress.support import (
    generation_status,
    new_session,
    progress_caught_up,
    stream_messages,
    wait_until,
)

pytestmark = [pytest.mark.nats, pytest.mark.timeout(60)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; it only waits to be reaped.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_the_container_runs_an_embedded_server_and_stops_it(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = make_settings(backend, tmp_path, request, TICKETFORGE_EMBEDDED_NATS=True)
    assert settings.nats_url is None and settings.embedded_nats
    container = bootstrap(settings, start=True)
    live = container.live_progress
    assert live is not None and live.embedded is not None
    try:
        embedded = live.embedded
        assert embedded.running and embedded.url is not None
        assert embedded.url.startswith("nats://127.0.0.1:")
        assert embedded.store_dir == settings.data_dir / "nats"
        wait_until(lambda: live.publisher.connected)
        with TestClient(create_app(container)) as client:
            nats = client.get("/readyz").json()["checks"]["nats"]
        assert nats["ok"] is True and nats["mode"] == "embedded"
        assert nats["embedded"]["running"] is True and nats["url"] == embedded.url

        user = User("alice")
        session_id = new_session(container, user)
        _, _, result = container.app.request_generation(session_id, "offline", user)
        container.wrote(result.position)
        wait_until(lambda: generation_status(container, session_id) == "completed")
        wait_until(lambda: progress_caught_up(container))
        assert stream_messages(container, session_id)[-1][1]["type"] == "processing_complete"
        assert any((embedded.store_dir / "store" / "jetstream").iterdir())
        pid = embedded.pid
        assert pid is not None
    finally:
        container.close()
    assert not embedded.running
    assert not alive(pid)


def test_a_missing_nats_server_binary_leaves_the_work_running(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_SERVER_BIN", str(tmp_path / "no-such-nats-server"))
    container = bootstrap(
        make_settings(backend, tmp_path, request, TICKETFORGE_EMBEDDED_NATS=True), start=True
    )
    try:
        live = container.live_progress
        assert live is not None and live.embedded is not None
        assert not live.embedded.running and live.embedded_error
        user = User("alice")
        session_id = new_session(container, user)
        _, _, result = container.app.request_generation(session_id, "offline", user)
        container.wrote(result.position)
        wait_until(lambda: generation_status(container, session_id) == "completed")
        nats = live.status()
        assert nats["connected"] is False and nats["embedded"]["error"]
    finally:
        container.close()


def test_a_server_left_running_on_the_store_is_stopped_before_a_new_one_starts(
    tmp_path: Path,
) -> None:
    """As after `serve` was killed -9: its nats-server outlives it, holding the store."""
    left_behind = NatsServerProcess(tmp_path / "nats")
    left_behind.start()
    successor = NatsServerProcess(tmp_path / "nats")
    try:
        successor.start()
        wait_until(lambda: not left_behind.running, timeout=10)
        assert successor.running and successor.url != left_behind.url
    finally:
        successor.stop()
        left_behind.stop()
