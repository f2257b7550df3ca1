"""Work for the workers on a NATS JetStream work-queue stream.

- Stream `TICKETFORGE_TASKS`, subjects `ticketforge.tasks.<kind>`, work-queue
  retention (a message is gone once acknowledged), file storage, and a duplicate
  window: the dispatcher publishes each task with its task id as `Nats-Msg-Id`, so
  publishing it again (a projection batch retried) stores nothing.
- One durable pull consumer, `ticketforge-workers`, shared by every worker process:
  each message goes to one worker at a time. Explicit acks with an ack wait of the
  task lease: a worker working on a task says so (`in_progress`) every third of the
  lease; a worker that dies stops saying it, and JetStream redelivers the task to
  another worker after the ack wait, which resumes it from the event store.
- A task that ends is acknowledged; one interrupted (the worker stops) or broken
  (an error) is negatively acknowledged with a delay, so it comes back.

A worker cut off from NATS cannot keep its task: after half a lease without a
connection `renew` says the task is lost and the runner stops at its next step,
well before JetStream hands the task to somebody else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from application.tasks import ClaimedTask
from infrastructure.nats.connection import NatsConnection, NatsUnavailable, redacted
from infrastructure.nats.publisher import MSG_ID_HEADER
from projections.progress import ProgressUnavailable

log = logging.getLogger(__name__)

STREAM_NAME = "TICKETFORGE_TASKS"
SUBJECT_PREFIX = "ticketforge.tasks"
CONSUMER_NAME = "ticketforge-workers"
RETRY_DELAY_S = 2.0  # before an interrupted or broken task comes back (doubling per delivery)
MAX_RETRY_DELAY_S = 60.0
IN_PROGRESS = b"+WPI"  # JetStream's "still working": restarts the ack wait


@dataclass(frozen=True)
class TaskStream:
    name: str = STREAM_NAME
    consumer: str = CONSUMER_NAME
    # A task published again within this window is dropped (its id is remembered).
    duplicate_window_s: float = 24 * 3600.0
    replicas: int = 1

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            description="ticketforge work for the workers, one message per task",
            subjects=[f"{SUBJECT_PREFIX}.*"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            duplicate_window=self.duplicate_window_s,
            num_replicas=self.replicas,
        )

    def consumer_config(self, ack_wait_s: float) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.consumer,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait_s,
            max_deliver=-1,  # a task is retried until it ends; it is never dropped
            filter_subject=f"{SUBJECT_PREFIX}.*",
            max_ack_pending=10_000,
        )


def subject_for(kind: str) -> str:
    return f"{SUBJECT_PREFIX}.{kind}"


async def ensure_task_stream(js: JetStreamContext, stream: TaskStream, ack_wait_s: float) -> bool:
    """Create the stream and the workers' consumer if missing; bring their settings to ours.
    True when the stream had to be created (a new deployment, or NATS lost its store)."""
    wanted = stream.config()
    created = False
    try:
        info = await js.stream_info(stream.name)
        if info.config.duplicate_window != wanted.duplicate_window:
            await js.update_stream(wanted)
    except NotFoundError:
        await js.add_stream(wanted)
        created = True
    consumer = stream.consumer_config(ack_wait_s)
    try:
        current = await js.consumer_info(stream.name, stream.consumer)
        if current.config.ack_wait != consumer.ack_wait:
            await js.add_consumer(stream.name, consumer)  # an update of the durable
    except NotFoundError:
        await js.add_consumer(stream.name, consumer)
    return created


def retry_delay(delivered: int) -> float:
    """A task that keeps breaking comes back less and less often: 2 s, 4 s, ... 60 s."""
    return float(min(RETRY_DELAY_S * 2 ** max(delivered - 1, 0), MAX_RETRY_DELAY_S))


class NatsTaskQueue:
    """`TaskQueue` for the workers and `TaskDispatcher` for the dispatch projection."""

    waits_for_work = True  # `claim` itself waits for a task to come

    def __init__(
        self,
        url: Callable[[], str | None],
        *,
        lease_s: float = 30.0,
        poll_s: float = 1.0,
        stream: TaskStream | None = None,
        timeout_s: float = 2.0,
        name: str = "ticketforge-tasks",
    ) -> None:
        self.stream = stream or TaskStream()
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.connection = NatsConnection(
            url, name=name, timeout_s=timeout_s, on_connected=self._connected
        )
        self._ready = False
        self._subs: dict[int, JetStreamContext.PullSubscription] = {}
        self._stale_subs: list[JetStreamContext.PullSubscription] = []
        self._inflight: dict[str, Msg] = {}
        # When the server last confirmed each task's lease (delivery, or a renewal it
        # answered): JetStream redelivers `lease_s` after that, whatever we sent since.
        self._confirmed: dict[str, float] = {}
        self._lock = threading.Lock()
        self.dispatched = 0
        self.duplicates = 0
        self.redispatched = 0
        # The unfinished tasks (from the read models): handed out again when the stream
        # had to be created, as NATS may have lost what it held (see `_redispatch`).
        self.open_tasks: Callable[[], Sequence[ClaimedTask]] | None = None
        # Also once when this process first reaches the stream: for a server that may have
        # lost its last messages (ours, which syncs to disk periodically, after an OS crash).
        # Tasks it kept are dropped as duplicates (their ids are within the window).
        self.redispatch_on_start = False
        self._started = False
        self._closed = threading.Event()

    # --- lifecycle --------------------------------------------------------------

    def _connected(self) -> None:
        # A restarted server may have lost the stream, and its subscriptions are gone.
        self._ready = False
        self._stale_subs.extend(self._subs.values())  # unsubscribed by the next fetch
        self._subs = {}

    def start(self) -> None:
        self.connection.start()

    def close(self) -> None:
        self._closed.set()
        self.connection.close()

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.connection.connected:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connection.connected,
            "url": redacted(self.connection.url()),
            "last_error": None if self.connection.connected else self.connection.last_error,
            "dispatched": self.dispatched,
            "duplicates_dropped": self.duplicates,
            "in_flight": len(self._inflight),
        }

    async def _ensure(self) -> JetStreamContext:
        js = self.connection.js
        if not self._ready:
            created = await ensure_task_stream(js, self.stream, self.lease_s)
            self._ready = True
            first, self._started = not self._started, True
            if (created or (first and self.redispatch_on_start)) and self.open_tasks is not None:
                why = "created anew" if created else "kept by a server that syncs periodically"
                threading.Thread(
                    target=self._redispatch, args=(why,), name="task-redispatch", daemon=True
                ).start()
        return js

    def _redispatch(self, why: str = "created anew") -> None:
        """Hand every unfinished task out again, once the stream had to be created (or on
        this process's start, for a server that may have lost its last messages).

        On a new deployment there is none (or the dispatch projection's own messages,
        which the message id deduplicates). After NATS lost its store, these are the
        tasks it lost: queued ones, and running ones whose worker can no longer renew
        its lease. We wait one lease first, so that such a worker has given its task
        up (it does after half a lease without an answer) before another gets it.
        """
        if self._closed.wait(self.lease_s) or self.open_tasks is None:
            return
        try:
            tasks = self.open_tasks()
        except Exception:
            log.exception("could not list the unfinished tasks to hand them out again")
            return
        for task in tasks:
            try:
                self.dispatch(task.task_id, task.kind, task.session_id, task.payload)
                self.redispatched += 1
            except ProgressUnavailable as exc:
                log.error("could not hand task %s out again: %s", task.task_id, exc)
        if tasks:
            log.warning("the task stream was %s: %d open task(s) handed out again", why, len(tasks))

    def ensure(self) -> None:
        """Create the stream and consumer now (`ticketforge setup`)."""
        self.connection.call(self._ensure, self.timeout_s * 3)

    # --- the dispatcher's side --------------------------------------------------

    def dispatch(self, task_id: str, kind: str, session_id: str, payload: dict[str, Any]) -> None:
        body = json.dumps(
            {"task_id": task_id, "kind": kind, "session_id": session_id, "payload": payload},
            separators=(",", ":"),
        ).encode()

        async def publish() -> None:
            js = await self._ensure()
            ack = await js.publish(
                subject_for(kind),
                body,
                timeout=self.timeout_s,
                stream=self.stream.name,
                headers={MSG_ID_HEADER: task_id},
            )
            self.dispatched += 1
            if ack.duplicate:
                self.duplicates += 1

        try:
            self.connection.call(publish, self.timeout_s * 2 + 1)
        except (NatsUnavailable, TimeoutError, NatsTimeout) as exc:
            raise ProgressUnavailable(f"cannot hand work to the workers: {exc}") from exc

    # --- the workers' side --------------------------------------------------------

    def claim(self, worker: str, kinds: Sequence[str], lease_s: float) -> ClaimedTask | None:
        """Wait up to `poll_s` for a task; None when none came (or NATS is away)."""
        if not self.connection.connected:
            time.sleep(self.poll_s)
            return None
        key = threading.get_ident()

        async def fetch() -> Msg | None:
            js = await self._ensure()
            while self._stale_subs:  # from before a reconnect: nothing may land there
                with contextlib.suppress(Exception):
                    await self._stale_subs.pop().unsubscribe()
            sub = self._subs.get(key)
            if sub is None:
                sub = await js.pull_subscribe(
                    f"{SUBJECT_PREFIX}.*", durable=self.stream.consumer, stream=self.stream.name
                )
                self._subs[key] = sub
            try:
                msgs = await sub.fetch(1, timeout=self.poll_s)
            except (TimeoutError, NatsTimeout):
                return None
            return msgs[0] if msgs else None

        fetched = time.monotonic()  # the ack wait starts at delivery, within the fetch
        try:
            msg = self.connection.call(fetch, self.poll_s + self.timeout_s * 2 + 1)
        except NatsUnavailable as exc:
            log.warning("could not fetch work from NATS: %s", exc)
            time.sleep(self.poll_s)
            return None
        if msg is None:
            return None
        try:
            body = json.loads(msg.data)
            task = ClaimedTask(
                task_id=str(body["task_id"]),
                kind=str(body["kind"]),
                session_id=str(body.get("session_id", "")),
                payload=dict(body.get("payload") or {}),
                attempts=int(msg.metadata.num_delivered or 1),
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.error("dropping a malformed task message %r: %s", msg.data[:200], exc)
            self._settle(msg, "term")
            return None
        if task.kind not in kinds:
            self._settle(msg, "nak")
            return None
        with self._lock:
            self._inflight[task.task_id] = msg
            self._confirmed[task.task_id] = fetched
        return task

    def renew(self, task_id: str, worker: str, lease_s: float) -> bool:
        """Extend the lease; False once it may have run out (the worker must stop).

        The extension is a request the server answers, so "renewed" means JetStream has
        restarted the ack wait, not merely that we sent something. Without an answer for
        half a lease (NATS away, or a link that died silently) the task is given up
        here, well before JetStream can hand it to another worker.
        """
        msg = self._inflight.get(task_id)
        if msg is None:
            return False
        if self.connection.connected:

            async def extend() -> None:
                await self.connection.nc.request(msg.reply, IN_PROGRESS, timeout=self.timeout_s)

            try:
                self.connection.call(extend, self.timeout_s + 1)
            except (NatsUnavailable, TimeoutError, NatsTimeout) as exc:
                log.warning("could not extend task %s: %s", task_id, exc or type(exc).__name__)
            else:
                self._confirmed[task_id] = time.monotonic()
                return True
        if time.monotonic() - self._confirmed.get(task_id, 0.0) < lease_s / 2:
            return True
        log.warning("task %s: lease not confirmed for %.0f s; giving it up", task_id, lease_s / 2)
        self._forget(task_id)
        return False

    def _forget(self, task_id: str) -> Msg | None:
        with self._lock:
            self._confirmed.pop(task_id, None)
            return self._inflight.pop(task_id, None)

    def release(self, task_id: str, worker: str, done: bool = True) -> None:
        msg = self._forget(task_id)
        if msg is not None:
            self._settle(msg, "ack" if done else "nak")

    def _settle(self, msg: Msg, how: str) -> None:
        async def settle() -> None:
            if how == "ack":
                await msg.ack_sync(timeout=self.timeout_s)
            elif how == "nak":
                await msg.nak(delay=retry_delay(msg.metadata.num_delivered or 1))
            else:
                await msg.term()

        try:
            self.connection.call(settle, self.timeout_s * 2 + 1)
        except NatsUnavailable as exc:
            # Not acknowledged: JetStream redelivers it after the ack wait, and the
            # runner returns at once for work that has ended.
            log.warning("could not %s a task message: %s", how, exc)

    def state(self, task_id: str) -> str | None:
        return "running" if task_id in self._inflight else None
