"""Two projector processes for the same projection: one leads, the other takes over when
the leader is killed (SIGKILL), on SQLite (lease row) and PostgreSQL (advisory lock)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from interfaces.bootstrap import Container
from interfaces.settings import Settings
from tests.integration.readside.support import ALICE, BOB, generated_session

REPO = Path(__file__).resolve().parents[3]


def settings_env(settings: Settings) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TICKETFORGE_DATA_DIR": str(settings.data_dir),
        "TICKETFORGE_EMBEDDED_WORKERS": "0",
        "PERSISTENCE_MODULE": settings.persistence_module,
    }
    if settings.uses_postgres:
        env.update(
            POSTGRES_DBNAME=settings.postgres_dbname,
            POSTGRES_HOST=settings.postgres_host,
            POSTGRES_PORT=str(settings.postgres_port),
            POSTGRES_USER=settings.postgres_user,
        )
    return env


class Projector:
    """`python -m interfaces.cli.main projector --only audit` with its output lines queued."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "interfaces.cli.main", "projector", "--only", "audit"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip())

    def wait_line(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if line == text or line.startswith(text):
                return True
        return False

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


@pytest.fixture
def spawn(container: Container) -> Iterator[Callable[[], Projector]]:
    started: list[Projector] = []

    def start() -> Projector:
        projector = Projector(settings_env(container.settings))
        started.append(projector)
        return projector

    yield start
    for projector in started:
        projector.kill()


@pytest.mark.slow
def test_a_second_projector_takes_over_when_the_leader_is_killed(
    container: Container, spawn: Callable[[], Projector]
) -> None:
    generated_session(container, ALICE)
    audit_position = lambda: container.store.position("audit")  # noqa: E731
    first = spawn()
    assert first.wait_line("leading audit", 30), first.seen
    wait_until(lambda: audit_position() == container.app.head_position(), 30)

    second = spawn()
    assert second.wait_line("projector running", 30), second.seen
    # The second one stands by while the first is alive.
    assert not second.wait_line("leading audit", 2.0), second.seen
    assert first.proc.poll() is None

    first.kill()
    generated_session(container, BOB)  # new events while nobody leads
    head = container.app.head_position()
    assert second.wait_line("leading audit", 20), second.seen
    wait_until(lambda: audit_position() == head, 30)
    # Nothing was applied twice: one audit row per event.
    assert container.store.count("audit") == head
