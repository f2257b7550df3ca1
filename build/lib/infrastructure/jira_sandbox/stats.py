"""What the sandbox was asked and how it answered, for `GET /_sandbox/stats`.

`timing` says when each route was used, in seconds of the host's monotonic clock
(`time.monotonic()`, one clock for every process of the machine on Linux): its
first and last request (on arrival, before any injected latency) and its last
response. A benchmark reads the span of a phase from it, e.g. the first and last
`POST /rest/api/3/issueLink`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any


class SandboxStats:
    """Thread-safe counters, keyed by route template (`POST /rest/api/3/issue`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._requests: Counter[str] = Counter()
            self._responses: defaultdict[str, Counter[str]] = defaultdict(Counter)
            self._statuses: Counter[str] = Counter()
            self._rate_limited: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._events: Counter[str] = Counter()
            # route -> [first request, last request, last response (None until one)]
            self._times: dict[str, list[float | None]] = {}

    def request(self, route: str) -> None:
        """Counted on arrival, so a request still being answered (slowly) is seen."""
        now = self._clock()
        with self._lock:
            self._requests[route] += 1
            times = self._times.setdefault(route, [now, now, None])
            times[1] = now

    def response(self, route: str, status: int) -> None:
        now = self._clock()
        with self._lock:
            self._times.setdefault(route, [None, None, None])[2] = now
            self._responses[route][str(status)] += 1
            self._statuses[str(status)] += 1

    def rate_limited(self, reason: str) -> None:
        with self._lock:
            self._rate_limited[reason] += 1

    def fault(self, name: str) -> None:
        with self._lock:
            self._faults[name] += 1

    def event(self, name: str, count: int = 1) -> None:
        """Something the sandbox did: `issues_created`, `attachments_uploaded`, ..."""
        with self._lock:
            self._events[name] += count

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total_requests": sum(self._requests.values()),
                "requests": dict(self._requests),
                "responses": {route: dict(c) for route, c in self._responses.items()},
                "statuses": dict(self._statuses),
                "rate_limited": dict(self._rate_limited),
                "faults_injected": dict(self._faults),
                "issues_created": self._events["issues_created"],
                "attachments_uploaded": self._events["attachments_uploaded"],
                "links_created": self._events["links_created"],
                "sprint_moves": self._events["sprint_moves"],
                "issues_updated": self._events["issues_updated"],
                "links_deleted": self._events["links_deleted"],
                "comments_added": self._events["comments_added"],
                "timing": {
                    route: {
                        "first_request": first,
                        "last_request": last,
                        "last_response": answered,
                    }
                    for route, (first, last, answered) in self._times.items()
                },
                "clock": "monotonic",
            }
