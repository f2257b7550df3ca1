"""The sandbox's own rules without a server: its rate limits and its JQL subset."""

from __future__ import annotations

import pytest

from infrastructure.jira_sandbox.jql import Clause, JqlError, parse_date, parse_jql
from infrastructure.jira_sandbox.limits import (
    BURST_REASON,
    PER_ISSUE_REASON,
    LimitConfig,
    SandboxLimiter,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_limit_answers_429_with_the_wait_rounded_up_as_jira_does() -> None:
    clock = Clock()
    limits = SandboxLimiter(LimitConfig(requests_per_second=2, burst=2), clock)
    assert limits.check_burst("POST") is None
    assert limits.check_burst("POST") is None
    exceeded = limits.check_burst("POST")
    assert exceeded is not None
    assert (exceeded.reason, exceeded.limit, exceeded.retry_after) == (BURST_REASON, 2, 1.0)
    assert limits.check_burst("GET") is None
    clock.now += 0.5
    assert limits.check_burst("POST") is None


def test_per_issue_writes_slide_over_both_windows() -> None:
    clock = Clock()
    limits = SandboxLimiter(
        LimitConfig(issue_write_windows=((2, 1.0), (3, 10.0)), retry_after_seconds=None), clock
    )
    assert limits.check_issue_writes(["A-1"]) is None
    assert limits.check_issue_writes(["A-1"]) is None
    exceeded = limits.check_issue_writes(["A-1"])
    assert exceeded is not None and exceeded.reason == PER_ISSUE_REASON and exceeded.limit == 2
    assert limits.check_issue_writes(["A-2"]) is None
    clock.now += 1.0
    assert limits.check_issue_writes(["A-1"]) is None  # the first two left the 1 s window
    clock.now += 1.0
    exceeded = limits.check_issue_writes(["A-1"])
    assert exceeded is not None and exceeded.limit == 3
    assert exceeded.retry_after == 8.0  # until the first write leaves the 10 s window


def test_a_refused_link_records_no_write_on_either_issue() -> None:
    limits = SandboxLimiter(LimitConfig(issue_write_windows=((1, 5.0),)), Clock())
    assert limits.check_issue_writes(["A-1"]) is None
    assert limits.check_issue_writes(["A-2", "A-1"]) is not None
    assert limits.check_issue_writes(["A-2"]) is None


def test_fixed_retry_after_and_disabled_limits() -> None:
    limits = SandboxLimiter(LimitConfig(burst=1, retry_after_seconds=0.1), Clock())
    limits.check_burst("GET")
    exceeded = limits.check_burst("GET")
    assert exceeded is not None and exceeded.retry_after == 0.1
    limits.configure(LimitConfig(enabled=False, burst=1))
    assert all(limits.check_burst("GET") is None for _ in range(10))


def test_jql_clauses_and_order() -> None:
    query = parse_jql(
        "project = DEMO AND labels in (\"tf-1\", 'tf 2') AND key not in (DEMO-1) "
        'AND labels is EMPTY AND updated >= "2024/01/15 10:30" ORDER BY updated DESC, key'
    )
    assert query.clauses == (
        Clause("project", "=", ("DEMO",)),
        Clause("labels", "in", ("tf-1", "tf 2")),
        Clause("key", "not in", ("DEMO-1",)),
        Clause("labels", "is empty"),
        Clause("updated", ">=", (str(parse_date("2024-01-15 10:30")),)),
    )
    assert query.order_by == (("updated", False), ("key", True))


def test_jql_quotes_and_escapes() -> None:
    (clause,) = parse_jql(r'labels = "say \"hi\""').clauses
    assert clause.values == ('say "hi"',)


@pytest.mark.parametrize(
    "jql",
    [
        "project = A OR project = B",
        "(project = A)",
        "summary ~ text",
        "reporter = me",
        "labels > 3",
        'updated = "2024-01-01"',
        'updated >= "15/01/2024"',
        "labels in (a, b",
        'labels = "unterminated',
        "project = A ORDER BY summary",
        "project =",
    ],
)
def test_jql_outside_the_subset_is_refused(jql: str) -> None:
    with pytest.raises(JqlError):
        parse_jql(jql)
