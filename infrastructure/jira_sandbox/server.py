"""Running the sandbox: in the foreground (`run_sandbox`) or on a background thread."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from infrastructure.jira_sandbox.app import Credentials, create_sandbox_app
from infrastructure.jira_sandbox.faults import FaultConfig
from infrastructure.jira_sandbox.limits import LimitConfig


def run_sandbox(
    host: str = "127.0.0.1",
    port: int = 8080,
    db_path: Path | None = None,
    *,
    faults: FaultConfig | None = None,
    limits: LimitConfig | None = None,
    latency_ms: float = 0,
    credentials: Credentials | None = None,
    log_level: str = "info",
    flavor: str = "cloud",
) -> None:
    """Serve the sandbox until interrupted (what `ticketforge jira-sandbox` runs)."""
    app = create_sandbox_app(
        db_path,
        faults=faults,
        limits=limits,
        latency_ms=latency_ms,
        credentials=credentials,
        flavor=flavor,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


class SandboxServer:
    """A real uvicorn server on a background thread; port 0 picks a free port.

    Used by the tests and by `serve`/`demo` when no Jira is configured:

        with SandboxServer(create_sandbox_app(None)) as server:
            client = JiraClient(server.base_url, "demo@example.com", "demo-token")
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.flavor: str = app.state.sandbox.flavor  # a wrapper must carry the app's `state`
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        bound_host, bound_port = self._socket.getsockname()[:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        config = uvicorn.Config(
            app, log_level="warning", timeout_graceful_shutdown=2, timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="jira-sandbox",
            daemon=True,
        )

    def start(self, timeout: float = 10.0) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Jira sandbox did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
