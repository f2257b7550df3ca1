"""The stored history on PostgreSQL: the library's events table (its `notification_id`
is a bigserial), its snapshots table and the users, all in one database.

The driver is pure Python, and costs microseconds per value it fetches or sends, so
rows never pass through it one by one: a batch is read as one row of columns the
server concatenates (`string_agg` of each value's binary form: big-endian, as in the
backup file), and written by `COPY ... FROM STDIN (FORMAT BINARY)` from bytes put
together here. A backup reads in one REPEATABLE READ transaction (one snapshot
however much is written meanwhile); a restore writes in one transaction.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from application.operations.batch import INT64, UINT32, EventBatch, UserRow, from_big_endian, int64s
from application.operations.port import Counts, StoreNotEmptyError
from infrastructure.sql.users import SCHEMA as USERS_SCHEMA

APPLICATION_NAME = "ticketforge-maintenance"

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_EVENT_FIELDS = struct.Struct(">hiqi16siq").pack  # 5 fields: id, originator, version
_SNAPSHOT_FIELDS = struct.Struct(">hi16siq").pack  # 4 fields: originator, version
_REKEY_EVENT = struct.Struct(">hiq").pack  # 2 fields: id
_REKEY_SNAPSHOT = struct.Struct(">hi16siq").pack  # 3 fields: originator, version
_SIZE = struct.Struct(">i").pack

_COLUMNS = (
    "SELECT count(*), "
    "string_agg(uuid_send(originator_id), ''::bytea ORDER BY {order}), "
    "string_agg(int8send(originator_version), ''::bytea ORDER BY {order}), "
    "string_agg(topic, E'\\n' ORDER BY {order}), "
    "string_agg(int4send(octet_length(state)), ''::bytea ORDER BY {order}), "
    "string_agg(state, ''::bytea ORDER BY {order}) {extra}"
    "FROM (SELECT * FROM {table} WHERE {where} ORDER BY {order} LIMIT %s) AS batch"
)


def _batch(found: Any, ids: Any = None) -> EventBatch:
    count, originators, versions, topics, lengths, states = found[:6]
    if not count:
        return EventBatch.from_rows([])
    topic_list = topics.split("\n")
    batch = EventBatch(
        ids=ids if ids is not None else int64s([0] * count),
        originators=bytes(originators),
        versions=from_big_endian(bytes(versions), INT64),
        topics=topic_list,
        lengths=from_big_endian(bytes(lengths), UINT32),
        states=bytes(states),
    )
    batch.check_shape()
    return batch


def _topic_fields(batch: EventBatch) -> dict[str, bytes]:
    fields = {}
    for topic in set(batch.topics):
        data = topic.encode()
        fields[topic] = _SIZE(len(data)) + data
    return fields


class _Tables:
    def __init__(self, schema: str, events: str, snapshots: str) -> None:
        self.events = sql.Identifier(schema, events)
        self.snapshots = sql.Identifier(schema, snapshots)
        self.events_name = f"{schema}.{events}"
        self.event_columns = sql.SQL(
            _COLUMNS.format(
                order="notification_id",
                extra=", string_agg(int8send(notification_id), ''::bytea "
                "ORDER BY notification_id) ",
                table="{table}",
                where="notification_id > %s AND notification_id <= %s",
            )
        ).format(table=self.events)
        self.snapshot_columns = sql.SQL(
            _COLUMNS.format(
                order="originator_id, originator_version",
                extra="",
                table="{table}",
                where="(originator_id, originator_version) > (%s, %s)",
            )
        ).format(table=self.snapshots)

    def event_batches(
        self, conn: psycopg.Connection[Any], stop: int | None, size: int
    ) -> Iterator[EventBatch]:
        after = 0
        with conn.cursor(row_factory=tuple_row, binary=True) as cur:
            while True:
                cur.execute(
                    self.event_columns, (after, stop if stop is not None else 2**63 - 1, size)
                )
                found = cur.fetchone()
                if found is None or not found[0]:
                    return
                batch = _batch(found, from_big_endian(bytes(found[6]), INT64))
                yield batch
                after = batch.ids[-1]

    def snapshot_batches(self, conn: psycopg.Connection[Any], size: int) -> Iterator[EventBatch]:
        after: tuple[Any, int] = ("00000000-0000-0000-0000-000000000000", -1)
        with conn.cursor(row_factory=tuple_row, binary=True) as cur:
            while True:
                cur.execute(self.snapshot_columns, (*after, size))
                found = cur.fetchone()
                if found is None or not found[0]:
                    return
                batch = _batch(found)
                yield batch
                last = batch.originators[-16:].hex()
                after = (last, batch.versions[-1])

    def count(self, cur: Any, table: Any, where: str = "", params: Sequence[Any] = ()) -> int:
        cur.execute(sql.SQL("SELECT count(*) FROM {} " + where).format(table), params)
        return int(cur.fetchone()[0])


class PostgresImage:
    def __init__(self, conn: psycopg.Connection[Any], tables: _Tables, position: int) -> None:
        self._conn = conn
        self._tables = tables
        self.position = position

    def _has_users(self) -> bool:
        row = self._conn.execute("SELECT to_regclass('tf_users') IS NOT NULL").fetchone()
        return bool(row and row[0])

    def counts(self) -> Counts:
        t = self._tables
        with self._conn.cursor() as cur:
            return Counts(
                events=t.count(cur, t.events, "WHERE notification_id <= %s", (self.position,)),
                snapshots=t.count(cur, t.snapshots),
                users=t.count(cur, sql.Identifier("tf_users")) if self._has_users() else 0,
            )

    def events(self, batch_size: int) -> Iterator[EventBatch]:
        return self._tables.event_batches(self._conn, self.position, batch_size)

    def snapshots(self, batch_size: int) -> Iterator[EventBatch]:
        return self._tables.snapshot_batches(self._conn, batch_size)

    def users(self) -> list[UserRow]:
        if not self._has_users():
            return []
        with self._conn.cursor() as cur:
            cur.execute("SELECT name, token_hash, is_admin, created_at FROM tf_users ORDER BY name")
            rows = cur.fetchall()
        return [(str(n), str(h), bool(a), float(c)) for n, h, a, c in rows]


class PostgresWriter:
    def __init__(self, conn: psycopg.Connection[Any], tables: _Tables) -> None:
        self._conn = conn
        self._tables = tables

    def _copy(self, statement: sql.Composed, data: list[bytes]) -> None:
        with self._conn.cursor() as cur, cur.copy(statement) as copy:
            copy.write(b"".join(data))

    def events(self, batch: EventBatch) -> None:
        topics = _topic_fields(batch)
        data = [_COPY_HEADER]
        add = data.append
        for id_, originator, version, topic, state in zip(
            batch.ids,
            batch.originator_list(),
            batch.versions,
            batch.topics,
            batch.state_list(),
            strict=True,
        ):
            add(_EVENT_FIELDS(5, 8, id_, 16, originator, 8, version))
            add(topics[topic])
            add(_SIZE(len(state)))
            add(state)
        add(_COPY_TRAILER)
        self._copy(
            sql.SQL(
                "COPY {} (notification_id, originator_id, originator_version, topic, state) "
                "FROM STDIN (FORMAT BINARY)"
            ).format(self._tables.events),
            data,
        )

    def snapshots(self, batch: EventBatch) -> None:
        topics = _topic_fields(batch)
        data = [_COPY_HEADER]
        add = data.append
        for originator, version, topic, state in zip(
            batch.originator_list(), batch.versions, batch.topics, batch.state_list(), strict=True
        ):
            add(_SNAPSHOT_FIELDS(4, 16, originator, 8, version))
            add(topics[topic])
            add(_SIZE(len(state)))
            add(state)
        add(_COPY_TRAILER)
        self._copy(
            sql.SQL(
                "COPY {} (originator_id, originator_version, topic, state) "
                "FROM STDIN (FORMAT BINARY)"
            ).format(self._tables.snapshots),
            data,
        )

    def users(self, rows: Sequence[UserRow]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO tf_users (name, token_hash, is_admin, created_at) "
                "VALUES (%s, %s, %s, %s)",
                rows,
            )

    def finish(self, position: int) -> None:
        """The sequence behind `notification_id` moves past the restored ids (COPY with
        explicit ids leaves it where it was)."""
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s, %s)",
                (self._tables.events_name, max(position, 1), position > 0),
            )


class PostgresKeyedRows:
    def __init__(self, conn: psycopg.Connection[Any], tables: _Tables, kind: str) -> None:
        self._conn = conn
        self._tables = tables
        self._kind = kind

    @property
    def _table(self) -> sql.Identifier:
        return self._tables.events if self._kind == "events" else self._tables.snapshots

    def count(self) -> int:
        with self._conn.cursor() as cur:
            return self._tables.count(cur, self._table)

    def batches(self, size: int) -> Iterator[EventBatch]:
        if self._kind == "events":
            return self._tables.event_batches(self._conn, None, size)
        return self._tables.snapshot_batches(self._conn, size)

    def replace(self, batch: EventBatch, states: Sequence[bytes | None]) -> None:
        """COPY the new states into a temporary table, then one UPDATE joins them in."""
        data = [_COPY_HEADER]
        add = data.append
        if self._kind == "events":
            temp, columns = "tf_rekey_events", "notification_id bigint, state bytea"
            for id_, state in zip(batch.ids, states, strict=True):
                if state is not None:
                    add(_REKEY_EVENT(2, 8, id_))
                    add(_SIZE(len(state)))
                    add(state)
            join = "t.notification_id = r.notification_id"
        else:
            temp = "tf_rekey_snapshots"
            columns = "originator_id uuid, originator_version bigint, state bytea"
            for originator, version, state in zip(
                batch.originator_list(), batch.versions, states, strict=True
            ):
                if state is not None:
                    add(_REKEY_SNAPSHOT(3, 16, originator, 8, version))
                    add(_SIZE(len(state)))
                    add(state)
            join = (
                "t.originator_id = r.originator_id AND t.originator_version = r.originator_version"
            )
        add(_COPY_TRAILER)
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "CREATE TEMPORARY TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS"
                ).format(sql.Identifier(temp), sql.SQL(columns))
            )
            with cur.copy(
                sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(sql.Identifier(temp))
            ) as copy:
                copy.write(b"".join(data))
            cur.execute(
                sql.SQL("UPDATE {} AS t SET state = r.state FROM {} AS r WHERE " + join).format(
                    self._table, sql.Identifier(temp)
                )
            )


class PostgresHistory:
    backend = "postgres"

    def __init__(
        self, conninfo: str, *, schema: str, events_table: str, snapshots_table: str
    ) -> None:
        self.conninfo = conninfo
        self._tables = _Tables(schema, events_table, snapshots_table)
        self._exclusive: psycopg.Connection[Any] | None = None

    def _connect(self, **options: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo, application_name=APPLICATION_NAME, **options)

    def counts(self) -> Counts:
        with self._connect(autocommit=True) as conn, conn.cursor() as cur:
            t = self._tables
            cur.execute("SELECT to_regclass('tf_users') IS NOT NULL")
            found = cur.fetchone()
            return Counts(
                events=t.count(cur, t.events),
                snapshots=t.count(cur, t.snapshots),
                users=t.count(cur, sql.Identifier("tf_users")) if found and found[0] else 0,
            )

    @contextmanager
    def image(self) -> Iterator[PostgresImage]:
        with self._connect(autocommit=False) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("SELECT COALESCE(max(notification_id), 0) FROM {}").format(
                        self._tables.events
                    )
                )
                row = cur.fetchone()
            yield PostgresImage(conn, self._tables, int(row[0]) if row else 0)
            conn.rollback()

    @contextmanager
    def restoring(self) -> Iterator[PostgresWriter]:
        with self._connect(autocommit=True) as conn:
            conn.execute(USERS_SCHEMA)
            with conn.transaction():
                t = self._tables
                # Nobody writes events, snapshots or users until we commit or roll back.
                conn.execute(
                    sql.SQL("LOCK TABLE {}, {}, tf_users IN EXCLUSIVE MODE").format(
                        t.events, t.snapshots
                    )
                )
                with conn.cursor() as cur:
                    counts = Counts(
                        events=t.count(cur, t.events),
                        snapshots=t.count(cur, t.snapshots),
                        users=t.count(cur, sql.Identifier("tf_users")),
                    )
                if not counts.empty:
                    raise StoreNotEmptyError(counts)
                yield PostgresWriter(conn, t)

    def in_use(self) -> list[str]:
        with self._connect(autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT coalesce(nullif(application_name, ''), 'a client'), "
                "coalesce(host(client_addr), 'the local socket'), state "
                "FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' ORDER BY 1"
            )
            rows = cur.fetchall()
        return [f"{name} is connected from {host} ({state})" for name, host, state in rows]

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One maintenance run at a time (an advisory lock held for the whole run);
        other processes are kept away by `in_use`, checked before."""
        with self._connect(autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(hashtext('ticketforge-maintenance'))"
            ).fetchone()
            if not row or not row[0]:
                raise RuntimeError("another key rotation is running on this database")
            self._exclusive = conn
            try:
                yield
            finally:
                self._exclusive = None

    def rows(self, kind: Literal["events", "snapshots"]) -> PostgresKeyedRows:
        if self._exclusive is None:
            raise RuntimeError("rows() is for use inside exclusive()")
        return PostgresKeyedRows(self._exclusive, self._tables, kind)
