"""`ticketforge watch`: progress from a real API server over SSE, across a restart of
that server, ending with the summary."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from rich.console import Console
from typer.testing import CliRunner

from interfaces.api.app import create_app
from interfaces.bootstrap import Container
from interfaces.cli.main import app as cli
from interfaces.cli.watch import EXIT_DONE, EXIT_REFUSED, Watcher
from tests.integration.progress.support import (
    SMALL_SITE_ENTITIES,
    generation_status,
    new_session,
    wait_until,
)
from tests.support.postgres import free_port

pytestmark = [pytest.mark.nats, pytest.mark.timeout(120)]


class ApiServer:
    """The API under uvicorn in a thread, on a fixed port so that it can come back."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.container),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=0,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: self._server is not None and self._server.started)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = self._thread = None


@pytest.fixture
def api(live: Container) -> Iterator[ApiServer]:
    server = ApiServer(live)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_generation(live: Container, user: Any) -> Any:
    session_id = new_session(live, user)
    _, _, result = live.app.request_generation(session_id, "offline", user)
    live.wrote(result.position)
    return session_id


def test_watch_command_shows_the_run_and_its_summary(live: Container, api: ApiServer) -> None:
    user, token = live.users.create("alice", False)
    session_id = start_generation(live, user)
    assert live.live_progress is not None
    feed = live.live_progress.feed

    def work_once_watched() -> None:
        # A watch started after the generation completed would wait for the export (it
        # follows the session): the run starts once the command watches.
        wait_until(lambda: feed.consumers() > 0)
        live.worker.start(1)

    threading.Thread(target=work_once_watched, daemon=True).start()
    result = CliRunner().invoke(
        cli, ["watch", str(session_id), "--api", api.url], env={"TICKETFORGE_TOKEN": token}
    )
    assert result.exit_code == EXIT_DONE, result.output
    assert "Ticket generation: complete" in result.output
    assert str(SMALL_SITE_ENTITIES) in result.output


def test_watch_refuses_a_stranger(live: Container, api: ApiServer) -> None:
    alice, _ = live.users.create("alice", False)
    _, bob_token = live.users.create("bob", False)
    session_id = start_generation(live, alice)
    live.settle()
    result = CliRunner().invoke(
        cli, ["watch", str(session_id), "--api", api.url, "--token", bob_token]
    )
    assert result.exit_code == EXIT_REFUSED
    assert "404" in result.output


def test_watch_reconnects_by_itself_after_the_api_restarts(live: Container, api: ApiServer) -> None:
    user, token = live.users.create("alice", False)
    session_id = start_generation(live, user)
    console = Console(record=True, width=120, force_terminal=False)
    watcher = Watcher(api=api.url, token=token, session_id=str(session_id), console=console)
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(watcher.run()), daemon=True)
    thread.start()
    wait_until(lambda: watcher.sequences == [1])  # queued, no worker yet
    api.stop()
    live.worker.start(1)  # the whole run happens while nobody can watch
    wait_until(lambda: generation_status(live, session_id) == "completed")
    api.start()
    thread.join(60)
    assert outcome == [EXIT_DONE]
    assert watcher.sequences == list(range(1, SMALL_SITE_ENTITIES + 4))
    assert "Ticket generation: complete" in console.export_text()


def test_watch_started_before_the_export_waits_for_it_and_shows_it(
    live: Container, api: ApiServer
) -> None:
    """Between generation and export, `watch` does not stop at the generation's end (the
    session's current state): it waits for the export, shows its bars and summary."""
    user, token = live.users.create("alice", False)
    session_id = start_generation(live, user)
    live.worker.start(1)
    wait_until(lambda: generation_status(live, session_id) == "completed")
    live.app.mark_ready(session_id, None, True, user)
    assert live.app.validate_tickets(session_id, None, user).all_passed
    console = Console(record=True, width=120, force_terminal=False)
    watcher = Watcher(api=api.url, token=token, session_id=str(session_id), console=console)
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(watcher.run()), daemon=True)
    thread.start()
    wait_until(lambda: watcher.done_before is not None)
    assert thread.is_alive()  # still watching
    export, _, result = live.app.request_export(session_id, user)
    live.wrote(result.position)
    thread.join(90)
    assert outcome == [EXIT_DONE]
    assert watcher.final is not None and watcher.final["export_id"] == str(export.id)
    text = console.export_text()
    assert "waiting for the export" in text
    assert "Export: complete" in text
