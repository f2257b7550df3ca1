"""A NATS connection for synchronous callers: its own event loop in a daemon thread.

nats-py is asyncio; the projections and workers that use NATS are plain threads.
`NatsConnection` owns a loop in a dedicated thread, connects in the background
(retrying the first connection too, and reconnecting for ever after a loss) and lets
any thread run a coroutine on it with a bounded wait. It never waits for a server
that is not there: while the connection is down, `call()` raises `NatsUnavailable`
at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

log = logging.getLogger(__name__)

T = TypeVar("T")


class NatsUnavailable(Exception):
    """NATS cannot be reached now; the caller tries again later."""


def servers(url: str) -> list[str]:
    """`NATS_URL` may list several servers of a cluster, comma-separated."""
    return [u.strip() for u in url.split(",") if u.strip()]


def redacted(url: str | None) -> str | None:
    """The URL without credentials (it is shown by the unauthenticated `/readyz`)."""
    if not url:
        return url
    parts = [urlsplit(u.strip()) for u in url.split(",")]
    return ",".join(
        p._replace(netloc=p.netloc.rpartition("@")[2]).geturl() if "@" in p.netloc else p.geturl()
        for p in parts
    )


class NatsConnection:
    def __init__(
        self,
        url: Callable[[], str | None],
        *,
        name: str,
        timeout_s: float = 2.0,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self._url = url
        self.name = name
        self.timeout_s = timeout_s
        self.on_connected = on_connected
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._closing = False
        self._connector: Future[None] | None = None
        self.last_error: str | None = None

    def url(self) -> str | None:
        return self._url()

    def start(self) -> None:
        """Start the loop thread and begin connecting (in the background)."""
        if self._thread is not None:
            return
        self._closing = False
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
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
                    log.info("%s connected to %s", self.name, redacted(url))
                    self._connected()
                    return
                except Exception as exc:
                    self.last_error = f"cannot connect to {redacted(url)}: {exc!r}"
            else:
                self.last_error = "the NATS server has not started"
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _on_error(self, exc: Exception) -> None:
        self.last_error = repr(exc)

    async def _on_disconnected(self) -> None:
        if not self._closing:
            log.warning("%s lost its NATS connection; reconnecting", self.name)

    async def _on_reconnected(self) -> None:
        self.last_error = None
        log.warning("%s reconnected to NATS", self.name)
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

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The connection's event loop (None before `start()`), for callbacks from threads."""
        return self._loop

    @property
    def connected(self) -> bool:
        nc = self._nc
        return nc is not None and nc.is_connected

    @property
    def nc(self) -> NatsClient:
        """Only from coroutines run by `call()` (the connection is up there)."""
        if self._nc is None:
            raise NatsUnavailable("NATS is not connected")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        """Only from coroutines run by `call()` (the connection is up there)."""
        if self._js is None:
            raise NatsUnavailable("NATS is not connected")
        return self._js

    def server(self) -> str | None:
        nc = self._nc
        server = nc.connected_url if nc is not None else None
        return f"{server.hostname}:{server.port}" if server is not None else None

    def call(self, make: Callable[[], Coroutine[Any, Any, T]], timeout_s: float) -> T:
        """Run a coroutine on the connection's loop and wait (bounded) for its result."""
        loop = self._loop
        if loop is None or not self.connected:
            raise NatsUnavailable(f"NATS is not reachable ({self.last_error or 'not connected'})")
        future = asyncio.run_coroutine_threadsafe(make(), loop)
        try:
            return future.result(timeout=timeout_s)
        except NatsUnavailable:
            raise
        except Exception as exc:
            future.cancel()
            self.last_error = repr(exc)
            raise NatsUnavailable(f"NATS request failed: {exc!r}") from exc
