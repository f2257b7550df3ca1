"""No NUL character (U+0000) gets in through a JSON body or a query string.

A NUL is never meant as text, and PostgreSQL cannot store it in the read models'
`jsonb`: an event holding one (a ticket title, a session name, an admin's filter,
recorded in the audit trail) would stop a projection for good. It is refused here,
for every route at once, before any command runs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

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


async def refuse_nul(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    if "%00" in request.url.query:
        return _refused("query string")
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        # The cheap test first; a JSON text spells NUL only as \u0000.
        if b"\\u0000" in body:
            try:
                if _holds_nul(json.loads(body)):
                    return _refused("JSON body")
            except ValueError:
                pass  # not JSON: the route's validation says so
    return await call_next(request)
