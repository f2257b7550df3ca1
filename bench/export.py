"""Export wall time of NestWatch (235 tickets, 269 dependencies) to the Jira sandbox.

The sandbox runs as `ticketforge jira-sandbox` in a process of its own (Jira is
another machine), with Jira Cloud's published limits (its default `LimitConfig`,
checked at start: a token bucket of 100 requests/s per HTTP method with a burst of
100, and per issue 20 writes in 2 s and 100 in 30 s; 429 with `Retry-After` beyond
them), answering every request `--latency` ms late. The export runs as in
production: the real worker, task queue, event store (SQLite in a temporary
directory; PERSISTENCE_MODULE=postgres and POSTGRES_* in the environment for
PostgreSQL) and Jira client.

Measured from the export request to `ExportCompleted`: wall time, the requests the
sandbox saw, its 429s, and duplicates (issues per ticket mark, by JQL). The baseline
is the seeds' sequential design for the same tickets: 1.5 s per ticket plus one
request per link at the same latency. Goal: >= 50x faster, 0 duplicates.

    .venv/bin/python -m bench.export [--latency 50] [--runs 1]
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from application.users import User
from bench.report import Figure, compare
from domain.export import export_label
from infrastructure.jira import JiraClient
from interfaces.bootstrap import Container, bootstrap
from interfaces.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "nestwatch" / "inventory"
EMAIL, TOKEN = "demo@example.com", "demo-token"
SEED_SECONDS_PER_TICKET = 1.5
GOAL_SPEEDUP = 50.0
USER = User("bench")


@dataclass
class Result:
    tickets: int
    dependencies: int
    wall_s: float
    requests: int
    rate_limited: int
    duplicates: int
    missing: int
    issues_created: int
    links_created: int
    status: str
    by_route: dict[str, int]


def check_limits(limits: dict[str, Any]) -> None:
    """The sandbox's defaults must be Jira Cloud's limits, or the comparison means nothing."""
    assert limits["enabled"] is True, limits
    assert limits["requests_per_second"] == 100.0 and limits["burst"] == 100, limits
    windows = [tuple(w) for w in limits["issue_write_windows"]]
    assert windows == [(20, 2.0), (100, 30.0)], limits
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


def ready_session(container: Container) -> UUID:
    files = [UploadedFile(p.name, p.read_bytes()) for p in sorted(SAMPLE.glob("*.csv"))]
    app = container.app
    sid = app.create_session(
        name="bench export",
        site={"site_name": "NestWatch"},
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


def count_by_mark(base_url: str, ticket_ids: list[UUID]) -> Counter[UUID]:
    wanted = {export_label(t): t for t in ticket_ids}
    counts: Counter[UUID] = Counter({t: 0 for t in ticket_ids})
    labels = sorted(wanted)
    with JiraClient(base_url, EMAIL, TOKEN) as jira:
        for start in range(0, len(labels), 40):
            chunk = ", ".join(f'"{label}"' for label in labels[start : start + 40])
            for issue in jira.search(f"project = DEMO AND labels in ({chunk})", ("labels",), 100):
                for label in issue.labels:
                    if label in wanted:
                        counts[wanted[label]] += 1
    return counts


def run_once(latency_ms: float) -> Result:
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
                return measure(container, base_url)
            finally:
                container.close()


def measure(container: Container, base_url: str) -> Result:
    sid = ready_session(container)
    container.start()
    with httpx.Client(base_url=base_url, timeout=10) as admin:
        admin.post("/_sandbox/reset").raise_for_status()  # count the export's requests only
        started = time.perf_counter()
        export, _, result = container.app.request_export(sid, USER)
        container.wrote(result.position)
        while True:
            current = container.app.load_export(export.id)
            if current.status in ("completed", "failed"):
                break
            time.sleep(0.01)
        wall = time.perf_counter() - started
        stats = admin.get("/_sandbox/stats").json()
    tickets = [UUID(str(p["ticket_id"])) for p in current.plan]
    counts = count_by_mark(base_url, tickets)
    return Result(
        tickets=len(tickets),
        dependencies=sum(len(p["depends_on"]) for p in current.plan),
        wall_s=wall,
        requests=int(stats["total_requests"]),
        rate_limited=int(stats["statuses"].get("429", 0)),
        duplicates=sum(n - 1 for n in counts.values() if n > 1),
        missing=sum(1 for n in counts.values() if n == 0),
        issues_created=int(stats["issues_created"]),
        links_created=int(stats["links_created"]),
        status=current.status,
        by_route=dict(stats["requests"]),
    )


@dataclass
class Summary:
    """`runs` exports at one latency, against the seeds' sequential design."""

    latency_ms: float
    results: list[Result]

    @property
    def wall_s(self) -> float:
        return statistics.median(r.wall_s for r in self.results)

    @property
    def baseline_s(self) -> float:
        """The seeds' design for the same tickets: 1.5 s per ticket + one request per link."""
        first = self.results[0]
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
    def all_completed(self) -> bool:
        return all(r.status == "completed" for r in self.results)

    @property
    def ok(self) -> bool:
        return (
            self.all_completed
            and self.duplicates == 0
            and self.missing == 0
            and self.speedup >= GOAL_SPEEDUP
        )


def measure_runs(latency_ms: float, runs: int) -> Summary:
    return Summary(latency_ms, [run_once(latency_ms) for _ in range(runs)])


def results(quick: bool = False) -> list[Figure]:
    """For `bench/run`: 50 ms per request, median of 3 exports (quick: 1)."""
    summary = measure_runs(50.0, 1 if quick else 3)
    first = summary.results[0]
    runs = summary.results
    statuses = ", ".join(sorted({r.status for r in runs}))
    speed = compare(
        f"NestWatch export to the sandbox, {summary.latency_ms:g} ms per request, "
        "vs the seeds' sequential design",
        summary.wall_s,
        "s",
        summary.baseline_s,
        lower_is_better=True,
        min_ratio=GOAL_SPEEDUP,
        notes=f"{first.tickets} tickets, {first.dependencies} links; median of "
        f"{len(runs)} run(s): {', '.join(f'{r.wall_s:.2f}' for r in runs)} s; "
        f"{'/'.join(str(r.requests) for r in runs)} requests, "
        f"{'/'.join(str(r.rate_limited) for r in runs)} 429s; status {statuses}",
    )
    if not summary.all_completed:  # the time to a failure is no speed-up
        speed = replace(speed, met=False)
    return [
        speed,
        compare(
            "NestWatch export: duplicate issues (worst run)",
            summary.duplicates,
            max_value=0,
            goal="0",
        ),
        compare(
            "NestWatch export: tickets without an issue (worst run)",
            summary.missing,
            max_value=0,
            goal="0",
            notes="" if summary.all_completed else f"export status: {statuses}",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=50.0, help="ms per sandbox request")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--routes", action="store_true", help="also print requests per route")
    args = parser.parse_args(argv)

    summary = measure_runs(args.latency, args.runs)
    results = summary.results
    first = results[0]
    rows = [
        ("tickets / dependencies", f"{first.tickets} / {first.dependencies}"),
        ("sandbox latency per request", f"{args.latency:g} ms"),
        ("limits", "100 req/s per method (burst 100); per issue 20 writes/2 s, 100/30 s"),
        ("runs", str(len(results))),
        ("export status", ", ".join(r.status for r in results)),
        ("wall time, request -> completed", ", ".join(f"{r.wall_s:.2f} s" for r in results)),
        ("requests to Jira", ", ".join(str(r.requests) for r in results)),
        ("429 answers", ", ".join(str(r.rate_limited) for r in results)),
        ("issues created / links created", f"{first.issues_created} / {first.links_created}"),
        ("duplicates (issues per mark > 1)", ", ".join(str(r.duplicates) for r in results)),
        ("tickets without an issue", ", ".join(str(r.missing) for r in results)),
        (
            "seeds' sequential design",
            f"{first.tickets} x {SEED_SECONDS_PER_TICKET} s + {first.dependencies} x "
            f"{args.latency / 1000:g} s = {summary.baseline_s:.1f} s",
        ),
        ("speed-up (median wall)", f"{summary.speedup:.1f}x (goal >= {GOAL_SPEEDUP:g}x)"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)} | value")
    print(f"{'-' * width}-+-{'-' * 40}")
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")
    if args.routes:
        print()
        for route, count in sorted(first.by_route.items(), key=lambda kv: -kv[1]):
            print(f"{count:6d}  {route}")
    print("RESULT:", "PASS" if summary.ok else "FAIL")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
