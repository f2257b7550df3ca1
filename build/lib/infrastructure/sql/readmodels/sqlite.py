"""Writing read-model documents on SQLite: multi-row upserts, one lock for everything."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from infrastructure.sql.database import Cursor
from infrastructure.sql.readmodels.documents import Row
from projections.store import iter_batches

UPSERT = (
    "INSERT INTO rm_docs (tbl, key, part, owner, sort, doc) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (tbl, key) DO UPDATE SET part = excluded.part, owner = excluded.owner, "
    "sort = excluded.sort, doc = excluded.doc"
)

# Rows per multi-row upsert: one statement per round trip, and 6 parameters a row
# stays under SQLite's oldest limit of 999 parameters per statement.
UPSERT_ROWS = 150


@lru_cache(maxsize=UPSERT_ROWS)
def upsert_rows(count: int) -> str:
    """`UPSERT` for `count` rows at once (keys are unique within a flush)."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * count)
    return UPSERT.replace("VALUES (?, ?, ?, ?, ?, ?)", f"VALUES {values}")


class SqliteDocuments:
    schema: Sequence[str] = ()

    def upsert(self, cur: Cursor, rows: list[Row], phys: Callable[[str], str]) -> None:
        values = [(phys(t), k, p, o, s, d) for t, k, p, o, s, d in rows]
        for chunk in iter_batches(values, UPSERT_ROWS):
            cur.execute(upsert_rows(len(chunk)), [v for row in chunk for v in row])

    def insert_absent(self, cur: Cursor, rows: list[Row], phys: Callable[[str], str]) -> None:
        self.upsert(cur, rows, phys)

    def lock(self, cur: Cursor, name: str) -> None:
        """Nothing to take: a write transaction (`BEGIN IMMEDIATE`) locks the whole file."""
