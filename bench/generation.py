"""Generation wall time against an OpenAI-compatible server with fixed latency per call.

Drafts NestWatch's 235 tickets through the real `openai` client and the real worker,
queue and event store, at several concurrencies; the speed-up is against concurrency 1
measured in the same run. Goal: speed-up >= 0.8 x concurrency.

    .venv/bin/python -m bench.generation [--latency 0.3] [--concurrency 1 4 8 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from application.users import User
from bench.report import Figure, compare
from infrastructure.llm.openai_stub import StubServer, StubState
from interfaces.bootstrap import bootstrap
from interfaces.settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "nestwatch" / "inventory"
GOAL_PER_WORKER = 0.8  # speed-up >= 0.8 x concurrency


def run_once(base_url: str, concurrency: int) -> tuple[float, int]:
    files = [UploadedFile(p.name, p.read_bytes()) for p in sorted(SAMPLE.glob("*.csv"))]
    user = User("bench")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            TICKETFORGE_DATA_DIR=tmp,
            OPENAI_BASE_URL=base_url,
            OPENAI_API_KEY="bench",
            OPENAI_MODEL="bench",
            TICKETFORGE_GENERATION_CONCURRENCY=concurrency,
        )
        container = bootstrap(settings, start=True)
        try:
            created = container.app.create_session(
                name="bench",
                site={"site_name": "NestWatch"},
                jira_project_key="NW",
                issue_type="Task",
                user=user,
            )
            sid = created.session_id
            container.app.upload_inventory(sid, parse_inventory(files), user)
            started = time.perf_counter()
            _, _, result = container.app.request_generation(sid, "openai:bench", user)
            container.wrote(result.position)
            while True:
                run = container.app.load_session(sid).generation
                if run is not None and run.status not in ("requested", "running"):
                    break
                time.sleep(0.02)
            elapsed = time.perf_counter() - started
            return elapsed, run.generated
        finally:
            container.close()


def measure(latency_s: float, concurrencies: list[int]) -> list[tuple[int, float, int]]:
    """(concurrency, wall seconds, tickets drafted) for each concurrency, one stub server."""
    with StubServer(StubState(latency_s=latency_s)) as stub:
        return [(c, *run_once(stub.base_url, c)) for c in concurrencies]


def baseline_wall(rows: list[tuple[int, float, int]]) -> float:
    """The wall time at concurrency 1 (else the first row's) in the same run."""
    return next((t for c, t, _ in rows if c == 1), rows[0][1])


def goal_speedup(concurrency: int) -> float:
    return GOAL_PER_WORKER * concurrency


def results(quick: bool = False) -> list[Figure]:
    """For `bench/run`: one figure per concurrency above 1, its wall time against
    concurrency 1's, at the issue's 300 ms per call (shorter calls would measure the
    per-ticket overhead instead). Quick: concurrency 1 and 8 only."""
    latency, concurrencies = 0.3, ([1, 8] if quick else [1, 4, 8, 16])
    rows = measure(latency, concurrencies)
    base = baseline_wall(rows)
    return [
        compare(
            f"NestWatch drafting, {latency * 1000:.0f} ms per LLM call, concurrency {c} vs 1",
            wall,
            "s",
            base,
            lower_is_better=True,
            min_ratio=goal_speedup(c),
            notes=f"{n} tickets drafted",
        )
        for c, wall, n in rows
        if c != 1
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    args = parser.parse_args()
    rows = measure(args.latency, args.concurrency)
    base = baseline_wall(rows)
    print(f"NestWatch generation, {args.latency * 1000:.0f} ms per LLM call")
    print(
        f"{'concurrency':>11} {'tickets':>8} {'wall s':>8} {'speed-up':>9} {'goal':>6} {'met':>4}"
    )
    for c, t, n in rows:
        speed_up = base / t
        goal = goal_speedup(c)
        print(
            f"{c:>11} {n:>8} {t:>8.2f} {speed_up:>8.2f}x {goal:>5.1f}x "
            f"{'yes' if speed_up >= goal else 'no':>4}"
        )


if __name__ == "__main__":
    main()
