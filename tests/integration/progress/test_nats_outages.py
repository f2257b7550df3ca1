"""NATS goes away: the work never waits for it, progress resumes where it stopped, and
neither the stream nor its subscribers see a message twice or miss one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from application.users import User
from infrastructure.eventstore import ApplicationEventSource
from infrastructure.llm.openai_stub import StubServer, StubState
from infrastructure.nats.embedded import NatsServerProcess
from infrastructure.nats.publisher import NatsProgressPublisher
from infrastructure.nats.subscriber import NatsProgressFeed
from interfaces.api.app import create_app
from interfaces.bootstrap import Container, bootstrap
from projections.base import ProjectionRunner
from projections.progress import ProgressProjection, ProgressPublisher, ProgressUnavailable
from tests.conftest import make_settings
from tests.integration.progress.support import (
    SMALL_SITE_ENTITIES,
    SseEvent,
    generation_status,
    new_session,
    progress_caught_up,
    sse_events,
    stream_messages,
    wait_until,
)

pytestmark = [pytest.mark.nats, pytest.mark.timeout(120)]

MESSAGES_PER_RUN = SMALL_SITE_ENTITIES + 3


def assert_each_event_once(messages: list[dict[str, Any]]) -> None:
    assert [m["sequence"] for m in messages] == list(range(1, len(messages) + 1))
    keys = [(m["task_id"], m["event"], m["sequence"]) for m in messages]
    assert len(keys) == len(set(keys))
    drafted = [m["tickets_completed"] for m in messages if m["event"] == "Session.TicketGenerated"]
    assert drafted == list(range(1, SMALL_SITE_ENTITIES + 1))


def test_work_requested_with_nats_down_waits_in_the_event_store_and_runs_when_it_is_back(
    live: Container, nats_server: NatsServerProcess
) -> None:
    user, token = live.users.create("alice", False)
    session_id = new_session(live, user)
    wait_until(lambda: progress_caught_up(live))
    nats_server.kill()
    live.worker.start(1)
    task_id, _, result = live.app.request_generation(session_id, "offline", user)
    live.wrote(result.position)
    assert live.settle()  # the read models never wait for NATS

    assert live.live_progress is not None
    assert live.live_progress.follower.lag() > 0  # dispatch and progress wait
    with TestClient(create_app(live)) as client:
        auth = {"Authorization": f"Bearer {token}"}
        status = client.get(f"/api/sessions/{session_id}/process/status", headers=auth)
        assert status.status_code == 200 and status.json()["status"] == "requested"
        stream = client.get(f"/api/sessions/{session_id}/progress/stream", headers=auth)
        assert stream.status_code == 503
        body = stream.json()
        assert body["error_category"] == "temporary"
        assert any("process/status" in a for a in body["recovery_actions"])
        assert any("export/status" in a for a in body["recovery_actions"])
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["nats"]["ok"] is False
        assert ready.json()["checks"]["nats"]["progress_lag"] > 0

    nats_server.start()  # same port, same store: everything reconnects by itself
    wait_until(lambda: generation_status(live, session_id) == "completed")
    wait_until(lambda: progress_caught_up(live))
    messages = [m for _, m in stream_messages(live, session_id)]
    assert_each_event_once(messages)
    assert messages[-1]["type"] == "processing_complete"
    assert messages[-1]["task_id"] == str(task_id)
    assert live.live_progress.tasks.status()["dispatched"] == 1


@pytest.fixture
def slow_llm() -> Iterator[StubServer]:
    with StubServer(StubState(latency_s=0.03)) as stub:
        yield stub


@pytest.fixture
def slow_live(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    nats_server: NatsServerProcess,
    slow_llm: StubServer,
) -> Iterator[Container]:
    """One draft at a time from a slow LLM: a run lasts long enough to break NATS in it."""
    settings = make_settings(
        backend,
        tmp_path,
        request,
        NATS_URL=nats_server.url,
        TICKETFORGE_EMBEDDED_NATS=False,
        TICKETFORGE_EMBEDDED_WORKERS=0,
        TICKETFORGE_GENERATOR="openai",
        TICKETFORGE_GENERATION_CONCURRENCY=1,
        OPENAI_BASE_URL=slow_llm.base_url,
        OPENAI_API_KEY="test",
        OPENAI_MODEL="stub-model",
    )
    container = bootstrap(settings, start=True)
    try:
        yield container
    finally:
        container.close()


def test_nats_killed_mid_run_and_restarted_subscribers_resume_without_gaps_or_duplicates(
    slow_live: Container, nats_server: NatsServerProcess
) -> None:
    live = slow_live
    user, token = live.users.create("alice", False)
    session_id = new_session(live, user)
    _, _, result = live.app.request_generation(session_id, "openai:stub-model", user)
    live.wrote(result.position)
    seen: list[SseEvent] = []
    url = f"/api/sessions/{session_id}/progress/stream"
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": "0"}
    with TestClient(create_app(live)) as client, client.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200
        live.worker.start(1)
        for event in sse_events(r.iter_lines()):
            if not isinstance(event, SseEvent):
                continue
            assert event.event != "unavailable", event.data
            seen.append(event)
            if len(seen) == 8:
                nats_server.kill()  # mid-publish, mid-run: no clean shutdown
                nats_server.start()
            if event.event == "processing_complete":
                break
    wait_until(lambda: generation_status(live, session_id) == "completed")
    messages = [e.data for e in seen if e.data]
    assert_each_event_once(messages)
    assert len(messages) == MESSAGES_PER_RUN
    assert [e.id for e in seen] == sorted({e.id for e in seen if e.id})
    wait_until(lambda: progress_caught_up(live))
    stored = [m for _, m in stream_messages(live, session_id)]
    assert stored == messages  # the stream itself holds each message once


class FailsOnce:
    """The real publisher, except that one call fails (a crash in the middle of a batch)."""

    def __init__(self, inner: ProgressPublisher, fail_on_call: int) -> None:
        self.inner = inner
        self.fail_on_call = fail_on_call
        self.calls = 0

    def publish(self, subject: str, message: dict[str, Any], msg_id: str) -> None:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise ProgressUnavailable("the connection broke")
        self.inner.publish(subject, message, msg_id)


def test_a_batch_that_failed_halfway_is_published_again_without_duplicates(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, nats_server: NatsServerProcess
) -> None:
    settings = make_settings(backend, tmp_path, request, TICKETFORGE_EMBEDDED_NATS=False)
    container = bootstrap(settings, start=True)
    publisher = NatsProgressPublisher(lambda: nats_server.url)
    publisher.start()
    try:
        assert container.live_progress is None
        user = User("alice")
        session_id = new_session(container, user)
        _, _, result = container.app.request_generation(session_id, "offline", user)
        container.wrote(result.position)
        wait_until(lambda: generation_status(container, session_id) == "completed")
        wait_until(lambda: publisher.connected)

        flaky = FailsOnce(publisher, fail_on_call=30)
        runner = ProjectionRunner(
            ApplicationEventSource(container.app), container.store, [ProgressProjection(flaky)]
        )
        with pytest.raises(ProgressUnavailable):
            runner.pump(ProgressProjection.name)
        assert container.store.position(ProgressProjection.name) == 0
        assert publisher.published == 29
        head = runner.pump(ProgressProjection.name)
        assert head == container.app.head_position()
        assert publisher.duplicates == 29  # JetStream dropped the re-published ones

        messages = _read_all(NatsProgressFeed(lambda: nats_server.url), session_id)
        assert len(messages) == MESSAGES_PER_RUN
        assert_each_event_once(messages)
    finally:
        publisher.close()
        container.close()


def _read_all(feed: NatsProgressFeed, session_id: UUID) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        subscription = await feed.open(session_id, 0)
        try:
            found = []
            while (item := await subscription.next(0.5)) is not None:
                found.append(item.message)
            return found
        finally:
            await subscription.close()

    return asyncio.run(read())
