"""Helpers for the live-progress tests: sessions on the small-site sample, SSE parsing,
reading a session's subject straight from JetStream, and the message schema."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from uuid import UUID

import jsonschema
from starlette.testclient import TestClient

from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from application.users import User
from infrastructure.nats.subscriber import NatsProgressFeed
from interfaces.bootstrap import Container

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
SMALL_SITE_ENTITIES = 49


@functools.cache
def message_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(
        files("infrastructure.nats").joinpath("progress_message.schema.json").read_text()
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def validate(message: dict[str, Any]) -> None:
    message_validator().validate(message)


def new_session(
    container: Container, user: User, site: str = "small-site", files: tuple[str, ...] = ()
) -> UUID:
    """A session with the sample's inventory uploaded (only `files`, if given)."""
    folder = SAMPLES / site / "inventory"
    uploaded = [
        UploadedFile(p.name, p.read_bytes())
        for p in sorted(folder.glob("*.csv"))
        if not files or p.name in files
    ]
    result = container.app.create_session(
        name="live", site={"site_name": site}, jira_project_key="TF", issue_type="Task", user=user
    )
    upload = container.app.upload_inventory(result.session_id, parse_inventory(uploaded), user)
    container.wrote(upload.position)
    assert container.settle(upload.position), "the read models did not catch up"
    return result.session_id


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def generation_status(container: Container, session_id: UUID) -> str:
    """From the read model: loading the aggregate while a worker saves it races (see report)."""
    container.projector.notify()
    doc = container.store.get("sessions", str(session_id))
    run = doc.get("generation") if doc else None
    return str(run["status"]) if run else "none"


def progress_caught_up(container: Container) -> bool:
    live = container.live_progress
    assert live is not None
    live.notify()
    return live.follower.lag() == 0


@dataclass(frozen=True)
class SseEvent:
    id: int | None
    event: str | None
    data: dict[str, Any] | None


def sse_events(lines: Iterator[str]) -> Iterator[SseEvent | str]:
    """Events of an SSE body; comments (keep-alives) come out as their text."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields or "id" in fields:
                yield SseEvent(
                    int(fields["id"]) if fields.get("id") else None,
                    fields.get("event"),
                    json.loads(fields["data"]) if "data" in fields else None,
                )
            fields = {}
        elif line.startswith(":"):
            yield line[1:].strip()
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def read_sse(
    client: TestClient, session_id: UUID, token: str, last_event_id: int | None = None
) -> list[SseEvent]:
    """A task's messages: the stream with `?until=task` ends after its terminal one."""
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    with client.stream(
        "GET", f"/api/sessions/{session_id}/progress/stream?until=task", headers=headers
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [e for e in sse_events(response.iter_lines()) if isinstance(e, SseEvent)]


def stream_messages(
    container: Container, session_id: UUID, after: int | None = 0, idle_s: float = 0.5
) -> list[tuple[int, dict[str, Any]]]:
    """Everything on the session's subject after `after`, read from JetStream directly."""
    live = container.live_progress
    assert live is not None
    feed: NatsProgressFeed = live.feed

    async def read() -> list[tuple[int, dict[str, Any]]]:
        subscription = await feed.open(session_id, after)
        try:
            found = []
            while (item := await subscription.next(idle_s)) is not None:
                found.append((item.seq, item.message))
            return found
        finally:
            await subscription.close()

    return asyncio.run(read())
