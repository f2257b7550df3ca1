"""/readyz's checks answer within their own timeout, and a hanging check runs once."""

from __future__ import annotations

import threading

import pytest

from interfaces.api.health import bounded


class Probe:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def hang(self) -> int:
        self.calls += 1
        self.release.wait(10)
        return 7

    def fail(self) -> int:
        raise ConnectionError("database is away")


def test_a_hanging_check_times_out_and_is_not_started_twice() -> None:
    probe = Probe()
    with pytest.raises(TimeoutError, match=r"no answer within 0\.05 s"):
        bounded(probe.hang, timeout_s=0.05)
    with pytest.raises(TimeoutError):
        bounded(probe.hang, timeout_s=0.05)
    assert probe.calls == 1  # the second probe waited on the first run
    probe.release.set()
    # the running one's answer, or a fresh run's if it has just ended
    assert bounded(probe.hang, timeout_s=5) == 7


def test_a_failing_check_raises_its_error() -> None:
    with pytest.raises(ConnectionError, match="database is away"):
        bounded(Probe().fail, timeout_s=5)


def test_checks_of_different_owners_do_not_share_a_run() -> None:
    first, second = Probe(), Probe()
    second.release.set()
    with pytest.raises(TimeoutError):
        bounded(first.hang, timeout_s=0.05)
    assert bounded(second.hang, timeout_s=5) == 7
    first.release.set()
