"""Leader election for projectors: one process does a projection's work at a time.

PostgreSQL: a session-level advisory lock on a connection of our own, held while we
lead; if the process dies its connection closes and the server lets the lock go, so a
waiting process takes over at its next try. SQLite has no sessions that outlive a
crash, so a lease row with an expiry does the same job: the leader renews it, and a
lease that was not renewed in time is taken over.

Leadership is an optimisation (no two processes doing the same work), not what keeps
the read models correct: every batch still runs under the projection's transaction
lock and starts from the committed position.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any
from uuid import uuid4

from infrastructure.sql.database import Database

log = logging.getLogger(__name__)

SCHEMA = """CREATE TABLE IF NOT EXISTS rm_leases (
    name TEXT PRIMARY KEY, owner TEXT NOT NULL, until DOUBLE PRECISION NOT NULL)"""


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:6]}"


class SqliteLeaderLock:
    """Lease rows in the read-model database; a dead leader's lease runs out."""

    def __init__(self, db: Database, *, lease_s: float = 5.0, owner: str | None = None) -> None:
        self.db = db
        self.lease_s = lease_s
        self.owner = owner or default_owner()
        self._held_until: dict[str, float] = {}
        self._next_try: dict[str, float] = {}
        with db.transaction(lock="ticketforge-schema") as cur:
            cur.execute(SCHEMA)

    def acquire(self, name: str) -> bool:
        now = time.time()
        held = self._held_until.get(name, 0.0)
        if held - self.lease_s / 2 > now:
            return True  # renewed recently enough
        if not held and self._next_try.get(name, 0.0) > now:
            return False  # someone else leads; do not hammer the database
        until = now + self.lease_s
        with self.db.transaction(lock=f"lease:{name}") as cur:
            cur.execute(
                "INSERT INTO rm_leases (name, owner, until) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until "
                "WHERE rm_leases.owner = excluded.owner OR rm_leases.until < ?",
                (name, self.owner, until, now),
            )
            cur.execute("SELECT owner FROM rm_leases WHERE name = ?", (name,))
            row = cur.fetchone()
        if row is not None and row[0] == self.owner:
            self._held_until[name] = until
            return True
        self._held_until.pop(name, None)
        self._next_try[name] = now + self.lease_s / 4
        return False

    def release(self, name: str) -> None:
        if self._held_until.pop(name, None) is None:
            return
        with self.db.transaction(lock=f"lease:{name}") as cur:
            cur.execute("DELETE FROM rm_leases WHERE name = ? AND owner = ?", (name, self.owner))

    def leaders(self) -> dict[str, str]:
        with self.db.read() as cur:
            cur.execute("SELECT name, owner FROM rm_leases WHERE until >= ?", (time.time(),))
            return {str(r[0]): str(r[1]) for r in cur.fetchall()}

    def close(self) -> None:
        for name in list(self._held_until):
            try:
                self.release(name)
            except Exception:
                log.exception("could not release the lease on %s", name)


class PostgresLeaderLock:
    """`pg_try_advisory_lock` on one dedicated connection; a row per lock says who holds it."""

    CHECK_EVERY_S = 1.0

    def __init__(self, conninfo: str, db: Database, *, owner: str | None = None) -> None:
        self.conninfo = conninfo
        self.db = db
        self.owner = owner or default_owner()
        self._conn: Any = None
        self._held: set[str] = set()
        self._checked = 0.0
        self._guard = threading.Lock()
        with db.transaction(lock="ticketforge-schema") as cur:
            cur.execute(SCHEMA)

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            self._conn = psycopg.connect(
                self.conninfo, autocommit=True, application_name=f"ticketforge-leader {self.owner}"
            )
            self._held.clear()
        return self._conn

    def _alive(self) -> bool:
        """Leadership lives as long as the connection; look at it now and then."""
        now = time.monotonic()
        if now - self._checked < self.CHECK_EVERY_S:
            return True
        self._checked = now
        try:
            self._connection().execute("SELECT 1")
        except Exception:
            log.warning("lost the leader connection; giving up leadership of %s", self._held)
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        self._held.clear()
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("closing a broken leader connection failed", exc_info=True)
        self._conn = None

    def acquire(self, name: str) -> bool:
        with self._guard:
            if name in self._held and self._alive():
                return True
            try:
                row = (
                    self._connection()
                    .execute("SELECT pg_try_advisory_lock(hashtext(%s))", (f"leader:{name}",))
                    .fetchone()
                )
            except Exception:
                log.warning("could not try the leader lock for %s", name, exc_info=True)
                self._drop()
                return False
            if not row or not row[0]:
                return False
            self._held.add(name)
        with self.db.transaction() as cur:  # informational: who leads, for the admin view
            cur.execute(
                "INSERT INTO rm_leases (name, owner, until) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until",
                (name, self.owner, time.time()),
            )
        return True

    def release(self, name: str) -> None:
        with self._guard:
            if name not in self._held or self._conn is None:
                return
            self._held.discard(name)
            self._conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"leader:{name}",))

    def leaders(self) -> dict[str, str]:
        """Names whose lock is held by someone now, with the last owner that took it."""
        with self.db.read() as cur:
            cur.execute(
                "SELECT l.name, l.owner FROM rm_leases l WHERE EXISTS (SELECT 1 FROM pg_locks p"
                " WHERE p.locktype = 'advisory' AND p.granted"
                " AND p.objid::bigint = (hashtext('leader:' || l.name)::bigint & 4294967295))"
            )
            return {str(r[0]): str(r[1]) for r in cur.fetchall()}

    def close(self) -> None:
        with self._guard:
            self._drop()
