"""The sandbox as a product: its page, its persistence, its control API, its command."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from infrastructure.jira import JiraClient, JiraError, NewIssue, RateLimitConfig
from infrastructure.jira_sandbox import LimitConfig, SandboxServer, create_sandbox_app
from tests.integration.jira.support import DEMO_EMAIL, DEMO_TOKEN, FAST_RETRY, SandboxAdmin, adf

ROOT = Path(__file__).resolve().parents[3]


def test_browse_page_shows_the_issue(jira: JiraClient, sandbox: SandboxAdmin) -> None:
    dependency = jira.create_issue(NewIssue("DEMO", "Vocabulary: Tags"))
    issue = jira.create_issue(
        NewIssue(
            "DEMO",
            "Field <field_tags> on Article",
            description=adf("Reference the Tags vocabulary.", "Autocomplete widget."),
            labels=("ticketforge", "tf-ticket-9"),
        )
    )
    jira.link_blocks(dependency.key, issue.key)
    jira.add_attachment(issue.key, "Détails · 数据.md", b"# the long analysis")
    page = httpx.get(f"{sandbox.base_url}/browse/{issue.key}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Field &lt;field_tags&gt; on Article" in html
    assert "<p>Reference the Tags vocabulary.</p><p>Autocomplete widget.</p>" in html
    assert "tf-ticket-9" in html
    assert f'is blocked by <a href="/browse/{dependency.key}">' in html
    assert "Détails · 数据.md" in html
    blocker_page = httpx.get(f"{sandbox.base_url}/browse/{dependency.key}").text
    assert f'blocks <a href="/browse/{issue.key}">' in blocker_page
    download = html.split('href="/secure/attachment/')[1].split('"')[0]
    assert (
        httpx.get(f"{sandbox.base_url}/secure/attachment/{download}").content
        == b"# the long analysis"
    )
    assert httpx.get(f"{sandbox.base_url}/browse/DEMO-404").status_code == 404


def test_state_persists_in_sqlite_across_restarts(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    for expected in ("DEMO-1", "DEMO-2"):
        with (
            SandboxServer(create_sandbox_app(db)) as server,
            JiraClient(server.base_url, DEMO_EMAIL, DEMO_TOKEN, retry=FAST_RETRY) as jira,
        ):
            assert jira.create_issue(NewIssue("DEMO", "kept", labels=("kept",))).key == expected
            assert len(jira.search('labels = "kept"')) == int(expected[-1])


def test_concurrent_writes_are_safe(tmp_path: Path) -> None:
    app = create_sandbox_app(tmp_path / "busy.db", limits=LimitConfig(enabled=False))
    with (
        SandboxServer(app) as server,
        JiraClient(
            server.base_url, DEMO_EMAIL, DEMO_TOKEN, rate_limits=RateLimitConfig(enabled=False)
        ) as jira,
    ):
        with ThreadPoolExecutor(max_workers=10) as pool:
            keys = list(
                pool.map(lambda n: jira.create_issue(NewIssue("DEMO", f"busy {n}")).key, range(60))
            )
        assert sorted(keys, key=lambda k: int(k.split("-")[1])) == [
            f"DEMO-{n}" for n in range(1, 61)
        ]


def test_reset_restores_the_seed_and_start_up_faults(
    jira: JiraClient, sandbox: SandboxAdmin
) -> None:
    jira.create_issue(NewIssue("DEMO", "to be forgotten"))
    sandbox.faults(fail_create_every=2, missing_link_types=["Blocks"])
    sandbox.reset()
    assert sandbox.stats()["issues_in_store"] == 0
    assert sandbox.stats()["total_requests"] == 0
    faults = sandbox.http.get("/_sandbox/faults").json()
    assert (faults["fail_create_every"], faults["missing_link_types"]) == (0, [])
    assert jira.create_issue(NewIssue("DEMO", "fresh")).key == "DEMO-1"


def test_fault_api_refuses_unknown_faults(sandbox: SandboxAdmin) -> None:
    assert sandbox.http.post("/_sandbox/faults", json={"explode": True}).status_code == 400
    assert (
        sandbox.http.post("/_sandbox/faults", json={"fail_create_status": 200}).status_code == 400
    )


def test_stats_count_requests_per_route(jira: JiraClient, sandbox: SandboxAdmin) -> None:
    created = jira.create_issue(NewIssue("DEMO", "counted"))
    jira.get_issue_snapshot(created.key)
    jira.get_issue_snapshot(created.key)
    stats = sandbox.stats()
    assert stats["requests"] == {
        "POST /rest/api/3/issue": 1,
        "GET /rest/api/3/issue/{issueIdOrKey}": 2,
    }
    assert stats["responses"]["GET /rest/api/3/issue/{issueIdOrKey}"] == {"200": 2}
    assert stats["issues_created"] == 1


def test_latency_can_be_injected_at_run_time(jira: JiraClient, sandbox: SandboxAdmin) -> None:
    sandbox.faults(latency_ms=150)
    started = time.monotonic()
    jira.myself()
    assert time.monotonic() - started >= 0.15


def test_page_tokens_belong_to_their_query(jira: JiraClient, sandbox: SandboxAdmin) -> None:
    jira.create_issues([NewIssue("DEMO", f"t{n}", labels=("tok",)) for n in range(3)])
    auth = (DEMO_EMAIL, DEMO_TOKEN)
    url = f"{sandbox.base_url}/rest/api/3/search/jql"
    first = httpx.post(url, json={"jql": 'labels = "tok"', "maxResults": 2}, auth=auth).json()
    assert (len(first["issues"]), first["isLast"]) == (2, False)
    other = httpx.post(
        url, json={"jql": "project = DEMO", "nextPageToken": first["nextPageToken"]}, auth=auth
    )
    assert other.status_code == 400
    assert other.json()["errorMessages"]
    unbounded = httpx.post(url, json={"jql": "ORDER BY key"}, auth=auth)
    assert unbounded.status_code == 400
    assert "Unbounded" in unbounded.json()["errorMessages"][0]
    old_search = httpx.post(
        f"{sandbox.base_url}/rest/api/3/search", json={"jql": "project = DEMO"}, auth=auth
    )
    assert old_search.status_code == 404  # /rest/api/3/search is gone, as on Jira Cloud
    assert set(old_search.json()) == {"errorMessages", "errors"}


def test_unknown_projects_in_jql_are_refused(jira: JiraClient) -> None:
    with pytest.raises(JiraError) as caught:
        jira.search("project = NOPE")
    assert caught.value.error_messages == [
        "The value 'NOPE' does not exist for the field 'project'."
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_python_dash_m_runs_the_sandbox(
    tmp_path: Path, make_client: Callable[..., JiraClient]
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infrastructure.jira_sandbox",
            "--port",
            str(port),
            "--db",
            str(tmp_path / "s.db"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/rest/api/3/myself", auth=(DEMO_EMAIL, DEMO_TOKEN)
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        assert answer.json()["emailAddress"] == DEMO_EMAIL
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (tmp_path / "s.db").exists()
