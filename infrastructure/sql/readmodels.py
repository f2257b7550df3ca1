"""Read-model store: JSON documents per table, a position per projection, the task queue."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from infrastructure.sql.database import Cursor, Database
from projections.store import (
    SHADOW_SUFFIX,
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
]

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


def create_schema(db: Database) -> None:
    with db.transaction(lock="ticketforge-schema") as cur:
        for statement in SCHEMA:
            cur.execute(statement)


class SqlViewTransaction:
    """Buffers a batch's writes and flushes them with the new position in one commit."""

    def __init__(self, cursor: Cursor, position: int) -> None:
        self._cur = cursor
        self.position = position
        self.event_position = 0
        self._docs: dict[tuple[str, str], Any] = {}
        self._meta: dict[tuple[str, str], tuple[str, str, int]] = {}
        self._before_commit: list[Callable[[], None]] = []

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        cached = self._docs.get((table, key))
        if cached is _DELETED:
            return None
        if cached is not None:
            return dict(cached)
        self._cur.execute("SELECT doc FROM rm_docs WHERE tbl = ? AND key = ?", (table, key))
        row = self._cur.fetchone()
        if row is None:
            return None
        doc: dict[str, Any] = json.loads(row[0])
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
            (table, partition),
        )
        found = {key: json.loads(doc) for key, doc in self._cur.fetchall()}
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

    def run_before_commit(self) -> None:
        actions, self._before_commit = self._before_commit, []
        for action in actions:
            action()

    def flush(self) -> None:
        upserts = []
        deletes = []
        for (table, key), doc in self._docs.items():
            if doc is _DELETED:
                deletes.append((table, key))
            else:
                part, owner, sort = self._meta[(table, key)]
                upserts.append((table, key, part, owner, sort, json.dumps(doc)))
        if deletes:
            self._cur.executemany("DELETE FROM rm_docs WHERE tbl = ? AND key = ?", deletes)
        for chunk in iter_batches(upserts, UPSERT_ROWS):
            self._cur.execute(upsert_rows(len(chunk)), [v for row in chunk for v in row])
        self._docs.clear()
        self._meta.clear()


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
        self, inner: SqlViewTransaction, cache: dict[tuple[str, str], Any] | None = None
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

    def swap_in(
        self,
        projection: str,
        tables: Sequence[str],
        catch_up: Callable[[ViewTransaction], None],
    ) -> int:
        shadow = shadow_name(projection)
        with self.db.transaction(lock=f"projection:{projection}") as cur:
            if self.db.dialect == "postgres":  # the shadow's builder must have stopped too
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"projection:{shadow}",))
            cur.execute("SELECT position FROM rm_tracking WHERE projection = ?", (shadow,))
            row = cur.fetchone()
            inner = SqlViewTransaction(cur, int(row[0]) if row else 0)
            self._rebuild_caches.pop(projection, None)
            catch_up(ShadowViewTransaction(inner))
            inner.flush()
            for table in tables:
                cur.execute("DELETE FROM rm_docs WHERE tbl = ?", (table,))
                cur.execute("UPDATE rm_docs SET tbl = ? WHERE tbl = ?", (table, shadow_name(table)))
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
            cur.execute("SELECT position FROM rm_tracking WHERE projection = ?", (projection,))
            row = cur.fetchone()
            start = int(row[0]) if row else 0
            tx = SqlViewTransaction(cur, start)
            yield tx
            tx.flush()
            if tx.position != start or row is None:
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
            cur.execute("SELECT doc FROM rm_docs WHERE tbl = ? AND key = ?", (table, key))
            row = cur.fetchone()
        if row is None:
            return None
        doc: dict[str, Any] = json.loads(row[0])
        return doc

    def _where(self, table: str, partition: str | None, owner: str | None) -> tuple[str, list[Any]]:
        clauses, params = ["tbl = ?"], [table]
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
        return [json.loads(r[0]) for r in rows]

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
                cur.execute("DELETE FROM rm_docs WHERE tbl = ?", (table,))
            cur.execute("DELETE FROM rm_tracking WHERE projection = ?", (projection,))

    def close(self) -> None:
        self.db.close()
