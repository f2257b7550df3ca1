"""Progress derived from the event store, published to a real nats-server and read back
through the API's SSE and WebSocket bridges: schema, order, late subscribers, resume."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from application.generation.run import WORKER_ACTOR
from application.users import User
from interfaces.api import progress as progress_api
from interfaces.bootstrap import Container
from tests.integration.progress.support import (
    SMALL_SITE_ENTITIES,
    SseEvent,
    generation_status,
    new_session,
    progress_caught_up,
    read_sse,
    sse_events,
    stream_messages,
    validate,
    wait_until,
)

pytestmark = [pytest.mark.nats, pytest.mark.timeout(120)]

MESSAGES_PER_RUN = SMALL_SITE_ENTITIES + 3  # requested, started, one per entity, completed


def generate(live: Container, user: User, session_id: UUID) -> UUID:
    task_id, _, result = live.app.request_generation(session_id, "offline", user)
    live.wrote(result.position)
    return task_id


def run_to_completion(live: Container, user: User) -> tuple[UUID, UUID]:
    session_id = new_session(live, user)
    live.worker.start(1)
    task_id = generate(live, user, session_id)
    wait_until(lambda: generation_status(live, session_id) == "completed")
    wait_until(lambda: progress_caught_up(live))
    return session_id, task_id


def test_a_generation_run_publishes_one_valid_message_per_event_in_order(
    live: Container, alice: tuple[User, str]
) -> None:
    session_id, task_id = run_to_completion(live, alice[0])
    found = stream_messages(live, session_id)
    messages = [m for _, m in found]
    for message in messages:
        validate(message)
    assert [m["sequence"] for m in messages] == list(range(1, MESSAGES_PER_RUN + 1))
    assert [seq for seq, _ in found] == sorted({seq for seq, _ in found})
    assert {m["task_id"] for m in messages} == {str(task_id)}
    assert {m["session_id"] for m in messages} == {str(session_id)}
    assert [m["type"] for m in messages] == ["processing_progress"] * (MESSAGES_PER_RUN - 1) + [
        "processing_complete"
    ]
    assert [m["event"] for m in messages[:2]] == [
        "Session.GenerationRequested",
        "Session.GenerationStarted",
    ]
    percentages = [m["progress_percentage"] for m in messages]
    assert percentages == sorted(percentages)
    drafted = [m for m in messages if m["event"] == "Session.TicketGenerated"]
    assert [m["tickets_completed"] for m in drafted] == list(range(1, SMALL_SITE_ENTITIES + 1))
    assert all(m["total_tickets"] == SMALL_SITE_ENTITIES for m in drafted)
    assert all(m["current_jira_project"] == "TF" for m in messages)
    done = messages[-1]
    assert done["status"] == "completed" and done["progress_percentage"] == 100.0
    assert done["tickets_created"] == SMALL_SITE_ENTITIES and done["tickets_failed"] == 0
    session = live.app.load_session(session_id)
    assert done["dependencies_created"] == sum(len(t.depends_on) for t in session.tickets.values())


def test_a_late_subscriber_gets_the_latest_state_first_then_live_updates(
    live: Container, alice: tuple[User, str], client: TestClient
) -> None:
    user, token = alice
    session_id = new_session(live, user)
    task_id = generate(live, user, session_id)  # no worker yet: the run waits in the queue
    session = live.app.load_session(session_id)
    session.start_generation(task_id, SMALL_SITE_ENTITIES, WORKER_ACTOR)
    live.app.save(session)
    live.wrote(None)
    wait_until(lambda: progress_caught_up(live))
    assert len(stream_messages(live, session_id)) == 2

    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/sessions/{session_id}/progress/stream?until=task"
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        events = (e for e in sse_events(response.iter_lines()) if isinstance(e, SseEvent))
        first = next(events)
        assert first.data is not None
        assert (first.data["sequence"], first.data["current_stage"]) == (2, "Drafting 49 tickets")
        live.worker.start(1)  # the run goes on while we listen
        rest = list(events)
    assert [e.data["sequence"] for e in rest if e.data] == list(range(3, MESSAGES_PER_RUN + 1))
    assert rest[-1].event == "processing_complete"
    ids = [first.id, *(e.id for e in rest)]
    assert ids == sorted(set(ids))


def test_sse_resume_by_last_event_id_skips_nothing_and_repeats_nothing(
    live: Container, alice: tuple[User, str], client: TestClient
) -> None:
    user, token = alice
    session_id, _ = run_to_completion(live, user)
    everything = read_sse(client, session_id, token, last_event_id=0)
    assert [e.data["sequence"] for e in everything if e.data] == list(
        range(1, MESSAGES_PER_RUN + 1)
    )
    assert all(e.event == (e.data or {}).get("type") for e in everything)
    for cut in (0, 1, 10, MESSAGES_PER_RUN // 2, MESSAGES_PER_RUN - 2):
        resumed = read_sse(client, session_id, token, last_event_id=everything[cut].id)
        assert [(e.id, e.data) for e in resumed] == [(e.id, e.data) for e in everything[cut + 1 :]]
    latest = read_sse(client, session_id, token)  # no Last-Event-ID: the current state
    assert [(e.id, e.event) for e in latest] == [(everything[-1].id, "processing_complete")]


def test_a_reader_that_drops_mid_run_resumes_exactly_where_it_left(
    live: Container, alice: tuple[User, str], client: TestClient
) -> None:
    user, token = alice
    session_id = new_session(live, user)
    generate(live, user, session_id)
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": "0"}
    url = f"/api/sessions/{session_id}/progress/stream?until=task"
    seen: list[SseEvent] = []
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        live.worker.start(1)
        for event in sse_events(response.iter_lines()):
            if isinstance(event, SseEvent):
                seen.append(event)
            if len(seen) == 7:
                break  # the client goes away mid-run
    headers["Last-Event-ID"] = str(seen[-1].id)
    with client.stream("GET", url, headers=headers) as response:
        seen += [e for e in sse_events(response.iter_lines()) if isinstance(e, SseEvent)]
    assert [e.data["sequence"] for e in seen if e.data] == list(range(1, MESSAGES_PER_RUN + 1))
    assert seen[-1].event == "processing_complete"


def test_keep_alive_comments_while_nothing_happens(
    live: Container,
    alice: tuple[User, str],
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_api, "KEEPALIVE_S", 0.2)
    user, token = alice
    session_id = new_session(live, user)
    generate(live, user, session_id)
    wait_until(lambda: progress_caught_up(live))
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/sessions/{session_id}/progress/stream?until=task"
    with client.stream("GET", url, headers=headers) as response:
        items = sse_events(response.iter_lines())
        first = next(items)
        assert isinstance(first, SseEvent) and first.event == "processing_progress"
        assert next(items) == "keep-alive"
        live.worker.start(1)
        rest = [e for e in items if isinstance(e, SseEvent)]
    assert rest[-1].event == "processing_complete"


def receive_until_terminal(ws: Any) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = ws.receive_json()
        frames.append(frame)
        if frame["event"] in ("processing_complete", "processing_failed", "processing_cancelled"):
            return frames


def test_websocket_resumes_after_a_sequence_with_token_in_query_or_header(
    live: Container, alice: tuple[User, str], client: TestClient
) -> None:
    user, token = alice
    session_id, _ = run_to_completion(live, user)
    base = f"/api/sessions/{session_id}/progress/ws"
    with client.websocket_connect(f"{base}?after=0&token={token}") as ws:
        frames = receive_until_terminal(ws)
    assert [f["data"]["sequence"] for f in frames] == list(range(1, MESSAGES_PER_RUN + 1))
    assert all(f["event"] == f["data"]["type"] for f in frames)
    for frame in frames:
        validate(frame["data"])
    cut = frames[20]["id"]
    headers = {"Authorization": f"Bearer {token}"}
    with client.websocket_connect(f"{base}?after={cut}", headers=headers) as ws:
        resumed = receive_until_terminal(ws)
    assert resumed == frames[21:]
    with client.websocket_connect(base, headers=headers) as ws:
        assert receive_until_terminal(ws) == frames[-1:]


def requested_and_fed(live: Container, user: User) -> tuple[UUID, Any]:
    """A session whose generation waits for a worker (its first message is out), and
    the API's progress feed."""
    session_id = new_session(live, user)
    generate(live, user, session_id)
    wait_until(lambda: progress_caught_up(live))
    assert live.live_progress is not None
    return session_id, live.live_progress.feed


def test_clients_watching_one_session_share_one_consumer_and_see_the_same_messages(
    live: Container, alice: tuple[User, str]
) -> None:
    """Many watchers of one session cost one JetStream consumer in this process (not one
    each); each still gets the current state first, then every message in order; a
    client resuming inside the hub's window joins it too; the last one out closes it."""
    import asyncio

    import nats

    from infrastructure.nats.subscriber import SharedSubscription

    session_id, feed = requested_and_fed(live, alice[0])
    assert live.live_progress is not None
    url = live.live_progress.url()
    assert url is not None

    async def consumers() -> int:
        nc = await nats.connect(url)
        try:
            info = await nc.jetstream().stream_info(feed.stream.name)
            return int(info.state.consumer_count)
        finally:
            await nc.close()

    async def watch() -> tuple[list[int], list[int], int, int]:
        before = await consumers()
        watchers = [await feed.open(session_id) for _ in range(5)]
        assert all(isinstance(w, SharedSubscription) for w in watchers)
        assert len({id(w.hub) for w in watchers}) == 1  # type: ignore[union-attr]
        during = await consumers()
        live.worker.start(1)
        seen: list[list[int]] = []
        for watcher in watchers:
            seqs = []
            while (item := await watcher.next(5)) is not None:
                seqs.append(item.message["sequence"])
                if item.message["type"] == "processing_complete":
                    break
            seen.append(seqs)
        first_seq = watchers[0].hub.items[0].seq  # type: ignore[union-attr]
        resumed = await feed.open(session_id, first_seq)  # inside the window: shared
        assert isinstance(resumed, SharedSubscription)
        again = []
        while (item := await resumed.next(0.5)) is not None:
            again.append(item.message["sequence"])
        for watcher in [*watchers, resumed]:
            await watcher.close()
        after = await consumers()
        assert len({tuple(s) for s in seen}) == 1  # all the same
        return seen[0], again, during - before, after - before

    seqs, again, added, left = asyncio.run(watch())
    assert seqs == list(range(1, MESSAGES_PER_RUN + 1))  # the current state (1), then all
    assert again == seqs[1:]
    assert added == 1 and left == 0


def test_a_watcher_that_falls_behind_the_shared_buffer_is_told_to_reconnect(
    live: Container, alice: tuple[User, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rather than skip messages silently: it gets ProgressUnavailable (the SSE bridge
    sends `unavailable`, and the browser reconnects with its Last-Event-ID)."""
    import asyncio

    from infrastructure.nats import subscriber
    from projections.progress import ProgressUnavailable

    monkeypatch.setattr(subscriber, "HUB_BUFFER", 5)
    session_id, feed = requested_and_fed(live, alice[0])

    async def watch() -> tuple[int, str]:
        fast, slow = await feed.open(session_id), await feed.open(session_id)
        first = await slow.next(5)
        assert first is not None
        live.worker.start(1)
        read = 0
        while (item := await fast.next(5)) is not None:
            read += 1
            if item.message["type"] == "processing_complete":
                break
        try:
            await slow.next(1)
        except ProgressUnavailable as exc:
            return read, str(exc)
        finally:
            await fast.close()
            await slow.close()
        return read, "no error"

    read, error = asyncio.run(watch())
    assert read == MESSAGES_PER_RUN
    assert "fell behind" in error
