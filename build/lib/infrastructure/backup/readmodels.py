"""Each read model held against one built afresh from the events, for `verify`.

The fresh copies go into a scratch SQLite file of their own, never into the live
database (verify only reads the store). Each projection's copy is brought to the live
one's position, then their rows are compared: documents by table and key (partition,
owner, order and content), and the work queue's tasks (what they are and how they
ended; leases are the workers', not the events'). A live projection that moves on
meanwhile is compared again at its new position.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from application.operations.verify import Finding
from infrastructure.sql.database import Database, SQLiteDatabase
from infrastructure.sql.readmodels import SqlReadModelStore
from infrastructure.sql.readmodels.documents import loads
from infrastructure.sql.readmodels.schema import PHYS
from projections.base import EventSource, Projection, ProjectionRunner

ATTEMPTS = 3
SHOWN = 3

Rows = dict[tuple[str, str], Any]


def _documents(db: Database, tables: Sequence[str]) -> Rows:
    rows: Rows = {}
    with db.read() as cur:
        for table in tables:
            cur.execute(
                f"SELECT key, part, owner, sort, doc FROM rm_docs WHERE tbl = {PHYS}",
                (table, table),
            )
            for key, part, owner, sort, doc in cur.fetchall():
                rows[(table, str(key))] = (part, owner, int(sort), loads(doc))
    return rows


def _tasks(db: Database) -> Rows:
    with db.read() as cur:
        cur.execute("SELECT task_id, kind, session_id, payload, state FROM rm_tasks")
        return {
            ("rm_tasks", str(t)): (k, s, json.loads(p), state)
            for t, k, s, p, state in cur.fetchall()
        }


def _rows(store: SqlReadModelStore, projection: Projection) -> Rows:
    rows = _documents(store.db, projection.tables)
    if projection.name == "work_queue":
        rows.update(_tasks(store.db))
    return rows


def _differences(live: Rows, fresh: Rows) -> list[str]:
    found = []
    for key in sorted(live.keys() | fresh.keys()):
        if key not in fresh:
            found.append(f"{key[0]}/{key[1]} is not in the rebuild")
        elif key not in live:
            found.append(f"{key[0]}/{key[1]} is missing")
        elif live[key] != fresh[key]:
            found.append(f"{key[0]}/{key[1]} differs")
    return found


class ReadModelComparison:
    def __init__(
        self,
        source: EventSource,
        live: SqlReadModelStore,
        projections: Callable[[], Sequence[Projection]],
    ) -> None:
        self.source = source
        self.live = live
        self.projections = projections

    def __call__(self) -> list[Finding]:
        chosen = [p for p in self.projections() if p.rebuildable]
        findings: list[Finding] = []
        with tempfile.TemporaryDirectory(prefix="tf-verify-") as scratch_dir:
            scratch = SqlReadModelStore(SQLiteDatabase(Path(scratch_dir) / "rebuilt.db"))
            try:
                scratch.create_tables()
                runner = ProjectionRunner(self.source, scratch, chosen, batch_size=5000)
                for projection in chosen:
                    findings.append(self._compare(runner, scratch, projection))
            finally:
                scratch.close()
        return findings

    def _compare(
        self, runner: ProjectionRunner, scratch: SqlReadModelStore, projection: Projection
    ) -> Finding:
        name = projection.name
        for _ in range(ATTEMPTS):
            position = self.live.position(name)
            live = _rows(self.live, projection)
            if self.live.position(name) != position:
                continue  # it moved while we read: again, at its new position
            try:
                reached = runner.pump(name, until=position)
            except Exception as exc:  # an event that does not decode, say: reported above
                return Finding("error", f"read model {name}", f"cannot be rebuilt: {exc}")
            if reached != position:
                return Finding(
                    "warning",
                    f"read model {name}",
                    f"not compared: the live copy is at {position:,}, beyond the events",
                )
            different = _differences(live, _rows(scratch, projection))
            if different:
                shown = "; ".join(different[:SHOWN])
                more = f" and {len(different) - SHOWN} more" if len(different) > SHOWN else ""
                return Finding(
                    "error",
                    f"read model {name}",
                    f"{len(different)} row(s) differ from a rebuild at position {position:,}: "
                    f"{shown}{more} (`ticketforge replay {name}` rebuilds it)",
                )
            return Finding(
                "ok",
                f"read model {name}",
                f"{len(live):,} rows equal a rebuild at position {position:,}",
            )
        return Finding("warning", f"read model {name}", "not compared: it kept moving")
