"""`ticketforge demo`, the README's first command, as a user runs it: a subprocess in an
empty directory on embedded defaults (SQLite, embedded nats-server, offline generator,
the bundled Jira sandbox), and with `--keep-running` the API left up and reachable."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.support.postgres import free_port

pytestmark = [pytest.mark.nats, pytest.mark.slow, pytest.mark.timeout(300)]


def demo_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES_", "JIRA_", "OPENAI_", "TICKETFORGE_", "NATS_", "PERSIST"))
    }
    env["COLUMNS"] = "160"
    env["TICKETFORGE_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_demo_runs_the_whole_workflow_on_embedded_defaults(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "interfaces.cli.main", "demo", "--sample", "small-site"],
        cwd=tmp_path, env=demo_env(tmp_path), capture_output=True, timeout=240, check=False,
    )  # fmt: skip
    out = done.stdout.decode(errors="replace")
    assert done.returncode == 0, out + done.stderr.decode(errors="replace")[-3000:]
    assert re.search(r"User 'demo-\d{8}-\d{6}' created", out)
    assert "Inventory: 49 entities" in out
    assert "Generation completed: 49 tickets drafted by 'offline', 0 failed" in out
    assert "ADF validation: 49/49 passed" in out
    assert "validation is stale" in out  # the edit made it stale ...
    assert "Re-validated: 49/49 passed; export readiness: ready" in out  # ... and it is fresh
    assert "Jira issues (49;" in out
    assert "Dependency links (17;" in out
    assert re.search(r"DEMO-(\d+) .*http://127\.0\.0\.1:\d+/browse/DEMO-\1\b", out)  # key, URL
    assert "Manual fixes: none needed." in out
    # The embedded nats-server carried the work: it was started in the data directory.
    assert (tmp_path / "data" / "nats").is_dir()


def test_demo_keep_running_leaves_the_api_and_the_sandbox_up(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli.main", "demo", "--sample", "small-site",
         "--keep-running", "--port", str(port)],
        cwd=REPO, env=demo_env(tmp_path), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 200
        out = ""
        while "interactive docs" not in out or "Jira sandbox" not in out:
            assert process.poll() is None, out
            assert time.monotonic() < deadline, out
            time.sleep(0.2)
            out = (tmp_path / "demo.log").read_text(errors="replace")
        token = re.search(r"token\s+(tf_\S+)", out)
        browse = re.search(r"Jira sandbox\s+(http://\S+/browse/DEMO-1)", out)
        assert token and browse, out
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):  # uvicorn starts right after the lines are printed
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert httpx.get(f"{base}/docs", timeout=5).status_code == 200
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        sessions = httpx.get(f"{base}/api/sessions", headers=auth, timeout=5)
        assert sessions.status_code == 200
        assert [s["name"] for s in sessions.json()["sessions"]] == ["Demo: small-site"]
        assert httpx.get(f"{base}/api/sessions", timeout=5).status_code == 401
        page = httpx.get(browse.group(1), timeout=5)
        assert page.status_code == 200 and "DEMO-1" in page.text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    assert process.returncode is not None
