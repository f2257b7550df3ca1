"""The benchmark report: one row per figure, ours against a baseline measured in the same run.

Every bench module has `results(quick: bool = False) -> list[Figure]`; `bench/run`
(`python -m bench.run_all`) collects them, prints one Markdown table and writes JSON.

A figure's `ratio` always reads "times better than the baseline": baseline / ours
when lower is better (wall time, latency), ours / baseline when higher is better
(throughput). `compare()` computes it and `met` from the goal's thresholds.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Status = Literal["measured", "failed", "not run"]
DASH = "—"
TIMES = "\N{MULTIPLICATION SIGN}"
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Figure:
    """One row of the report. `value` and `baseline` share `unit`."""

    name: str
    value: float | None
    unit: str = ""
    baseline: float | None = None
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    notes: str = ""
    benchmark: str = ""  # the bench module's short name; `run_all` fills it in
    status: Status = "measured"


def ratio_of(value: float | None, baseline: float | None, *, lower_is_better: bool) -> float | None:
    """How many times better than the baseline; None when either side is missing or 0."""
    if value is None or baseline is None:
        return None
    numerator, denominator = (baseline, value) if lower_is_better else (value, baseline)
    if denominator == 0:
        return None
    return numerator / denominator


def compare(
    name: str,
    value: float | None,
    unit: str = "",
    baseline: float | None = None,
    *,
    lower_is_better: bool = False,
    min_ratio: float | None = None,
    min_value: float | None = None,
    max_value: float | None = None,
    below: float | None = None,
    goal: str | None = None,
    notes: str = "",
) -> Figure:
    """A measured figure: its ratio to the baseline and whether it meets every threshold.

    Thresholds: `min_ratio` (ratio >= x), `min_value` (value >= x), `max_value`
    (value <= x), `below` (value < x). No threshold: `met` is None (no goal). A
    threshold that cannot be checked (no value, or no ratio) is not met. The goal's
    text is written from the thresholds unless `goal` is given.
    """
    ratio = ratio_of(value, baseline, lower_is_better=lower_is_better)
    checks: list[bool] = []
    parts: list[str] = []
    if min_ratio is not None:
        checks.append(ratio is not None and ratio >= min_ratio)
        parts.append(f"≥ {format_threshold(min_ratio)}{TIMES}")
    if min_value is not None:
        checks.append(value is not None and value >= min_value)
        parts.append(f"≥ {format_threshold(min_value, unit)}")
    if max_value is not None:
        checks.append(value is not None and value <= max_value)
        parts.append(f"≤ {format_threshold(max_value, unit)}")
    if below is not None:
        checks.append(value is not None and value < below)
        parts.append(f"< {format_threshold(below, unit)}")
    return Figure(
        name=name,
        value=value,
        unit=unit,
        baseline=baseline,
        ratio=ratio,
        goal=goal if goal is not None else " and ".join(parts),
        met=all(checks) if checks else None,
        notes=notes,
    )


def placeholder(
    benchmark: str, status: Status, reason: str, goal: str = "", name: str = ""
) -> Figure:
    """The row of a benchmark that failed or did not run."""
    return Figure(
        name=name or benchmark,
        value=None,
        goal=goal,
        met=False if status == "failed" else None,
        notes=reason,
        benchmark=benchmark,
        status=status,
    )


# --- rendering -------------------------------------------------------------------------


def format_number(value: float | None) -> str:
    if value is None:
        return DASH
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == int(value):  # counts, and round thresholds such as 50 or 20,000
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_threshold(value: float, unit: str = "") -> str:
    """A goal's number as written: 6.4, 50, 20,000."""
    text = f"{value:,g}"
    return f"{text} {unit}" if unit else text


def with_unit(value: float | None, unit: str) -> str:
    text = format_number(value)
    return text if value is None or not unit else f"{text} {unit}"


def _cells(figure: Figure) -> list[str]:
    ours = with_unit(figure.value, figure.unit) if figure.status == "measured" else figure.status
    met = {True: "yes", False: "**no**", None: DASH}[figure.met]
    return [
        figure.benchmark or DASH,
        figure.name,
        ours,
        with_unit(figure.baseline, figure.unit),
        DASH if figure.ratio is None else f"{format_number(figure.ratio)}{TIMES}",
        figure.goal or DASH,
        met,
        figure.notes or "",
    ]


HEADER = ["benchmark", "figure", "ours", "baseline", "ratio", "goal", "met", "notes"]
RIGHT = {2, 3, 4}  # numeric columns


def _escape(cell: str) -> str:
    return " ".join(cell.replace("|", "\\|").split())


def markdown_table(figures: list[Figure]) -> str:
    """A GitHub Markdown table, its columns padded so it also reads as plain text."""
    rows = [HEADER, *([_escape(c) for c in _cells(f)] for f in figures)]
    widths = [max(3, *(len(row[i]) for row in rows)) for i in range(len(HEADER))]

    def line(row: list[str]) -> str:
        cells = [
            cell.rjust(width) if i in RIGHT else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "| " + " | ".join(cells) + " |"

    dashes = ["-" * (w + 1) + ":" if i in RIGHT else "-" * (w + 2) for i, w in enumerate(widths)]
    rule = "|" + "|".join(dashes) + "|"
    return "\n".join([line(rows[0]), rule, *(line(r) for r in rows[1:])])


def summary(figures: list[Figure]) -> str:
    measured = [f for f in figures if f.status == "measured"]
    met = sum(1 for f in measured if f.met is True)
    missed = [f.name for f in measured if f.met is False]
    no_goal = sum(1 for f in measured if f.met is None)
    failed = sorted({f.benchmark for f in figures if f.status == "failed"})
    not_run = sorted({f.benchmark for f in figures if f.status == "not run"})
    text = (
        f"{len(measured)} figures: {met} goals met, {len(missed)} not met, {no_goal} without a goal"
    )
    if missed:
        text += " (not met: " + "; ".join(missed) + ")"
    if failed:
        text += f". Failed: {', '.join(failed)}"
    if not_run:
        text += f". Not run: {', '.join(not_run)}"
    return text + "."


# --- JSON ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # read-only
            cwd=ROOT, capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_info(now: datetime | None = None) -> dict[str, Any]:
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "date": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(affinity(0)) if affinity else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
    }


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def figure_json(figure: Figure) -> dict[str, Any]:
    return {key: _finite(value) for key, value in asdict(figure).items()}


def report_json(
    figures: list[Figure],
    machine: dict[str, Any],
    runs: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "machine": machine,
        "options": options or {},
        "benchmarks": runs or [],
        "figures": [figure_json(f) for f in figures],
        "summary": summary(figures),
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
