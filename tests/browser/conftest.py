"""The browser suite: Playwright for Python driving Debian's chromium against a real
`ticketforge serve` (a subprocess on embedded defaults: SQLite, embedded nats-server,
the offline drafter), with the Jira sandbox as its own HTTP server on loopback (slowed down
where a test must watch an export), reached through a TCP proxy that a
test can cut. Browsers are never downloaded: CHROMIUM below is the distribution's.

Screenshots of each main screen go to `--screenshots DIR` (default: pytest's tmp dir).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.proxy import CuttableProxy
from tests.support.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TICKETFORGE_CHROMIUM", "/usr/lib/chromium/chromium"))
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
SANDBOX_LATENCY_MS = "20"


@dataclass
class Served:
    """A running `ticketforge serve`, its users' tokens, and the proxy in front of it."""

    url: str  # through the proxy: what the browser uses
    direct: str  # the server itself
    proxy: CuttableProxy
    tokens: dict[str, str]
    workdir: Path
    jira: str  # the Jira sandbox (its control API is /_sandbox/...)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def jira_latency(self, latency_ms: float) -> None:
        """Make every Jira answer this much slower from now on (an export to watch)."""
        answer = httpx.post(f"{self.jira}/_sandbox/faults", json={"latency_ms": latency_ms})
        assert answer.status_code == 200, answer.text

    def client(self, user: str = "alice") -> httpx.Client:
        return httpx.Client(
            base_url=self.direct,
            headers={"Authorization": f"Bearer {self.tokens[user]}"},
            timeout=30,
        )


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url}: the process exited\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout}s\n{log.read_text(errors='replace')}")


# Module scope: the server and the browser stop once the browser tests are done, not at
# the end of the whole run (they would idle beside every other test).
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("console")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES_", "JIRA_", "OPENAI_", "TICKETFORGE_", "NATS_", "PERSIST"))
    }
    sandbox_port, api_port = free_port(), free_port()
    env.update(
        TICKETFORGE_DATA_DIR=str(workdir / "data"),
        TICKETFORGE_GENERATOR="offline",
        JIRA_BASE_URL=f"http://127.0.0.1:{sandbox_port}",
        JIRA_EMAIL="demo@example.com",
        JIRA_API_TOKEN="demo-token",  # the sandbox's documented demo credential
    )
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = workdir / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", *args], cwd=REPO, env=env,
            stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        processes.append(process)
        return process, log

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "interfaces.cli.main", *args],
            cwd=REPO, env=env, capture_output=True, timeout=120, check=True,
        )  # fmt: skip
        return done.stdout.decode().strip().splitlines()[-1]

    try:
        sandbox, log = spawn(
            "sandbox", "infrastructure.jira_sandbox", "--port", str(sandbox_port),
            "--db", str(workdir / "jira.db"), "--latency-ms", SANDBOX_LATENCY_MS,
        )  # fmt: skip
        _wait_http(f"{env['JIRA_BASE_URL']}/_sandbox/stats", sandbox, log)
        tokens = {"alice": cli("users", "create", "alice"), "bob": cli("users", "create", "bob")}
        tokens["root"] = cli("users", "create", "root", "--admin")
        server, log = spawn("serve", "interfaces.cli.main", "serve", "--port", str(api_port))
        direct = f"http://127.0.0.1:{api_port}"
        _wait_http(f"{direct}/readyz", server, log)
        proxy = CuttableProxy(api_port)
        yield Served(
            f"http://127.0.0.1:{proxy.port}", direct, proxy, tokens, workdir,
            env["JIRA_BASE_URL"], processes,
        )  # fmt: skip
        proxy.close()
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`); "
            "the suite never downloads a browser"
        )
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = request.config.getoption("--screenshots")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory
