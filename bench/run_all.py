"""Every benchmark of the earlier issues, one table: `bench/run [--quick] [--only NAME...]`.

Runs each bench module's `results(quick)` in turn (a failure becomes a row naming the
error; the others still run), prints one Markdown table to stdout (the modules'
progress goes to stderr) and writes the figures as JSON with the machine's details.

    bench/run                        # the issues' parameters (a long run)
    bench/run --quick                # smaller parameters, a few minutes
    bench/run --only adf export --json /tmp/bench.json
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.report import (
    ROOT,
    TIMES,
    Figure,
    machine_info,
    markdown_table,
    placeholder,
    report_json,
    summary,
    write_json,
)

DEFAULT_JSON = ROOT / "bench" / "results.json"


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    issue: int
    goal: str  # shown on the benchmark's row when it fails or does not run
    measures: str


BENCHMARKS = [
    Benchmark("adf", "bench.adf", 2, "", "Markdown -> ADF; our validation vs stock jsonschema"),
    Benchmark(
        "generation",
        "bench.generation",
        3,
        f"speed-up ≥ 0.8 {TIMES} concurrency",
        "LLM drafting at concurrency c vs 1",
    ),
    Benchmark(
        "export",
        "bench.export",
        13,
        f"hub-heavy site ≥ 60{TIMES}, NestWatch ≥ 90{TIMES} the seeds' design; 0 duplicates, "
        f"0 missing links; link phase ≤ 1.5{TIMES} its floor; ETA within 25%",
        "NestWatch and a hub-heavy university site to the sandbox vs the seeds' design",
    ),
    Benchmark(
        "projections",
        "bench.projections",
        5,
        f"rebuild ≥ 20{TIMES} and ≥ 20,000 ev/s; command p99 < 50 ms",
        "rebuild vs the library's per-event runner, command latency, projection lag",
    ),
    Benchmark(
        "progress",
        "bench.progress",
        6,
        "SSE p99 < 50 ms (1 and 200 clients)",
        "event stored -> SSE client received, during an export",
    ),
    Benchmark(
        "scaleout",
        "bench.scaleout",
        7,
        "",
        "exports of 1, 5, 20 sessions at once, 3 workers vs 1",
    ),
    Benchmark(
        "backup",
        "bench.backup",
        19,
        "≥ 50,000 events/s each way; a file no larger than the events table",
        "backup and restore of 1,000,000 events on SQLite and PostgreSQL vs the library's log",
    ),
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_benchmark(bench: Benchmark, quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """The benchmark's figures, or one row saying why there are none."""
    started = time.perf_counter()
    status, error = "measured", None
    try:
        try:
            module = importlib.import_module(bench.module)
        except ModuleNotFoundError as exc:
            if exc.name != bench.module:
                raise
            module = None
        results: Callable[..., Any] | None = getattr(module, "results", None)
        if results is None:
            status = "not run"
            error = f"{bench.module} has no results() yet" if module else f"no {bench.module} yet"
            figures = [placeholder(bench.name, "not run", error, bench.goal, bench.measures)]
        else:
            with redirect_stdout(sys.stderr):  # stdout is the table's
                figures = list(results(quick=quick))
            wrong = [f for f in figures if not isinstance(f, Figure)]
            if wrong or not figures:
                raise TypeError(f"results() returned {wrong[:1] or 'no figures'}, not Figures")
            figures = [f if f.benchmark else replace(f, benchmark=bench.name) for f in figures]
    except (Exception, SystemExit) as exc:  # the bench modules SystemExit on a failed setup
        traceback.print_exc(file=sys.stderr)
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        figures = [placeholder(bench.name, "failed", error, bench.goal, bench.measures)]
    run = {
        "name": bench.name,
        "module": bench.module,
        "issue": bench.issue,
        "measures": bench.measures,
        "status": status,
        "error": error,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return figures, run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    names = [b.name for b in BENCHMARKS]
    parser = argparse.ArgumentParser(
        prog="bench/run", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller parameters: the whole run in minutes"
    )
    parser.add_argument(
        "--only", nargs="+", choices=names, metavar="NAME", help=f"among: {', '.join(names)}"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help="where to write the figures (default: bench/results.json)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    selected = [b for b in BENCHMARKS if not args.only or b.name in args.only]
    machine = machine_info()
    figures: list[Figure] = []
    runs: list[dict[str, Any]] = []
    interrupted = False
    for bench in selected:
        log(f"== {bench.name} (issue {bench.issue}{', quick' if args.quick else ''}) ...")
        try:
            bench_figures, run = run_benchmark(bench, args.quick)
        except KeyboardInterrupt:
            interrupted = True
            figures.append(
                placeholder(bench.name, "failed", "interrupted", bench.goal, bench.measures)
            )
            runs.append({"name": bench.name, "status": "failed", "error": "interrupted"})
            break
        log(f"   {run['status']} in {run['seconds']:.1f} s")
        figures.extend(bench_figures)
        runs.append(run)

    mode = "quick" if args.quick else "full"
    print(
        f"Benchmarks ({mode}), {machine['date']}: {machine['cpu_count']} CPUs "
        f"({machine['cpu_model']}), Python {machine['python']}"
        + (f", commit {machine['git_commit'][:10]}" if machine["git_commit"] else "")
    )
    print()
    print(markdown_table(figures))
    print()
    print(summary(figures))
    options = {"quick": args.quick, "only": args.only, "argv": sys.argv[1:]}
    write_json(args.json, report_json(figures, machine, runs, options))
    log(f"JSON written to {args.json}")
    if interrupted:
        return 130
    return 1 if any(f.status == "failed" for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
