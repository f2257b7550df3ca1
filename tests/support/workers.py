"""`ticketforge worker` subprocesses on a test's own configuration (same database, same
Jira, optionally a real NATS), started, killed and ended by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

from infrastructure.jira_sandbox import SandboxServer
from interfaces.settings import Settings
from tests.integration.export.support import jira_env

REPO = Path(__file__).resolve().parents[2]


def worker_env(
    settings: Settings, jira: SandboxServer, nats_url: str | None, lease_s: float
) -> dict[str, str]:
    """The container's configuration, as a deployment would give it to `ticketforge worker`
    (without `nats_url`, the workers take work from the database)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES_", "JIRA_", "NATS_", "TICKETFORGE_", "PERSISTENCE_"))
    }
    env.update(
        TICKETFORGE_DATA_DIR=str(settings.data_dir),
        TICKETFORGE_GENERATOR="offline",
        TICKETFORGE_TASK_LEASE_S=str(lease_s),
        TICKETFORGE_EMBEDDED_NATS="false",
        PERSISTENCE_MODULE=settings.persistence_module,
        **jira_env(jira),
    )
    if nats_url:
        env["NATS_URL"] = nats_url
    if settings.uses_postgres:
        env.update(
            POSTGRES_DBNAME=settings.postgres_dbname,
            POSTGRES_HOST=settings.postgres_host,
            POSTGRES_PORT=str(settings.postgres_port),
            POSTGRES_USER=settings.postgres_user,
        )
    return env


class WorkerProcesses:
    """`ticketforge worker` processes started (and ended) by the test, one log each."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def spawn(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.started) + 1}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "interfaces.cli.main", "worker"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append((process, log))
        return process

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no handler, no `finally`, no flush; the process just stops."""
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL

    def output(self, last: int = 3) -> str:
        count = len(self.started)
        return "\n".join(
            f"--- worker {i}:\n"
            + (self.logs / f"worker-{i}.log").read_text(errors="replace")[-3000:]
            for i in range(max(1, count - last + 1), count + 1)
        )

    def stop_all(self) -> None:
        for process, log in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            log.close()
