"""The read-model tables, and the statements the store's parts share."""

from __future__ import annotations

from infrastructure.sql import tasks
from infrastructure.sql.database import Database
from infrastructure.sql.readmodels.documents import DocumentBackend

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS rm_docs (
        tbl TEXT NOT NULL, key TEXT NOT NULL, part TEXT NOT NULL, owner TEXT NOT NULL,
        sort BIGINT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (tbl, key))""",
    "CREATE INDEX IF NOT EXISTS rm_docs_part ON rm_docs (tbl, part, sort)",
    "CREATE INDEX IF NOT EXISTS rm_docs_owner ON rm_docs (tbl, owner)",
    """CREATE TABLE IF NOT EXISTS rm_tracking (
        projection TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at DOUBLE PRECISION)""",
    *tasks.SCHEMA,
    # Where a table's rows are: `rm_docs.tbl` is `phys` for a table listed here, else
    # the table's own name. A rebuild writes its copy under a name of its own, so the
    # swap re-points the table instead of rewriting every row.
    "CREATE TABLE IF NOT EXISTS rm_tables (tbl TEXT PRIMARY KEY, phys TEXT NOT NULL)",
]

# `tbl = ?` for a table's name, wherever its rows are (two parameters: the name twice).
PHYS = "COALESCE((SELECT phys FROM rm_tables WHERE tbl = ?), ?)"

# A projection's (or a rebuild copy's) position: (projection, position, updated_at).
TRACK = (
    "INSERT INTO rm_tracking (projection, position, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (projection) DO UPDATE SET position = excluded.position, "
    "updated_at = excluded.updated_at"
)


def create_schema(db: Database, backend: DocumentBackend) -> None:
    with db.transaction(lock="ticketforge-schema") as cur:
        for statement in [*SCHEMA, *backend.schema]:
            cur.execute(statement)
