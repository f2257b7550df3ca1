"""A batch's document writes, kept in memory until the batch is written as a whole.

Both kinds of batch buffer alike: a projector's (`SqlViewTransaction`, written with
its position when the batch ends) and a rebuild's (`DetachedViewTransaction`, written
by the rebuild's own thread). A batch reads its own writes first, then the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson

from application.transcodings import REFUSED
from application.transcodings import loads as fast_loads
from infrastructure.sql.database import Cursor

Row = tuple[str, str, str, str, int, str]  # table, key, partition, owner, sort, JSON
Deletes = list[tuple[str, str]]  # table, key

DELETED = object()  # a key the batch deleted (or, in a rebuild's cache, one not there)


def dumps(doc: Any) -> str:
    """A document as JSON text (`orjson`; what it refuses, `json`)."""
    try:
        return orjson.dumps(doc).decode()
    except TypeError:
        return json.dumps(doc)


def loads(text: str | bytes) -> Any:
    """A stored document (`orjson`; where its answer could differ, `json`)."""
    doc = fast_loads(text)
    return json.loads(text) if doc is REFUSED else doc


class BufferedDocuments:
    """Puts and deletes of one batch; `_stored*` read what is in the database."""

    def __init__(self, position: int) -> None:
        self.position = position
        self.event_position = 0
        self._docs: dict[tuple[str, str], Any] = {}
        self._meta: dict[tuple[str, str], tuple[str, str, int]] = {}

    def _stored(self, table: str, key: str) -> str | bytes | None:
        """The stored document's JSON text, or None."""
        raise NotImplementedError

    def _stored_partition(self, table: str, partition: str) -> list[tuple[str, str | bytes]]:
        """(key, JSON text) of the stored documents of `partition`, in list order."""
        raise NotImplementedError

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        cached = self._docs.get((table, key))
        if cached is DELETED:
            return None
        if cached is not None:
            return dict(cached)
        text = self._stored(table, key)
        if text is None:
            return None
        doc: dict[str, Any] = loads(text)
        return doc

    def put(
        self,
        table: str,
        key: str,
        doc: dict[str, Any],
        *,
        partition: str = "",
        owner: str = "",
        sort: int = 0,
    ) -> None:
        self._docs[(table, key)] = doc
        self._meta[(table, key)] = (partition, owner, sort)

    def delete(self, table: str, key: str) -> None:
        self._docs[(table, key)] = DELETED
        self._meta.pop((table, key), None)

    def partition(self, table: str, partition: str) -> list[dict[str, Any]]:
        found = {key: loads(doc) for key, doc in self._stored_partition(table, partition)}
        for (tbl, key), doc in self._docs.items():
            if tbl != table:
                continue
            if doc is DELETED:
                found.pop(key, None)
            elif self._meta[(tbl, key)][0] == partition:
                found[key] = doc
        return list(found.values())

    def rows(self) -> tuple[Deletes, list[Row]]:
        """The batch's deletes and upserts (documents as JSON text), and forget them."""
        deletes: Deletes = []
        upserts: list[Row] = []
        for (table, key), doc in self._docs.items():
            if doc is DELETED:
                deletes.append((table, key))
            else:
                part, owner, sort = self._meta[(table, key)]
                upserts.append((table, key, part, owner, sort, dumps(doc)))
        self._docs = {}
        self._meta = {}
        return deletes, upserts


class DocumentBackend(Protocol):
    """What differs between SQLite and PostgreSQL in writing documents; `phys` gives
    where a table's rows are (`rm_tables`)."""

    schema: Sequence[str]  # run after the tables common to both (`schema.SCHEMA`)

    def upsert(self, cur: Cursor, rows: list[Row], phys: Callable[[str], str]) -> None:
        """Insert or replace `rows` (at least one; keys unique among them)."""
        ...

    def insert_absent(self, cur: Cursor, rows: list[Row], phys: Callable[[str], str]) -> None:
        """Insert `rows` (at least one), whose keys are known not to be stored yet."""
        ...

    def lock(self, cur: Cursor, name: str) -> None:
        """Take the named write lock too, inside a write transaction holding another."""
        ...
