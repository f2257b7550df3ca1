"""Live progress of a session, bridged from NATS JetStream to Server-Sent Events and WebSocket.

Both start with the session's latest progress message (the current state), or right
after the stream sequence a client last saw (`Last-Event-ID` / `?after=`), and follow
the session's live messages across its tasks (generation, export, re-export) until
the client closes the stream: a terminal message (`*_complete`, `*_failed`,
cancelled) ends a *task*, not the stream. With `?until=task` the stream ends after
the first terminal message instead (for scripts that wait for one task).
The same authorization as the session applies (401 without a valid token, 404 for
another user's session). Without NATS the answer is 503, pointing at the REST
status read models, which always work.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from uuid import UUID

import anyio
from fastapi import APIRouter, Header, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from interfaces.api.deps import ContainerDep, CurrentUser, session_doc
from interfaces.api.errors import ApiError, documented, error_body
from interfaces.bootstrap import Container
from projections.progress import ProgressUnavailable, is_terminal

router = APIRouter(prefix="/api/sessions", tags=["progress"])

KEEPALIVE_S = 15.0
RETRY_MS = 2000


def _unavailable(session_id: UUID, reason: str) -> ApiError:
    return ApiError(
        503,
        f"Live progress is not available: {reason}",
        "temporary",
        [
            f"Poll GET /api/sessions/{session_id}/process/status for ticket generation",
            f"Poll GET /api/sessions/{session_id}/export/status for the export",
            "Open the live stream again in a few seconds",
        ],
        headers={"Retry-After": "5"},
    )


async def _subscribe(container: Container, session_id: UUID, after: int | None) -> Any:
    live = container.live_progress
    if live is None:
        raise _unavailable(
            session_id, "NATS is not configured (set NATS_URL, or TICKETFORGE_EMBEDDED_NATS=true)"
        )
    try:
        return await live.feed.open(session_id, after)
    except ProgressUnavailable as exc:
        raise _unavailable(session_id, str(exc)) from exc


def _resume_point(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is None or not last_event_id.strip():
        return after
    if not last_event_id.strip().isdigit():
        raise ApiError(
            422,
            f"Last-Event-ID must be a stream sequence number, not {last_event_id!r}",
            "user_fixable",
            ["Send back the `id:` of the last event you received, or no Last-Event-ID"],
        )
    return int(last_event_id)


UntilQuery = Annotated[
    Literal["task"] | None,
    Query(
        description="`task`: end the stream after the first terminal message (a task's end); "
        "by default it follows the session until the client closes it"
    ),
]


def _sse(item: Any) -> bytes:
    """One SSE event, encoded once (by the session's hub) for all its clients."""
    sse: bytes = item.sse
    return sse


@router.get(
    "/{session_id}/progress/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-Sent Events, the latest message first, then the "
            "session's messages as they come (all its tasks) until the client closes it "
            "(`?until=task`: until a terminal one)",
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "string",
                        "description": "`id:` stream sequence, `event:` message type, "
                        "`data:` the progress message as JSON "
                        "(infrastructure/nats/progress_message.schema.json)",
                    }
                }
            },
        },
        **documented(401, 404, 422, 503),
    },
)
async def progress_stream(
    session_id: UUID,
    container: ContainerDep,
    user: CurrentUser,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0, description="Resume after this sequence")] = None,
    until: UntilQuery = None,
) -> StreamingResponse:
    """Server-Sent Events: `id:` is the JetStream stream sequence, `event:` the message type."""
    await run_in_threadpool(session_doc, container, session_id, user)
    subscription = await _subscribe(container, session_id, _resume_point(last_event_id, after))
    pending = getattr(subscription, "pending", None)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            while True:
                item = await subscription.next(KEEPALIVE_S)
                if item is None:
                    yield b": keep-alive\n\n"
                    continue
                # Several messages waiting (a slow client, a burst): one write for all.
                items = [item, *(pending() if pending is not None else ())]
                for end, one in enumerate(items):
                    if until == "task" and is_terminal(one.message):
                        yield b"".join(_sse(i) for i in items[: end + 1])
                        return
                yield b"".join(_sse(i) for i in items)
        except ProgressUnavailable as exc:
            body = _unavailable(session_id, str(exc))
            payload = error_body(body.detail, body.category, body.recovery_actions)
            yield f"event: unavailable\ndata: {json.dumps(payload)}\n\n".encode()
        finally:
            with anyio.CancelScope(shield=True):
                await subscription.close()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _token(websocket: WebSocket, token: str | None) -> str | None:
    if token:
        return token
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def _deny(websocket: WebSocket, error: ApiError) -> None:
    """Refuse the handshake with our error JSON (or, if the server cannot, a close code)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = error_body(error.detail, error.category, error.recovery_actions)
        await websocket.send_denial_response(
            JSONResponse(body, status_code=error.status, headers=error.headers)
        )
    else:
        await websocket.close(code=4000 + error.status, reason=error.detail[:120])


@router.websocket("/{session_id}/progress/ws")
async def progress_ws(
    websocket: WebSocket,
    session_id: UUID,
    after: Annotated[int | None, Query(ge=0)] = None,
    token: Annotated[str | None, Query()] = None,
    until: UntilQuery = None,
) -> None:
    """Frames are `{"id": <stream sequence>, "event": <type>, "data": <message>}`."""
    container: Container = websocket.app.state.container
    raw = _token(websocket, token)
    user = await run_in_threadpool(container.users.authenticate, raw) if raw else None
    if user is None:
        await _deny(
            websocket,
            ApiError(
                401,
                "Authentication required: send ?token=<token> or 'Authorization: Bearer <token>'",
                "user_fixable",
                ["Create a token with `ticketforge users create NAME`"],
            ),
        )
        return
    try:
        await run_in_threadpool(session_doc, container, session_id, user)
        subscription = await _subscribe(container, session_id, after)
    except ApiError as exc:
        await _deny(websocket, exc)
        return

    await websocket.accept()
    close_code = 1000
    try:
        async with anyio.create_task_group() as tasks:

            async def pump() -> None:
                nonlocal close_code
                try:
                    while True:
                        item = await subscription.next(KEEPALIVE_S)
                        if item is None:
                            continue
                        await websocket.send_json(
                            {
                                "id": item.seq,
                                "event": item.message.get("type"),
                                "data": item.message,
                            }
                        )
                        if until == "task" and is_terminal(item.message):
                            return
                except ProgressUnavailable as exc:
                    body = _unavailable(session_id, str(exc))
                    payload = error_body(body.detail, body.category, body.recovery_actions)
                    await websocket.send_json({"id": None, "event": "unavailable", "data": payload})
                    close_code = 1013  # try again later
                finally:
                    tasks.cancel_scope.cancel()

            async def until_disconnect() -> None:
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass
                tasks.cancel_scope.cancel()

            tasks.start_soon(pump)
            tasks.start_soon(until_disconnect)
    except WebSocketDisconnect:
        pass
    finally:
        with anyio.CancelScope(shield=True):
            await subscription.close()
    try:
        await websocket.close(code=close_code)
    except RuntimeError:  # the client has already gone
        pass
