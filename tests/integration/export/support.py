"""Helpers for the export tests: a Jira sandbox of our own, a session ready to export,
bounded waits, and counting what really exists in Jira (issues per mark, links per issue)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from application.export.issues import session_label
from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from application.users import User
from domain.export import Export, export_label
from domain.session import Session
from infrastructure.jira import FoundIssue, JiraClient, RetryPolicy
from infrastructure.jira_sandbox import LimitConfig, SandboxServer, create_sandbox_app
from interfaces.bootstrap import Container

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
LEASE_S = 2  # with worker processes: a dead worker's task goes to another this soon
LATENCY_MS = 30  # the slow sandbox's answers, so a worker can be killed mid-export
ALICE = User("alice")
PROJECT = "DEMO"
DEMO_EMAIL, DEMO_TOKEN = "demo@example.com", "demo-token"
DEMO_PAT = "demo-bearer-token"  # the sandbox's bearer token: a Data Center PAT
FLAVORS = ("cloud", "datacenter")
# Retry-After short enough to keep the tests fast; behaviour is the same as with Jira's.
TEST_LIMITS = LimitConfig(retry_after_seconds=0.1)
FAST_RETRY = RetryPolicy(max_attempts=6, initial_backoff=0.02, max_backoff=0.2, jitter=0.02)
SEARCH_CHUNK = 40
Edits = Mapping[UUID, dict[str, Any]]


def start_sandbox(
    tmp_path: Path,
    *,
    latency_ms: float = 0,
    limits: LimitConfig | None = None,
    flavor: str = "cloud",
) -> SandboxServer:
    """A real sandbox (uvicorn on a free loopback port) with its own SQLite file;
    `flavor`: Jira Cloud or Jira Data Center."""
    db = tmp_path / f"jira-sandbox-{flavor}.db"
    app = create_sandbox_app(db, limits=limits or TEST_LIMITS, latency_ms=latency_ms, flavor=flavor)
    return SandboxServer(app).start()


def jira_env(server: SandboxServer) -> dict[str, str]:
    """The settings that point ticketforge at this sandbox as a customer would: Cloud by
    email and API token, Data Center by personal access token (its flavour is detected
    from serverInfo, as with JIRA_FLAVOR unset)."""
    if server.flavor == "datacenter":
        return {"JIRA_BASE_URL": server.base_url, "JIRA_PAT": DEMO_PAT}
    return {
        "JIRA_BASE_URL": server.base_url,
        "JIRA_EMAIL": DEMO_EMAIL,
        "JIRA_API_TOKEN": DEMO_TOKEN,
    }


def api_path(flavor: str) -> str:
    """Where the platform REST API lives for this flavour (stats are keyed by route)."""
    return "/rest/api/2" if flavor == "datacenter" else "/rest/api/3"


class Sandbox:
    """The sandbox's control API (`/_sandbox/...`) and a Jira client for looking around."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.base_url = server.base_url
        self.http = httpx.Client(base_url=server.base_url, timeout=10)
        self.flavor = getattr(server, "flavor", "cloud")  # a bare URL: a Cloud sandbox
        self.api = api_path(self.flavor)
        self.jira = JiraClient(
            server.base_url, DEMO_EMAIL, DEMO_TOKEN, retry=FAST_RETRY, flavor=self.flavor
        )

    def close(self) -> None:
        self.http.close()
        self.jira.close()

    def faults(self, **changes: Any) -> dict[str, Any]:
        response = self.http.post("/_sandbox/faults", json=changes)
        response.raise_for_status()
        return dict(response.json())

    def clear_faults(self) -> None:
        self.faults(
            latency_ms=0,
            fail_create_every=0,
            fail_create_next=0,
            timeout_next=0,
            unauthorized_from_request=0,
            rate_limit_storm_next=0,
            missing_link_types=[],
            missing_issue_types=[],
            forbidden_routes=[],
            search_lag_ms=0,
        )

    def stats(self) -> dict[str, Any]:
        response = self.http.get("/_sandbox/stats")
        response.raise_for_status()
        return dict(response.json())

    def download(self, url: str) -> bytes:
        """An attachment's content, fetched as the Jira user."""
        response = self.http.get(url, auth=(DEMO_EMAIL, DEMO_TOKEN))
        response.raise_for_status()
        return response.content

    def work(self, key: str, **changes: Any) -> dict[str, Any]:
        response = self.http.patch(f"/_sandbox/issues/{key}", json=changes)
        response.raise_for_status()
        return dict(response.json())

    # --- what exists in Jira ------------------------------------------------------

    @contextmanager
    def index_caught_up(self) -> Iterator[None]:
        """The truth, for checking: the search sees every issue (a lag set by the test is
        put back afterwards)."""
        lag = self.http.get("/_sandbox/faults").json().get("search_lag_ms", 0)
        if lag:
            self.faults(search_lag_ms=0)
        try:
            yield
        finally:
            if lag:
                self.faults(search_lag_ms=lag)

    def issues_by_ticket(self, ticket_ids: Iterable[UUID]) -> dict[UUID, list[FoundIssue]]:
        """Every issue in the project carrying each ticket's mark (label `tf-<id>`), with
        its labels and issue links (the search, with its index caught up)."""
        with self.index_caught_up():
            return self._issues_by_ticket(ticket_ids)

    def _issues_by_ticket(self, ticket_ids: Iterable[UUID]) -> dict[UUID, list[FoundIssue]]:
        wanted = {export_label(t): t for t in ticket_ids}
        found: dict[UUID, list[FoundIssue]] = {t: [] for t in wanted.values()}
        labels = sorted(wanted)
        for start in range(0, len(labels), SEARCH_CHUNK):
            chunk = ", ".join(f'"{label}"' for label in labels[start : start + SEARCH_CHUNK])
            jql = f'project = "{PROJECT}" AND labels in ({chunk}) ORDER BY key'
            for issue in self.jira.search(jql, ("labels", "issuelinks"), page_size=100):
                for label in issue.labels:
                    if label in wanted:
                        found[wanted[label]].append(issue)
        return found

    def session_issue_count(self, session_id: UUID) -> int:
        jql = f'project = "{PROJECT}" AND labels = "{session_label(session_id)}"'
        with self.index_caught_up():
            return len(self.jira.search(jql, ("labels",), page_size=100))

    def issue(self, key: str, *fields: str) -> dict[str, Any]:
        return dict(self.jira.get_issue(key, fields).fields)

    def blocks_links(self, key: str) -> list[tuple[str, str]]:
        """GET the issue's "Blocks" links as (side, other key), side inwardIssue/outwardIssue."""
        return blocks_links(self.issue(key, "issuelinks"))


def blocks_links(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    links = []
    for link in fields.get("issuelinks") or ():
        if (link.get("type") or {}).get("name") != "Blocks":
            continue
        for side in ("inwardIssue", "outwardIssue"):
            if side in link:
                links.append((side, str(link[side]["key"])))
    return links


# --- sessions -----------------------------------------------------------------------


def inventory(site: str) -> list[UploadedFile]:
    folder = SAMPLES / site / "inventory"
    return [UploadedFile(p.name, p.read_bytes()) for p in sorted(folder.glob("*.csv"))]


def ticket_ids_by_name(container: Container, session_id: UUID) -> dict[str, UUID]:
    session = container.app.load_session(session_id)
    return {t.config_name: t.id for t in session.tickets.values()}


def prepare_session(
    container: Container,
    site: str = "small-site",
    *,
    edits: Callable[[Session], Edits] | None = None,
    ready: bool = True,
    validate: bool = True,
    epic_key: str | None = None,
    epic_mode: str | None = None,
    by_worker: bool = False,
) -> UUID:
    """A session in review with generated tickets (offline), edited, ready and validated.

    The generation task is run here, in the test's thread, by the real GenerationRunner
    (no worker needed; the test decides who runs the export), or, `by_worker`, by the
    worker(s) already running, and waited for.
    """
    app = container.app
    created = app.create_session(
        name=f"export {site}",
        site={"site_name": site},
        jira_project_key=PROJECT,
        issue_type="Task",
        user=ALICE,
        epic_key=epic_key,
        epic_mode=epic_mode,
    )
    session_id = created.session_id
    app.upload_inventory(session_id, parse_inventory(inventory(site)), ALICE)
    task_id, _, result = app.request_generation(session_id, "offline", ALICE)
    container.wrote(result.position)
    if by_worker:

        def generated() -> bool:
            run = app.load_session(session_id).generation
            return run is not None and run.status not in ("requested", "running")

        wait_until(generated, 60, "ticket generation by the worker")
        run = app.load_session(session_id).generation
        status = run.status if run else "none"
    else:
        status = container.generation.run(session_id, task_id)
    assert status == "completed", status
    if edits is not None:
        for ticket_id, changes in edits(app.load_session(session_id)).items():
            app.edit_ticket(session_id, ticket_id, changes, None, ALICE)
    if ready:
        app.mark_ready(session_id, None, True, ALICE)
    if validate:
        report = app.validate_tickets(session_id, None, ALICE)
        failures = [
            (r.ticket_title, r.error_message) for r in report.results if r.status != "passed"
        ]
        assert report.all_passed, failures[:3]
    return session_id


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s")
        time.sleep(0.02)


def wait_export(
    container: Container, export_id: UUID, timeout: float = 20.0, ended: Iterable[str] = ()
) -> Export:
    """Poll the event store (not a read model) until the export ends."""
    final = set(ended) or {"completed", "failed"}
    holder: list[Export] = []

    def done() -> bool:
        holder[:] = [container.app.load_export(export_id)]
        return holder[0].status in final

    wait_until(done, timeout, f"export {export_id} to reach {sorted(final)}")
    return holder[0]


@dataclass
class Started:
    export_id: UUID
    position: int | None


def start_export(container: Container, session_id: UUID) -> Started:
    export, already, result = container.app.request_export(session_id, ALICE)
    assert not already
    container.wrote(result.position)
    return Started(export.id, result.position)


def retry_export(container: Container, session_id: UUID) -> None:
    _, result = container.app.retry_export(session_id, ALICE)
    container.wrote(result.position)


def exported_events(container: Container, export_id: UUID, kind: type) -> list[Any]:
    return [e for e in container.app.events.get(export_id) if isinstance(e, kind)]


def plan_edges(export: Export) -> list[tuple[UUID, UUID]]:
    """(dependent, dependency) for every dependency edge of the export's plan."""
    return [(UUID(str(p["ticket_id"])), UUID(str(d))) for p in export.plan for d in p["depends_on"]]


def assert_no_duplicates(sandbox: Sandbox, export: Export) -> dict[UUID, FoundIssue]:
    """Exactly one issue per ticket in Jira, the one recorded; return ticket -> issue."""
    tickets = [UUID(str(p["ticket_id"])) for p in export.plan]
    found = sandbox.issues_by_ticket(tickets)
    duplicated = {str(t): [i.key for i in got] for t, got in found.items() if len(got) != 1}
    assert not duplicated, f"tickets without exactly one issue: {duplicated}"
    issues = {t: got[0] for t, got in found.items()}
    recorded = {t: issue.key for t, issue in export.issues.items()}
    assert recorded == {t: issue.key for t, issue in issues.items()}
    # the session's issues: the plan's, those of tickets that left it (obsolete), epics
    expected = len(tickets) + len(export.retired) + len(export.epics)
    assert sandbox.session_issue_count(export.session_id) == expected
    return issues


def assert_links_once(issues: Mapping[UUID, FoundIssue], export: Export) -> None:
    """One "Blocks" link per dependency edge, the dependency blocking the dependent:
    on the dependent's side the link's inwardIssue is the dependency."""
    keys = {t: issue.key for t, issue in issues.items()}
    edges = plan_edges(export)
    wanted: dict[str, list[str]] = {key: [] for key in keys.values()}
    for dependent, dependency in edges:
        wanted[keys[dependent]].append(keys[dependency])
    blocking = 0
    for issue in issues.values():
        links = blocks_links(issue.fields)
        inward = sorted(k for side, k in links if side == "inwardIssue")
        assert inward == sorted(wanted[issue.key]), (issue.key, inward, wanted[issue.key])
        blocking += sum(1 for side, _ in links if side == "outwardIssue")
    assert blocking == len(edges)
