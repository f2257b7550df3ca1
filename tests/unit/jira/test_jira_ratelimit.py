"""The client's pacing, on a fake clock: waits are exactly as long as Jira's limits need."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from infrastructure.jira.ratelimit import (
    IssueWriteWindows,
    RateLimitConfig,
    RateLimiter,
    TokenBucket,
    wait_hint,
)


class FakeClock:
    """Time moves only when someone sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(clock: FakeClock, **config: object) -> RateLimiter:
    return RateLimiter(RateLimitConfig(**{"safety_margin": 0.0} | config), clock)  # type: ignore[arg-type]


def test_burst_goes_out_at_once_then_requests_are_paced_at_the_rate() -> None:
    clock = FakeClock()
    pacing = limiter(clock, requests_per_second=10, burst=5)
    waits = [pacing.acquire("POST") for _ in range(8)]
    assert waits[:5] == [0, 0, 0, 0, 0]
    assert waits[5:] == pytest.approx([0.1, 0.1, 0.1])
    assert clock.now == pytest.approx(0.3)


def test_the_bucket_refills_while_idle_but_not_beyond_its_size() -> None:
    clock = FakeClock()
    pacing = limiter(clock, requests_per_second=10, burst=3)
    for _ in range(3):
        pacing.acquire("POST")
    clock.now += 60
    assert [pacing.acquire("POST") for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_each_method_has_its_own_bucket() -> None:
    clock = FakeClock()
    pacing = limiter(clock, requests_per_second=1, burst=1)
    assert (pacing.acquire("POST"), pacing.acquire("GET")) == (0, 0)
    assert pacing.acquire("post") == pytest.approx(1.0)


def test_the_safety_margin_keeps_tokens_in_reserve() -> None:
    clock = FakeClock()
    pacing = RateLimiter(
        RateLimitConfig(requests_per_second=100, burst=100, safety_margin=0.05), clock
    )
    waits = [pacing.acquire("POST") for _ in range(96)]
    assert waits[:95] == [0] * 95
    assert waits[95] == pytest.approx(0.01)


def test_per_issue_windows_wait_exactly_until_a_write_fits() -> None:
    clock = FakeClock()
    pacing = limiter(clock, issue_write_windows=((3, 1.0), (5, 10.0)))
    sent = []
    for _ in range(7):
        pacing.acquire("POST", ["DEMO-1"])
        sent.append(clock.now)
    assert sent == pytest.approx([0, 0, 0, 1.0, 1.0, 10.0, 10.0])


def test_other_issues_are_not_held_back() -> None:
    clock = FakeClock()
    pacing = limiter(clock, issue_write_windows=((1, 5.0),))
    pacing.acquire("POST", ["DEMO-1"])
    assert pacing.acquire("POST", ["DEMO-2"]) == 0
    assert pacing.acquire("POST", ["DEMO-1"]) == pytest.approx(5.0)


def test_a_link_waits_for_both_of_its_issues() -> None:
    clock = FakeClock()
    pacing = limiter(clock, issue_write_windows=((1, 2.0),))
    pacing.acquire("POST", ["DEMO-1"])
    clock.now = 1.0
    pacing.acquire("POST", ["DEMO-2"])
    assert pacing.acquire("POST", ["DEMO-1", "DEMO-2"]) == pytest.approx(2.0)  # until DEMO-2 frees
    assert clock.now == pytest.approx(3.0)


def test_per_issue_margin_widens_the_windows() -> None:
    windows = IssueWriteWindows([(2, 1.0)], margin=0.25)
    assert [windows.reserve(["K"], 0.0) for _ in range(3)] == [0.0, 0.0, 1.25]


def test_a_429_pauses_everyone_on_that_method() -> None:
    clock = FakeClock()
    pacing = limiter(clock)
    pacing.pause("POST", 2.5)
    assert pacing.acquire("GET") == 0
    assert pacing.acquire("POST") == pytest.approx(2.5)
    assert pacing.acquire("POST") == 0


def test_disabled_pacing_never_waits() -> None:
    clock = FakeClock()
    pacing = limiter(clock, enabled=False, requests_per_second=1, burst=1)
    assert [pacing.acquire("POST", ["K"]) for _ in range(5)] == [0] * 5
    assert clock.sleeps == []


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
    with pytest.raises(ValueError):
        IssueWriteWindows([(0, 1.0)])


def test_threads_sharing_one_limiter_respect_the_windows() -> None:
    pacing = RateLimiter(RateLimitConfig(issue_write_windows=((4, 0.2),), safety_margin=0.0))
    sent: list[float] = []
    lock = threading.Lock()

    def write() -> None:
        for _ in range(3):
            pacing.acquire("POST", ["HOT-1"])
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.sort()
    assert len(sent) == 12
    # A thread can be descheduled between its grant and its timestamp, which makes the
    # recorded gap look shorter than the real one; unpaced, the 12 writes take ~0 s.
    tolerance = 0.06
    for i in range(len(sent) - 4):
        assert sent[i + 4] - sent[i] >= 0.2 - tolerance
    assert sent[-1] - sent[0] >= 0.4 - tolerance


NOW = datetime(2024, 1, 15, 10, 30, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "5"}, 5.0),
        ({"Retry-After": "0.25"}, 0.25),
        ({"Retry-After": "Mon, 15 Jan 2024 10:30:07 GMT"}, 7.0),
        ({"X-RateLimit-Reset": "2024-01-15T10:31Z"}, 60.0),
        ({"X-RateLimit-Reset": "2024-01-15T10:30:02.500Z"}, 2.5),
        ({"Retry-After": "3", "X-RateLimit-Reset": "2024-01-15T10:31Z"}, 3.0),
        ({"X-RateLimit-Reset": "2024-01-15T10:29Z"}, 0.0),
        ({"Retry-After": "-4"}, 0.0),
        ({"X-RateLimit-Reset": "soon"}, None),
        ({}, None),
    ],
)
def test_wait_hint_prefers_retry_after_then_the_reset_time(
    headers: dict[str, str], expected: float | None
) -> None:
    assert wait_hint(headers, NOW) == (pytest.approx(expected) if expected is not None else None)
