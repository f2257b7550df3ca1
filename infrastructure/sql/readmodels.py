"""Read-model store: JSON documents per table, a position per projection, the task queue."""

from __future__ import annotations

import copy
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any, cast
from uuid import uuid4

import orjson

from application.transcodings import REFUSED
from application.transcodings import loads as fast_loads
from infrastructure.sql.database import CopyCursor, Cursor, Database
from projections.store import (
    SHADOW_SUFFIX,
    PositionMovedError,
    ProjectionPosition,
    ViewTransaction,
    iter_batches,
    shadow_name,
)

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS rm_docs (
        tbl TEXT NOT NULL, key TEXT NOT NULL, part TEXT NOT NULL, owner TEXT NOT NULL,
        sort BIGINT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (tbl, key))""",
    "CREATE INDEX IF NOT EXISTS rm_docs_part ON rm_docs (tbl, part, sort)",
    "CREATE INDEX IF NOT EXISTS rm_docs_owner ON rm_docs (tbl, owner)",
    """CREATE TABLE IF NOT EXISTS rm_tracking (
        projection TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS rm_tasks (
        task_id TEXT PRIMARY KEY, kind TEXT NOT NULL, session_id TEXT NOT NULL,
        payload TEXT NOT NULL, state TEXT NOT NULL, lease_owner TEXT,
        lease_until DOUBLE PRECISION, attempts INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION)""",
    "CREATE INDEX IF NOT EXISTS rm_tasks_state ON rm_tasks (state, created_at)",
    # Where a table's rows are: `rm_docs.tbl` is `phys` for a table listed here, else
    # the table's own name. A rebuild writes its copy under a name of its own, so the
    # swap re-points the table instead of rewriting every row.
    "CREATE TABLE IF NOT EXISTS rm_tables (tbl TEXT PRIMARY KEY, phys TEXT NOT NULL)",
]

# A batch's start: its projection's position (the row without a table), and every
# table's alias (a handful of rows).
_START = (
    "SELECT position, NULL, NULL FROM rm_tracking WHERE projection = ? "
    "UNION ALL SELECT NULL, tbl, phys FROM rm_tables"
)

# `tbl = ?` for a table's name, wherever its rows are (two parameters: the name twice).
_PHYS = "COALESCE((SELECT phys FROM rm_tables WHERE tbl = ?), ?)"

_UPSERT = (
    "INSERT INTO rm_docs (tbl, key, part, owner, sort, doc) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (tbl, key) DO UPDATE SET part = excluded.part, owner = excluded.owner, "
    "sort = excluded.sort, doc = excluded.doc"
)

_DELETED = object()

# Rows per multi-row upsert: one statement per round trip (a batch of thousands of
# rows would otherwise cost a round trip each on PostgreSQL), and 6 parameters a row
# stays under SQLite's oldest limit of 999 parameters per statement.
UPSERT_ROWS = 150


@lru_cache(maxsize=UPSERT_ROWS)
def upsert_rows(count: int) -> str:
    """`_UPSERT` for `count` rows at once (keys are unique within a flush)."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * count)
    return _UPSERT.replace("VALUES (?, ?, ?, ?, ?, ?)", f"VALUES {values}")


# PostgreSQL: a flush's rows as one JSON parameter, for one statement whatever their
# number (each parameter costs the pure-Python driver more than the database does);
# the server parses each row once (`json_to_recordset`), and a document is stored as
# the text of its JSON value.
_PG_UPSERT = (
    "INSERT INTO rm_docs (tbl, key, part, owner, sort, doc) "
    "SELECT t, k, p, o, s, d::text FROM json_to_recordset(?::json) "
    "AS r(t text, k text, p text, o text, s bigint, d json) "
    "ON CONFLICT (tbl, key) DO UPDATE SET part = excluded.part, owner = excluded.owner, "
    "sort = excluded.sort, doc = excluded.doc"
)

# From this many rows a flush goes through COPY (`_copy_upserts`); fewer (a batch of a
# live projection, often one event) take the one-statement way.
PG_COPY_ROWS = 200
# A scratch table per connection; its documents are not compressed (they are copied
# into rm_docs at once).
_PG_COPY_TABLE = """DO $$
BEGIN
    IF to_regclass('pg_temp.rm_docs_copy') IS NULL THEN
        CREATE TEMP TABLE rm_docs_copy (
            tbl TEXT, key TEXT, part TEXT, owner TEXT, sort BIGINT, doc TEXT);
        ALTER TABLE rm_docs_copy ALTER COLUMN doc SET STORAGE EXTERNAL;
    END IF;
END $$"""
_PG_COPY = "COPY rm_docs_copy (tbl, key, part, owner, sort, doc) FROM STDIN"
_PG_COPY_DOCS = "COPY rm_docs (tbl, key, part, owner, sort, doc) FROM STDIN"
_PG_UPSERT_COPIED = (
    "INSERT INTO rm_docs (tbl, key, part, owner, sort, doc) "
    "SELECT tbl, key, part, owner, sort, doc FROM rm_docs_copy "
    "ON CONFLICT (tbl, key) DO UPDATE SET part = excluded.part, owner = excluded.owner, "
    "sort = excluded.sort, doc = excluded.doc"
)

# PostgreSQL compresses documents of more than 2 kB (a ticket's is 4-5 kB) with pglz
# by default, at several times the cost of the rest of writing them; lz4 (PostgreSQL
# 14 and later, where built with it) costs a quarter. Left as it is where unavailable.
_PG_SCHEMA = [
    """DO $$
    BEGIN
        IF (SELECT attcompression FROM pg_attribute
            WHERE attrelid = 'rm_docs'::regclass AND attname = 'doc') IS DISTINCT FROM 'l' THEN
            ALTER TABLE rm_docs ALTER COLUMN doc SET COMPRESSION lz4;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END $$""",
]


def dumps(doc: Any) -> str:
    """A document as JSON text (`orjson`; what it refuses, `json`)."""
    try:
        return orjson.dumps(doc).decode()
    except TypeError:
        return json.dumps(doc)


def loads(text: str | bytes) -> Any:
    """A stored document (`orjson`; where its answer could differ, `json`)."""
    doc = fast_loads(text)
    return json.loads(text) if doc is REFUSED else doc


def create_schema(db: Database) -> None:
    with db.transaction(lock="ticketforge-schema") as cur:
        for statement in SCHEMA + (_PG_SCHEMA if db.dialect == "postgres" else []):
            cur.execute(statement)


class SqlViewTransaction:
    """Buffers a batch's writes and flushes them with the new position in one commit."""

    def __init__(
        self,
        cursor: Cursor,
        position: int,
        dialect: str = "sqlite",
        aliases: dict[str, str] | None = None,
    ) -> None:
        self._cur = cursor
        self._dialect = dialect
        self._aliases = aliases
        self.position = position
        self.event_position = 0
        self._docs: dict[tuple[str, str], Any] = {}
        self._meta: dict[tuple[str, str], tuple[str, str, int]] = {}
        self._before_commit: list[Callable[[], None]] = []
        self._phys: dict[str, str] = {}

    def phys(self, table: str) -> str:
        """Where `table`'s rows are (`rm_tables`); it cannot move while we hold the lock."""
        found = self._phys.get(table)
        if found is None:
            if self._aliases is not None:  # read with the position: every alias there is
                row = (self._aliases[table],) if table in self._aliases else None
            else:
                self._cur.execute("SELECT phys FROM rm_tables WHERE tbl = ?", (table,))
                row = self._cur.fetchone()
            if row is not None:
                found = str(row[0])
            elif table.endswith(SHADOW_SUFFIX):
                # A rebuild's copy always has a name of its own, never one a live table
                # has or had: the swap only re-points the live table at it.
                found = f"{table.removesuffix(SHADOW_SUFFIX)}#{uuid4().hex[:16]}"
                self._cur.execute("INSERT INTO rm_tables (tbl, phys) VALUES (?, ?)", (table, found))
            else:
                found = table
            self._phys[table] = found
        return found

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        cached = self._docs.get((table, key))
        if cached is _DELETED:
            return None
        if cached is not None:
            return dict(cached)
        self._cur.execute(
            "SELECT doc FROM rm_docs WHERE tbl = ? AND key = ?", (self.phys(table), key)
        )
        row = self._cur.fetchone()
        if row is None:
            return None
        doc: dict[str, Any] = loads(row[0])
        return doc

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
        self._docs[(table, key)] = doc
        self._meta[(table, key)] = (partition, owner, sort)

    def delete(self, table: str, key: str) -> None:
        self._docs[(table, key)] = _DELETED
        self._meta.pop((table, key), None)

    def partition(self, table: str, partition: str) -> list[dict[str, Any]]:
        self._cur.execute(
            "SELECT key, doc FROM rm_docs WHERE tbl = ? AND part = ? ORDER BY sort, key",
            (self.phys(table), partition),
        )
        found = {key: loads(doc) for key, doc in self._cur.fetchall()}
        for (tbl, key), doc in self._docs.items():
            if tbl != table:
                continue
            if doc is _DELETED:
                found.pop(key, None)
            elif self._meta[(tbl, key)][0] == partition:
                found[key] = doc
        return list(found.values())

    def enqueue_task(
        self, task_id: str, kind: str, session_id: str, payload: dict[str, Any]
    ) -> None:
        self._cur.execute(
            "INSERT INTO rm_tasks (task_id, kind, session_id, payload, state, attempts, created_at)"
            " VALUES (?, ?, ?, ?, 'pending', 0, ?) ON CONFLICT (task_id) DO NOTHING",
            (task_id, kind, session_id, json.dumps(payload), time.time()),
        )

    def finish_task(self, task_id: str, state: str) -> None:
        self._cur.execute(
            "UPDATE rm_tasks SET state = ?, finished_at = ?, lease_owner = NULL, lease_until = NULL"
            " WHERE task_id = ? AND finished_at IS NULL",
            (state, time.time(), task_id),
        )

    def before_commit(self, action: Callable[[], None]) -> None:
        self._before_commit.append(action)

    def adopt(self, batch: DetachedViewTransaction) -> None:
        """Write what `batch` wrote (its task-queue calls run now), and its position."""
        for method, args in batch.task_calls:
            getattr(self, method)(*args)
        self.write(*batch.frozen)
        self.insert_absent(batch.absent)
        self.position = batch.position

    def insert_absent(self, rows: list[Row]) -> None:
        """Rows whose keys are not in their tables (a fresh rebuild copy's first writes
        of them): on PostgreSQL, many go straight into rm_docs by COPY."""
        if len(rows) < PG_COPY_ROWS or self._dialect != "postgres":
            self.write([], rows)
            return
        cast(CopyCursor, self._cur).copy_from(_PG_COPY_DOCS, self._copy_block(rows))

    def run_before_commit(self) -> None:
        actions, self._before_commit = self._before_commit, []
        for action in actions:
            action()

    def flush(self) -> None:
        self.write(*self.rows())

    def rows(self) -> tuple[list[tuple[str, str]], list[Row]]:
        """The batch's deletes and upserts (documents as JSON text), and forget them."""
        rows = _rows(self._docs, self._meta)
        self._docs.clear()
        self._meta.clear()
        return rows

    def write(self, deletes: list[tuple[str, str]], upserts: list[Row]) -> None:
        """Write what `rows()` gave, each table where its rows are (`phys`)."""
        phys = self.phys
        if deletes:
            self._cur.executemany(
                "DELETE FROM rm_docs WHERE tbl = ? AND key = ?",
                [(phys(table), key) for table, key in deletes],
            )
        if len(upserts) >= PG_COPY_ROWS and self._dialect == "postgres":
            self._copy_upserts(upserts)
        elif upserts and self._dialect == "postgres":
            payload = orjson.dumps(
                [
                    {"t": phys(t), "k": k, "p": p, "o": o, "s": s, "d": orjson.Fragment(d)}
                    for t, k, p, o, s, d in upserts
                ]
            )
            self._cur.execute(_PG_UPSERT, (payload.decode(),))
        elif upserts:
            values = [(phys(t), k, p, o, s, d) for t, k, p, o, s, d in upserts]
            for chunk in iter_batches(values, UPSERT_ROWS):
                self._cur.execute(upsert_rows(len(chunk)), [v for row in chunk for v in row])

    def _copy_upserts(self, upserts: list[Row]) -> None:
        """Many rows (a catch-up's, a rebuild's): COPY them into a scratch table, then
        upsert from it; the server parses COPY's text several times faster than JSON."""
        cur = cast(CopyCursor, self._cur)
        cur.execute(_PG_COPY_TABLE)
        cur.copy_from(_PG_COPY, self._copy_block(upserts))
        cur.execute(_PG_UPSERT_COPIED)
        cur.execute("TRUNCATE rm_docs_copy")

    def _copy_block(self, rows: list[Row]) -> str:
        """`rows` in COPY's text format, each table where its rows are."""
        phys = self.phys
        return "".join(
            f"{_copy_text(phys(t))}\t{_copy_text(k)}\t{_copy_text(p)}\t{_copy_text(o)}\t{s}"
            f"\t{_copy_text(d)}\n"
            for t, k, p, o, s, d in rows
        )


Row = tuple[str, str, str, str, int, str]  # table, key, partition, owner, sort, JSON


def _copy_text(value: str) -> str:
    """A field in COPY's text format."""
    if "\\" in value or "\n" in value or "\r" in value or "\t" in value:
        return (
            value.replace("\\", "\\\\")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
        )
    return value


def _rows(
    docs: dict[tuple[str, str], Any], meta: dict[tuple[str, str], tuple[str, str, int]]
) -> tuple[list[tuple[str, str]], list[Row]]:
    deletes = []
    upserts = []
    for (table, key), doc in docs.items():
        if doc is _DELETED:
            deletes.append((table, key))
        else:
            part, owner, sort = meta[(table, key)]
            upserts.append((table, key, part, owner, sort, dumps(doc)))
    return deletes, upserts


class DetachedViewTransaction:
    """A rebuild batch computed outside any database transaction, for `ShadowWriter`
    to commit: writes are kept (as `SqlViewTransaction` keeps them until its flush);
    reads wait until every earlier batch is committed, then read the database."""

    def __init__(self, db: Database, position: int, settled: Callable[[], None]) -> None:
        self._db = db
        self._settled = settled
        self.position = position
        self.event_position = 0
        self.docs: dict[tuple[str, str], Any] = {}
        self.meta: dict[tuple[str, str], tuple[str, str, int]] = {}
        self.task_calls: list[tuple[str, tuple[Any, ...]]] = []
        self.frozen: tuple[list[tuple[str, str]], list[Row]] = ([], [])
        self.absent: list[Row] = []  # upserts of keys known not to be in the copy

    def freeze(self) -> None:
        """The batch is complete: its rows as they are now (JSON text), for the writer;
        later batches may change the documents it holds, not what it writes."""
        self.frozen = _rows(self.docs, self.meta)
        self.docs = {}
        self.meta = {}

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        cached = self.docs.get((table, key))
        if cached is _DELETED:
            return None
        if cached is not None:
            return dict(cached)
        self._settled()
        with self._db.read() as cur:
            cur.execute(
                f"SELECT doc FROM rm_docs WHERE tbl = {_PHYS} AND key = ?", (table, table, key)
            )
            row = cur.fetchone()
        if row is None:
            return None
        doc: dict[str, Any] = loads(row[0])
        return doc

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
        self.docs[(table, key)] = doc
        self.meta[(table, key)] = (partition, owner, sort)

    def delete(self, table: str, key: str) -> None:
        self.docs[(table, key)] = _DELETED
        self.meta.pop((table, key), None)

    def partition(self, table: str, partition: str) -> list[dict[str, Any]]:
        self._settled()
        with self._db.read() as cur:
            cur.execute(
                f"SELECT key, doc FROM rm_docs WHERE tbl = {_PHYS} AND part = ? ORDER BY sort, key",
                (table, table, partition),
            )
            found = {key: loads(doc) for key, doc in cur.fetchall()}
        for (tbl, key), doc in self.docs.items():
            if tbl != table:
                continue
            if doc is _DELETED:
                found.pop(key, None)
            elif self.meta[(tbl, key)][0] == partition:
                found[key] = doc
        return list(found.values())

    def enqueue_task(
        self, task_id: str, kind: str, session_id: str, payload: dict[str, Any]
    ) -> None:
        payload = copy.deepcopy(payload)  # as it is now, as the synchronous batch writes it
        self.task_calls.append(("enqueue_task", (task_id, kind, session_id, payload)))

    def finish_task(self, task_id: str, state: str) -> None:
        self.task_calls.append(("finish_task", (task_id, state)))

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
            tx = SqlViewTransaction(cur, start, self._store.db.dialect)
            tx.adopt(batch)
            cur.execute(
                "INSERT INTO rm_tracking (projection, position, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (projection) DO UPDATE SET position = excluded.position, "
                "updated_at = excluded.updated_at",
                (self._shadow, tx.position, time.time()),
            )


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
            self._cache[(table, key)] = _DELETED if doc is None else doc
            return None if doc is None else dict(doc)
        return None if cached is _DELETED else dict(cached)

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
        self._cache[(table, key)] = _DELETED

    def partition(self, table: str, partition: str) -> list[dict[str, Any]]:
        return self._inner.partition(shadow_name(table), partition)

    def enqueue_task(
        self, task_id: str, kind: str, session_id: str, payload: dict[str, Any]
    ) -> None:
        self._inner.enqueue_task(task_id, kind, session_id, payload)

    def finish_task(self, task_id: str, state: str) -> None:
        self._inner.finish_task(task_id, state)

    def before_commit(self, action: Callable[[], None]) -> None:
        """Dropped on purpose (see the class docstring)."""


class SqlReadModelStore:
    # Documents a rebuild keeps in memory between its batches (per projection), at most.
    REBUILD_CACHE_DOCS = 50_000

    def __init__(self, db: Database) -> None:
        self.db = db
        self._rebuild_caches: dict[str, dict[tuple[str, str], Any]] = {}

    @contextmanager
    def _shadow_transaction(self, projection: str) -> Iterator[ShadowViewTransaction]:
        cache = self._rebuild_caches.setdefault(projection, {})
        if len(cache) > self.REBUILD_CACHE_DOCS:
            cache.clear()
        try:
            with self.transaction(shadow_name(projection)) as tx:
                if not isinstance(tx, SqlViewTransaction):
                    raise TypeError("a rebuild copy has no rebuild copy of its own")
                yield ShadowViewTransaction(tx, cache)
        except BaseException:
            cache.clear()  # it may hold what was rolled back
            raise

    @contextmanager
    def shadow_writer(self, projection: str) -> Iterator[ShadowWriter]:
        writer = ShadowWriter(self, projection)
        try:
            yield writer
        except BaseException:
            with suppress(BaseException):  # the error that stopped the batches wins
                writer.close()
            raise
        writer.close()

    def swap_in(
        self,
        projection: str,
        tables: Sequence[str],
        catch_up: Callable[[ViewTransaction], None],
    ) -> int:
        """See `ReadModelStore.swap_in`. The copy's rows stay where they are: each live
        table is re-pointed at its copy's rows (`rm_tables`) and its old rows deleted."""
        shadow = shadow_name(projection)
        with self.db.transaction(lock=f"projection:{projection}") as cur:
            if self.db.dialect == "postgres":  # the shadow's builder must have stopped too
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"projection:{shadow}",))
            cur.execute("SELECT position FROM rm_tracking WHERE projection = ?", (shadow,))
            row = cur.fetchone()
            inner = SqlViewTransaction(cur, int(row[0]) if row else 0, self.db.dialect)
            self._rebuild_caches.pop(projection, None)
            catch_up(ShadowViewTransaction(inner))
            inner.flush()
            for table in tables:
                copy = inner.phys(shadow_name(table))
                cur.execute("DELETE FROM rm_docs WHERE tbl = ?", (inner.phys(table),))
                cur.execute(
                    "INSERT INTO rm_tables (tbl, phys) VALUES (?, ?) "
                    "ON CONFLICT (tbl) DO UPDATE SET phys = excluded.phys",
                    (table, copy),
                )
                cur.execute("DELETE FROM rm_tables WHERE tbl = ?", (shadow_name(table),))
            cur.execute("DELETE FROM rm_tracking WHERE projection = ?", (shadow,))
            cur.execute(
                "INSERT INTO rm_tracking (projection, position, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (projection) DO UPDATE SET position = excluded.position, "
                "updated_at = excluded.updated_at",
                (projection, inner.position, time.time()),
            )
            return inner.position

    def create_tables(self) -> None:
        create_schema(self.db)

    @contextmanager
    def transaction(
        self, projection: str, *, shadow: bool = False
    ) -> Iterator[SqlViewTransaction | ShadowViewTransaction]:
        if shadow:
            with self._shadow_transaction(projection) as shadow_tx:
                yield shadow_tx
            return
        with self.db.transaction(lock=f"projection:{projection}") as cur:
            # The position and where the tables' rows are, in one round trip.
            cur.execute(_START, (projection,))
            tracked: int | None = None
            aliases: dict[str, str] = {}
            for position, table, phys in cur.fetchall():
                if table is None:
                    tracked = int(position)
                else:
                    aliases[table] = phys
            start = tracked or 0
            tx = SqlViewTransaction(cur, start, self.db.dialect, aliases)
            yield tx
            tx.flush()
            if tx.position != start or tracked is None:
                cur.execute(
                    "INSERT INTO rm_tracking (projection, position, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (projection) DO UPDATE SET position = excluded.position, "
                    "updated_at = excluded.updated_at",
                    (projection, tx.position, time.time()),
                )
            tx.run_before_commit()

    def position(self, projection: str) -> int:
        with self.db.read() as cur:
            cur.execute("SELECT position FROM rm_tracking WHERE projection = ?", (projection,))
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def positions(self) -> list[ProjectionPosition]:
        with self.db.read() as cur:
            cur.execute("SELECT projection, position, updated_at FROM rm_tracking ORDER BY 1")
            rows = cur.fetchall()
        return [ProjectionPosition(r[0], int(r[1]), r[2]) for r in rows]

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        with self.db.read() as cur:
            cur.execute(
                f"SELECT doc FROM rm_docs WHERE tbl = {_PHYS} AND key = ?", (table, table, key)
            )
            row = cur.fetchone()
        if row is None:
            return None
        doc: dict[str, Any] = loads(row[0])
        return doc

    def _where(self, table: str, partition: str | None, owner: str | None) -> tuple[str, list[Any]]:
        clauses, params = [f"tbl = {_PHYS}"], [table, table]
        if partition is not None:
            clauses.append("part = ?")
            params.append(partition)
        if owner is not None:
            clauses.append("owner = ?")
            params.append(owner)
        return " AND ".join(clauses), params

    def list(
        self,
        table: str,
        *,
        partition: str | None = None,
        owner: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        where, params = self._where(table, partition, owner)
        sql = f"SELECT doc FROM rm_docs WHERE {where} ORDER BY sort, key"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        with self.db.read() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        return [loads(r[0]) for r in rows]

    def count(self, table: str, *, partition: str | None = None, owner: str | None = None) -> int:
        where, params = self._where(table, partition, owner)
        with self.db.read() as cur:
            cur.execute(f"SELECT COUNT(*) FROM rm_docs WHERE {where}", params)
            return int(cur.fetchone()[0])

    def drop_projection(self, projection: str, tables: Sequence[str]) -> None:
        if projection.endswith(SHADOW_SUFFIX):
            self._rebuild_caches.pop(projection.removesuffix(SHADOW_SUFFIX), None)
        with self.db.transaction(lock=f"projection:{projection}") as cur:
            for table in tables:
                cur.execute(f"DELETE FROM rm_docs WHERE tbl = {_PHYS}", (table, table))
                cur.execute("DELETE FROM rm_tables WHERE tbl = ?", (table,))
            cur.execute("DELETE FROM rm_tracking WHERE projection = ?", (projection,))

    def close(self) -> None:
        self.db.close()
