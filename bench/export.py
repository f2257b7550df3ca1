"""Export wall time of NestWatch and of a hub-heavy site to the Jira sandbox.

Two sites: NestWatch (samples/nestwatch/inventory: 235 tickets, 269 dependencies,
no hub) and the generated university site of `bench.sites` (~1,200 tickets,
~2,000 dependencies, a few hubs each the blocker of 40-60 tickets, as on real
sites: a role, content types, the image media type, a vocabulary).

The sandbox runs as `ticketforge jira-sandbox` in a process of its own (Jira is
another machine), with Jira Cloud's published limits (its default `LimitConfig`,
checked at start: a token bucket of 100 requests/s per HTTP method with a burst of
100, and per issue 20 writes in 2 s and 100 in 30 s; 429 with `Retry-After` beyond
them), answering every request `--latency` ms late. The export runs as in
production: the real worker, task queue, event store (SQLite in a temporary
directory; PERSISTENCE_MODULE=postgres and POSTGRES_* in the environment for
PostgreSQL) and Jira client.

Measured per site, from the export request to `ExportCompleted`:

- wall time, the requests the sandbox saw, its 429s;
- duplicates (issues per ticket mark, by JQL), tickets without an issue, and
  dependencies without their "Blocks" link (read back from the sandbox: the
  dependency's issue must block the dependent's);
- the link phase: the sandbox's first `POST /rest/api/3/issueLink` to its last
  answer (`/_sandbox/stats` timing), against its floor (`link_phase_floor`): the
  largest of edges / 100 requests/s, the busiest issue's links under the per-issue
  windows, and edges x latency / 8 link threads;
- the ETA: the export's own estimate (`Export.estimate`, recorded when the
  pre-flight ends) against the real wall time; "not available" without one.

The baseline is the seeds' sequential design for the same tickets: 1.5 s per
ticket plus one request per link at the same latency. Goals: NestWatch >= 90x,
the hub-heavy site >= 60x; 0 duplicates, 0 tickets without an issue, 0 missing
links; link phase <= 1.5x its floor; ETA within 25% of the wall time.

    .venv/bin/python -m bench.export [--site nestwatch|hubs|all] [--latency 50] [--runs 1]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from application.users import User
from bench.report import Figure, compare
from bench.sites import university_site
from domain.export import export_label
from infrastructure.jira import JiraClient
from interfaces.bootstrap import Container, bootstrap
from interfaces.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "nestwatch" / "inventory"
EMAIL, TOKEN = "demo@example.com", "demo-token"
SEED_SECONDS_PER_TICKET = 1.5
USER = User("bench")
LATENCY_MS = 50.0

# Jira Cloud's limits (the sandbox's defaults, checked by `check_limits`) and the
# export's link threads: what the link phase's floor is made of.
BURST_RATE = 100.0  # requests/s per HTTP method
ISSUE_WINDOWS: tuple[tuple[int, float], ...] = ((20, 2.0), (100, 30.0))  # writes per issue
LINK_THREADS = 8
LINK_ROUTE = "POST /rest/api/3/issueLink"

POLL_SECONDS = 0.05
GOAL_LINK_FLOOR = 1.5  # link phase <= 1.5x its floor
GOAL_ETA_ERROR = 25.0  # |estimate - wall| <= 25% of wall


def nestwatch_files() -> list[UploadedFile]:
    return [UploadedFile(p.name, p.read_bytes()) for p in sorted(SAMPLE.glob("*.csv"))]


@dataclass(frozen=True)
class Site:
    key: str
    name: str
    goal_speedup: float
    files: Callable[[], list[UploadedFile]]


SITES: dict[str, Site] = {
    "nestwatch": Site("nestwatch", "NestWatch", 90.0, nestwatch_files),
    "hubs": Site("hubs", "Hub-heavy site", 60.0, university_site),
}


# --------------------------------------------------------------------------- the floor


def per_issue_seconds(writes: int, windows: Sequence[tuple[int, float]] = ISSUE_WINDOWS) -> float:
    """From the first to the last of `writes` writes on one issue, each as early as the
    sliding windows (`count` writes per `span` seconds) allow."""
    times: list[float] = []
    for k in range(writes):
        at = times[-1] if times else 0.0
        for count, span in windows:
            if k >= count:
                at = max(at, times[k - count] + span)
        times.append(at)
    return times[-1] if times else 0.0


@dataclass(frozen=True)
class LinkFloor:
    """The link phase cannot be shorter than any of these (seconds)."""

    burst_s: float  # every link is a POST: edges / the site's rate
    hub_s: float  # the busiest issue's links under the per-issue windows
    latency_s: float  # every link waits its latency, on `threads` threads

    @property
    def seconds(self) -> float:
        return max(self.burst_s, self.hub_s, self.latency_s)

    @property
    def binding(self) -> str:
        named = {"burst": self.burst_s, "hub": self.hub_s, "latency": self.latency_s}
        return max(named, key=lambda name: named[name])


def link_phase_floor(
    edges: int,
    busiest_issue_links: int,
    latency_s: float,
    *,
    rate: float = BURST_RATE,
    windows: Sequence[tuple[int, float]] = ISSUE_WINDOWS,
    threads: int = LINK_THREADS,
) -> LinkFloor:
    """The shortest possible link phase: `edges` links (one POST each), of which
    `busiest_issue_links` touch one issue, at `latency_s` per request."""
    return LinkFloor(
        burst_s=edges / rate,
        hub_s=per_issue_seconds(busiest_issue_links, windows),
        latency_s=edges * latency_s / threads,
    )


# --------------------------------------------------------------------------- one run


@dataclass
class Result:
    site: str
    tickets: int
    dependencies: int
    wall_s: float
    requests: int
    rate_limited: int
    duplicates: int
    missing: int
    missing_links: int
    issues_created: int
    links_created: int
    status: str
    by_route: dict[str, int]
    link_phase_s: float | None
    busiest_issue: str
    busiest_issue_links: int
    estimate: dict[str, Any] | None = None
    timing: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # the export's own timings

    @property
    def eta_s(self) -> float | None:
        if not self.estimate:
            return None
        return float(self.estimate["duration_s"])

    @property
    def eta_error(self) -> float | None:
        """(estimate - wall) / wall, in %."""
        eta = self.eta_s
        return None if eta is None else 100.0 * (eta - self.wall_s) / self.wall_s


def check_limits(limits: dict[str, Any]) -> None:
    """The sandbox's defaults must be Jira Cloud's limits, or the comparison means nothing."""
    assert limits["enabled"] is True, limits
    assert limits["requests_per_second"] == BURST_RATE and limits["burst"] == 100, limits
    windows = [tuple(w) for w in limits["issue_write_windows"]]
    assert windows == list(ISSUE_WINDOWS), limits
    assert limits["retry_after_seconds"] is None, limits  # Jira's own Retry-After


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sandbox_process(tmp: Path, latency_ms: float) -> Iterator[str]:
    """`ticketforge jira-sandbox` in a process of its own (Jira is another machine: it
    must not share our interpreter's GIL), with its default limits and the latency set."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = (tmp / "sandbox.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli.main", "jira-sandbox", "--port", str(port),
         "--db", str(tmp / "jira.db")],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base_url}/_sandbox/stats", timeout=1).raise_for_status()
                break
            except httpx.HTTPError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    log_file = tmp / "sandbox.log"
                    raise SystemExit(f"the sandbox did not start; see {log_file}") from exc
                time.sleep(0.1)
        check_limits(httpx.get(f"{base_url}/_sandbox/limits").json())
        httpx.post(
            f"{base_url}/_sandbox/faults", json={"latency_ms": latency_ms}
        ).raise_for_status()
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def ready_session(container: Container, files: Sequence[UploadedFile], site_name: str) -> UUID:
    """A session with `files` uploaded, drafted offline, marked ready and validated."""
    app = container.app
    sid = app.create_session(
        name=f"bench export {site_name}",
        site={"site_name": site_name},
        jira_project_key="DEMO",
        issue_type="Task",
        user=USER,
    ).session_id
    app.upload_inventory(sid, parse_inventory(files), USER)
    task_id, _, _ = app.request_generation(sid, "offline", USER)
    status = container.generation.run(sid, task_id)
    if status != "completed":
        raise SystemExit(f"generation ended {status}")
    app.mark_ready(sid, None, True, USER)
    report = app.validate_tickets(sid, None, USER)
    if not report.all_passed:
        raise SystemExit(f"validation failed for {report.failed} tickets")
    return sid


@dataclass
class Survey:
    """What the sandbox holds after the export, read back through its API."""

    issues_per_ticket: Counter[UUID]
    missing_links: int


def survey(base_url: str, plan: list[dict[str, Any]]) -> Survey:
    """Issues per ticket mark (by JQL), and the planned dependencies that have no
    "Blocks" link from the dependency's issue to the dependent's."""
    tickets = [UUID(str(p["ticket_id"])) for p in plan]
    wanted = {export_label(t): t for t in tickets}
    counts: Counter[UUID] = Counter({t: 0 for t in tickets})
    keys: dict[UUID, set[str]] = {t: set() for t in tickets}
    blocks: set[tuple[str, str]] = set()  # (blocker key, blocked key)
    labels = sorted(wanted)
    with JiraClient(base_url, EMAIL, TOKEN) as jira:
        for start in range(0, len(labels), 40):
            chunk = ", ".join(f'"{label}"' for label in labels[start : start + 40])
            jql = f"project = DEMO AND labels in ({chunk})"
            for issue in jira.search(jql, ("labels", "issuelinks"), 100):
                for label in issue.labels:
                    if label in wanted:
                        counts[wanted[label]] += 1
                        keys[wanted[label]].add(issue.key)
                for link in issue.fields.get("issuelinks") or ():
                    if (link.get("type") or {}).get("name") != "Blocks":
                        continue
                    inward = (link.get("inwardIssue") or {}).get("key")
                    outward = (link.get("outwardIssue") or {}).get("key")
                    if inward:  # seen from the blocked issue
                        blocks.add((str(inward), issue.key))
                    if outward:  # seen from the blocker
                        blocks.add((issue.key, str(outward)))
    missing_links = 0
    for p in plan:
        ticket = UUID(str(p["ticket_id"]))
        for dep in p["depends_on"]:
            blocker_keys = keys.get(UUID(str(dep)), set())
            if not any((b, k) in blocks for b in blocker_keys for k in keys[ticket]):
                missing_links += 1
    return Survey(counts, missing_links)


def busiest_issue(plan: list[dict[str, Any]], names: dict[UUID, str]) -> tuple[str, int]:
    """The ticket whose issue takes part in the most links (either side), and how many."""
    links: Counter[UUID] = Counter()
    for p in plan:
        for dep in p["depends_on"]:
            links[UUID(str(p["ticket_id"]))] += 1
            links[UUID(str(dep))] += 1
    if not links:
        return "-", 0
    ticket, count = links.most_common(1)[0]
    return names.get(ticket, str(ticket)), count


def run_once(site: Site, latency_ms: float) -> Result:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with sandbox_process(tmp, latency_ms) as base_url:
            settings = Settings(
                TICKETFORGE_DATA_DIR=str(tmp / "data"),
                TICKETFORGE_GENERATOR="offline",
                TICKETFORGE_EMBEDDED_NATS=False,
                JIRA_BASE_URL=base_url,
                JIRA_EMAIL=EMAIL,
                JIRA_API_TOKEN=TOKEN,
            )
            container = bootstrap(settings)
            try:
                return measure(container, base_url, site)
            finally:
                container.close()


def measure(container: Container, base_url: str, site: Site) -> Result:
    sid = ready_session(container, site.files(), site.name)
    names = {t.id: t.config_name for t in container.app.load_session(sid, USER).tickets.values()}
    container.start()
    with httpx.Client(base_url=base_url, timeout=10) as admin:
        admin.post("/_sandbox/reset").raise_for_status()  # count the export's requests only
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        export, _, result = container.app.request_export(sid, USER)
        container.wrote(result.position)
        pause = POLL_SECONDS
        while True:
            # Loading an export replays its events (0.5 s of CPU near the end of the hub
            # site's), in the worker's process: poll rarely enough to take <= 5% of it.
            # The wall time is the completion event's own time, not when we saw it.
            time.sleep(pause)
            loading = time.perf_counter()
            current = container.app.load_export(export.id)
            if current.status in ("completed", "failed"):
                break
            pause = min(2.0, max(POLL_SECONDS, 20 * (time.perf_counter() - loading)))
        wall = time.perf_counter() - started
        finished_at = getattr(current, "modified_on", None)
        if isinstance(finished_at, datetime) and finished_at.tzinfo is not None:
            wall = min(wall, (finished_at - started_at).total_seconds())
        stats = admin.get("/_sandbox/stats").json()
    found = survey(base_url, current.plan)
    counts = found.issues_per_ticket
    timing = dict(stats.get("timing") or {})
    links = timing.get(LINK_ROUTE) or {}
    link_phase = None
    if links.get("first_request") is not None and links.get("last_response") is not None:
        link_phase = float(links["last_response"]) - float(links["first_request"])
    busiest, busiest_links = busiest_issue(current.plan, names)
    estimate = getattr(current, "estimate", None)
    return Result(
        site=site.key,
        tickets=len(counts),
        dependencies=sum(len(p["depends_on"]) for p in current.plan),
        wall_s=wall,
        requests=int(stats["total_requests"]),
        rate_limited=int(stats["statuses"].get("429", 0)),
        duplicates=sum(n - 1 for n in counts.values() if n > 1),
        missing=sum(1 for n in counts.values() if n == 0),
        missing_links=found.missing_links,
        issues_created=int(stats["issues_created"]),
        links_created=int(stats["links_created"]),
        status=current.status,
        by_route=dict(stats["requests"]),
        link_phase_s=link_phase,
        busiest_issue=busiest,
        busiest_issue_links=busiest_links,
        estimate=dict(estimate) if isinstance(estimate, dict) else None,
        timing=timing,
        phases=dict(getattr(current, "phases", None) or {}),
    )


# --------------------------------------------------------------------------- runs


@dataclass
class Summary:
    """`runs` exports of one site at one latency, against the seeds' sequential design."""

    site: Site
    latency_ms: float
    results: list[Result]

    @property
    def first(self) -> Result:
        return self.results[0]

    @property
    def wall_s(self) -> float:
        return statistics.median(r.wall_s for r in self.results)

    @property
    def baseline_s(self) -> float:
        """The seeds' design for the same tickets: 1.5 s per ticket + one request per link."""
        first = self.first
        return first.tickets * SEED_SECONDS_PER_TICKET + first.dependencies * (
            self.latency_ms / 1000
        )

    @property
    def speedup(self) -> float:
        return self.baseline_s / self.wall_s

    @property
    def duplicates(self) -> int:
        return max(r.duplicates for r in self.results)

    @property
    def missing(self) -> int:
        return max(r.missing for r in self.results)

    @property
    def missing_links(self) -> int:
        return max(r.missing_links for r in self.results)

    @property
    def all_completed(self) -> bool:
        return all(r.status == "completed" for r in self.results)

    @property
    def floor(self) -> LinkFloor:
        first = self.first
        return link_phase_floor(
            first.dependencies, first.busiest_issue_links, self.latency_ms / 1000
        )

    @property
    def link_phase_s(self) -> float | None:
        phases = [r.link_phase_s for r in self.results if r.link_phase_s is not None]
        return statistics.median(phases) if phases else None

    @property
    def link_ratio(self) -> float | None:
        phase, floor = self.link_phase_s, self.floor.seconds
        return None if phase is None or floor <= 0 else phase / floor

    @property
    def eta_error(self) -> float | None:
        """The worst run's ETA error (%), None when an export recorded no estimate."""
        errors = [r.eta_error for r in self.results]
        if any(e is None for e in errors):
            return None
        return max((e for e in errors if e is not None), key=abs)

    @property
    def goals(self) -> dict[str, bool]:
        ratio, eta = self.link_ratio, self.eta_error
        return {
            "completed": self.all_completed,
            "speed-up": self.speedup >= self.site.goal_speedup,
            "duplicates": self.duplicates == 0,
            "tickets without an issue": self.missing == 0,
            "missing links": self.missing_links == 0,
            "link phase vs floor": ratio is not None and ratio <= GOAL_LINK_FLOOR,
            "ETA": eta is not None and abs(eta) <= GOAL_ETA_ERROR,
        }

    @property
    def ok(self) -> bool:
        return all(self.goals.values())


def measure_runs(site: Site, latency_ms: float, runs: int) -> Summary:
    return Summary(site, latency_ms, [run_once(site, latency_ms) for _ in range(runs)])


def _eta_notes(summary: Summary) -> str:
    parts = []
    for r in summary.results:
        if r.estimate is None:
            parts.append("no estimate recorded")
            continue
        requests = r.estimate.get("requests") or {}
        parts.append(
            f"estimated {r.eta_s:.1f} s vs {r.wall_s:.1f} s; "
            f"{requests.get('total', '?')} requests estimated vs {r.requests}"
        )
    return "; ".join(parts)


def site_figures(summary: Summary) -> list[Figure]:
    """The figures of one site (NestWatch's keep their names of issue 4)."""
    site, runs, first = summary.site, summary.results, summary.first
    statuses = ", ".join(sorted({r.status for r in runs}))
    speed = compare(
        f"{site.name} export to the sandbox, {summary.latency_ms:g} ms per request, "
        "vs the seeds' sequential design",
        summary.wall_s,
        "s",
        summary.baseline_s,
        lower_is_better=True,
        min_ratio=site.goal_speedup,
        notes=f"{first.tickets} tickets, {first.dependencies} links; median of "
        f"{len(runs)} run(s): {', '.join(f'{r.wall_s:.2f}' for r in runs)} s; "
        f"{'/'.join(str(r.requests) for r in runs)} requests, "
        f"{'/'.join(str(r.rate_limited) for r in runs)} 429s; status {statuses}",
    )
    if not summary.all_completed:  # the time to a failure is no speed-up
        speed = replace(speed, met=False)
    floor = summary.floor
    phase = compare(
        f"{site.name} export: link phase vs its floor",
        summary.link_phase_s,
        "s",
        floor.seconds,
        max_value=GOAL_LINK_FLOOR * floor.seconds,
        goal=f"≤ {GOAL_LINK_FLOOR:g}{chr(0xD7)} the floor",
        notes=f"floor = max(burst {floor.burst_s:.1f} s, busiest issue "
        f"{first.busiest_issue} with {first.busiest_issue_links} links {floor.hub_s:.1f} s, "
        f"latency {floor.latency_s:.1f} s); runs: "
        + ", ".join("-" if r.link_phase_s is None else f"{r.link_phase_s:.2f}" for r in runs)
        + " s",
    )
    eta_error = summary.eta_error
    eta = compare(
        f"{site.name} export: ETA error vs the real wall time (worst run)",
        None if eta_error is None else abs(eta_error),
        "%",
        max_value=GOAL_ETA_ERROR,
        notes=_eta_notes(summary)
        if eta_error is not None
        else "not available: the export recorded no estimate",
    )
    return [
        speed,
        compare(
            f"{site.name} export: duplicate issues (worst run)",
            summary.duplicates,
            max_value=0,
            goal="0",
        ),
        compare(
            f"{site.name} export: tickets without an issue (worst run)",
            summary.missing,
            max_value=0,
            goal="0",
            notes="" if summary.all_completed else f"export status: {statuses}",
        ),
        compare(
            f"{site.name} export: dependencies without their Blocks link (worst run)",
            summary.missing_links,
            max_value=0,
            goal="0",
            notes=f"{first.links_created} links created in the first run",
        ),
        phase,
        eta,
    ]


def results(quick: bool = False) -> list[Figure]:
    """For `bench/run`: both sites, 50 ms per request, median of 3 exports (quick: 1)."""
    figures: list[Figure] = []
    for site in SITES.values():
        figures += site_figures(measure_runs(site, LATENCY_MS, 1 if quick else 3))
    return figures


# --------------------------------------------------------------------------- the table


def _runs(summary: Summary, cell: Callable[[Result], str]) -> str:
    return ", ".join(cell(r) for r in summary.results)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _eta_cell(r: Result) -> str:
    if r.estimate is None or r.eta_error is None:
        return "not available"
    return f"{r.eta_s:.1f} s vs {r.wall_s:.1f} s ({r.eta_error:+.0f}%)"


def table_rows(summaries: list[Summary]) -> list[tuple[str, list[str]]]:
    def row(name: str, cell: Callable[[Summary], str]) -> tuple[str, list[str]]:
        return name, [cell(s) for s in summaries]

    def floor_cell(s: Summary) -> str:
        f = s.floor
        return (
            f"{f.seconds:.1f} s ({f.binding}; burst {f.burst_s:.1f}, hub {f.hub_s:.1f}, "
            f"latency {f.latency_s:.1f})"
        )

    def ratio_cell(s: Summary) -> str:
        ratio = s.link_ratio
        return "-" if ratio is None else f"{ratio:.2f} (goal <= {GOAL_LINK_FLOOR:g})"

    return [
        row("tickets / dependencies", lambda s: f"{s.first.tickets} / {s.first.dependencies}"),
        row(
            "busiest issue (links)",
            lambda s: f"{s.first.busiest_issue} ({s.first.busiest_issue_links})",
        ),
        row("runs", lambda s: str(len(s.results))),
        row("export status", lambda s: _runs(s, lambda r: r.status)),
        row("wall time, request -> completed", lambda s: _runs(s, lambda r: _seconds(r.wall_s))),
        row(
            "link phase (first link -> last answer)",
            lambda s: _runs(s, lambda r: _seconds(r.link_phase_s)),
        ),
        row(
            "export's own phase timings (first run)",
            lambda s: ", ".join(f"{k} {v:.2f}" for k, v in s.first.phases.items()) or "-",
        ),
        row("link phase floor", floor_cell),
        row("link phase / floor (median)", ratio_cell),
        row("requests to Jira", lambda s: _runs(s, lambda r: str(r.requests))),
        row("429 answers", lambda s: _runs(s, lambda r: str(r.rate_limited))),
        row(
            "issues created / links created",
            lambda s: _runs(s, lambda r: f"{r.issues_created} / {r.links_created}"),
        ),
        row("duplicates (issues per mark > 1)", lambda s: _runs(s, lambda r: str(r.duplicates))),
        row("tickets without an issue", lambda s: _runs(s, lambda r: str(r.missing))),
        row(
            "dependencies without a Blocks link", lambda s: _runs(s, lambda r: str(r.missing_links))
        ),
        row(
            "seeds' sequential design",
            lambda s: (
                f"{s.first.tickets} x {SEED_SECONDS_PER_TICKET} s + {s.first.dependencies}"
                f" x {s.latency_ms / 1000:g} s = {s.baseline_s:.1f} s"
            ),
        ),
        row(
            "speed-up (median wall)",
            lambda s: f"{s.speedup:.1f}x (goal >= {s.site.goal_speedup:g}x)",
        ),
        row("ETA (estimate vs wall)", lambda s: _runs(s, _eta_cell)),
        row(
            "goals not met",
            lambda s: ", ".join(name for name, met in s.goals.items() if not met) or "none",
        ),
    ]


def print_table(summaries: list[Summary], latency_ms: float) -> None:
    rows = table_rows(summaries)
    header = ["measure", *(s.site.name for s in summaries)]
    widths = [
        max(len(header[i]), *(len(r[0]) if i == 0 else len(r[1][i - 1]) for r in rows))
        for i in range(len(header))
    ]
    print(
        f"sandbox: {latency_ms:g} ms per request; limits 100 req/s per method (burst 100), "
        "per issue 20 writes/2 s and 100/30 s"
    )
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for name, cells in rows:
        print(" | ".join(c.ljust(w) for c, w in zip([name, *cells], widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--site", choices=[*SITES, "all"], default="all")
    parser.add_argument("--latency", type=float, default=LATENCY_MS, help="ms per sandbox request")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--routes", action="store_true", help="also print requests per route")
    args = parser.parse_args(argv)

    sites = list(SITES.values()) if args.site == "all" else [SITES[args.site]]
    summaries = [measure_runs(site, args.latency, args.runs) for site in sites]
    print_table(summaries, args.latency)
    if args.routes:
        for summary in summaries:
            print(f"\n{summary.site.name}, first run:")
            for route, count in sorted(summary.first.by_route.items(), key=lambda kv: -kv[1]):
                print(f"{count:6d}  {route}")
    ok = all(s.ok for s in summaries)
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
