"""The read-model store on SQL: JSON documents per table in `rm_docs`, a position per
projection in `rm_tracking`, the queries, and a rebuild's swap.

Its parts: `transaction.py` (a projector's batch), `rebuild.py` (a rebuild's batches),
`documents.py` (the buffered writes both batches share), `sqlite.py` and
`postgres.py` (how each backend writes documents), `schema.py` (the tables).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from infrastructure.sql.database import Database
from infrastructure.sql.readmodels.documents import DocumentBackend, loads
from infrastructure.sql.readmodels.postgres import PostgresDocuments
from infrastructure.sql.readmodels.rebuild import ShadowViewTransaction, ShadowWriter
from infrastructure.sql.readmodels.schema import PHYS, TRACK, create_schema
from infrastructure.sql.readmodels.sqlite import SqliteDocuments
from infrastructure.sql.readmodels.transaction import SqlViewTransaction
from projections.store import (
    SHADOW_SUFFIX,
    ProjectionPosition,
    ViewTransaction,
    shadow_name,
)

# A batch's start: its projection's position (the row without a table), and every
# table's alias (a handful of rows).
_START = (
    "SELECT position, NULL, NULL FROM rm_tracking WHERE projection = ? "
    "UNION ALL SELECT NULL, tbl, phys FROM rm_tables"
)


def backend_for(dialect: str) -> DocumentBackend:
    return PostgresDocuments() if dialect == "postgres" else SqliteDocuments()


class SqlReadModelStore:
    # Documents a rebuild keeps in memory between its batches (per projection), at most.
    REBUILD_CACHE_DOCS = 50_000

    def __init__(self, db: Database) -> None:
        self.db = db
        self.backend = backend_for(db.dialect)
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
            self.backend.lock(cur, f"projection:{shadow}")  # the copy's builder must have stopped
            cur.execute("SELECT position FROM rm_tracking WHERE projection = ?", (shadow,))
            row = cur.fetchone()
            inner = SqlViewTransaction(cur, int(row[0]) if row else 0, self.backend)
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
            cur.execute(TRACK, (projection, inner.position, time.time()))
            return inner.position

    def create_tables(self) -> None:
        create_schema(self.db, self.backend)

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
            tx = SqlViewTransaction(cur, start, self.backend, aliases)
            yield tx
            tx.flush()
            if tx.position != start or tracked is None:
                cur.execute(TRACK, (projection, tx.position, time.time()))
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
                f"SELECT doc FROM rm_docs WHERE tbl = {PHYS} AND key = ?", (table, table, key)
            )
            row = cur.fetchone()
        if row is None:
            return None
        doc: dict[str, Any] = loads(row[0])
        return doc

    def _where(self, table: str, partition: str | None, owner: str | None) -> tuple[str, list[Any]]:
        clauses, params = [f"tbl = {PHYS}"], [table, table]
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
                cur.execute(f"DELETE FROM rm_docs WHERE tbl = {PHYS}", (table, table))
                cur.execute("DELETE FROM rm_tables WHERE tbl = ?", (table,))
            cur.execute("DELETE FROM rm_tracking WHERE projection = ?", (projection,))

    def close(self) -> None:
        self.db.close()
