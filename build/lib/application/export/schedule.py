"""Which write goes next: a scheduler that never idles while some write could be sent.

Jira allows each issue 20 writes in 2 s (and 100 in 30 s), and a link is a write on
both of its issues. Real sites have hubs (one role blocks 60 tickets): sent in plan
order, consecutive links share a hub, every sender waits on that one issue's budget
and everything behind it waits too (head-of-line blocking). Instead, at each moment
a free sender takes, of the writes whose issues all have budget, the one touching
the busiest issue (so hubs start early and are paced, and finish first), ties in
plan order; only when no write can go does it wait, and only until the first one
can. The site's burst bucket stays the ceiling.

The same scheduler runs on a simulated clock (`simulate`): the tests check its
property there, and the export's estimate is that simulation.
"""

from __future__ import annotations

import heapq
import itertools
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from application.export.pacing import RateLimitConfig

T = TypeVar("T")


@dataclass(frozen=True)
class Write(Generic[T]):
    """One request to send: `item` is the caller's, `keys` the issues it writes to."""

    item: T
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Taken(Generic[T]):
    """A write handed to a sender, to be sent at `send_at` (the site bucket may defer it)."""

    write: Write[T]
    send_at: float


class WriteScheduler(Generic[T]):
    """Not locked: the caller serialises `take` (one lock around it for all senders)."""

    def __init__(self, writes: Iterable[Write[T]], limits: RateLimitConfig | None = None) -> None:
        limits = limits or RateLimitConfig()
        self._paced = limits.enabled
        self._windows = limits.issue_windows()
        self._bucket = limits.bucket()
        items = list(writes)
        degree: Counter[str] = Counter(k for w in items for k in set(w.keys))
        self._seq = itertools.count()
        # ready: (-busiest key's degree, plan order, write) for writes believed sendable;
        # waiting: (lower bound of the moment it can go, plan order, priority, write).
        self._ready: list[tuple[int, int, Write[T]]] = [
            (-max((degree[k] for k in w.keys), default=0), next(self._seq), w) for w in items
        ]
        heapq.heapify(self._ready)
        self._waiting: list[tuple[float, int, int, Write[T]]] = []

    def __len__(self) -> int:
        return len(self._ready) + len(self._waiting)

    def take(self, now: float) -> Taken[T] | float | None:
        """A write to send now (or at `send_at`, when the site bucket is empty); else the
        moment the first write can go (wait until then); None when none is left."""
        while self._waiting and self._waiting[0][0] <= now:
            _, seq, priority, write = heapq.heappop(self._waiting)
            heapq.heappush(self._ready, (priority, seq, write))
        while self._ready:
            priority, seq, write = self._ready[0]
            ready = self._windows.ready_at(write.keys, now) if self._paced else now
            if ready > now:  # its budget is spent for now: it waits, the others go
                heapq.heappop(self._ready)
                heapq.heappush(self._waiting, (ready, seq, priority, write))
                continue
            heapq.heappop(self._ready)
            if not self._paced:
                return Taken(write, now)
            start = now + self._bucket.reserve(now)
            return Taken(write, self._windows.reserve(write.keys, start))
        if self._waiting:
            return self._waiting[0][0]  # a lower bound: the sender looks again then
        return None


# --- the simulated clock ----------------------------------------------------------


@dataclass
class Simulation(Generic[T]):
    """What `simulate` saw: every send, every idle wait, and when the last answer came."""

    sends: list[tuple[float, float, Write[T]]] = field(default_factory=list)  # (taken, sent)
    waits: list[tuple[float, float]] = field(default_factory=list)  # (from, until) of a sender
    finished_at: float = 0.0


def simulate(
    writes: Iterable[Write[T]],
    limits: RateLimitConfig | None = None,
    senders: int = 8,
    latency_s: float = 0.05,
    start: float = 0.0,
) -> Simulation[T]:
    """Run the scheduler with `senders` threads on a simulated clock, each request
    answered `latency_s` after it is sent."""
    scheduler = WriteScheduler(writes, limits)
    result: Simulation[T] = Simulation(finished_at=start)
    free = [(start, n) for n in range(max(1, senders))]
    heapq.heapify(free)
    while free:
        now, sender = heapq.heappop(free)
        taken = scheduler.take(now)
        if taken is None:
            continue  # this sender is done
        if isinstance(taken, Taken):
            result.sends.append((now, taken.send_at, taken.write))
            done = taken.send_at + latency_s
            result.finished_at = max(result.finished_at, done)
            heapq.heappush(free, (done, sender))
        else:
            result.waits.append((now, taken))
            heapq.heappush(free, (taken, sender))
    return result


# --- the estimate -----------------------------------------------------------------

BULK_LIMIT = 50
SPRINT_MOVE_LIMIT = 50
SENDERS = 8
BULK_SECONDS_PER_ISSUE = 0.004  # Jira's own work per issue in a bulk create, beyond latency
RECORD_SECONDS_PER_ISSUE = 0.001  # our events for a created issue


@dataclass(frozen=True)
class ExportEstimate:
    """The requests an export will make and how long they take under Jira's limits."""

    bulk_creates: int
    attachments: int
    links: int
    sprint_moves: int
    edits: int  # a re-export's reads and writes of existing issues and links
    duration_s: float
    latency_s: float
    phases: dict[str, float]

    @property
    def total_requests(self) -> int:
        return self.bulk_creates + self.attachments + self.links + self.sprint_moves + self.edits

    def to_dict(self) -> dict[str, object]:
        return {
            "duration_s": round(self.duration_s, 2),
            "latency_s": round(self.latency_s, 4),
            "requests": {
                "bulk_creates": self.bulk_creates,
                "attachments": self.attachments,
                "links": self.links,
                "sprint_moves": self.sprint_moves,
                "edits": self.edits,
                "total": self.total_requests,
            },
            "phases": {name: round(seconds, 2) for name, seconds in self.phases.items()},
        }


def estimate_export(
    *,
    issues: int,
    attachments: Sequence[str],
    sprint_issues: Sequence[int],
    links: Sequence[tuple[str, str]],
    latency_s: float,
    limits: RateLimitConfig | None = None,
    senders: int = SENDERS,
    edits: Sequence[tuple[str, ...]] = (),
    obsolete: Sequence[str] = (),
) -> ExportEstimate:
    """Simulate the export: bulk creates one after another, then attachments (keys:
    the issues they go to), sprint moves (`sprint_issues`: issues per sprint), then the
    links (pairs of issue keys, any stand-ins for keys not allocated yet) through the
    scheduler. `latency_s`: a round trip to this Jira, as measured by the pre-flight.
    A re-export also has `edits` (issue updates and link removals: a read and a write on
    those keys) and `obsolete` issues (a label, a read of the comments, a comment)."""
    latency_s = max(latency_s, 0.0)
    bulks = math.ceil(issues / BULK_LIMIT)
    create_s = bulks * latency_s + issues * (BULK_SECONDS_PER_ISSUE + RECORD_SECONDS_PER_ISSUE)
    attach_s = simulate(
        [Write(n, (key,)) for n, key in enumerate(attachments)], limits, senders, latency_s
    ).finished_at
    moves = sum(math.ceil(n / SPRINT_MOVE_LIMIT) for n in sprint_issues if n > 0)
    sprint_s = moves * latency_s
    link_s = simulate(
        [Write(n, pair) for n, pair in enumerate(links)], limits, senders, latency_s
    ).finished_at
    edit_s = simulate(
        [Write(n, keys) for n, keys in enumerate(edits)], limits, senders, 2 * latency_s
    ).finished_at
    obsolete_s = simulate(
        [Write(n, (key,)) for n, key in enumerate(obsolete)], limits, senders, 3 * latency_s
    ).finished_at
    phases = {"create": create_s, "attach": attach_s, "sprints": sprint_s, "link": link_s}
    if edits or obsolete:
        phases |= {"edit": edit_s, "obsolete": obsolete_s}
    return ExportEstimate(
        bulk_creates=bulks,
        attachments=len(attachments),
        links=len(links),
        sprint_moves=moves,
        edits=2 * len(edits) + 3 * len(obsolete),
        duration_s=sum(phases.values()),
        latency_s=latency_s,
        phases=phases,
    )


UNMEASURED_LATENCY_S = 0.1  # a round trip to Jira Cloud before the pre-flight measured one


def estimate_plan(
    plan: Sequence[Mapping[str, Any]],
    latency_s: float = UNMEASURED_LATENCY_S,
    limits: RateLimitConfig | None = None,
) -> ExportEstimate:
    """A first estimate from an export's plan alone (no attachments or sprints known yet),
    before the pre-flight has measured this Jira's round trip."""
    links = [(str(d), str(p["ticket_id"])) for p in plan for d in p["depends_on"]]
    return estimate_export(
        issues=len(plan),
        attachments=(),
        sprint_issues=(),
        links=links,
        latency_s=latency_s,
        limits=limits,
    )


def link_floor(links: Sequence[tuple[str, str]], limits: RateLimitConfig | None = None) -> float:
    """The least time any sender can take for `links`: the site's rate, or the time the
    busiest issue needs for its writes under its windows, whichever is longer."""
    limits = limits or RateLimitConfig()
    if not links:
        return 0.0
    site = len(links) / limits.requests_per_second
    busiest = max(Counter(k for pair in links for k in set(pair)).values())
    hub = 0.0
    for count, span in limits.issue_write_windows:
        hub = max(hub, (math.ceil(busiest / count) - 1) * span)
    return max(site, hub)


# --- sending for real ---------------------------------------------------------------

R = TypeVar("R")
_DONE = object()


@dataclass(frozen=True)
class _Failure(Generic[T]):
    item: T | None  # the write whose send raised (None: the scheduler itself)
    error: BaseException


def send_all(
    writes: Sequence[Write[T]],
    send: Callable[[T], R],
    record: Callable[[list[tuple[T, R]]], None],
    check: Callable[[], None],
    *,
    limits: RateLimitConfig | None = None,
    senders: int = SENDERS,
    record_every_s: float = 0.25,
    record_max: int = 100,
    failed: Callable[[T], None] | None = None,
) -> None:
    """Send `writes` from `senders` threads in the scheduler's order; `record` the results
    in batches (every `record_every_s` or `record_max` results) on the calling thread.

    `check` runs on the calling thread between batches and stops everything by raising
    (shutdown, lost lease). Whatever way it ends, the senders finish the request they
    are in and what was sent is recorded before this returns or raises; an exception in
    `send` (say, Jira's 401) stops the others and is raised here after that, once
    `failed` was told which write it came from."""
    if not writes:
        return
    scheduler = WriteScheduler(writes, limits)
    lock = threading.Lock()
    stop = threading.Event()
    results: queue.SimpleQueue[object] = queue.SimpleQueue()

    def sender() -> None:
        try:
            while not stop.is_set():
                with lock:
                    taken = scheduler.take(time.monotonic())
                if taken is None:
                    return
                if not isinstance(taken, Taken):
                    stop.wait(max(taken - time.monotonic(), 0.0))
                    continue
                wait = taken.send_at - time.monotonic()
                if wait > 0 and stop.wait(wait):
                    return  # not sent: a later run sends it
                item = taken.write.item
                try:
                    outcome = send(item)
                except BaseException as exc:  # handed to the calling thread, raised there
                    stop.set()
                    results.put(_Failure(item, exc))
                    return
                results.put((item, outcome))
        except BaseException as exc:
            stop.set()
            results.put(_Failure(None, exc))
        finally:
            results.put(_DONE)

    threads = [
        threading.Thread(target=sender, name=f"send-{n}", daemon=True)
        for n in range(min(max(1, senders), len(writes)))
    ]
    for thread in threads:
        thread.start()
    batch: list[tuple[T, R]] = []
    failure: _Failure[T] | None = None
    running = len(threads)
    last = time.monotonic()
    try:
        while running:
            try:
                got = results.get(timeout=record_every_s)
            except queue.Empty:
                got = None
            if got is _DONE:
                running -= 1
            elif isinstance(got, _Failure):
                failure = failure or got
            elif got is not None:
                batch.append(cast(tuple[T, R], got))
            if batch and (
                len(batch) >= record_max or time.monotonic() - last >= record_every_s or not running
            ):
                done, batch = batch, []
                record(done)
                last = time.monotonic()
                check()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        while True:  # what the senders finished after we stopped listening
            try:
                got = results.get_nowait()
            except queue.Empty:
                break
            if isinstance(got, tuple):
                batch.append(cast(tuple[T, R], got))
            elif isinstance(got, _Failure):
                failure = failure or got
        if batch:
            record(batch)
    if failure is not None:
        if failure.item is not None and failed is not None:
            failed(failure.item)
        raise failure.error
