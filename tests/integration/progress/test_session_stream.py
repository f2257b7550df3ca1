"""A session's live stream follows the session: across its tasks, on one NATS consumer
per session in the API process whatever the resume point; published as soon as the
event commits (no poll), in batches whose acknowledgements are awaited before the
position commits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import UUID

import nats
import pytest
from starlette.testclient import TestClient

from application.users import User
from infrastructure.eventstore import ApplicationEventSource
from infrastructure.nats.embedded import NatsServerProcess
from infrastructure.nats.publisher import NatsProgressPublisher, PublishBatch
from infrastructure.nats.subscriber import NatsProgressFeed, SharedSubscription
from interfaces.bootstrap import Container, bootstrap
from projections.base import ProjectionRunner
from projections.progress import ProgressProjection, ProgressUnavailable
from tests.conftest import make_settings
from tests.integration.progress.support import (
    SseEvent,
    generation_status,
    new_session,
    progress_caught_up,
    sse_events,
    stream_messages,
    wait_until,
)

pytestmark = [pytest.mark.nats, pytest.mark.timeout(180)]

FILES = ("bundles.csv", "fields.csv")  # a few tickets, some of them linked


def generated(live: Container, user: User) -> UUID:
    """A session whose tickets are generated and validated: ready to export."""
    session_id = new_session(live, user, files=FILES)
    live.worker.start(1)
    _, _, result = live.app.request_generation(session_id, "offline", user)
    live.wrote(result.position)
    wait_until(lambda: generation_status(live, session_id) == "completed")
    live.app.mark_ready(session_id, None, True, user)
    assert live.app.validate_tickets(session_id, None, user).all_passed
    wait_until(lambda: progress_caught_up(live))
    return session_id


def test_a_stream_opened_between_generation_and_export_follows_the_export(
    live: Container, alice: tuple[User, str], client: TestClient
) -> None:
    """It starts with the generation's end (the current state) and stays open: the
    export requested afterwards comes down the same stream, to its end. With
    `?until=task` the same stream ends at once (today's behaviour, for scripts)."""
    user, token = alice
    session_id = generated(live, user)
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/sessions/{session_id}/progress/stream"

    with client.stream("GET", f"{url}?until=task", headers=headers) as response:
        assert response.status_code == 200
        only = [e for e in sse_events(response.iter_lines()) if isinstance(e, SseEvent)]
    assert [e.event for e in only] == ["processing_complete"]

    seen: list[SseEvent] = []
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        for event in sse_events(response.iter_lines()):
            if not isinstance(event, SseEvent):
                continue
            seen.append(event)
            if len(seen) == 1:
                assert event.event == "processing_complete"
                export, _, result = live.app.request_export(session_id, user)
                live.wrote(result.position)
            if event.event == "export_complete":
                break  # the client closes the stream; the server would go on
    exported = [e.data for e in seen[1:] if e.data]
    assert exported and all(m["kind"] == "export" for m in exported)
    assert exported[-1]["export_id"] == str(export.id)
    sequences = [e.data["sequence"] for e in seen if e.data]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    ids = [e.id for e in seen]
    assert ids == sorted(set(ids))


def test_a_websocket_follows_the_session_and_until_task_ends_it(
    live: Container, alice: tuple[User, str], client: TestClient
) -> None:
    user, token = alice
    session_id = generated(live, user)
    base = f"/api/sessions/{session_id}/progress/ws?token={token}"
    with client.websocket_connect(f"{base}&until=task") as ws:
        assert ws.receive_json()["event"] == "processing_complete"
        closed = ws.receive()
        assert closed["type"] == "websocket.close" and closed["code"] == 1000
    with client.websocket_connect(base) as ws:
        assert ws.receive_json()["event"] == "processing_complete"
        export, _, result = live.app.request_export(session_id, user)
        live.wrote(result.position)
        frames = []
        while not frames or frames[-1]["event"] != "export_complete":
            frames.append(ws.receive_json())
    assert {f["data"]["export_id"] for f in frames} == {str(export.id)}


async def consumer_count(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.consumer_count)
    finally:
        await nc.close()


def test_resuming_clients_share_the_sessions_one_consumer(
    live: Container, alice: tuple[User, str]
) -> None:
    """Clients starting fresh, resuming inside the hub's buffer, and resuming from long
    before it (replayed from the stream) all ride one consumer, and each gets every
    message after its resume point once, in order."""
    session_id = generated(live, alice[0])
    assert live.live_progress is not None
    feed: NatsProgressFeed = live.live_progress.feed
    url = live.live_progress.url()
    assert url is not None
    everything = stream_messages(live, session_id)
    seqs = [seq for seq, _ in everything]
    assert len(seqs) > 10

    async def watch() -> tuple[int, int, list[list[int]]]:
        before = await consumer_count(url, feed.stream.name)
        points: list[int | None] = [None, seqs[-2], 0, seqs[0], seqs[len(seqs) // 2], None]
        watchers = [await feed.open(session_id, after) for after in points]
        assert all(isinstance(w, SharedSubscription) for w in watchers)
        assert len({id(w.hub) for w in watchers}) == 1  # type: ignore[union-attr]
        during = await consumer_count(url, feed.stream.name)
        got = []
        for watcher in watchers:
            found = []
            while (item := await watcher.next(0.5)) is not None:
                found.append(item.seq)
            got.append(found)
        for watcher in watchers:
            await watcher.close()
        return during - before, await consumer_count(url, feed.stream.name) - before, got

    added, left, got = asyncio.run(watch())
    assert added == 1 and left == 0
    assert got[0] == got[5] == seqs[-1:]  # fresh: the current state, then live ones
    assert got[1] == seqs[-1:]
    assert got[2] == seqs  # from the start: replayed, then the hub
    assert got[3] == seqs[1:]
    assert got[4] == seqs[len(seqs) // 2 + 1 :]


def test_the_follower_publishes_on_commit_without_waiting_for_its_poll(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, nats_server: NatsServerProcess
) -> None:
    """A commit in this process wakes the follower (and on PostgreSQL, one in another
    process does, by LISTEN/NOTIFY): with its poll slowed to a minute, the message is
    still out at once, without any `wrote()` from the command's caller."""
    settings = make_settings(
        backend,
        tmp_path,
        request,
        NATS_URL=nats_server.url,
        TICKETFORGE_EMBEDDED_NATS=False,
        TICKETFORGE_EMBEDDED_WORKERS=0,
    )
    container = bootstrap(settings)
    other = bootstrap(settings) if backend == "postgres" else None
    try:
        live = container.live_progress
        assert live is not None
        live.follower.poll_interval = 60.0
        container.start()
        user = User("alice")
        session_id = new_session(container, user)
        container.app.request_generation(session_id, "offline", user)
        wait_until(lambda: len(stream_messages(container, session_id)) == 1, 10)
        # On PostgreSQL another process's container writes: only NOTIFY can wake ours.
        writer = container if other is None else other
        writer.app.cancel_generation(session_id, user)
        wait_until(lambda: len(stream_messages(container, session_id)) == 2, 10)
        assert stream_messages(container, session_id)[-1][1]["type"] == "processing_cancelled"
    finally:
        if other is not None:
            other.close()
        container.close()


class AckLost:
    """The real publisher, except that the first batch's acknowledgements "time out"
    after JetStream stored its messages (a crash between publishing and committing)."""

    def __init__(self, inner: NatsProgressPublisher) -> None:
        self.inner = inner
        self.failed = False

    def publish(self, subject: str, message: dict[str, Any], msg_id: str) -> None:
        raise AssertionError("batches are published by open_batch()")

    def open_batch(self) -> PublishBatch:
        batch = self.inner.open_batch()
        if not self.failed:
            self.failed = True
            wait = batch.wait

            def lost() -> None:
                wait()
                raise ProgressUnavailable("the acknowledgements were lost")

            batch.wait = lost  # type: ignore[method-assign]
        return batch


def test_a_batch_is_sent_before_its_position_commits_and_retried_without_duplicates(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, nats_server: NatsServerProcess
) -> None:
    settings = make_settings(backend, tmp_path, request, TICKETFORGE_EMBEDDED_NATS=False)
    container = bootstrap(settings, start=True)
    publisher = NatsProgressPublisher(lambda: nats_server.url)
    publisher.start()
    try:
        user = User("alice")
        session_id = new_session(container, user)
        _, _, result = container.app.request_generation(session_id, "offline", user)
        container.wrote(result.position)
        wait_until(lambda: generation_status(container, session_id) == "completed")
        wait_until(lambda: publisher.connected)
        flaky = AckLost(publisher)
        runner = ProjectionRunner(
            ApplicationEventSource(container.app),
            container.store,
            [ProgressProjection(flaky)],
            batch_size=10_000,
        )
        with pytest.raises(ProgressUnavailable):
            runner.pump(ProgressProjection.name)
        assert container.store.position(ProgressProjection.name) == 0
        sent = publisher.published
        assert sent > 10  # the whole batch went out before the position could commit
        assert publisher.duplicates == 0
        assert runner.pump(ProgressProjection.name) == container.app.head_position()
        assert publisher.duplicates == sent  # JetStream dropped every re-published one
        feed = NatsProgressFeed(lambda: nats_server.url)

        async def read() -> list[int]:
            subscription = await feed.open(session_id, 0)
            try:
                found = []
                while (item := await subscription.next(0.5)) is not None:
                    found.append(item.message["sequence"])
                return found
            finally:
                await subscription.close()

        assert asyncio.run(read()) == list(range(1, sent + 1))
    finally:
        publisher.close()
        container.close()
