"""The link phase's floor of `bench.export`: pure arithmetic, no sandbox."""

from __future__ import annotations

import pytest

from bench.export import link_phase_floor, per_issue_seconds


def test_per_issue_writes_go_in_windows_of_twenty_every_two_seconds() -> None:
    assert per_issue_seconds(0) == 0.0
    assert per_issue_seconds(1) == 0.0
    assert per_issue_seconds(20) == 0.0  # the first window holds 20
    assert per_issue_seconds(21) == 2.0
    assert per_issue_seconds(40) == 2.0
    assert per_issue_seconds(59) == 4.0  # a hub blocking 59 tickets


def test_per_issue_writes_beyond_a_hundred_wait_for_the_thirty_second_window() -> None:
    assert per_issue_seconds(100) == 8.0
    assert per_issue_seconds(101) == 30.0  # the 101st waits for the first to leave 30 s
    assert per_issue_seconds(121) == 32.0
    assert per_issue_seconds(10, windows=((2, 1.0),)) == 4.0


def test_the_floor_is_the_largest_of_burst_hub_and_latency() -> None:
    hubs = link_phase_floor(2000, 58, 0.05)
    assert hubs.burst_s == pytest.approx(20.0)
    assert hubs.hub_s == pytest.approx(4.0)
    assert hubs.latency_s == pytest.approx(12.5)
    assert (hubs.seconds, hubs.binding) == (pytest.approx(20.0), "burst")

    slow = link_phase_floor(269, 12, 0.5)
    assert (slow.seconds, slow.binding) == (pytest.approx(269 * 0.5 / 8), "latency")

    one_hub = link_phase_floor(150, 150, 0.0, threads=1)
    assert (one_hub.seconds, one_hub.binding) == (
        pytest.approx(34.0),
        "hub",
    )  # 100 by 8 s, 20 at 30, 32, 34


def test_no_links_no_floor() -> None:
    assert link_phase_floor(0, 0, 0.05).seconds == 0.0
