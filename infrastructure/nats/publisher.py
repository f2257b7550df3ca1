"""`ProgressPublisher` on NATS JetStream (nats-py).

The projection that publishes runs in a plain thread; the publisher runs on a
`NatsConnection` (an event loop in a daemon thread) and offers a synchronous
`publish()` that waits for JetStream's acknowledgement for a short, bounded time.
It never waits for a server that is not there: while the connection is down,
`publish()` raises `ProgressUnavailable` at once, and the connection keeps
reconnecting in the background (the first connection is retried too).
"""

from __future__ import annotations

import asyncio
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
        # Called on the connection's loop with a message id when JetStream acknowledges
        # it (batches only): for measurements (bench/progress.py); must be cheap.
        self.on_ack: Callable[[str], None] | None = None

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

    def open_batch(self) -> PublishBatch:
        """Messages sent as they are produced (no waiting), acknowledgements awaited by
        `PublishBatch.wait()` just before the caller's position commits."""
        return PublishBatch(self)

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


def _acked(callback: Callable[[str], None], msg_id: str) -> Callable[[Any], None]:
    def done(future: Any) -> None:
        if not future.cancelled() and future.exception() is None:
            callback(msg_id)

    return done


class PublishBatch:
    """One batch's messages, handed to the connection's loop one by one as the batch
    produces them and published there in that order with asynchronous
    acknowledgements (`publish_async`): the first message is on its way to JetStream
    while the batch still computes the next ones. `wait()` returns once every message
    is acknowledged (stored, or dropped as a duplicate of its message id), else raises
    `ProgressUnavailable`: the batch rolls back and is published again whole."""

    def __init__(self, publisher: NatsProgressPublisher) -> None:
        self.publisher = publisher
        self.connection = publisher.connection
        self._queue: list[tuple[str, bytes, str]] = []  # only touched on the loop
        self._acks: list[asyncio.Future[Any]] = []
        self._sender: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._sent = 0
        self._loop = self.connection.loop

    def send(self, subject: str, message: dict[str, Any], msg_id: str) -> None:
        if self._error is not None:
            return
        loop = self._loop
        if loop is None or not self.connection.connected:
            self._error = NatsUnavailable(
                f"NATS is not reachable ({self.connection.last_error or 'not connected'})"
            )
            return
        self._sent += 1
        item = (subject, encode(message), msg_id)
        loop.call_soon_threadsafe(self._enqueue, item)

    def _enqueue(self, item: tuple[str, bytes, str]) -> None:  # on the loop
        self._queue.append(item)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_queued())

    async def _send_queued(self) -> None:  # on the loop, one at a time, in order
        publisher = self.publisher
        try:
            js = self.connection.js
            if not publisher._stream_ready:
                await ensure_stream(js, publisher.stream, update=True)
                publisher._stream_ready = True
            while self._queue:
                subject, payload, msg_id = self._queue.pop(0)
                ack = await js.publish_async(
                    subject,
                    payload,
                    wait_stall=publisher.timeout_s,
                    stream=publisher.stream.name,
                    headers={MSG_ID_HEADER: msg_id},
                )
                if publisher.on_ack is not None:
                    ack.add_done_callback(_acked(publisher.on_ack, msg_id))
                self._acks.append(ack)
        except BaseException as exc:
            self._error = exc
            self._queue.clear()

    async def _settle(self) -> None:  # on the loop: everything sent, then every ack
        while True:
            sender = self._sender
            if sender is not None and not sender.done():
                await sender
            elif self._queue:  # enqueued after the sender ended: a new one is starting
                await asyncio.sleep(0)
            else:
                break
        if self._error is not None:
            raise self._error
        done = await asyncio.wait_for(asyncio.gather(*self._acks), self.publisher.timeout_s)
        self.publisher.published += len(done)
        self.publisher.duplicates += sum(1 for ack in done if ack.duplicate)

    def wait(self) -> None:
        """Block until JetStream acknowledged every message sent, or raise."""
        if self._error is not None:
            self.abandon()
            raise ProgressUnavailable(str(self._error)) from self._error
        if self._sent == 0:
            return
        try:
            self.connection.call(self._settle, self.publisher.timeout_s * 2 + 1)
        except NatsUnavailable as exc:
            self.abandon()
            raise ProgressUnavailable(str(exc)) from exc

    def abandon(self) -> None:
        """The batch is given up (it will be published again): nobody waits for these."""
        loop = self._loop
        if loop is None:
            return

        def cancel() -> None:
            self._queue.clear()
            for ack in self._acks:
                ack.cancel()

        loop.call_soon_threadsafe(cancel)
