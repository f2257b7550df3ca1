"""Jira Cloud's rate limits as the sandbox enforces them (it answers 429, it never waits).

A token bucket per HTTP method for the site's burst limit, and sliding windows
of write times per issue key (by default 20 writes in 2 s, 100 in 30 s).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

BURST_REASON = "jira-burst-based"
PER_ISSUE_REASON = "jira-per-issue-on-write"


@dataclass(frozen=True)
class LimitConfig:
    """Limits of the simulated site.

    `retry_after_seconds` fixes the `Retry-After` value (tests use a small one);
    None answers the time until a request would fit, rounded up to whole
    seconds as Jira does.
    """

    enabled: bool = True
    requests_per_second: float = 100.0
    burst: int = 100
    issue_write_windows: tuple[tuple[int, float], ...] = ((20, 2.0), (100, 30.0))
    retry_after_seconds: float | None = None
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_bulk_issues: int = 50
    max_search_results: int = 100


@dataclass(frozen=True)
class LimitExceeded:
    reason: str
    limit: int
    retry_after: float  # seconds, as advertised in Retry-After


class SandboxLimiter:
    """Thread-safe check-and-record of the site and per-issue limits."""

    def __init__(
        self, config: LimitConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.configure(config or LimitConfig())

    @property
    def config(self) -> LimitConfig:
        return self._config

    def configure(self, config: LimitConfig) -> None:
        """Swap the limits and forget everything counted so far."""
        with self._lock:
            self._config = config
            self._tokens: dict[str, float] = {}
            self._stamps: dict[str, float] = {}
            self._writes: dict[str, deque[float]] = {}

    def _advertised(self, wait: float) -> float:
        fixed = self._config.retry_after_seconds
        return fixed if fixed is not None else float(max(1, math.ceil(wait)))

    def check_burst(self, method: str) -> LimitExceeded | None:
        config = self._config
        if not config.enabled:
            return None
        with self._lock:
            now = self._clock()
            tokens = self._tokens.get(method, float(config.burst))
            if method in self._stamps:
                elapsed = now - self._stamps[method]
                tokens = min(float(config.burst), tokens + elapsed * config.requests_per_second)
            self._stamps[method] = now
            if tokens >= 1.0:
                self._tokens[method] = tokens - 1.0
                return None
            self._tokens[method] = tokens
            wait = (1.0 - tokens) / config.requests_per_second
            return LimitExceeded(BURST_REASON, config.burst, self._advertised(wait))

    def check_issue_writes(self, keys: Iterable[str]) -> LimitExceeded | None:
        """Record one write on each key, unless a window on any of them is full."""
        config = self._config
        if not config.enabled or not config.issue_write_windows:
            return None
        keys = tuple(dict.fromkeys(keys))
        horizon = max(span for _, span in config.issue_write_windows)
        with self._lock:
            now = self._clock()
            for key in keys:
                times = self._writes.setdefault(key, deque())
                while times and times[0] <= now - horizon:
                    times.popleft()
                for count, span in config.issue_write_windows:
                    in_window = [t for t in times if t > now - span]
                    if len(in_window) >= count:
                        wait = in_window[-count] + span - now
                        return LimitExceeded(PER_ISSUE_REASON, count, self._advertised(wait))
            for key in keys:
                self._writes[key].append(now)
        return None
