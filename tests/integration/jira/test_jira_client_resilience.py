"""Faults and rate limits: the client never duplicates a create and paces itself under limits."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from infrastructure.jira import (
    TEMPORARY,
    JiraClient,
    JiraOutcomeUnknown,
    JiraRateLimited,
    JiraUnavailable,
    NewIssue,
    RateLimitConfig,
    RetryPolicy,
)
from tests.integration.jira.support import SandboxAdmin

CREATE = "POST /rest/api/3/issue"


def marked(mark: str, summary: str = "Configure Article") -> NewIssue:
    return NewIssue("DEMO", summary, labels=("ticketforge", mark), properties={"ticketforge": mark})


def test_5xx_after_commit_is_outcome_unknown_and_the_issue_is_found_by_its_mark(
    jira: JiraClient, sandbox: SandboxAdmin
) -> None:
    sandbox.faults(fail_create_next=1)
    with pytest.raises(JiraOutcomeUnknown) as caught:
        jira.create_issue(marked("tf-ticket-7"))
    assert (caught.value.status, caught.value.category) == (500, TEMPORARY)
    assert sandbox.requests(CREATE) == 1  # a create is never resent blindly
    (found,) = jira.find_issues_by_label("tf-ticket-7", "DEMO")
    assert found.fields["summary"] == "Configure Article"
    assert jira.get_issue_property(found.key, "ticketforge") == "tf-ticket-7"
    assert jira.create_issue(marked("tf-ticket-8")).key == "DEMO-2"


def test_every_nth_create_fails_after_commit(jira: JiraClient, sandbox: SandboxAdmin) -> None:
    sandbox.faults(fail_create_every=3)
    outcomes = []
    for n in range(6):
        try:
            outcomes.append(jira.create_issue(marked(f"tf-{n}")).key)
        except JiraOutcomeUnknown:
            outcomes.append("unknown")
    assert outcomes == ["DEMO-1", "DEMO-2", "unknown", "DEMO-4", "DEMO-5", "unknown"]
    assert len(jira.search('project = DEMO AND labels = "ticketforge"')) == 6


def test_bulk_create_5xx_after_commit(jira: JiraClient, sandbox: SandboxAdmin) -> None:
    sandbox.faults(fail_create_next=1, fail_create_status=502)
    with pytest.raises(JiraOutcomeUnknown) as caught:
        jira.create_issues([marked("tf-a"), marked("tf-b")])
    assert caught.value.status == 502
    assert sandbox.requests("POST /rest/api/3/issue/bulk") == 1
    assert [i.labels for i in jira.search('labels in ("tf-a", "tf-b") ORDER BY key')] == [
        ("tf-a", "ticketforge"),
        ("tf-b", "ticketforge"),
    ]


def test_create_timeout_is_outcome_unknown_and_the_issue_exists(
    make_client: Callable[..., JiraClient], sandbox: SandboxAdmin
) -> None:
    jira = make_client(timeout=0.4)
    sandbox.faults(timeout_next=1, timeout_seconds=1.0)
    with pytest.raises(JiraOutcomeUnknown) as caught:
        jira.create_issue(marked("tf-slow"))
    assert caught.value.category == TEMPORARY
    assert sandbox.requests(CREATE) == 1
    assert [i.key for i in jira.find_issues_by_label("tf-slow")] == ["DEMO-1"]


def test_read_timeouts_are_retried(
    make_client: Callable[..., JiraClient], sandbox: SandboxAdmin
) -> None:
    jira = make_client(timeout=0.4)
    sandbox.faults(timeout_next=1, timeout_seconds=1.0)
    assert jira.myself().email == "demo@example.com"
    assert sandbox.requests("GET /rest/api/3/myself") == 2


def test_reads_give_up_as_unavailable(
    make_client: Callable[..., JiraClient], sandbox: SandboxAdmin
) -> None:
    jira = make_client(
        timeout=0.3, retry=RetryPolicy(max_attempts=2, initial_backoff=0.01, jitter=0)
    )
    sandbox.faults(timeout_next=5, timeout_seconds=1.0)
    with pytest.raises(JiraUnavailable) as caught:
        jira.get_project("DEMO")
    assert caught.value.category == TEMPORARY
    assert sandbox.requests("GET /rest/api/3/project/{projectIdOrKey}") == 2


def test_nothing_listening_is_unavailable_even_for_a_create() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    retry = RetryPolicy(max_attempts=2, initial_backoff=0.01, jitter=0)
    with JiraClient(f"http://127.0.0.1:{port}", "a@b.c", "t", retry=retry, timeout=1) as jira:
        with pytest.raises(JiraUnavailable):
            jira.myself()
        # The connection never opened, so Jira cannot have created anything.
        with pytest.raises(JiraUnavailable):
            jira.create_issue(marked("tf-offline"))


def test_429_storm_waits_retry_after_then_succeeds(jira: JiraClient, sandbox: SandboxAdmin) -> None:
    sandbox.faults(rate_limit_storm_next=3, rate_limit_storm_retry_after=0.2)
    started = time.monotonic()
    assert jira.myself().email == "demo@example.com"
    assert time.monotonic() - started >= 0.6 - 0.05
    assert sandbox.status_count(429) == 3
    assert sandbox.requests("GET /rest/api/3/myself") == 4


def test_429_on_a_create_is_retried_because_jira_did_nothing(
    jira: JiraClient, sandbox: SandboxAdmin
) -> None:
    sandbox.faults(rate_limit_storm_next=2, rate_limit_storm_retry_after=0.05)
    assert jira.create_issue(marked("tf-storm")).key == "DEMO-1"
    assert [i.key for i in jira.find_issues_by_label("tf-storm")] == ["DEMO-1"]
    assert sandbox.stats()["rate_limited"] == {"storm": 2}


def test_a_storm_longer_than_the_attempts_is_rate_limited(
    make_client: Callable[..., JiraClient], sandbox: SandboxAdmin
) -> None:
    jira = make_client(retry=RetryPolicy(max_attempts=3))
    sandbox.faults(rate_limit_storm_next=10, rate_limit_storm_retry_after=0.05)
    with pytest.raises(JiraRateLimited) as caught:
        jira.get_priorities()
    assert (caught.value.status, caught.value.category, caught.value.retry_after) == (
        429,
        TEMPORARY,
        0.05,
    )
    assert sandbox.status_count(429) == 3


WINDOWS = ((5, 0.5), (8, 2.0))  # small per-issue windows so the test takes ~2 s, not 30


def test_per_issue_write_limit_is_enforced_by_the_sandbox(
    make_client: Callable[..., JiraClient], sandbox: SandboxAdmin
) -> None:
    sandbox.limits(issue_write_windows=[list(w) for w in WINDOWS])
    unpaced = make_client(
        rate_limits=RateLimitConfig(enabled=False), retry=RetryPolicy(max_attempts=1)
    )
    issue = unpaced.create_issue(NewIssue("DEMO", "hot issue"))
    with pytest.raises(JiraRateLimited):
        for n in range(6):
            unpaced.add_attachment(issue.key, f"{n}.txt", b"x")
    assert sandbox.stats()["rate_limited"] == {"jira-per-issue-on-write": 1}


def test_the_client_paces_writes_on_one_issue_so_jira_never_says_429(
    make_client: Callable[..., JiraClient], sandbox: SandboxAdmin
) -> None:
    sandbox.limits(issue_write_windows=[list(w) for w in WINDOWS])
    jira = make_client(rate_limits=RateLimitConfig(issue_write_windows=WINDOWS))
    hot = jira.create_issue(NewIssue("DEMO", "hot issue"))
    others = [jira.create_issue(NewIssue("DEMO", f"other {n}")).key for n in range(3)]
    writes: list[Callable[[], object]] = [
        *(lambda n=n: jira.add_attachment(hot.key, f"{n}.txt", b"x") for n in range(7)),
        *(lambda other=other: jira.link_blocks(hot.key, other) for other in others),
    ]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(write) for write in writes]:
            future.result()
    elapsed = time.monotonic() - started
    stats = sandbox.stats()
    assert stats["statuses"].get("429", 0) == 0
    assert (stats["attachments_uploaded"], stats["links_created"]) == (7, 3)
    assert elapsed >= 2.0  # 10 writes on one issue cannot fit the 8-per-2-s window sooner


def test_the_client_paces_the_site_burst_limit_across_threads(
    make_client: Callable[..., JiraClient], sandbox: SandboxAdmin
) -> None:
    sandbox.limits(requests_per_second=40, burst=5)
    unpaced = make_client(
        rate_limits=RateLimitConfig(enabled=False), retry=RetryPolicy(max_attempts=1)
    )
    with pytest.raises(JiraRateLimited):
        for _ in range(30):
            unpaced.myself()
    sandbox.limits(requests_per_second=40, burst=5)  # forget what the unpaced client used
    before = sandbox.status_count(429)
    jira = make_client(rate_limits=RateLimitConfig(requests_per_second=40, burst=5))
    keys: list[str] = []
    lock = threading.Lock()

    def create(n: int) -> None:
        key = jira.create_issue(NewIssue("DEMO", f"parallel {n}", labels=("parallel",))).key
        with lock:
            keys.append(key)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(40)))
    assert sandbox.status_count(429) == before
    assert len(set(keys)) == 40
    assert len(jira.search('labels = "parallel"', page_size=100)) == 40
