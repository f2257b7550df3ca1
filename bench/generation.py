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
from infrastructure.llm.openai_stub import StubServer, StubState
from interfaces.bootstrap import bootstrap
from interfaces.settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "nestwatch" / "inventory"


def run_once(base_url: str, concurrency: int) -> tuple[float, int]:
    files = [UploadedFile(p.name, p.read_bytes()) for p in sorted(SAMPLE.glob("*.csv"))]
    user = User("bench")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    args = parser.parse_args()
    with StubServer(StubState(latency_s=args.latency)) as stub:
        rows = [(c, *run_once(stub.base_url, c)) for c in args.concurrency]
    base = next((t for c, t, _ in rows if c == 1), rows[0][1])
    print(f"NestWatch generation, {args.latency * 1000:.0f} ms per LLM call")
    print(
        f"{'concurrency':>11} {'tickets':>8} {'wall s':>8} {'speed-up':>9} {'goal':>6} {'met':>4}"
    )
    for c, t, n in rows:
        speed_up = base / t
        goal = 0.8 * c
        print(
            f"{c:>11} {n:>8} {t:>8.2f} {speed_up:>8.2f}x {goal:>5.1f}x "
            f"{'yes' if speed_up >= goal else 'no':>4}"
        )


if __name__ == "__main__":
    main()
