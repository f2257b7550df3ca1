"""The `rm_tasks` queue: the work-queue projection writes its rows, workers claim them
with a lease; when a worker dies, its lease runs out."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from application.tasks import ClaimedTask
from infrastructure.sql.database import Cursor, Database

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS rm_tasks (
        task_id TEXT PRIMARY KEY, kind TEXT NOT NULL, session_id TEXT NOT NULL,
        payload TEXT NOT NULL, state TEXT NOT NULL, lease_owner TEXT,
        lease_until DOUBLE PRECISION, attempts INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION)""",
    "CREATE INDEX IF NOT EXISTS rm_tasks_state ON rm_tasks (state, created_at)",
]


def enqueue_task(
    cur: Cursor, task_id: str, kind: str, session_id: str, payload: dict[str, Any]
) -> None:
    """A task requested (in the work queue's batch); requested again, it stays as it is."""
    cur.execute(
        "INSERT INTO rm_tasks (task_id, kind, session_id, payload, state, attempts, created_at)"
        " VALUES (?, ?, ?, ?, 'pending', 0, ?) ON CONFLICT (task_id) DO NOTHING",
        (task_id, kind, session_id, json.dumps(payload), time.time()),
    )


def finish_task(cur: Cursor, task_id: str, state: str) -> None:
    """A task ended (in the work queue's batch): never claimed again; the first end wins."""
    cur.execute(
        "UPDATE rm_tasks SET state = ?, finished_at = ?, lease_owner = NULL, lease_until = NULL"
        " WHERE task_id = ? AND finished_at IS NULL",
        (state, time.time(), task_id),
    )


def open_tasks(db: Database) -> list[ClaimedTask]:
    """Every task requested and not yet ended, oldest first."""
    with db.read() as cur:
        cur.execute(
            "SELECT task_id, kind, session_id, payload, attempts FROM rm_tasks"
            " WHERE finished_at IS NULL ORDER BY created_at"
        )
        rows = cur.fetchall()
    return [_task(row, int(row[4])) for row in rows]


def _task(row: Sequence[Any], attempts: int) -> ClaimedTask:
    """A task from `SELECT task_id, kind, session_id, payload, ...` of rm_tasks."""
    return ClaimedTask(
        task_id=row[0],
        kind=row[1],
        session_id=row[2],
        payload=json.loads(row[3]),
        attempts=attempts,
    )


class SqlTaskQueue:
    waits_for_work = False

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, worker: str, kinds: Sequence[str], lease_s: float) -> ClaimedTask | None:
        """The oldest pending task whose session has no other task under a live lease."""
        now = time.time()
        marks = ", ".join("?" for _ in kinds)
        with self.db.transaction(lock="ticketforge-task-claim") as cur:
            cur.execute(
                "SELECT task_id, kind, session_id, payload, attempts FROM rm_tasks t"
                f" WHERE state = 'pending' AND kind IN ({marks})"
                " AND (lease_until IS NULL OR lease_until < ?)"
                " AND NOT EXISTS (SELECT 1 FROM rm_tasks o WHERE o.session_id = t.session_id"
                "   AND o.task_id <> t.task_id AND o.state = 'pending' AND o.lease_until >= ?)"
                " ORDER BY created_at LIMIT 1",
                (*kinds, now, now),
            )
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute(
                "UPDATE rm_tasks SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
                " WHERE task_id = ?",
                (worker, now + lease_s, row[0]),
            )
        return _task(row, int(row[4]) + 1)

    def renew(self, task_id: str, worker: str, lease_s: float) -> bool:
        with self.db.transaction(lock="ticketforge-task-claim") as cur:
            cur.execute(
                "UPDATE rm_tasks SET lease_until = ? WHERE task_id = ? AND lease_owner = ?"
                " AND state = 'pending'",
                (time.time() + lease_s, task_id, worker),
            )
            cur.execute("SELECT lease_owner FROM rm_tasks WHERE task_id = ?", (task_id,))
            row = cur.fetchone()
        return row is not None and row[0] == worker

    def release(self, task_id: str, worker: str, done: bool = True) -> None:
        """The task's state comes from its events (`done` or not): just drop the lease."""
        with self.db.transaction(lock="ticketforge-task-claim") as cur:
            cur.execute(
                "UPDATE rm_tasks SET lease_owner = NULL, lease_until = NULL"
                " WHERE task_id = ? AND lease_owner = ?",
                (task_id, worker),
            )

    def state(self, task_id: str) -> str | None:
        with self.db.read() as cur:
            cur.execute("SELECT state FROM rm_tasks WHERE task_id = ?", (task_id,))
            row = cur.fetchone()
        return None if row is None else str(row[0])
