"""Writing read-model documents on PostgreSQL: one statement for a few rows, COPY for
many, lz4 for the documents, advisory locks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import orjson

from infrastructure.sql.database import CopyCursor, Cursor
from infrastructure.sql.readmodels.documents import Row

# A flush's rows as one JSON parameter, for one statement whatever their number (each
# parameter costs the pure-Python driver more than the database does); the server
# parses each row once (`json_to_recordset`), and a document is stored as the text of
# its JSON value.
_UPSERT_JSON = (
    "INSERT INTO rm_docs (tbl, key, part, owner, sort, doc) "
    "SELECT t, k, p, o, s, d::text FROM json_to_recordset(?::json) "
    "AS r(t text, k text, p text, o text, s bigint, d json) "
    "ON CONFLICT (tbl, key) DO UPDATE SET part = excluded.part, owner = excluded.owner, "
    "sort = excluded.sort, doc = excluded.doc"
)

# From this many rows a flush goes through COPY (`_copy_upserts`); fewer (a batch of a
# live projection, often one event) take the one-statement way.
COPY_ROWS = 200
# A scratch table per connection; its documents are not compressed (they are copied
# into rm_docs at once).
_COPY_TABLE = """DO $$
BEGIN
    IF to_regclass('pg_temp.rm_docs_copy') IS NULL THEN
        CREATE TEMP TABLE rm_docs_copy (
            tbl TEXT, key TEXT, part TEXT, owner TEXT, sort BIGINT, doc TEXT);
        ALTER TABLE rm_docs_copy ALTER COLUMN doc SET STORAGE EXTERNAL;
    END IF;
END $$"""
_COPY = "COPY rm_docs_copy (tbl, key, part, owner, sort, doc) FROM STDIN"
_COPY_DOCS = "COPY rm_docs (tbl, key, part, owner, sort, doc) FROM STDIN"
_UPSERT_COPIED = (
    "INSERT INTO rm_docs (tbl, key, part, owner, sort, doc) "
    "SELECT tbl, key, part, owner, sort, doc FROM rm_docs_copy "
    "ON CONFLICT (tbl, key) DO UPDATE SET part = excluded.part, owner = excluded.owner, "
    "sort = excluded.sort, doc = excluded.doc"
)

# PostgreSQL compresses documents of more than 2 kB (a ticket's is 4-5 kB) with pglz
# by default, at several times the cost of the rest of writing them; lz4 (PostgreSQL
# 14 and later, where built with it) costs a quarter. Left as it is where unavailable.
SCHEMA = [
    """DO $$
    BEGIN
        IF (SELECT attcompression FROM pg_attribute
            WHERE attrelid = 'rm_docs'::regclass AND attname = 'doc') IS DISTINCT FROM 'l' THEN
            ALTER TABLE rm_docs ALTER COLUMN doc SET COMPRESSION lz4;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END $$""",
]


class PostgresDocuments:
    schema: Sequence[str] = SCHEMA

    def upsert(self, cur: Cursor, rows: list[Row], phys: Callable[[str], str]) -> None:
        if len(rows) >= COPY_ROWS:
            self._copy_upserts(cast(CopyCursor, cur), rows, phys)
            return
        payload = orjson.dumps(
            [
                {"t": phys(t), "k": k, "p": p, "o": o, "s": s, "d": orjson.Fragment(d)}
                for t, k, p, o, s, d in rows
            ]
        )
        cur.execute(_UPSERT_JSON, (payload.decode(),))

    def insert_absent(self, cur: Cursor, rows: list[Row], phys: Callable[[str], str]) -> None:
        """Many go straight into rm_docs by COPY."""
        if len(rows) < COPY_ROWS:
            self.upsert(cur, rows, phys)
            return
        cast(CopyCursor, cur).copy_from(_COPY_DOCS, _copy_block(rows, phys))

    def lock(self, cur: Cursor, name: str) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (name,))

    @staticmethod
    def _copy_upserts(cur: CopyCursor, rows: list[Row], phys: Callable[[str], str]) -> None:
        """Many rows (a catch-up's, a rebuild's): COPY them into a scratch table, then
        upsert from it; the server parses COPY's text several times faster than JSON."""
        cur.execute(_COPY_TABLE)
        cur.copy_from(_COPY, _copy_block(rows, phys))
        cur.execute(_UPSERT_COPIED)
        cur.execute("TRUNCATE rm_docs_copy")


def _copy_block(rows: list[Row], phys: Callable[[str], str]) -> str:
    """`rows` in COPY's text format, each table where its rows are."""
    return "".join(
        f"{_copy_text(phys(t))}\t{_copy_text(k)}\t{_copy_text(p)}\t{_copy_text(o)}\t{s}"
        f"\t{_copy_text(d)}\n"
        for t, k, p, o, s, d in rows
    )


def _copy_text(value: str) -> str:
    """A field in COPY's text format."""
    if "\\" in value or "\n" in value or "\r" in value or "\t" in value:
        return (
            value.replace("\\", "\\\\")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
        )
    return value
