"""A rebuild: the projection's batches computed into its copy (`<table>#rebuild`) while a
thread of its own commits them, one batch behind."""

from __future__ import annotations

import copy
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from infrastructure.sql.database import Database
from infrastructure.sql.readmodels.documents import DELETED, BufferedDocuments, Deletes, Row
from infrastructure.sql.readmodels.schema import PHYS, TRACK
from infrastructure.sql.readmodels.transaction import SqlViewTransaction
from projections.store import PositionMovedError, shadow_name

if TYPE_CHECKING:
    from infrastructure.sql.readmodels.store import SqlReadModelStore


class DetachedViewTransaction(BufferedDocuments):
    """A rebuild batch computed outside any database transaction, for `ShadowWriter`
    to commit: writes are kept (as `SqlViewTransaction` keeps them until its flush);
    reads wait until every earlier batch is committed, then read the database."""

    def __init__(self, db: Database, position: int, settled: Callable[[], None]) -> None:
        super().__init__(position)
        self._db = db
        self._settled = settled
        self.task_calls: list[tuple[str, tuple[Any, ...]]] = []
        self.frozen: tuple[Deletes, list[Row]] = ([], [])
        self.absent: list[Row] = []  # upserts of keys known not to be in the copy

    def freeze(self) -> None:
        """The batch is complete: its rows as they are now (JSON text), for the writer;
        later batches may change the documents it holds, not what it writes."""
        self.frozen = self.rows()

    def _stored(self, table: str, key: str) -> str | bytes | None:
        self._settled()
        with self._db.read() as cur:
            cur.execute(
                f"SELECT doc FROM rm_docs WHERE tbl = {PHYS} AND key = ?", (table, table, key)
            )
            row = cur.fetchone()
        return None if row is None else row[0]

    def _stored_partition(self, table: str, partition: str) -> list[tuple[str, str | bytes]]:
        self._settled()
        with self._db.read() as cur:
            cur.execute(
                f"SELECT key, doc FROM rm_docs WHERE tbl = {PHYS} AND part = ? ORDER BY sort, key",
                (table, table, partition),
            )
            return cur.fetchall()

    def enqueue_task(
        self, task_id: str, kind: str, session_id: str, payload: dict[str, Any]
    ) -> None:
        payload = copy.deepcopy(payload)  # as it is now, as the synchronous batch writes it
        self.task_calls.append(("enqueue_task", (task_id, kind, session_id, payload)))

    def finish_task(self, task_id: str, state: str) -> None:
        self.task_calls.append(("finish_task", (task_id, state)))

    side_effects = False  # a rebuild announces nothing (see ShadowViewTransaction)

    def before_commit(self, action: Callable[[], None]) -> None:
        raise TypeError("a rebuild batch runs no side effects")  # ShadowViewTransaction drops them


class ShadowWriter:
    """Commits a rebuild's batches in a thread of its own, one behind the batch being
    computed: the database writes one batch while the projection computes the next.

    One batch at most waits for its commit; `batch()` blocks while one does. The
    commit of each batch is what `transaction(shadow=True)` does: the copy's rows and
    position in one transaction, under the copy's lock, from the position the previous
    batch left (else `PositionMovedError`: another rebuild wrote the copy).
    """

    def __init__(self, store: SqlReadModelStore, projection: str) -> None:
        self._store = store
        self._projection = projection
        self._shadow = shadow_name(projection)
        self._pending: queue.Queue[tuple[int, DetachedViewTransaction] | None] = queue.Queue(1)
        self._busy = threading.Condition()
        self._unsettled = 0  # batches queued or being committed
        self._error: BaseException | None = None
        self.position = store.position(self._shadow)
        # The keys the copy holds, where known: from an empty copy (position 0: rows and
        # position are committed together), every key is one this writer wrote.
        self._present: set[tuple[str, str]] | None = set() if self.position == 0 else None
        self._thread = threading.Thread(
            target=self._run, name=f"rebuild-writer-{projection}", daemon=True
        )
        self._thread.start()

    @contextmanager
    def batch(self) -> Iterator[ShadowViewTransaction]:
        self._raise_error()
        cache = self._store._rebuild_caches.setdefault(self._projection, {})
        if len(cache) > self._store.REBUILD_CACHE_DOCS:
            self.settled()  # what the cache forgets must be in the database first
            cache.clear()
        start = self.position
        detached = DetachedViewTransaction(self._store.db, start, self.settled)
        try:
            yield ShadowViewTransaction(detached, cache)
        except BaseException:
            cache.clear()  # it may hold what this batch wrote
            raise
        detached.freeze()
        if self._present is not None:
            self._sort_out_absent(detached, self._present)
        with self._busy:
            self._unsettled += 1
        self._pending.put((start, detached))
        self.position = detached.position

    @staticmethod
    def _sort_out_absent(batch: DetachedViewTransaction, present: set[tuple[str, str]]) -> None:
        """Move the upserts of keys the copy does not hold to `batch.absent`."""
        deletes, upserts = batch.frozen
        for key in deletes:
            present.discard(key)
        known = []
        for row in upserts:
            key = (row[0], row[1])
            if key in present:
                known.append(row)
            else:
                batch.absent.append(row)
                present.add(key)
        batch.frozen = (deletes, known)

    def settled(self) -> None:
        """Wait until every queued batch is committed (raise if one failed)."""
        with self._busy:
            while self._unsettled and self._error is None:
                self._busy.wait()
        self._raise_error()

    def close(self) -> None:
        self._pending.put(None)
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            self._store._rebuild_caches.pop(self._projection, None)
            raise self._error

    def _run(self) -> None:
        # Its SQLite connection is closed when this thread ends (SQLiteDatabase).
        while (item := self._pending.get()) is not None:
            if self._error is None:
                try:
                    self._commit(*item)
                except BaseException as exc:
                    self._error = exc
            with self._busy:
                self._unsettled -= 1
                self._busy.notify_all()

    def _commit(self, start: int, batch: DetachedViewTransaction) -> None:  # in the writer
        with self._store.db.transaction(lock=f"projection:{self._shadow}") as cur:
            cur.execute("SELECT position FROM rm_tracking WHERE projection = ?", (self._shadow,))
            row = cur.fetchone()
            if (int(row[0]) if row else 0) != start:
                raise PositionMovedError(f"Another rebuild of '{self._projection}' is running")
            tx = SqlViewTransaction(cur, start, self._store.backend)
            tx.adopt(batch)
            cur.execute(TRACK, (self._shadow, tx.position, time.time()))


class ShadowViewTransaction:
    """A batch of a rebuild: the same projection code, writing to `<table>#rebuild`.

    Side effects registered with `before_commit` (publishing progress) are dropped:
    a rebuild recomputes rows, it does not announce old events again. Task queue
    writes go through: they are idempotent, so replaying them changes nothing.

    Only the rebuild writes its copy, so the documents it read or wrote in earlier
    batches are kept in `cache` (shared by the rebuild's batches) rather than read
    and parsed again from the database.
    """

    def __init__(
        self,
        inner: SqlViewTransaction | DetachedViewTransaction,
        cache: dict[tuple[str, str], Any] | None = None,
    ) -> None:
        self._inner = inner
        self._cache: dict[tuple[str, str], Any] = {} if cache is None else cache

    @property
    def position(self) -> int:
        return self._inner.position

    @position.setter
    def position(self, value: int) -> None:
        self._inner.position = value

    @property
    def event_position(self) -> int:
        return self._inner.event_position

    @event_position.setter
    def event_position(self, value: int) -> None:
        self._inner.event_position = value

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        cached = self._cache.get((table, key))
        if cached is None:
            doc = self._inner.get(shadow_name(table), key)
            self._cache[(table, key)] = DELETED if doc is None else doc
            return None if doc is None else dict(doc)
        return None if cached is DELETED else dict(cached)

    def put(
        self,
        table: str,
        key: str,
        doc: dict[str, Any],
        *,
        partition: str = "",
        owner: str = "",
        sort: int = 0,
    ) -> None:
        self._inner.put(shadow_name(table), key, doc, partition=partition, owner=owner, sort=sort)
        self._cache[(table, key)] = doc

    def delete(self, table: str, key: str) -> None:
        self._inner.delete(shadow_name(table), key)
        self._cache[(table, key)] = DELETED

    def partition(self, table: str, partition: str) -> list[dict[str, Any]]:
        return self._inner.partition(shadow_name(table), partition)

    def enqueue_task(
        self, task_id: str, kind: str, session_id: str, payload: dict[str, Any]
    ) -> None:
        self._inner.enqueue_task(task_id, kind, session_id, payload)

    def finish_task(self, task_id: str, state: str) -> None:
        self._inner.finish_task(task_id, state)

    side_effects = False  # projections that publish as they go must not (see above)

    def before_commit(self, action: Callable[[], None]) -> None:
        """Dropped on purpose (see the class docstring)."""
