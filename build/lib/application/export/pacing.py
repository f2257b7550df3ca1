"""Jira Cloud's rate limits as a model: what the client paces by and the scheduler plans with.

Jira Cloud applies a burst limit per site and HTTP method, and a write limit per
issue (by default 20 writes in 2 s and 100 in 30 s on one issue key). The model is
pure (times are passed in), so the same budgets pace real requests
(`infrastructure.jira.ratelimit.RateLimiter`), choose which link goes next
(`application.export.schedule`) and estimate an export on a simulated clock.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimitConfig:
    """Pacing for one Jira site.

    Jira counts *arrival* times, and jitter of up to `safety_margin` seconds
    between our send and Jira's arrival can bunch paced requests together. So
    the per-issue windows are widened by the margin, and the burst bucket keeps
    `rate * margin` tokens in reserve: then no interval of arrivals can exceed
    what Jira allows.
    """

    requests_per_second: float = 100.0
    burst: int = 100
    issue_write_windows: tuple[tuple[int, float], ...] = ((20, 2.0), (100, 30.0))
    safety_margin: float = 0.05
    enabled: bool = True

    def bucket(self) -> TokenBucket:
        """The site's bucket for one HTTP method, with the margin's tokens held back."""
        reserve = math.ceil(self.requests_per_second * self.safety_margin)
        return TokenBucket(self.requests_per_second, max(1, self.burst - reserve))

    def issue_windows(self) -> IssueWriteWindows:
        return IssueWriteWindows(self.issue_write_windows, self.safety_margin)


class TokenBucket:
    """A token bucket that hands out reservations. Not locked: callers serialise it."""

    def __init__(self, rate: float, capacity: int) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs a positive rate and capacity")
        self._rate = rate
        self._capacity = float(capacity)
        self._tokens = float(capacity)
        self._stamp: float | None = None
        self._paused_until = -math.inf

    def reserve(self, now: float) -> float:
        """Take one token; return how long the caller must wait before using it."""
        if self._stamp is not None:
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        self._tokens -= 1.0
        wait = 0.0 if self._tokens >= 0 else -self._tokens / self._rate
        return max(wait, self._paused_until - now)

    def pause_until(self, moment: float) -> None:
        """Jira said 429 for the whole site: nobody sends before `moment`."""
        self._paused_until = max(self._paused_until, moment)


class IssueWriteWindows:
    """Sliding windows of write times per issue key. Not locked: callers serialise it."""

    _SWEEP_ABOVE = 1024

    def __init__(self, windows: Iterable[tuple[int, float]], margin: float = 0.0) -> None:
        self._windows = tuple((count, span + margin) for count, span in windows)
        if any(count < 1 or span <= 0 for count, span in self._windows):
            raise ValueError("each window needs a positive count and length")
        self._keep = max((count for count, _ in self._windows), default=1)
        self._horizon = max((span for _, span in self._windows), default=0.0)
        self._sent: dict[str, deque[float]] = {}

    def ready_at(self, keys: Iterable[str], earliest: float) -> float:
        """The first moment >= `earliest` at which one more write on every key fits."""
        start = earliest
        for key in keys:
            times = self._sent.get(key)
            if not times:
                continue
            start = max(start, times[-1])
            for count, span in self._windows:
                if len(times) >= count:
                    start = max(start, times[-count] + span)
        return start

    def reserve(self, keys: Iterable[str], earliest: float) -> float:
        """Book one write on every key at the first moment >= `earliest` it fits; return it."""
        keys = tuple(dict.fromkeys(keys))
        start = self.ready_at(keys, earliest)
        for key in keys:
            self._sent.setdefault(key, deque(maxlen=self._keep)).append(start)
        if len(self._sent) > self._SWEEP_ABOVE:
            self._forget_before(earliest - self._horizon)
        return start

    def _forget_before(self, moment: float) -> None:
        for key in [k for k, times in self._sent.items() if times[-1] < moment]:
            del self._sent[key]
