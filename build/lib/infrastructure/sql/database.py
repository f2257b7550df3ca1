"""A thin connection layer with the two dialects we run on.

SQL is written once with `?` placeholders; PostgreSQL gets `%s`. Write transactions
take a named lock so that competing projectors or workers take turns:
SQLite by `BEGIN IMMEDIATE` (one writer per file), PostgreSQL by an advisory lock.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class CopyCursor(Cursor, Protocol):
    """PostgreSQL's: `COPY ... FROM STDIN` with `data` (the statement's own format)."""

    def copy_from(self, sql: str, data: str) -> None: ...


class Database(Protocol):
    dialect: str

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Cursor]: ...

    @contextmanager
    def read(self) -> Iterator[Cursor]: ...

    def close(self) -> None: ...


class _QmarkCursor:
    """Runs `?`-style SQL on a psycopg cursor."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql.replace("?", "%s"), params)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def copy_from(self, sql: str, data: str) -> None:
        with self._cursor.copy(sql) as copy:
            copy.write(data)  # encoded as the connection's client encoding


class _ThreadHolder:
    """Lives in a thread's locals only: its finalizer runs when the thread ends."""


class SQLiteDatabase:
    dialect = "sqlite"

    def __init__(self, path: Path, timeout_s: float = 30.0) -> None:
        self.path = path
        self.timeout_s = timeout_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            self._local.conn = conn
            # A thread's locals go when it ends (the API's idle worker threads do, a
            # rebuild's threads do): its connection is closed with them.
            holder = _ThreadHolder()
            self._local.holder = holder
            weakref.finalize(holder, self._forget, conn)
            with self._guard:
                self._all.append(conn)
        return conn

    def _forget(self, conn: sqlite3.Connection) -> None:
        with self._guard:
            if conn not in self._all:
                return  # closed already (by close())
            self._all.remove(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Cursor]:
        conn = self._connection()
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cursor.close()

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        conn = self._connection()
        cursor = conn.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    @property
    def open_connections(self) -> int:
        """How many threads hold a connection (each thread opens its own)."""
        with self._guard:
            return len(self._all)

    def close(self) -> None:
        with self._guard:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, conninfo: str, max_size: int = 10, timeout_s: float = 5.0) -> None:
        """`timeout_s`: how long to wait for a connection before giving up (the API then
        answers 503) when the server is away or every connection is busy. Each connection
        is checked as it is handed out, so the ones a server restart cut are replaced
        instead of failing one request each. A reconnection that keeps failing is given up
        after `timeout_s` too (the next request starts a new one at once), so the pool
        finds a server that came back within seconds, not after a backoff grown with
        the outage (psycopg_pool doubles it from 1 s up to its 300 s default)."""
        from psycopg_pool import ConnectionPool

        self.pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            open=True,
            kwargs={"autocommit": True},
            timeout=timeout_s,
            reconnect_timeout=timeout_s,
            check=ConnectionPool.check_connection,
        )

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Cursor]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            if lock is not None:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
            yield _QmarkCursor(cursor)

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        with self.pool.connection() as conn, conn.cursor() as cursor:
            yield _QmarkCursor(cursor)

    def close(self) -> None:
        self.pool.close()
