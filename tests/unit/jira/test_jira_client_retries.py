"""The client's retry rules, against a scripted Jira (httpx.MockTransport) and a fake clock.

The integration tests drive the real sandbox; this covers answers the sandbox
has no fault for (a 503 on a read, a 429 with only `X-RateLimit-Reset`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from infrastructure.jira import (
    JiraClient,
    JiraOutcomeUnknown,
    JiraUnavailable,
    NewIssue,
    RateLimitConfig,
    RetryPolicy,
)

ME = {"accountId": "a-1", "displayName": "Demo", "emailAddress": "demo@example.com", "active": True}
CREATED = {"id": "10000", "key": "DEMO-1", "self": "http://jira/rest/api/3/issue/10000"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Answer = httpx.Response | Exception


def scripted(*answers: Answer) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """Jira answering with `answers` in turn; the requests it saw are kept."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Callable[..., JiraClient]:
    def make(transport: httpx.MockTransport) -> JiraClient:
        return JiraClient(
            "http://jira",
            "demo@example.com",
            "token",
            transport=transport,
            clock=clock,
            rate_limits=RateLimitConfig(enabled=False),
            retry=RetryPolicy(max_attempts=4, initial_backoff=0.5, max_backoff=8, jitter=0),
        )

    return make


def test_a_503_on_a_read_honours_retry_after(
    client: Callable[..., JiraClient], clock: FakeClock
) -> None:
    transport, seen = scripted(
        httpx.Response(503, headers={"Retry-After": "7"}), httpx.Response(200, json=ME)
    )
    assert client(transport).myself().email == "demo@example.com"
    assert (len(seen), clock.sleeps) == (2, [7.0])


def test_a_429_with_only_a_reset_time_waits_until_then(
    client: Callable[..., JiraClient], clock: FakeClock
) -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    transport, _ = scripted(
        httpx.Response(429, headers={"X-RateLimit-Reset": reset}), httpx.Response(200, json=ME)
    )
    client(transport).myself()
    (waited,) = clock.sleeps
    assert 28 < waited <= 30


def test_without_a_hint_backoff_is_exponential(
    client: Callable[..., JiraClient], clock: FakeClock
) -> None:
    transport, seen = scripted(
        httpx.Response(500), httpx.Response(502), httpx.Response(504), httpx.Response(200, json=ME)
    )
    client(transport).myself()
    assert (len(seen), clock.sleeps) == (4, [0.5, 1.0, 2.0])


def test_reads_stop_after_the_allowed_attempts(
    client: Callable[..., JiraClient], clock: FakeClock
) -> None:
    transport, seen = scripted(*[httpx.ReadTimeout("slow")] * 4)
    with pytest.raises(JiraUnavailable):
        client(transport).myself()
    assert len(seen) == 4


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, headers={"Retry-After": "1"}),
        httpx.Response(500),
        httpx.ReadTimeout("slow"),
    ],
)
def test_a_create_is_never_resent_when_jira_may_have_acted(
    client: Callable[..., JiraClient], answer: Answer
) -> None:
    transport, seen = scripted(answer)
    with pytest.raises(JiraOutcomeUnknown):
        client(transport).create_issue(NewIssue("DEMO", "once"))
    assert len(seen) == 1


def test_a_create_is_resent_when_jira_certainly_did_nothing(
    client: Callable[..., JiraClient], clock: FakeClock
) -> None:
    transport, seen = scripted(
        httpx.ConnectError("refused"),
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(201, json=CREATED),
    )
    assert client(transport).create_issue(NewIssue("DEMO", "once")).key == "DEMO-1"
    assert len(seen) == 3
    assert clock.sleeps[1] == 2.0


def test_bearer_auth_and_json_accept(clock: FakeClock) -> None:
    transport, seen = scripted(httpx.Response(200, json=ME))
    with JiraClient(
        "http://jira/", bearer_token="secret", transport=transport, clock=clock
    ) as jira:
        jira.myself()
    assert seen[0].headers["Authorization"] == "Bearer secret"
    assert seen[0].headers["Accept"] == "application/json"
    assert str(seen[0].url) == "http://jira/rest/api/3/myself"
    with pytest.raises(ValueError):
        JiraClient("http://jira", email="only-an-email")
