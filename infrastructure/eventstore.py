"""Environment for the `eventsourcing` library, and its notification log as an event source."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application


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
