"""Projection base class and the runner that feeds it from the notification log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from projections.store import ReadModelStore, ViewTransaction

log = logging.getLogger(__name__)


class Projection:
    """Turns events into rows. Subclasses register handlers with `singledispatchmethod`."""

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]

    def process(self, event: Any, tx: ViewTransaction) -> None:
        raise NotImplementedError


class Notification(Protocol):
    id: int


class EventSource(Protocol):
    """The application's notification log, decoded."""

    def head(self) -> int: ...

    def read(self, after: int, limit: int, stop: int) -> Sequence[tuple[int, Any]]:
        """(notification id, domain event) pairs with after < id <= stop, in order."""
        ...


class ProjectionRunner:
    """Catches projections up with the event store, one batch per transaction.

    Positions come from the store, never from memory: several runners (threads or
    processes) may pump the same projection; the store's per-projection lock makes
    them take turns, and each batch starts from the committed position.
    """

    def __init__(
        self,
        source: EventSource,
        store: ReadModelStore,
        projections: Sequence[Projection],
        batch_size: int = 1000,
    ) -> None:
        self.source = source
        self.store = store
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self._locks = {name: threading.Lock() for name in self.projections}
        self._stop = threading.Event()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_batch: Callable[[str, int], None] | None = None

    def pump(self, name: str, until: int | None = None) -> int:
        """Process what is there now (up to `until`); return the committed position."""
        projection = self.projections[name]
        with self._locks[name]:
            while True:
                head = self.source.head() if until is None else until
                with self.store.transaction(name) as tx:
                    if tx.position >= head:
                        return tx.position
                    batch = self.source.read(tx.position, self.batch_size, head)
                    for _, event in batch:
                        projection.process(event, tx)
                    # Ids between events this projection saw may belong to nobody it
                    # cares about; a short batch means everything up to head was read.
                    done_to = batch[-1][0] if len(batch) == self.batch_size else head
                    tx.position = done_to
                if self.on_batch is not None:
                    self.on_batch(name, done_to)

    def pump_all(self) -> None:
        for name in self.projections:
            self.pump(name)

    def wait_for(self, position: int | None, timeout: float = 5.0) -> bool:
        """Read-your-writes: bring every projection to `position`; False on timeout."""
        if position is None:
            return True
        deadline = time.monotonic() + timeout
        for name in self.projections:
            while self.store.position(name) < position:
                if self._thread is None:
                    self.pump(name, until=position)
                    continue
                self._wakeup.set()
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.01)
        return True

    def start(self, poll_interval: float = 0.2) -> None:
        """Follow the store in a background thread until `stop()`."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.pump_all()
                except Exception:  # a broken batch is retried; the position did not move
                    log.exception("projection batch failed; retrying")
                    self._stop.wait(1.0)
                self._wakeup.wait(poll_interval)
                self._wakeup.clear()

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

    def lag(self) -> dict[str, int]:
        head = self.source.head()
        return {name: max(0, head - self.store.position(name)) for name in self.projections}
