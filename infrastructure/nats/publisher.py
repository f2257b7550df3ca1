"""`ProgressPublisher` on NATS JetStream (nats-py).

nats-py is asyncio; the projection that publishes runs in a plain thread. The
publisher therefore owns an event loop in a dedicated daemon thread and offers a
thread-safe, synchronous `publish()` that waits for JetStream's acknowledgement for
a short, bounded time. It never waits for a server that is not there: while the
connection is down, `publish()` raises `ProgressUnavailable` at once, and nats-py
keeps reconnecting in the background (the first connection is retried too).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from infrastructure.nats.stream import ProgressStream, ensure_stream, servers
from projections.progress import ProgressUnavailable

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


def redacted(url: str | None) -> str | None:
    """The URL without credentials (it is shown by the unauthenticated `/readyz`)."""
    if not url:
        return url
    parts = [urlsplit(u.strip()) for u in url.split(",")]
    return ",".join(
        p._replace(netloc=p.netloc.rpartition("@")[2]).geturl() if "@" in p.netloc else p.geturl()
        for p in parts
    )


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
        self._url = url
        self.on_connected = on_connected
        self.stream = stream or ProgressStream()
        self.timeout_s = timeout_s
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = False
        self._closing = False
        self._connector: Future[None] | None = None
        self.last_error: str | None = None
        self.published = 0
        self.duplicates = 0

    # --- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread and begin connecting (in the background)."""
        if self._thread is not None:
            return
        self._closing = False
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="nats-progress-publisher", daemon=True
        )
        self._thread.start()
        self._connector = asyncio.run_coroutine_threadsafe(self._connect_forever(), loop)

    async def _connect_forever(self) -> None:
        delay = 0.1
        while not self._closing:
            url = self._url()
            if url:
                try:
                    self._nc = await nats.connect(
                        servers(url),
                        name=self.name,
                        allow_reconnect=True,
                        max_reconnect_attempts=-1,
                        reconnect_time_wait=0.5,
                        connect_timeout=2,
                        ping_interval=10,
                        max_outstanding_pings=2,
                        error_cb=self._on_error,
                        disconnected_cb=self._on_disconnected,
                        reconnected_cb=self._on_reconnected,
                    )
                    self._js = self._nc.jetstream(timeout=self.timeout_s)
                    self.last_error = None
                    log.info("progress publisher connected to %s", url)
                    self._connected()
                    return
                except Exception as exc:
                    self.last_error = f"cannot connect to {url}: {exc!r}"
            else:
                self.last_error = "the NATS server has not started"
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _on_error(self, exc: Exception) -> None:
        self.last_error = repr(exc)

    async def _on_disconnected(self) -> None:
        if not self._closing:
            log.warning("progress publisher lost its NATS connection; reconnecting")

    async def _on_reconnected(self) -> None:
        # A restarted server may have lost the stream (an emptied store): check again.
        self._stream_ready = False
        self.last_error = None
        log.warning("progress publisher reconnected to NATS")
        self._connected()

    def _connected(self) -> None:
        if self.on_connected is not None:
            self.on_connected()

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._closing = True
        if self._connector is not None:
            self._connector.cancel()

        async def shutdown() -> None:
            if self._nc is not None and not self._nc.is_closed:
                await self._nc.close()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=5)
        except Exception:
            log.debug("closing the NATS connection failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
        self._loop = self._thread = None
        self._nc = self._js = None

    # --- the port -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        nc = self._nc
        return nc is not None and nc.is_connected

    def status(self) -> dict[str, Any]:
        nc = self._nc
        server = nc.connected_url if nc is not None else None
        return {
            "connected": self.connected,
            "url": redacted(self._url()),
            "server": f"{server.hostname}:{server.port}" if server is not None else None,
            "last_error": None if self.connected else self.last_error,
            "published": self.published,
            "duplicates_dropped": self.duplicates,
        }

    def publish(self, subject: str, message: dict[str, Any], msg_id: str) -> None:
        loop = self._loop
        if loop is None or not self.connected:
            reason = self.last_error or "not connected"
            raise ProgressUnavailable(f"NATS is not reachable ({reason})")
        future = asyncio.run_coroutine_threadsafe(
            self._publish(subject, encode(message), msg_id), loop
        )
        try:
            future.result(timeout=self.timeout_s * 2 + 1)
        except Exception as exc:
            future.cancel()
            self.last_error = repr(exc)
            raise ProgressUnavailable(f"publishing to NATS failed: {exc!r}") from exc

    async def _publish(self, subject: str, payload: bytes, msg_id: str) -> None:
        js = self._js
        if js is None:
            raise ProgressUnavailable("NATS is not connected")
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
