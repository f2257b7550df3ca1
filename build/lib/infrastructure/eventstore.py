"""Environment for the `eventsourcing` library, and its notification log as an event source."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import (
    DataError,
    InterfaceError,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    OperationalError,
    find_id_convertor,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import resolve_topic, retry

from application.transcodings import FastJSONDecoder

log = logging.getLogger(__name__)


# notification id, originator id, version, topic, state (as stored, or already decoded)
Row = tuple[int, Any, int, str, Any]


class StoredEventDecoder:
    """The library's `Mapper.to_domain_event`, for a batch of rows, without its costs.

    The same steps in the same order (decrypt, decompress, decode, originator id,
    upcast, an object of the event's class with that state), with the state decoded
    by `FastJSONDecoder` where the transcoder is our JSON one, each event class and id
    convertor looked up once, and no `Notification`/`StoredEvent` objects in between.
    """

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.cipher = mapper.cipher
        self.compressor = mapper.compressor
        transcoder = mapper.transcoder
        self.fast = FastJSONDecoder(transcoder) if isinstance(transcoder, JSONTranscoder) else None
        self._decode_state = self.fast.decode if self.fast is not None else transcoder.decode
        self._classes: dict[str, tuple[type[Any], int]] = {}
        self._convertors: dict[tuple[type[Any], type[Any]], Callable[[Any], Any]] = {}

    def _class_of(self, topic: str) -> tuple[type[Any], int]:
        found = self._classes.get(topic)
        if found is None:
            cls = resolve_topic(topic)
            found = self._classes[topic] = (cls, getattr(cls, "class_version", 1))
        return found

    def _state(self, row: Row) -> dict[str, Any]:
        state = row[4]
        try:
            if type(state) is dict:  # decoded already (PostgreSQL's batch as JSON)
                return state
            if self.cipher:
                state = self.cipher.decrypt(state)
            if self.compressor:
                state = self.compressor.decompress(state)
            decoded: dict[str, Any] = self._decode_state(state)
        except Exception as e:
            msg = (
                f"Failed to deserialise state of stored event with topic '{row[3]}', "
                f"originator_id '{row[1]}' and originator_version {row[2]}: {e}"
            )
            raise MapperDeserialisationError(msg) from e
        return decoded

    def events(self, rows: Iterable[Row]) -> list[tuple[int, Any]]:
        decode = self._state
        class_of = self._class_of
        convertors = self._convertors
        new = object.__new__
        setattr_ = object.__setattr__
        events = []
        for row in rows:
            notification_id, originator_id, version, topic, _ = row
            cls, class_version = class_of(topic)
            state = decode(row)
            convert = convertors.get((cls, type(originator_id)))
            if convert is None:
                convert = convertors[(cls, type(originator_id))] = find_id_convertor(
                    cast(Hashable, cls), cast(Hashable, type(originator_id))
                )
            state["originator_id"] = convert(originator_id)
            state["originator_version"] = version
            from_version = state.pop("class_version", 1)
            while from_version < class_version:
                getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
                from_version += 1
            event = new(cls)
            setattr_(event, "__dict__", state)
            events.append((notification_id, event))
        return events


class ApplicationEventSource:
    """Reads the application sequence (the notification log) and decodes each event.

    Rows are selected straight from the library's events table (its own
    `select_notifications` builds a `Notification` per row, from dict-like rows) and
    decoded by `StoredEventDecoder`; the events are the ones the library's mapper
    makes. Recorders other than the library's SQLite and PostgreSQL ones are read
    through `select_notifications`.
    """

    def __init__(self, app: Application[Any]) -> None:
        self.app = app
        self.decoder = StoredEventDecoder(app.mapper)
        recorder = app.recorder
        select = type(recorder).select_notifications
        self._select: Callable[[int, int, int], Sequence[Row]] = self._library_select
        # Only where the library's own query is the one we replace.
        if select is SQLiteApplicationRecorder.select_notifications:
            assert isinstance(recorder, SQLiteApplicationRecorder)
            self._select = self._sqlite_select(recorder)
        elif type(recorder).__module__.startswith("eventsourcing.postgres"):
            from eventsourcing.postgres import PostgresApplicationRecorder

            if select is PostgresApplicationRecorder.select_notifications:
                self._select = self._postgres_select(recorder)

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int, stop: int) -> Sequence[tuple[int, Any]]:
        return self.decoder.events(self._select(after, limit, stop))

    def _library_select(self, after: int, limit: int, stop: int) -> Sequence[Row]:
        notifications = self.app.recorder.select_notifications(
            start=after, limit=limit, stop=stop, inclusive_of_start=False
        )
        return [
            (n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in notifications
        ]

    def _sqlite_select(
        self, recorder: SQLiteApplicationRecorder
    ) -> Callable[[int, int, int], Sequence[Row]]:
        statement = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {recorder.events_table_name} WHERE rowid>? AND rowid<=? ORDER BY rowid LIMIT ?"
        )
        # The recorder turns the stored text into a UUID unless told ids are text.
        to_id = self.decoder.fast.uuid if self.decoder.fast is not None else UUID
        uuids = recorder.datastore.originator_id_type == "uuid"

        def select(after: int, limit: int, stop: int) -> Sequence[Row]:
            with recorder.datastore.transaction(commit=False) as c:
                cursor = getattr(c, "sqlite_cursor", None)
                if cursor is not None:
                    cursor.row_factory = None  # plain tuples, not `sqlite3.Row`s
                c.execute(statement, (after, stop, limit))
                rows = c.fetchall()
            if not uuids:
                return [tuple(r) for r in rows]
            return [(r[0], to_id(r[1]), r[2], r[3], r[4]) for r in rows]

        return select

    def _postgres_select(self, recorder: Any) -> Callable[[int, int, int], Sequence[Row]]:
        """Where the states are JSON text (no cipher, no compressor), the whole batch comes
        as one JSON array built by the server, parsed by one `orjson` call: the pure-Python
        driver costs microseconds per value fetched, and this fetches one per batch.
        Otherwise, or where that array cannot be built or parsed (a state PostgreSQL's
        JSON or `orjson` refuses), the rows one by one."""
        import psycopg
        from psycopg.rows import tuple_row
        from psycopg.sql import SQL, Identifier

        table = SQL("{schema}.{table}").format(
            schema=Identifier(recorder.datastore.schema),
            table=Identifier(recorder.events_table_name),
        )
        rows_statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {table} WHERE notification_id>%s AND notification_id<=%s "
            "ORDER BY notification_id LIMIT %s"
        ).format(table=table)
        # The states are spliced in as they are stored (JSON text), not parsed by the
        # server: `orjson` parses them, and refuses the batch if one is not JSON.
        json_statement = SQL(
            "SELECT convert_to('[' || string_agg('[' || notification_id || ',' "
            "|| to_json(originator_id)::text || ',' || originator_version || ',' "
            "|| to_json(topic)::text || ',' || convert_from(state, 'UTF8') || ']', ',' "
            "ORDER BY notification_id) || ']', 'UTF8') "
            "FROM (SELECT * FROM {table} WHERE notification_id>%s AND notification_id<=%s "
            "ORDER BY notification_id LIMIT %s) AS e"
        ).format(table=table)
        fast = self.decoder.fast
        uuids = recorder.datastore.originator_id_type == "uuid"
        as_json = fast is not None and not self.decoder.cipher and not self.decoder.compressor

        def select_json(after: int, limit: int, stop: int) -> Sequence[Row] | None:
            """The batch decoded, or None where a state needs the rows' way (not UTF-8,
            not JSON to orjson, or anything else the walk refuses or fails on: the rows'
            way then decodes it as the library would, or fails as it would)."""
            assert fast is not None
            try:
                with (
                    recorder.datastore.get_connection() as conn,
                    conn.cursor(row_factory=tuple_row, binary=True) as curs,
                ):
                    curs.execute(json_statement, (after, stop, limit), prepare=True)
                    found = curs.fetchone()
            except (psycopg.DataError, DataError, psycopg.errors.ProgramLimitExceeded):
                return None  # a state that is not UTF-8 text, or a batch over 1 GB as one value
            if found is None or found[0] is None:
                return []
            to_id = fast.uuid if uuids else str
            walk = fast.walk
            try:
                return [(i[0], to_id(i[1]), i[2], i[3], walk(i[4])) for i in orjson.loads(found[0])]
            except Exception:
                return None

        @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
        def select(after: int, limit: int, stop: int) -> Sequence[Row]:
            if as_json:
                found = select_json(after, limit, stop)
                if found is not None:
                    return found
            with (
                recorder.datastore.get_connection() as conn,
                conn.cursor(row_factory=tuple_row) as curs,
            ):
                curs.execute(rows_statement, (after, stop, limit), prepare=True)
                rows: list[Row] = curs.fetchall()
            return [
                r if type(r[4]) is bytes else (r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows
            ]

        return cast(Callable[[int, int, int], Sequence[Row]], select)


class PostgresEventWaker:
    """Wakes the projector as soon as events are committed, by PostgreSQL LISTEN/NOTIFY.

    The library's recorder sends `NOTIFY <channel>` inside every transaction that inserts
    events (`PostgresApplicationRecorder.channel_name`, the events table's name), so a
    notification arrives when the events are visible. We only need the wake-up, not
    the payload; reading stays with the runner, which reads from its tracked position.
    """

    def __init__(self, conninfo: str, channel: str, wake: Callable[[], None]) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.wake = wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._listen, name="event-waker", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        import psycopg
        from psycopg import sql

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.wake()  # anything committed while we were not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.wake()
            except Exception:
                log.warning("LISTEN on %s failed; retrying", self.channel, exc_info=True)
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
