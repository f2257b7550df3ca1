"""`GET /_sandbox/stats` says when each route was first and last used (the bench reads
the link phase from it); the counters it had are unchanged."""

from __future__ import annotations

from infrastructure.jira_sandbox.stats import SandboxStats

LINK = "POST /rest/api/3/issueLink"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_first_and_last_request_and_last_response_per_route() -> None:
    clock = Clock()
    stats = SandboxStats(clock)
    stats.request(LINK)
    clock.now = 100.5
    stats.request(LINK)
    stats.request("GET /rest/api/3/myself")
    clock.now = 101.0
    stats.response(LINK, 201)
    clock.now = 102.0
    stats.response(LINK, 429)
    snapshot = stats.snapshot()
    assert snapshot["timing"][LINK] == {
        "first_request": 100.0,
        "last_request": 100.5,
        "last_response": 102.0,
    }
    assert snapshot["timing"]["GET /rest/api/3/myself"] == {
        "first_request": 100.5,
        "last_request": 100.5,
        "last_response": None,
    }
    assert snapshot["clock"] == "monotonic"
    assert snapshot["requests"] == {LINK: 2, "GET /rest/api/3/myself": 1}
    assert snapshot["responses"] == {LINK: {"201": 1, "429": 1}}
    assert snapshot["total_requests"] == 3


def test_clear_forgets_the_times() -> None:
    stats = SandboxStats(Clock())
    stats.request(LINK)
    stats.clear()
    assert stats.snapshot()["timing"] == {}
