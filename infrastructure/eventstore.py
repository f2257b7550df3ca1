"""Environment for the `eventsourcing` library, and its notification log as an event source."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.application import Application

log = logging.getLogger(__name__)


class ApplicationEventSource:
    """Reads the application sequence (the notification log) and decodes each event."""

    def __init__(self, app: Application[Any]) -> None:
        self.app = app

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int, stop: int) -> Sequence[tuple[int, Any]]:
        notifications = self.app.recorder.select_notifications(
            start=after, limit=limit, stop=stop, inclusive_of_start=False
        )
        to_event = self.app.mapper.to_domain_event
        return [(n.id, to_event(n)) for n in notifications]


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
