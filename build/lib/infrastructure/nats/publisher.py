"""`ProgressPublisher` on NATS JetStream (nats-py).

The projection that publishes runs in a plain thread; the publisher runs on a
`NatsConnection` (an event loop in a daemon thread) and offers a synchronous
`publish()` that waits for JetStream's acknowledgement for a short, bounded time.
It never waits for a server that is not there: while the connection is down,
`publish()` raises `ProgressUnavailable` at once, and the connection keeps
reconnecting in the background (the first connection is retried too).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from infrastructure.nats.connection import NatsConnection, NatsUnavailable, redacted
from infrastructure.nats.stream import ProgressStream, ensure_stream
from projections.progress import ProgressUnavailable

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), sort_keys=True).encode()


class NatsProgressPublisher:
    def __init__(
        self,
        url: Callable[[], str | None],
        stream: ProgressStream | None = None,
        *,
        timeout_s: float = 2.0,
        name: str = "ticketforge-progress",
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self.on_connected = on_connected
        self.stream = stream or ProgressStream()
        self.timeout_s = timeout_s
        self.connection = NatsConnection(
            url, name=name, timeout_s=timeout_s, on_connected=self._connected
        )
        self._stream_ready = False
        self.published = 0
        self.duplicates = 0

    def _connected(self) -> None:
        # A restarted server may have lost the stream (an emptied store): check again.
        self._stream_ready = False
        if self.on_connected is not None:
            self.on_connected()

    def start(self) -> None:
        self.connection.start()

    def close(self) -> None:
        self.connection.close()

    @property
    def connected(self) -> bool:
        return self.connection.connected

    @property
    def last_error(self) -> str | None:
        return self.connection.last_error

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "url": redacted(self.connection.url()),
            "server": self.connection.server(),
            "last_error": None if self.connected else self.last_error,
            "published": self.published,
            "duplicates_dropped": self.duplicates,
        }

    def ensure(self) -> None:
        """Create the stream now, or bring its limits to ours (`ticketforge setup`)."""

        async def make() -> None:
            await ensure_stream(self.connection.js, self.stream, update=True)
            self._stream_ready = True

        self.connection.call(make, self.timeout_s * 3)

    def publish(self, subject: str, message: dict[str, Any], msg_id: str) -> None:
        payload = encode(message)
        try:
            self.connection.call(
                lambda: self._publish(subject, payload, msg_id), self.timeout_s * 2 + 1
            )
        except NatsUnavailable as exc:
            raise ProgressUnavailable(str(exc)) from exc

    async def _publish(self, subject: str, payload: bytes, msg_id: str) -> None:
        js = self.connection.js
        if not self._stream_ready:
            await ensure_stream(js, self.stream, update=True)
            self._stream_ready = True
        ack = await js.publish(
            subject,
            payload,
            timeout=self.timeout_s,
            stream=self.stream.name,
            headers={MSG_ID_HEADER: msg_id},
        )
        self.published += 1
        if ack.duplicate:
            self.duplicates += 1
