"""The benchmark report: ratios and goals, the Markdown table, the JSON, and `run_all`
turning a failing or missing benchmark into a row. No timing is asserted here."""

from __future__ import annotations

import json
import math
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import run_all
from bench.report import (
    DASH,
    Figure,
    compare,
    figure_json,
    format_number,
    machine_info,
    markdown_table,
    placeholder,
    ratio_of,
    report_json,
    summary,
    write_json,
)

X = "\N{MULTIPLICATION SIGN}"

# --- ratio and goal ---------------------------------------------------------------------


def test_ratio_reads_times_better_in_both_directions() -> None:
    assert ratio_of(10.0, 74.0, lower_is_better=True) == pytest.approx(7.4)  # wall time
    assert ratio_of(20_000.0, 500.0, lower_is_better=False) == pytest.approx(40.0)  # ev/s
    assert ratio_of(10.0, None, lower_is_better=True) is None
    assert ratio_of(None, 10.0, lower_is_better=True) is None
    assert ratio_of(0.0, 10.0, lower_is_better=True) is None  # no division by zero
    assert ratio_of(10.0, 0.0, lower_is_better=False) is None


def test_speedup_goal_met_and_missed() -> None:
    met = compare("c=8", 10.0, "s", 74.0, lower_is_better=True, min_ratio=6.4)
    assert met.ratio == pytest.approx(7.4)
    assert met.met is True
    assert met.goal == f"≥ 6.4{X}"
    missed = compare("c=8", 12.0, "s", 74.0, lower_is_better=True, min_ratio=6.4)
    assert missed.met is False


def test_every_threshold_must_hold() -> None:
    def rebuild(ours: float, library: float) -> Figure:
        return compare("rebuild", ours, "ev/s", library, min_ratio=20, min_value=20_000)

    assert rebuild(25_000, 1_000).met is True
    assert rebuild(25_000, 2_000).met is False  # 12.5x only
    assert rebuild(15_000, 500).met is False  # 30x, but under 20,000 ev/s
    assert rebuild(25_000, 1_000).goal == f"≥ 20{X} and ≥ 20,000 ev/s"


def test_below_is_strict_and_max_value_is_not() -> None:
    assert compare("p99", 49.9, "ms", below=50).met is True
    assert compare("p99", 50.0, "ms", below=50).met is False
    assert compare("p99", 50.0, "ms", below=50).goal == "< 50 ms"
    assert compare("duplicates", 0, max_value=0, goal="0").met is True
    assert compare("duplicates", 1, max_value=0, goal="0").met is False
    assert compare("duplicates", 1, max_value=0, goal="0").goal == "0"


def test_no_goal_means_met_is_none() -> None:
    figure = compare("convert", 800.0, "tickets/s")
    assert figure.met is None
    assert figure.goal == ""
    assert figure.ratio is None


def test_a_goal_that_cannot_be_checked_is_not_met() -> None:
    assert compare("c=8", 10.0, "s", None, lower_is_better=True, min_ratio=6.4).met is False
    assert compare("p99", None, "ms", below=50).met is False


# --- the table ----------------------------------------------------------------------------


def test_numbers_are_written_for_reading() -> None:
    assert format_number(None) == DASH
    assert format_number(0) == "0"
    assert format_number(50.0) == "50"
    assert format_number(20_000.0) == "20,000"
    assert format_number(12_345.6) == "12,346"
    assert format_number(365.9) == "366"
    assert format_number(74.48) == "74.5"
    assert format_number(7.354) == "7.35"
    assert format_number(0.98) == "0.98"
    assert format_number(math.inf) == "∞"


FIGURES = [
    compare("drafting, c=8 vs 1", 10.13, "s", 74.48, lower_is_better=True, min_ratio=6.4),
    compare("drafting, c=16 vs 1", 8.0, "s", 74.48, lower_is_better=True, min_ratio=12.8),
    compare("convert", 843.0, "tickets/s", notes="a | b"),
    placeholder("progress", "not run", "no bench.progress yet", "p99 < 50 ms", "SSE latency"),
    placeholder("export", "failed", "SystemExit: the sandbox did not start"),
]


def test_markdown_table_rows_and_cells() -> None:
    table = markdown_table(FIGURES)
    lines = table.splitlines()
    assert len(lines) == 2 + len(FIGURES)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["benchmark", "figure", "ours", "baseline", "ratio", "goal", "met", "notes"]
    assert set(lines[1]) <= {"|", "-", ":"}
    assert lines[1].count(":") == 3  # ours, baseline and ratio right-aligned
    assert len({len(line) for line in lines}) == 1  # padded: reads as plain text too

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.replace("\\|", "¦").strip("|").split("|")]

    c8, c16, convert, progress, export = (cells(line) for line in lines[2:])
    assert c8[2:7] == ["10.1 s", "74.5 s", f"7.35{X}", f"≥ 6.4{X}", "yes"]
    assert c16[6] == "**no**"
    assert convert[2:7] == ["843 tickets/s", DASH, DASH, DASH, DASH]  # None shown as —
    assert convert[7] == "a ¦ b"  # the pipe escaped, not a new column
    assert progress[1:8] == [
        "SSE latency", "not run", DASH, DASH, "p99 < 50 ms", DASH, "no bench.progress yet",
    ]  # fmt: skip
    assert export[2] == "failed"
    assert export[6] == "**no**"


def test_summary_counts_goals_failures_and_not_run() -> None:
    text = summary(FIGURES)
    assert text.startswith("3 figures: 1 goals met, 1 not met, 1 without a goal")
    assert "(not met: drafting, c=16 vs 1)" in text
    assert "Failed: export" in text
    assert "Not run: progress" in text


# --- JSON -----------------------------------------------------------------------------------


def test_json_has_every_field_machine_info_and_no_nan(tmp_path: Path) -> None:
    figures = [*FIGURES, compare("instant", 0.0, "s", 5.0, lower_is_better=True)]
    figures.append(Figure("odd", math.inf, "x", ratio=math.nan))
    machine = machine_info(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert machine["date"] == "2025-01-02T03:04:05+00:00"
    assert machine["cpu_count"] >= 1
    assert machine["python"].count(".") == 2
    path = tmp_path / "out" / "results.json"
    write_json(path, report_json(figures, machine, [{"name": "adf"}], {"quick": True}))
    data = json.loads(path.read_text())
    assert data["machine"] == machine
    assert data["options"] == {"quick": True}
    assert data["benchmarks"] == [{"name": "adf"}]
    first = data["figures"][0]
    assert set(first) == {
        "name", "value", "unit", "baseline", "ratio", "goal", "met", "notes", "benchmark",
        "status",
    }  # fmt: skip
    assert first["baseline"] == 74.48 and first["met"] is True
    assert data["figures"][2]["baseline"] is None  # JSON null, not "—"
    assert data["figures"][-2]["ratio"] is None
    assert figure_json(figures[-1])["value"] == "inf"
    assert data["summary"] == summary(figures)


# --- run_all ------------------------------------------------------------------------------


@pytest.fixture
def fake_benchmarks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def good(quick: bool = False) -> list[Figure]:
        print("progress that must not reach the table")
        return [compare(f"good quick={quick}", 2.0, "s", 4.0, lower_is_better=True, min_ratio=2)]

    def broken(quick: bool = False) -> list[Figure]:
        raise SystemExit("the sandbox did not start")

    modules = {
        "bench.fake_good": types.ModuleType("bench.fake_good"),
        "bench.fake_broken": types.ModuleType("bench.fake_broken"),
        "bench.fake_unfinished": types.ModuleType("bench.fake_unfinished"),  # no results()
    }
    modules["bench.fake_good"].results = good  # type: ignore[attr-defined]
    modules["bench.fake_broken"].results = broken  # type: ignore[attr-defined]
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(
        run_all,
        "BENCHMARKS",
        [
            run_all.Benchmark("good", "bench.fake_good", 1, "", "good one"),
            run_all.Benchmark("broken", "bench.fake_broken", 2, "goal b", "broken one"),
            run_all.Benchmark("unfinished", "bench.fake_unfinished", 3, "goal u", "unfinished"),
            run_all.Benchmark("absent", "bench.fake_absent_module", 4, "goal a", "absent one"),
        ],
    )
    yield


@pytest.mark.usefixtures("fake_benchmarks")
def test_run_all_reports_failures_and_missing_benchmarks_as_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code = run_all.main(["--quick", "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 1  # one benchmark failed; the others still ran
    assert "progress that must not reach the table" not in captured.out
    assert "progress that must not reach the table" in captured.err
    assert "SystemExit: the sandbox did not start" in captured.out
    data = json.loads(out.read_text())
    rows = {f["benchmark"]: f for f in data["figures"]}
    assert rows["good"]["name"] == "good quick=True"
    assert rows["good"]["ratio"] == 2.0 and rows["good"]["met"] is True
    assert rows["broken"]["status"] == "failed" and rows["broken"]["goal"] == "goal b"
    assert rows["unfinished"]["status"] == "not run"
    assert "has no results() yet" in rows["unfinished"]["notes"]
    assert rows["absent"]["status"] == "not run"
    assert [b["status"] for b in data["benchmarks"]] == ["measured", "failed", "not run", "not run"]
    assert data["options"]["quick"] is True
    assert {"cpu_count", "python", "date"} <= set(data["machine"])


@pytest.mark.usefixtures("fake_benchmarks")
def test_run_all_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert run_all.main(["--only", "good", "unfinished", "--json", str(out)]) == 0
    names = [f["benchmark"] for f in json.loads(out.read_text())["figures"]]
    assert names == ["good", "unfinished"]
    assert "good quick=False" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        run_all.main(["--only", "nonsense"])


def test_every_registered_benchmark_names_a_bench_module() -> None:
    names = [b.name for b in run_all.BENCHMARKS]
    assert len(names) == len(set(names))
    assert all(b.module == f"bench.{b.name}" for b in run_all.BENCHMARKS)
