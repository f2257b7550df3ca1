"""Client-side pacing so Jira rarely has to say 429.

The limits are modelled in `application.export.pacing` (the export's scheduler
plans with the same model). Each request *reserves* its send time under a lock and
then sleeps outside it, so concurrent workers queue up fairly and nobody sleeps
longer than needed.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from application.export.pacing import IssueWriteWindows, RateLimitConfig, TokenBucket

__all__ = [
    "Clock",
    "IssueWriteWindows",
    "RateLimitConfig",
    "RateLimiter",
    "SystemClock",
    "TokenBucket",
    "wait_hint",
]


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class RateLimiter:
    """Thread-safe pacing: one token bucket per HTTP method, plus per-issue write windows."""

    def __init__(self, config: RateLimitConfig | None = None, clock: Clock | None = None) -> None:
        self._config = config or RateLimitConfig()
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._issues = self._config.issue_windows()

    def _bucket(self, method: str) -> TokenBucket:
        key = method.upper()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = self._config.bucket()
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
