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
import contextlib
import json
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from uuid import UUID

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from infrastructure.nats.connection import servers
from infrastructure.nats.stream import ProgressStream, ensure_stream
from projections.progress import ProgressUnavailable, subject_for

log = logging.getLogger(__name__)

POLL_S = 0.25


@dataclass(frozen=True)
class ProgressItem:
    seq: int
    message: dict[str, Any]

    @cached_property
    def data(self) -> str:
        """The message as compact JSON, encoded once however many clients it goes to."""
        return json.dumps(self.message, separators=(",", ":"))

    @cached_property
    def sse(self) -> bytes:
        """The message as one Server-Sent Event, encoded once for every client."""
        kind = self.message.get("type", "progress")
        return f"id: {self.seq}\nevent: {kind}\ndata: {self.data}\n\n".encode()


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

    async def message_after(self, seq: int) -> ProgressItem | None:
        """The subject's first message after stream sequence `seq` (direct get: no
        consumer), or None if there is none (yet)."""
        js = self._js
        if js is None or self.nc is None or self.nc.is_closed:
            raise ProgressUnavailable("the NATS connection is closed")
        try:
            raw = await js.get_msg(
                self.stream.name, seq=seq + 1, subject=self.subject, next=True, direct=True
            )
        except NotFoundError:
            return None
        except Exception as exc:
            raise ProgressUnavailable(f"replaying progress failed: {exc!r}") from exc
        if raw.seq is None or not raw.data:
            return None
        try:
            return ProgressItem(seq=raw.seq, message=json.loads(raw.data))
        except ValueError:
            log.warning("skipping an unreadable progress message %s", raw.seq)
            return await self.message_after(raw.seq)

    async def last_sequence(self) -> int:
        """The stream's last sequence (any subject)."""
        assert self._js is not None
        info = await self._js.stream_info(self.stream.name)
        return int(info.state.last_seq or 0)

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

    def ready(self, limit: int) -> list[ProgressItem]:
        """Up to `limit` messages already received and waiting, taken without waiting (a
        burst is handed on as one)."""
        items: list[ProgressItem] = []
        while len(items) < limit and (msg := self._msg_now()) is not None:
            item = self._decode(msg)
            if item is not None and (self.last_seq is None or item.seq > self.last_seq):
                self.last_seq = item.seq
                items.append(item)
        return items

    def _msg_now(self) -> Msg | None:
        """The next received message if there is one now (as `next_msg` takes it, without
        its task and timer per message)."""
        sub = self._sub
        if sub is None or self._resubscribe:
            return None
        waiting = sub._pending_queue
        if waiting.empty():
            return None
        msg = waiting.get_nowait()
        sub._pending_size -= len(msg.data)
        waiting.task_done()
        return msg

    async def _next_msg(self, timeout: float) -> Msg | None:
        sub = self._sub
        if sub is None:
            await asyncio.sleep(timeout)
            return None
        msg = self._msg_now()
        if msg is not None:
            return msg
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


HUB_BUFFER = 1000  # messages a session's hub keeps for clients that read slowly
KEEPALIVE_POLL_S = 15.0  # how long a hub waits on NATS per call (it loops)


class _Hub:
    """One session's live messages, read once per process and event loop and shared
    by every client watching that session (one NATS consumer, one JSON decode and
    encode per message, however many clients).

    It starts with the session's latest message and keeps the last `HUB_BUFFER`
    ones, so a client may start with the current state, or right after any sequence
    from the first it holds on.
    """

    def __init__(self, subscription: ProgressSubscription) -> None:
        self.subscription = subscription
        self.items: deque[ProgressItem] = deque(maxlen=HUB_BUFFER)
        self.appended = 0  # items ever held; the oldest held is number appended - len(items)
        # Each waiting client's future, resolved (all at once) when items come.
        self.waiters: list[asyncio.Future[None]] = []
        self.error: ProgressUnavailable | None = None
        self.clients = 0
        self.closed = False
        self._pump: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._pump = asyncio.get_running_loop().create_task(self._run())

    def _wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _run(self) -> None:
        try:
            while True:
                item = await self.subscription.next(KEEPALIVE_POLL_S)
                if item is None:
                    continue
                # What else has arrived with it goes out with it: clients wake once per
                # burst, and write it in one go.
                burst = [item, *self.subscription.ready(max(1, HUB_BUFFER // 2 - 1))]
                for one in burst:
                    one.sse  # encoded once, here, for every client  # noqa: B018
                    self.items.append(one)
                    self.appended += 1
                self._wake()
                await asyncio.sleep(0)  # the clients' turn, before the next burst
        except ProgressUnavailable as exc:
            self.error = exc
            self.closed = True
            self._wake()

    def index_after(self, seq: int) -> int:
        """The absolute index of the first held item after stream sequence `seq`."""
        first = self.appended - len(self.items)
        for offset, item in enumerate(self.items):
            if item.seq > seq:
                return first + offset
        return self.appended

    async def close(self) -> None:
        self.closed = True
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump
        await self.subscription.close()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


REPLAY_MAX = 10_000  # messages one resuming client may be replayed from the stream


class SharedSubscription:
    """A client's view of a hub: the same `next`/`close` as `ProgressSubscription`.

    A client resuming after a sequence older than the hub's buffer is first replayed
    what it missed straight from the stream (JetStream's direct get, on the hub's
    connection: no consumer of its own), then joins the hub's live feed. Either way it
    sees each stream sequence once and in order.
    """

    def __init__(self, hub: _Hub, after: int | None, release: Callable[[_Hub], Any]) -> None:
        self.hub = hub
        self._release = release
        self._closed = False
        # The last stream sequence handed out (nothing older or equal is handed out).
        self._last: int | None = after
        self._replaying = False
        self._replayed = 0
        # The absolute index (in all the hub ever held) of the next item to hand out:
        # without `after`, the latest one now (the current state), or the first to come.
        if after is None:
            self._next = hub.appended - 1 if hub.items else hub.appended
        elif hub.items and after >= hub.items[0].seq - 1:
            self._next = hub.index_after(after)
        else:  # older than the buffer (or the buffer is empty): replay, then join
            self._replaying = True
            self._next = hub.appended

    def _take(self) -> ProgressItem | None:
        hub = self.hub
        while True:
            first = hub.appended - len(hub.items)
            if self._next < first:  # the buffer moved on past what this client had read
                raise ProgressUnavailable("this client fell behind the live messages; reconnect")
            if self._next >= hub.appended:
                return None
            item = hub.items[self._next - first]
            self._next += 1
            if self._last is None or item.seq > self._last:
                self._last = item.seq
                return item

    def pending(self) -> list[ProgressItem]:
        """Messages that can be handed out now without waiting (for batched writes)."""
        items: list[ProgressItem] = []
        if self._replaying:
            return items
        while (item := self._take()) is not None:
            items.append(item)
        return items

    async def _replay_one(self) -> ProgressItem | None:
        """The next message after `_last` from the stream, until the hub has it."""
        hub = self.hub
        assert self._last is not None
        if (hub.items and hub.items[0].seq <= self._last + 1) or self._replayed >= REPLAY_MAX:
            item = None
        else:
            item = await hub.subscription.message_after(self._last)
            if item is not None and hub.items and item.seq >= hub.items[0].seq:
                item = None  # the hub has it (and what follows)
        if item is None:
            self._replaying = False
            self._next = hub.index_after(self._last)
            return None
        self._replayed += 1
        self._last = item.seq
        return item

    async def next(self, timeout: float) -> ProgressItem | None:
        """The next message, or None after `timeout` seconds without one."""
        if self._replaying:
            item = await self._replay_one()
            if item is not None:
                return item
        deadline = time.monotonic() + timeout
        hub = self.hub
        loop = asyncio.get_running_loop()
        while True:
            item = self._take()
            if item is not None:
                return item
            if hub.error is not None:
                raise hub.error
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            # A future the hub resolves, and a timer that resolves it otherwise: no task
            # nor lock per client per message (hundreds of clients, one burst).
            waiter: asyncio.Future[None] = loop.create_future()
            if len(hub.waiters) > 2 * hub.clients + 16:  # timed-out ones, on a quiet hub
                hub.waiters = [w for w in hub.waiters if not w.done()]
            hub.waiters.append(waiter)
            timer = loop.call_later(left, _resolve, waiter)
            try:
                await waiter
            finally:
                timer.cancel()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._release(self.hub)


Subscription = ProgressSubscription | SharedSubscription


class NatsProgressFeed:
    """Opens progress subscriptions; `url()` is read each time (an embedded server's port).

    Clients watching a session live share one hub per session (per event loop): the
    first one opens it, the last one to leave closes it. A client resuming after a
    sequence the hub does not reach back to gets a subscription of its own.
    """

    def __init__(
        self,
        url: Callable[[], str | None],
        stream: ProgressStream | None = None,
        *,
        connect_timeout_s: float = 2.0,
        give_up_s: float = 30.0,
        shared: bool = True,
    ) -> None:
        self._url = url
        self.stream = stream or ProgressStream()
        self.connect_timeout_s = connect_timeout_s
        self.give_up_s = give_up_s
        self.shared = shared
        self._hubs: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, tuple[_Hub, asyncio.Task[None]]]
        ] = weakref.WeakKeyDictionary()

    async def open(self, session_id: UUID, after: int | None = None) -> Subscription:
        """A subscription on the session's hub, whatever the resume point: one NATS
        connection and one consumer per session in this process, however many watch."""
        if not self.shared:
            return await self.open_own(session_id, after)
        subject = subject_for(session_id)
        hubs = self._hubs.setdefault(asyncio.get_running_loop(), {})
        entry = hubs.get(subject)
        if entry is None or entry[0].closed:
            hub = _Hub(ProgressSubscription(self.stream, subject, None, self.give_up_s))
            entry = hubs[subject] = (hub, asyncio.ensure_future(self._start(hub)))
        hub, ready = entry
        # Counted before waiting, so that no other client's leaving closes it meanwhile.
        hub.clients += 1
        try:
            await asyncio.shield(ready)
            if after is not None and not (hub.items and after <= hub.items[-1].seq):
                try:
                    last = await hub.subscription.last_sequence()
                except Exception as exc:
                    raise ProgressUnavailable(f"NATS is not answering: {exc!r}") from exc
                if after > last:
                    # The client saw sequences this stream never had (its store was
                    # reset): start from the current state rather than wait for them.
                    after = None
        except BaseException:
            await self._release(subject, hub)
            if hubs.get(subject) is entry and hub.closed:
                del hubs[subject]
            raise
        return SharedSubscription(hub, after, lambda h: self._release(subject, h))

    def consumers(self) -> int:
        """Hubs (each one NATS consumer) open in this process, for status and tests."""
        return sum(
            1 for hubs in list(self._hubs.values()) for hub, _ in hubs.values() if not hub.closed
        )

    async def _start(self, hub: _Hub) -> None:
        await self._connect(hub.subscription)
        hub.start()

    async def _release(self, subject: str, hub: _Hub) -> None:
        hub.clients -= 1
        if hub.clients > 0:
            return
        hub.closed = True  # from now on, a new client opens a new hub
        hubs = self._hubs.get(asyncio.get_running_loop(), {})
        if subject in hubs and hubs[subject][0] is hub:
            del hubs[subject]
        await hub.close()

    async def open_own(self, session_id: UUID, after: int | None = None) -> ProgressSubscription:
        """A subscription of this client's own (its own NATS consumer)."""
        subscription = ProgressSubscription(
            self.stream, subject_for(session_id), after, self.give_up_s
        )
        await self._connect(subscription)
        return subscription

    async def _connect(self, subscription: ProgressSubscription) -> None:
        url = self._url()
        if not url:
            raise ProgressUnavailable("NATS is not configured or has not started")
        try:
            await subscription.connect(url, self.connect_timeout_s)
        except Exception as exc:
            await subscription.close()
            raise ProgressUnavailable(f"NATS at {url} is not reachable: {exc!r}") from exc
