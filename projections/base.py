"""Projection base class and the runner that feeds it from the notification log."""

from __future__ import annotations

import contextlib
import gc
import inspect
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import singledispatchmethod
from typing import Any, ClassVar, Protocol
from uuid import UUID

from projections.store import (
    LeaderLock,
    PositionMovedError,
    ReadModelStore,
    ViewTransaction,
    shadow_name,
)

log = logging.getLogger(__name__)


class Projection:
    """Turns events into rows. Subclasses register handlers with `singledispatchmethod`."""

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    # False for a projection whose effects cannot be recomputed from event 1 into a
    # fresh copy (e.g. one that only publishes); the admin rebuild refuses it.
    rebuildable: ClassVar[bool] = True

    def process(self, event: Any, tx: ViewTransaction) -> None:
        raise NotImplementedError

    def handler(self, event_type: type[Any]) -> Callable[[Any, ViewTransaction], None]:
        """What `process` does with an event of `event_type`, looked up once per type.

        A `singledispatchmethod` builds a new bound function (and copies its metadata)
        on every call in Python 3.11, several times the cost of what most handlers do;
        a batch looks the registered function up once and calls it bound.
        """
        attributes = self.__dict__
        if "process" in attributes:  # set on the instance (a test double): it decides
            process: Callable[[Any, ViewTransaction], None] = attributes["process"]
            return process
        handlers: dict[type[Any], Callable[[Any, ViewTransaction], None]] = attributes.setdefault(
            "_handlers", {}
        )
        found = handlers.get(event_type)
        if found is None:
            method = inspect.getattr_static(self, "process")
            if isinstance(method, singledispatchmethod):
                function = method.dispatcher.dispatch(event_type)
                found = function.__get__(self, type(self))
            else:
                found = self.process
            handlers[event_type] = found
        return found


_id_texts: dict[Any, str] = {}
_ID_TEXTS = 4096


def id_text(value: Any) -> str:
    """`str(value)`, remembered for UUIDs (whose `str` is Python code, and which come
    back event after event): for projections' keys and documents."""
    if type(value) is not UUID:
        return str(value)
    found = _id_texts.get(value)
    if found is None:
        if len(_id_texts) >= _ID_TEXTS:
            _id_texts.clear()
        found = _id_texts[value] = str(value)
    return found


class Notification(Protocol):
    id: int


class EventSource(Protocol):
    """The application's notification log, decoded."""

    def head(self) -> int: ...

    def read(self, after: int, limit: int, stop: int) -> Sequence[tuple[int, Any]]:
        """(notification id, domain event) pairs with after < id <= stop, in order."""
        ...


@dataclass
class RebuildStatus:
    state: str  # running | completed | failed
    started_at: float
    finished_at: float | None = None
    position: int | None = None
    events_per_s: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    leader: str | None
    leading_here: bool
    rebuild: RebuildStatus | None = field(default=None)
    rebuildable: bool = True


_collections_guard = threading.Lock()
_collections_users = 0
_collections_saved: tuple[int, int, int] | None = None
# Young-generation threshold while a rebuild runs (Python's default: 700 allocations).
REBUILD_GC_THRESHOLD = 50_000


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while a rebuild runs.

    A rebuild allocates its batches' events (alive until applied) and a cache of
    tens of thousands of documents (alive for the whole rebuild); with the default
    thresholds the collector walks them over and over, a quarter of the rebuild's
    CPU time (bench/projections.py). Reference counting still frees everything that
    is not in a cycle at once; cycles wait a little longer. Process-wide, so counted:
    the thresholds come back when the last rebuild in the process ends.
    """
    global _collections_users, _collections_saved
    with _collections_guard:
        if _collections_users == 0:
            _collections_saved = gc.get_threshold()
            gc.set_threshold(REBUILD_GC_THRESHOLD, *_collections_saved[1:])
        _collections_users += 1
    try:
        yield
    finally:
        with _collections_guard:
            _collections_users -= 1
            if _collections_users == 0 and _collections_saved is not None:
                gc.set_threshold(*_collections_saved)
                _collections_saved = None


class RebuildRefusedError(Exception):
    """The projection cannot be rebuilt now (unknown, not rebuildable, or already running)."""


class ProjectionRunner:
    """Catches projections up with the event store, one batch per transaction.

    Positions come from the store, never from memory: several runners (threads or
    processes) may pump the same projection; the store's per-projection lock makes
    them take turns, and each batch starts from the committed position. With a
    `LeaderLock`, the background loop only follows the projections this process
    leads, so several projector processes do not all do the same work.
    """

    def __init__(
        self,
        source: EventSource,
        store: ReadModelStore,
        projections: Sequence[Projection],
        batch_size: int = 1000,
        leases: LeaderLock | None = None,
        rebuild_batch_size: int = 5000,
    ) -> None:
        self.source = source
        self.store = store
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        # A rebuild has no reader waiting for each batch: larger batches write each
        # document fewer times (a batch writes a document once, however often it changed).
        self.rebuild_batch_size = rebuild_batch_size
        self.leases = leases
        self._locks = {name: threading.Lock() for name in self.projections}
        self._stop = threading.Event()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._leading: set[str] = set()
        self._rebuilds: dict[str, RebuildStatus] = {}
        self._rebuild_guard = threading.Lock()
        self.on_batch: Callable[[str, int], None] | None = None
        self.on_leadership: Callable[[str, bool], None] | None = None

    # --- following the store -------------------------------------------------

    def _read(
        self, after: int, head: int, size: int | None = None
    ) -> tuple[Sequence[tuple[int, Any]], int]:
        """The next batch after `after` (up to `head`), and the position it brings us to."""
        size = size or self.batch_size
        batch = self.source.read(after, size, head)
        # Ids between events this projection saw may belong to nobody it cares
        # about; a short batch means everything up to head was read.
        return batch, batch[-1][0] if len(batch) == size else head

    @staticmethod
    def _apply(
        projection: Projection, tx: ViewTransaction, batch: Sequence[tuple[int, Any]]
    ) -> None:
        handler_for = projection.handler
        handlers: dict[type[Any], Callable[[Any, ViewTransaction], None]] = {}
        for position, event in batch:
            tx.event_position = position
            kind = type(event)
            handle = handlers.get(kind)
            if handle is None:
                handle = handlers[kind] = handler_for(kind)
            handle(event, tx)

    def _process_batch(self, projection: Projection, tx: ViewTransaction, head: int) -> int:
        """Apply the next batch after `tx.position` (up to `head`); return the new position."""
        batch, done_to = self._read(tx.position, head)
        self._apply(projection, tx, batch)
        tx.position = done_to
        return done_to

    def _read_ahead(self, after: int, head: int) -> Iterator[tuple[Sequence[tuple[int, Any]], int]]:
        """Batches up to `head`, read and decoded by a thread while the previous one is
        applied and committed (the database's I/O runs without the GIL)."""
        ahead: queue.Queue[tuple[Sequence[tuple[int, Any]], int] | BaseException | None] = (
            queue.Queue(maxsize=2)
        )
        stop = threading.Event()

        def reader() -> None:
            position = after
            try:
                while position < head and not stop.is_set():
                    batch, position = self._read(position, head, self.rebuild_batch_size)
                    ahead.put((batch, position))
                ahead.put(None)
            except BaseException as exc:
                ahead.put(exc)

        thread = threading.Thread(target=reader, name="rebuild-reader", daemon=True)
        thread.start()
        try:
            while (item := ahead.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a reader waiting to put
                with contextlib.suppress(queue.Empty):
                    ahead.get_nowait()
                thread.join(0.01)

    def pump(self, name: str, until: int | None = None) -> int:
        """Process what is there now (up to `until`); return the committed position."""
        projection = self.projections[name]

        def head_now() -> int:
            # Never past the real head: a position is a promise that every event up to
            # it was seen, and ids beyond the head have not been written yet.
            head = self.source.head()
            return head if until is None else min(head, until)

        with self._locks[name]:
            # Nothing new is the common case when polling: a plain read says so without
            # the write lock (SQLite has one writer at a time).
            head = head_now()
            position = self.store.position(name)
            if head > 0 and position >= head:
                return position
            while True:
                with self.store.transaction(name) as tx:
                    if tx.position >= head:
                        return tx.position
                    done_to = self._process_batch(projection, tx, head)
                if self.on_batch is not None:
                    self.on_batch(name, done_to)
                head = head_now()

    def pump_all(self) -> None:
        for name in self.projections:
            self.pump(name)

    def leads(self, name: str) -> bool:
        """Whether this process leads `name` (always, without leases); takes the lead if free."""
        leading = self.leases is None or self.leases.acquire(name)
        if leading != (name in self._leading):
            if leading:
                self._leading.add(name)
            else:
                self._leading.discard(name)
            log.info("%s projection %s", "leading" if leading else "no longer leading", name)
            if self.on_leadership is not None:
                self.on_leadership(name, leading)
        return leading

    def pump_leading(self) -> tuple[int, list[tuple[str, Exception]]]:
        """Catch up every projection we lead, each on its own: one that fails does not
        stall the others. The last committed position, and the failures by name."""
        position = 0
        failures: list[tuple[str, Exception]] = []
        for name in self.projections:
            if self.leads(name):
                try:
                    position = self.pump(name)
                except Exception as exc:
                    failures.append((name, exc))
        return position, failures

    def pump_led(self) -> None:
        """One round of the background loop: catch up every projection we lead."""
        _, failures = self.pump_leading()
        for name, exc in failures:
            log.error("projection %s: batch failed; retrying", name, exc_info=exc)
        if failures:
            failed = [name for name, _ in failures]
            raise RuntimeError(f"projections {failed} failed; their positions did not move")

    def wait_for(
        self, position: int | None, timeout: float = 5.0, names: Sequence[str] | None = None
    ) -> bool:
        """Read-your-writes: bring the projections (default: all) to `position`.

        False on timeout. Where no background loop of ours follows a projection (no
        thread, or another process leads it), we catch it up ourselves: the store's
        lock keeps that exactly-once.
        """
        if position is None:
            return True
        deadline = time.monotonic() + timeout
        for name in names or list(self.projections):
            while self.store.position(name) < position:
                if self._thread is None or name not in self._leading:
                    if self.pump(name, until=position) >= position:
                        break
                else:
                    self._wakeup.set()
                if time.monotonic() > deadline:
                    return False  # e.g. a position not written (yet)
                time.sleep(0.005)
        return True

    def start(self, poll_interval: float = 0.2) -> None:
        """Follow the store in a background thread until `stop()`.

        `notify()` wakes it early (a command in this process, or the event store's
        LISTEN/NOTIFY on PostgreSQL); `poll_interval` is the fallback.
        """

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.pump_led()
                except Exception:  # a broken batch is retried; the position did not move
                    log.warning("projector round incomplete; retrying", exc_info=True)
                    self._stop.wait(1.0)
                self._wakeup.wait(poll_interval)
                self._wakeup.clear()

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="projector", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """A command just wrote events: follow them now rather than at the next poll."""
        self._wakeup.set()

    def stop(self) -> None:
        self._stop.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.leases is not None:
            for name in list(self._leading):
                try:
                    self.leases.release(name)
                except Exception:
                    log.exception("could not release leadership of %s", name)
            self._leading.clear()

    # --- rebuild ---------------------------------------------------------------

    def rebuild(self, name: str) -> int:
        """Build a fresh copy from event 1 beside the live one, then swap it in atomically.

        Queries keep reading the live copy (and the live projection keeps following
        the store) until the swap, which happens in one transaction holding the
        projection's lock: catch the copy up to the head, replace the live rows,
        take over the copy's position.
        """
        projection = self.projections[name]
        shadow = shadow_name(name)
        self.store.drop_projection(shadow, [shadow_name(t) for t in projection.tables])
        position = 0
        # Three stages at once: a thread reads and decodes the next batch, this one
        # applies the current one, the store's writer commits the previous one.
        try:
            with fewer_collections(), self.store.shadow_writer(name) as writer:
                while (head := self.source.head()) - position > self.rebuild_batch_size:
                    for batch, done_to in self._read_ahead(position, head):
                        with writer.batch() as tx:
                            if tx.position != position:
                                raise PositionMovedError(name)
                            try:
                                self._apply(projection, tx, batch)
                            except Exception:
                                # Another rebuild may have emptied the copy under us (its
                                # rows then look missing): that, not the symptom, is the
                                # error, once what we queued is committed (or refused).
                                writer.settled()
                                if self.store.position(shadow_name(name)) != position:
                                    raise PositionMovedError(name) from None
                                raise
                            tx.position = done_to
                        position = done_to
        except PositionMovedError as exc:
            raise RebuildRefusedError(f"Another rebuild of '{name}' is running") from exc

        def catch_up(tx: ViewTransaction) -> None:
            while tx.position < (head := self.source.head()):
                self._process_batch(projection, tx, head)

        with self._locks[name]:
            position = self.store.swap_in(name, projection.tables, catch_up)
        if self.on_batch is not None:
            self.on_batch(name, position)
        return position

    def start_rebuild(self, name: str) -> RebuildStatus:
        """Rebuild in a background thread; refused if unknown, not rebuildable or running."""
        projection = self.projections.get(name)
        if projection is None:
            raise RebuildRefusedError(f"No projection named '{name}'")
        if not projection.rebuildable:
            raise RebuildRefusedError(f"Projection '{name}' cannot be rebuilt")
        with self._rebuild_guard:
            current = self._rebuilds.get(name)
            if current is not None and current.state == "running":
                raise RebuildRefusedError(f"Projection '{name}' is already being rebuilt")
            status = RebuildStatus(state="running", started_at=time.time())
            self._rebuilds[name] = status

        def run() -> None:
            started = time.monotonic()
            try:
                status.position = self.rebuild(name)
                elapsed = max(time.monotonic() - started, 1e-9)
                status.events_per_s = status.position / elapsed
                status.state = "completed"
            except Exception as exc:
                log.exception("rebuild of %s failed", name)
                status.state = "failed"
                status.error = f"{type(exc).__name__}: {exc}"
            finally:
                status.finished_at = time.time()

        threading.Thread(target=run, name=f"rebuild-{name}", daemon=True).start()
        return status

    def rebuild_status(self, name: str) -> RebuildStatus | None:
        return self._rebuilds.get(name)

    # --- how far behind --------------------------------------------------------

    def lag(self, names: Sequence[str] | None = None) -> dict[str, int]:
        head = self.source.head()
        return {
            name: max(0, head - self.store.position(name))
            for name in (names or list(self.projections))
        }

    def status(self, head: int | None = None) -> list[ProjectionStatus]:
        """Position and lag of each projection (against `head`, default: the store's
        now); lag in seconds is the age of the oldest event it has not processed yet."""
        head = self.source.head() if head is None else head
        leaders = self.leases.leaders() if self.leases is not None else {}
        now = time.time()
        result = []
        for name in self.projections:
            position = self.store.position(name)
            lag_seconds = 0.0
            if position < head:
                oldest = self.source.read(position, 1, head)
                timestamp = getattr(oldest[0][1], "timestamp", None) if oldest else None
                if timestamp is not None:
                    lag_seconds = max(0.0, now - timestamp.timestamp())
            result.append(
                ProjectionStatus(
                    name=name,
                    position=position,
                    head=head,
                    lag_events=max(0, head - position),
                    lag_seconds=round(lag_seconds, 3),
                    leader=leaders.get(name),
                    leading_here=name in self._leading,
                    rebuild=self._rebuilds.get(name),
                    rebuildable=self.projections[name].rebuildable,
                )
            )
        return result
