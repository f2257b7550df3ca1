"""No NUL character (U+0000) gets in through a JSON body or a query string.

A NUL is never meant as text, and PostgreSQL cannot store it in the read models'
`jsonb`: an event holding one (a ticket title, a session name, an admin's filter,
recorded in the audit trail) would stop a projection for good. It is refused here,
for every route at once, before any command runs.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interfaces.api.errors import error_body

_FIX = ["Remove the NUL character (U+0000, '\\u0000' in JSON, '%00' in a URL) and send again"]


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _refused(where: str) -> JSONResponse:
    return JSONResponse(
        error_body(
            f"The {where} contains a NUL character (U+0000), which is not text",
            "user_fixable",
            _FIX,
        ),
        status_code=422,
    )


class RefuseNul:
    """Plain ASGI (not `BaseHTTPMiddleware`, which passes every chunk of a streamed
    answer, such as live progress over SSE, through memory streams and tasks): refuses
    a NUL in the query string or in a JSON body, and hands the body it read on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "%00" in scope.get("query_string", b"").decode("latin-1"):
            await _refused("query string")(scope, receive, send)
            return
        if not Headers(scope=scope).get("content-type", "").startswith("application/json"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # The cheap test first; a JSON text spells NUL only as \u0000.
        if b"\\u0000" in body:
            try:
                if _holds_nul(json.loads(body)):
                    await _refused("JSON body")(scope, receive, send)
                    return
            except ValueError:
                pass  # not JSON: the route's validation says so
        replayed: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([replayed], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """`receive` that gives `messages` first, then what the client sends next."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
