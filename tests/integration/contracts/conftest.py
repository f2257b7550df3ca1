"""Databases for the contract suites: a SQLite file, or a fresh database on the
throwaway PostgreSQL cluster; each test opens as many connections ("processes") to it
as it needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infrastructure.sql.database import Database, PostgresDatabase, SQLiteDatabase
from tests.support.postgres import ThrowawayPostgres

OpenDatabase = Callable[[], Database]


def _opener(connect: Callable[[], Database]) -> Iterator[OpenDatabase]:
    opened: list[Database] = []

    def open_one() -> Database:
        db = connect()
        opened.append(db)
        return db

    yield open_one
    for db in reversed(opened):
        db.close()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[OpenDatabase]:
    yield from _opener(lambda: SQLiteDatabase(tmp_path / "readmodels.db"))


@pytest.fixture
def postgres_database(postgres_cluster: ThrowawayPostgres) -> Iterator[OpenDatabase]:
    conninfo = postgres_cluster.conninfo(postgres_cluster.create_database())
    yield from _opener(lambda: PostgresDatabase(conninfo))
