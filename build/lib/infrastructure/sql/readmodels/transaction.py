"""A projector's batch: its writes are buffered, then flushed with the new position in
the one database transaction that holds the projection's lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from infrastructure.sql import tasks
from infrastructure.sql.database import Cursor
from infrastructure.sql.readmodels.documents import (
    BufferedDocuments,
    Deletes,
    DocumentBackend,
    Row,
)
from projections.store import SHADOW_SUFFIX

if TYPE_CHECKING:
    from infrastructure.sql.readmodels.rebuild import DetachedViewTransaction


class SqlViewTransaction(BufferedDocuments):
    def __init__(
        self,
        cursor: Cursor,
        position: int,
        backend: DocumentBackend,
        aliases: dict[str, str] | None = None,
    ) -> None:
        super().__init__(position)
        self._cur = cursor
        self._backend = backend
        self._aliases = aliases
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

    def _stored(self, table: str, key: str) -> str | bytes | None:
        self._cur.execute(
            "SELECT doc FROM rm_docs WHERE tbl = ? AND key = ?", (self.phys(table), key)
        )
        row = self._cur.fetchone()
        return None if row is None else row[0]

    def _stored_partition(self, table: str, partition: str) -> list[tuple[str, str | bytes]]:
        self._cur.execute(
            "SELECT key, doc FROM rm_docs WHERE tbl = ? AND part = ? ORDER BY sort, key",
            (self.phys(table), partition),
        )
        return self._cur.fetchall()

    def enqueue_task(
        self, task_id: str, kind: str, session_id: str, payload: dict[str, Any]
    ) -> None:
        tasks.enqueue_task(self._cur, task_id, kind, session_id, payload)

    def finish_task(self, task_id: str, state: str) -> None:
        tasks.finish_task(self._cur, task_id, state)

    def before_commit(self, action: Callable[[], None]) -> None:
        self._before_commit.append(action)

    def run_before_commit(self) -> None:
        actions, self._before_commit = self._before_commit, []
        for action in actions:
            action()

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
        if rows:
            self._backend.insert_absent(self._cur, rows, self.phys)

    def flush(self) -> None:
        self.write(*self.rows())

    def write(self, deletes: Deletes, upserts: list[Row]) -> None:
        """Write what `rows()` gave, each table where its rows are (`phys`)."""
        phys = self.phys
        if deletes:
            self._cur.executemany(
                "DELETE FROM rm_docs WHERE tbl = ? AND key = ?",
                [(phys(table), key) for table, key in deletes],
            )
        if upserts:
            self._backend.upsert(self._cur, upserts, phys)
