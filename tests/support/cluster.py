"""The production topology on one machine, without Docker: PostgreSQL, nats-server, the
Jira sandbox, and `ticketforge api` / `worker` / `projector` processes, each a real
subprocess configured by environment as `docker-compose.yml` configures them.

Used by the scale-out test and by `bench/scaleout.py`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from infrastructure.nats.embedded import NatsServerProcess
from interfaces.settings import Settings
from tests.support.postgres import ThrowawayPostgres, free_port

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
DEMO_EMAIL = "demo@example.com"
DEMO_TOKEN = "demo-token"  # the sandbox's documented demo credential
PROJECT = "DEMO"


@dataclass
class Process:
    role: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]
    port: int | None = None

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self, tail: int = 3000) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-tail:]


@dataclass
class Cluster:
    workdir: Path
    postgres: ThrowawayPostgres
    lease_s: float = 3.0
    sandbox_latency_ms: float = 20.0
    processes: list[Process] = field(default_factory=list)
    nats: NatsServerProcess | None = None
    env: dict[str, str] = field(default_factory=dict)
    token: str = ""
    dbname: str = ""
    sandbox_url: str = ""

    # --- lifecycle ------------------------------------------------------------------

    def start(self, *, apis: int = 2, workers: int = 3, projectors: int = 1) -> Cluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.dbname = self.postgres.create_database()
        self.nats = NatsServerProcess(self.workdir / "nats", port=free_port())
        self.nats.start()
        self._start_sandbox()
        self.env = self._environment()
        self.run_cli("setup")
        self.token = self.run_cli("users", "create", "alice").strip().splitlines()[-1]
        for _ in range(projectors):
            self.spawn("projector")
        for _ in range(workers):
            self.spawn("worker")
        for _ in range(apis):
            self.spawn("api")
        for process in self.role("api"):
            self._wait_http(f"{self.api_url(process)}/healthz", process)
        return self

    def _start_sandbox(self) -> None:
        port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{port}"
        log_path = self.workdir / "sandbox.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            [sys.executable, "-m", "infrastructure.jira_sandbox", "--port", str(port),
             "--db", str(self.workdir / "jira.db"), "--latency-ms", str(self.sandbox_latency_ms)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        process = Process("sandbox", popen, log_path, log, port)
        self.processes.append(process)
        self._wait_http(f"{self.sandbox_url}/_sandbox/stats", process)

    def _environment(self) -> dict[str, str]:
        assert self.nats is not None
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("POSTGRES_", "JIRA_", "OPENAI_", "TICKETFORGE_", "NATS_"))
        }
        env.update(
            PERSISTENCE_MODULE="postgres",
            POSTGRES_DBNAME=self.dbname,
            POSTGRES_HOST="127.0.0.1",
            POSTGRES_PORT=str(self.postgres.port),
            POSTGRES_USER=self.postgres.user,
            NATS_URL=self.nats.url or "",
            JIRA_BASE_URL=self.sandbox_url,
            JIRA_EMAIL=DEMO_EMAIL,
            JIRA_API_TOKEN=DEMO_TOKEN,
            TICKETFORGE_DATA_DIR=str(self.workdir / "data"),
            TICKETFORGE_GENERATOR="offline",
            TICKETFORGE_TASK_LEASE_S=str(self.lease_s),
        )
        return env

    def settings(self) -> Settings:
        """The cluster's configuration, for a container in the test looking at its state."""
        return Settings(
            **{  # type: ignore[arg-type]
                k: v
                for k, v in self.env.items()
                if k.startswith(("POSTGRES_", "PERSISTENCE_", "TICKETFORGE_", "JIRA_"))
            },
            TICKETFORGE_EMBEDDED_NATS=False,
            TICKETFORGE_EMBEDDED_WORKERS=0,
        )

    def run_cli(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "interfaces.cli.main", *args],
            cwd=REPO, env=self.env, capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
        out = done.stdout.decode(errors="replace")
        if done.returncode != 0:
            raise AssertionError(
                f"ticketforge {' '.join(args)} exited {done.returncode}:\n{out}\n"
                + done.stderr.decode(errors="replace")[-3000:]
            )
        return out

    def spawn(self, role: str) -> Process:
        index = len(self.role(role)) + 1
        log_path = self.workdir / f"{role}-{index}.log"
        log = log_path.open("wb")
        args = [role]
        port = None
        if role == "api":
            port = free_port()
            args += ["--port", str(port)]
        popen = subprocess.Popen(
            [sys.executable, "-m", "interfaces.cli.main", *args],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        process = Process(role, popen, log_path, log, port)
        self.processes.append(process)
        return process

    def role(self, role: str) -> list[Process]:
        return [p for p in self.processes if p.role == role]

    def kill(self, process: Process) -> None:
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait(timeout=10)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.alive:
                process.popen.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=10)
            process.log.close()
        if self.nats is not None:
            self.nats.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.role} {p.log_path.name}:\n{p.output()}" for p in self.processes)

    def _wait_http(self, url: str, process: Process, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(url, timeout=1).raise_for_status()
                return
            except httpx.HTTPError as exc:
                if not process.alive or time.monotonic() > deadline:
                    raise AssertionError(
                        f"{process.role} did not come up:\n{process.output()}"
                    ) from exc
                time.sleep(0.1)

    # --- the API ----------------------------------------------------------------------

    @staticmethod
    def api_url(process: Process) -> str:
        return f"http://127.0.0.1:{process.port}"

    def client(self, index: int = 0) -> httpx.Client:
        """An HTTP client on the `index`-th API process (round robin), as alice."""
        apis = self.role("api")
        return httpx.Client(
            base_url=self.api_url(apis[index % len(apis)]),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )


def csv_files(site: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    folder = SAMPLES / site / "inventory"
    return [
        ("files", (path.name, path.read_bytes(), "text/csv"))
        for path in sorted(folder.glob("*.csv"))
    ]


def wait_for(
    client: httpx.Client, url: str, done: Any, timeout: float, what: str
) -> dict[str, Any]:
    """Poll `url` until `done(body)`; the last body on success."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = dict(response.json())
        if done(body):
            return body
        assert time.monotonic() < deadline, f"{what} not done after {timeout}s: {body}"
        time.sleep(0.1)


def ready_session(client: httpx.Client, site: str = "small-site") -> str:
    """Create, upload, generate (by a worker), mark ready and validate a session over HTTP."""
    created = client.post(
        "/api/sessions",
        json={
            "name": f"scale-out {site}",
            "site_context": {"site_name": site},
            "jira_project_key": PROJECT,
            "issue_type": "Task",
        },
    )
    assert created.status_code == 201, created.text
    session_id = str(created.json()["id"])
    base = f"/api/sessions/{session_id}"
    uploaded = client.post(f"{base}/files", files=csv_files(site))
    assert uploaded.status_code == 201, uploaded.text
    started = client.post(f"{base}/process", json={})
    assert started.status_code == 202, started.text
    wait_for(
        client,
        f"{base}/process/status",
        lambda b: b["status"] in ("completed", "failed", "cancelled"),
        120,
        "generation",
    )
    ready = client.post(f"{base}/tickets/ready", json={})
    assert ready.status_code == 200, ready.text
    validated = client.post(f"{base}/adf-validation", json={})
    assert validated.status_code == 200 and validated.json()["all_passed"], validated.text
    return session_id


def export_status(client: httpx.Client, session_id: str) -> dict[str, Any]:
    response = client.get(f"/api/sessions/{session_id}/export/status")
    assert response.status_code == 200, response.text
    return dict(response.json())
