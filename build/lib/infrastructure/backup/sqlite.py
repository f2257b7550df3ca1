"""The stored history on SQLite: the library's events and snapshots tables in the event
store's file (a notification id is the events table's rowid; originator ids are stored
as 32 hex digits), and the users in the read-model file.

Connections of our own, not the library's pool: a backup reads in one transaction
(WAL mode gives it a snapshot while others write), a restore writes in one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from application.operations.batch import EventBatch, UserRow
from application.operations.port import Counts, StoreNotEmptyError
from infrastructure.sql.users import SCHEMA as USERS_SCHEMA

TIMEOUT_S = 30.0


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(TIMEOUT_S * 1000)}")
    return conn


def _count(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> int:
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise


class _Tables:
    def __init__(self, events: str, snapshots: str) -> None:
        self.events = events
        self.snapshots = snapshots

    def event_batch(
        self, conn: sqlite3.Connection, after: int, stop: int | None, size: int
    ) -> EventBatch:
        rows = conn.execute(
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events} "
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
            (after, stop if stop is not None else 2**63 - 1, size),
        ).fetchall()
        if not rows:
            return EventBatch.from_rows([])
        ids, originators, versions, topics, states = zip(*rows, strict=True)
        return EventBatch.from_hex_ids(ids, originators, versions, topics, states)

    def snapshot_batch(
        self, conn: sqlite3.Connection, after: tuple[str, int], size: int
    ) -> EventBatch:
        rows = conn.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {self.snapshots} "
            "WHERE (originator_id, originator_version) > (?, ?) "
            "ORDER BY originator_id, originator_version LIMIT ?",
            (*after, size),
        ).fetchall()
        if not rows:
            return EventBatch.from_rows([])
        originators, versions, topics, states = zip(*rows, strict=True)
        return EventBatch.from_hex_ids([0] * len(rows), originators, versions, topics, states)

    def event_batches(
        self, conn: sqlite3.Connection, stop: int | None, size: int
    ) -> Iterator[EventBatch]:
        after = 0
        while len(batch := self.event_batch(conn, after, stop, size)):
            yield batch
            after = batch.ids[-1]

    def snapshot_batches(self, conn: sqlite3.Connection, size: int) -> Iterator[EventBatch]:
        after = ("", 0)
        while len(batch := self.snapshot_batch(conn, after, size)):
            yield batch
            after = (batch.originators[-16:].hex(), batch.versions[-1])


class SqliteImage:
    def __init__(
        self, conn: sqlite3.Connection, users: sqlite3.Connection, tables: _Tables, position: int
    ) -> None:
        self._conn = conn
        self._users = users
        self._tables = tables
        self.position = position

    def counts(self) -> Counts:
        t = self._tables
        return Counts(
            events=_count(
                self._conn, f"SELECT COUNT(*) FROM {t.events} WHERE rowid <= ?", (self.position,)
            ),
            snapshots=_count(self._conn, f"SELECT COUNT(*) FROM {t.snapshots}"),
            users=_count(self._users, "SELECT COUNT(*) FROM tf_users"),
        )

    def events(self, batch_size: int) -> Iterator[EventBatch]:
        return self._tables.event_batches(self._conn, self.position, batch_size)

    def snapshots(self, batch_size: int) -> Iterator[EventBatch]:
        return self._tables.snapshot_batches(self._conn, batch_size)

    def users(self) -> list[UserRow]:
        try:
            rows = self._users.execute(
                "SELECT name, token_hash, is_admin, created_at FROM tf_users ORDER BY name"
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        return [(str(n), str(h), bool(a), float(c)) for n, h, a, c in rows]


class SqliteWriter:
    def __init__(
        self, conn: sqlite3.Connection, users: sqlite3.Connection, tables: _Tables
    ) -> None:
        self._conn = conn
        self._users = users
        self._tables = tables

    def events(self, batch: EventBatch) -> None:
        self._conn.executemany(
            f"INSERT INTO {self._tables.events} "
            "(rowid, originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
            zip(
                batch.ids,
                batch.originator_hex(),
                batch.versions,
                batch.topics,
                batch.state_list(),
                strict=True,
            ),
        )

    def snapshots(self, batch: EventBatch) -> None:
        self._conn.executemany(
            f"INSERT INTO {self._tables.snapshots} "
            "(originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
            zip(
                batch.originator_hex(),
                batch.versions,
                batch.topics,
                batch.state_list(),
                strict=True,
            ),
        )

    def users(self, rows: Sequence[UserRow]) -> None:
        self._users.executemany(
            "INSERT INTO tf_users (name, token_hash, is_admin, created_at) VALUES (?, ?, ?, ?)",
            rows,
        )

    def finish(self, position: int) -> None:
        """Nothing to do: SQLite gives the next row the rowid after the largest."""


class SqliteKeyedRows:
    def __init__(self, conn: sqlite3.Connection, tables: _Tables, kind: str) -> None:
        self._conn = conn
        self._tables = tables
        self._kind = kind

    def count(self) -> int:
        table = self._tables.events if self._kind == "events" else self._tables.snapshots
        return _count(self._conn, f"SELECT COUNT(*) FROM {table}")

    def batches(self, size: int) -> Iterator[EventBatch]:
        if self._kind == "events":
            return self._tables.event_batches(self._conn, None, size)
        return self._tables.snapshot_batches(self._conn, size)

    def replace(self, batch: EventBatch, states: Sequence[bytes | None]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self._kind == "events":
                conn.executemany(
                    f"UPDATE {self._tables.events} SET state = ? WHERE rowid = ?",
                    [(s, i) for s, i in zip(states, batch.ids, strict=True) if s is not None],
                )
            else:
                conn.executemany(
                    f"UPDATE {self._tables.snapshots} SET state = ? "
                    "WHERE originator_id = ? AND originator_version = ?",
                    [
                        (s, o, v)
                        for s, o, v in zip(
                            states, batch.originator_hex(), batch.versions, strict=True
                        )
                        if s is not None
                    ],
                )
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


class SqliteHistory:
    backend = "sqlite"

    def __init__(
        self,
        events_db: Path,
        readmodels_db: Path,
        *,
        events_table: str = "stored_events",
        snapshots_table: str = "stored_snapshots",
    ) -> None:
        self.events_db = events_db
        self.readmodels_db = readmodels_db
        self._tables = _Tables(events_table, snapshots_table)
        self._exclusive: sqlite3.Connection | None = None

    def counts(self) -> Counts:
        events, users = _connect(self.events_db), _connect(self.readmodels_db)
        try:
            return Counts(
                events=_count(events, f"SELECT COUNT(*) FROM {self._tables.events}"),
                snapshots=_count(events, f"SELECT COUNT(*) FROM {self._tables.snapshots}"),
                users=_count(users, "SELECT COUNT(*) FROM tf_users"),
            )
        finally:
            events.close()
            users.close()

    @contextmanager
    def image(self) -> Iterator[SqliteImage]:
        conn, users = _connect(self.events_db), _connect(self.readmodels_db)
        try:
            # A read transaction: in WAL mode it sees the file as of its first read,
            # however much is written meanwhile.
            conn.execute("BEGIN")
            position = _count(conn, f"SELECT COALESCE(MAX(rowid), 0) FROM {self._tables.events}")
            users.execute("BEGIN")
            yield SqliteImage(conn, users, self._tables, position)
        finally:
            conn.rollback()
            users.rollback()
            conn.close()
            users.close()

    @contextmanager
    def restoring(self) -> Iterator[SqliteWriter]:
        conn, users = _connect(self.events_db), _connect(self.readmodels_db)
        conn.execute("PRAGMA cache_size=-262144")  # 256 MB: the key index is built as it goes
        # The commit does not wait for the WAL to reach the disk: the checkpoint after it
        # does (it syncs the WAL, copies it into the file, syncs the file), once.
        conn.execute("PRAGMA synchronous=NORMAL")
        try:
            users.execute(USERS_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            users.execute("BEGIN IMMEDIATE")
            counts = Counts(
                events=_count(conn, f"SELECT COUNT(*) FROM {self._tables.events}"),
                snapshots=_count(conn, f"SELECT COUNT(*) FROM {self._tables.snapshots}"),
                users=_count(users, "SELECT COUNT(*) FROM tf_users"),
            )
            if not counts.empty:
                raise StoreNotEmptyError(counts)
            yield SqliteWriter(conn, users, self._tables)
            # The events first: users without their history would be the worse half.
            conn.commit()
            users.commit()
            # Everything on disk before we say so; the WAL (as large as the restore)
            # emptied. A reader elsewhere can keep it from truncating: no matter.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            if conn.in_transaction:
                conn.rollback()
            if users.in_transaction:
                users.rollback()
            conn.close()
            users.close()

    def in_use(self) -> list[str]:
        found: list[str] = []
        users = _connect(self.readmodels_db)
        now = time.time()
        try:
            for query, describe in (
                (
                    "SELECT name, owner FROM rm_leases WHERE until >= ?",
                    "a projector ({1}) leads the '{0}' projection",
                ),
                (
                    "SELECT task_id, lease_owner FROM rm_tasks "
                    "WHERE lease_until >= ? AND finished_at IS NULL",
                    "a worker ({1}) holds task {0}",
                ),
            ):
                try:
                    rows = users.execute(query, (now,)).fetchall()
                except sqlite3.OperationalError:
                    continue  # no such table: nothing ever ran there
                found += [describe.format(*row) for row in rows]
        finally:
            users.close()
        conn = _connect(self.events_db)
        conn.execute("PRAGMA busy_timeout=1000")
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.rollback()
        except sqlite3.OperationalError:
            found.append(f"another process is writing to {self.events_db}")
        finally:
            conn.close()
        return found

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """The event store's file locked for this connection alone until the end (SQLite's
        exclusive locking mode): another process cannot even read it meanwhile."""
        conn = _connect(self.events_db)
        try:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.commit()
            self._exclusive = conn
            yield
        finally:
            self._exclusive = None
            conn.close()

    def rows(self, kind: Literal["events", "snapshots"]) -> SqliteKeyedRows:
        if self._exclusive is None:
            raise RuntimeError("rows() is for use inside exclusive()")
        return SqliteKeyedRows(self._exclusive, self._tables, kind)
