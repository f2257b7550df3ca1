"""Client-side pacing so Jira rarely has to say 429.

Jira Cloud applies a burst limit per site and HTTP method, and a write limit per
issue (by default 20 writes in 2 s and 100 in 30 s on one issue key). Each
request *reserves* its send time under a lock and then sleeps outside it, so
concurrent workers queue up fairly and nobody sleeps longer than needed.
"""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


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


class TokenBucket:
    """A token bucket that hands out reservations. Not locked: RateLimiter serialises it."""

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
    """Sliding windows of write times per issue key. Not locked: RateLimiter serialises it."""

    _SWEEP_ABOVE = 1024

    def __init__(self, windows: Iterable[tuple[int, float]], margin: float = 0.0) -> None:
        self._windows = tuple((count, span + margin) for count, span in windows)
        if any(count < 1 or span <= 0 for count, span in self._windows):
            raise ValueError("each window needs a positive count and length")
        self._keep = max((count for count, _ in self._windows), default=1)
        self._horizon = max((span for _, span in self._windows), default=0.0)
        self._sent: dict[str, deque[float]] = {}

    def reserve(self, keys: Iterable[str], earliest: float) -> float:
        """The first moment >= `earliest` at which one more write on every key fits."""
        keys = tuple(dict.fromkeys(keys))
        start = earliest
        for key in keys:
            times = self._sent.get(key)
            if not times:
                continue
            start = max(start, times[-1])
            for count, span in self._windows:
                if len(times) >= count:
                    start = max(start, times[-count] + span)
        for key in keys:
            self._sent.setdefault(key, deque(maxlen=self._keep)).append(start)
        if len(self._sent) > self._SWEEP_ABOVE:
            self._forget_before(earliest - self._horizon)
        return start

    def _forget_before(self, moment: float) -> None:
        for key in [k for k, times in self._sent.items() if times[-1] < moment]:
            del self._sent[key]


class RateLimiter:
    """Thread-safe pacing: one token bucket per HTTP method, plus per-issue write windows."""

    def __init__(self, config: RateLimitConfig | None = None, clock: Clock | None = None) -> None:
        self._config = config or RateLimitConfig()
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._issues = IssueWriteWindows(
            self._config.issue_write_windows, self._config.safety_margin
        )

    def _bucket(self, method: str) -> TokenBucket:
        key = method.upper()
        bucket = self._buckets.get(key)
        if bucket is None:
            config = self._config
            reserve = math.ceil(config.requests_per_second * config.safety_margin)
            bucket = TokenBucket(config.requests_per_second, max(1, config.burst - reserve))
            self._buckets[key] = bucket
        return bucket

    def acquire(self, method: str, issue_keys: Iterable[str] = ()) -> float:
        """Block until a request may be sent; return the seconds waited."""
        if not self._config.enabled:
            return 0.0
        keys = tuple(issue_keys)
        with self._lock:
            now = self._clock.monotonic()
            start = now + self._bucket(method).reserve(now)
            if keys:
                start = self._issues.reserve(keys, start)
        wait = start - now
        if wait > 0:
            self._clock.sleep(wait)
        return max(wait, 0.0)

    def pause(self, method: str, seconds: float) -> None:
        """Hold back every request of this method for `seconds` (after a site-wide 429)."""
        if not self._config.enabled or seconds <= 0:
            return
        with self._lock:
            self._bucket(method).pause_until(self._clock.monotonic() + seconds)


def wait_hint(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds Jira asks us to wait: `Retry-After`, else `X-RateLimit-Reset`, else None."""
    now = now or datetime.now(UTC)
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(retry_after)
            except (TypeError, ValueError):
                moment = None
            if moment is not None:
                return _seconds_until(moment, now)
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return _seconds_until(datetime.fromisoformat(reset), now)
        except ValueError:
            return None
    return None


def _seconds_until(moment: datetime, now: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)
