"""Reading a session's progress from JetStream, for the API's SSE and WebSocket bridges.

A subscription runs in the caller's event loop on its own connection. It starts
either with the subject's latest message (a late subscriber sees the current state
first; `deliver_policy=last_per_subject`) or right after a given stream sequence (a
client resuming with `Last-Event-ID` / `?after=`; `by_start_sequence`), then
follows live messages. The consumer is ephemeral, in memory and without acks.

If the server restarts, nats-py reconnects and the subscription makes a new
consumer from the last sequence it delivered; anything delivered twice in that
switch is dropped, so callers see each stream sequence once and in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from infrastructure.nats.connection import servers
from infrastructure.nats.stream import ProgressStream, ensure_stream
from projections.progress import ProgressUnavailable, subject_for

log = logging.getLogger(__name__)

POLL_S = 0.25


@dataclass(frozen=True)
class ProgressItem:
    seq: int
    message: dict[str, Any]


class ProgressSubscription:
    def __init__(
        self, stream: ProgressStream, subject: str, after: int | None, give_up_s: float
    ) -> None:
        self.stream = stream
        self.subject = subject
        # None: start with the subject's latest message; n: start right after sequence n.
        self.last_seq: int | None = after
        self.give_up_s = give_up_s
        self.nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PushSubscription | None = None
        self._resubscribe = False
        self._down_since: float | None = None

    async def _on_disconnected(self) -> None:
        self._down_since = self._down_since or time.monotonic()

    async def _on_reconnected(self) -> None:
        self._down_since = None
        self._resubscribe = True

    async def _on_error(self, exc: Exception) -> None:
        log.debug("progress subscription: %r", exc)

    async def connect(self, url: str, timeout_s: float) -> None:
        self.nc = await asyncio.wait_for(
            nats.connect(
                servers(url),
                name="ticketforge-progress-feed",
                allow_reconnect=True,
                # Fail fast when the server is not there now (the API answers 503) ...
                max_reconnect_attempts=1,
                reconnect_time_wait=0.25,
                connect_timeout=max(1, int(timeout_s)),
                ping_interval=10,
                max_outstanding_pings=2,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
            ),
            timeout_s,
        )
        # ... but once connected, ride out a server restart for as long as it takes.
        self.nc.options["max_reconnect_attempts"] = -1
        self._js = self.nc.jetstream(timeout=timeout_s)
        await ensure_stream(self._js, self.stream, update=False)
        if self.last_seq:
            info = await self._js.stream_info(self.stream.name)
            if self.last_seq > (info.state.last_seq or 0):
                # The client saw sequences this stream never had (its store was reset):
                # start from the current state rather than wait for a number to come.
                self.last_seq = None
        await self._subscribe()

    async def _subscribe(self) -> None:
        assert self._js is not None
        if self._sub is not None:
            await self._drop_consumer()
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            filter_subject=self.subject,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=30.0,
        )
        if self.last_seq is None:
            config.deliver_policy = DeliverPolicy.LAST_PER_SUBJECT
        else:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = self.last_seq + 1
        self._sub = await self._js.subscribe(self.subject, stream=self.stream.name, config=config)
        self._resubscribe = False

    async def _drop_consumer(self) -> None:
        sub, self._sub = self._sub, None
        if sub is None or self._js is None or self.nc is None or self.nc.is_closed:
            return
        try:
            await sub.unsubscribe()
            await self._js.delete_consumer(self.stream.name, sub._consumer)
        except Exception:  # an ephemeral consumer goes away by itself anyway
            log.debug("dropping a progress consumer failed", exc_info=True)

    async def next(self, timeout: float) -> ProgressItem | None:
        """The next message, or None after `timeout` seconds without one.

        Raises `ProgressUnavailable` once NATS has been unreachable for `give_up_s`.
        """
        deadline = time.monotonic() + timeout
        while True:
            nc = self.nc
            if nc is None or nc.is_closed:
                raise ProgressUnavailable("the NATS connection is closed")
            if self._down_since and time.monotonic() - self._down_since > self.give_up_s:
                raise ProgressUnavailable("NATS has been unreachable for too long")
            if self._resubscribe and nc.is_connected:
                try:
                    await self._subscribe()
                except Exception as exc:  # JetStream may need a moment after a restart
                    log.debug("re-subscribing to progress failed: %r", exc)
                    await asyncio.sleep(POLL_S)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            msg = await self._next_msg(min(left, POLL_S))
            if msg is None:
                continue
            item = self._decode(msg)
            if item is not None and (self.last_seq is None or item.seq > self.last_seq):
                self.last_seq = item.seq
                return item

    async def _next_msg(self, timeout: float) -> Msg | None:
        sub = self._sub
        if sub is None:
            await asyncio.sleep(timeout)
            return None
        try:
            return await sub.next_msg(timeout=timeout)
        except NatsTimeout:
            return None
        except nats.errors.ConnectionClosedError as exc:
            raise ProgressUnavailable("the NATS connection is closed") from exc

    @staticmethod
    def _decode(msg: Msg) -> ProgressItem | None:
        if not msg.data or not msg.reply:  # flow control or heartbeat, not a message
            return None
        try:
            seq = msg.metadata.sequence.stream
            message = json.loads(msg.data)
        except Exception:
            log.warning("skipping an unreadable progress message on %s", msg.subject)
            return None
        return ProgressItem(seq=seq, message=message)

    async def close(self) -> None:
        nc = self.nc
        if nc is None or nc.is_closed:
            return
        await self._drop_consumer()
        try:
            await nc.close()
        except Exception:
            log.debug("closing a progress subscription failed", exc_info=True)


class NatsProgressFeed:
    """Opens progress subscriptions; `url()` is read each time (an embedded server's port)."""

    def __init__(
        self,
        url: Callable[[], str | None],
        stream: ProgressStream | None = None,
        *,
        connect_timeout_s: float = 2.0,
        give_up_s: float = 30.0,
    ) -> None:
        self._url = url
        self.stream = stream or ProgressStream()
        self.connect_timeout_s = connect_timeout_s
        self.give_up_s = give_up_s

    async def open(self, session_id: UUID, after: int | None = None) -> ProgressSubscription:
        url = self._url()
        if not url:
            raise ProgressUnavailable("NATS is not configured or has not started")
        subscription = ProgressSubscription(
            self.stream, subject_for(session_id), after, self.give_up_s
        )
        try:
            await subscription.connect(url, self.connect_timeout_s)
        except Exception as exc:
            await subscription.close()
            raise ProgressUnavailable(f"NATS at {url} is not reachable: {exc!r}") from exc
        return subscription
