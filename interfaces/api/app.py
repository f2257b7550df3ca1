"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from interfaces.api import account, exports, health, revisions, sessions, tickets
from interfaces.api import admin as admin_api
from interfaces.api import progress as live_progress
from interfaces.api.errors import ERROR_RESPONSES, error_body, install_error_handlers
from interfaces.api.text_guard import RefuseNul
from interfaces.bootstrap import Container
from interfaces.web import install_console

MAX_BODY_BYTES_SLACK = 1024 * 1024


def create_app(
    container: Container,
    *,
    manage_container: bool = False,
    start: Callable[[Container], None] | None = None,
) -> FastAPI:
    """Build the API around a container; with `manage_container`, start and close it too
    (with `start`, started that way: an API-only process runs no projector or worker)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_container:
            if start is None:
                container.start()
            else:
                start(container)
        try:
            yield
        finally:
            if manage_container:
                container.close()

    app = FastAPI(
        title="ticketforge", version="0.1.0", lifespan=lifespan, responses=ERROR_RESPONSES
    )
    app.state.container = container
    install_error_handlers(app)
    # Plain ASGI middleware (a `BaseHTTPMiddleware` costs every chunk of a streamed
    # answer, e.g. each live progress event to each watcher, two memory-stream hops).
    app.add_middleware(RefuseNul)  # inside LimitBody: reads only what that let in
    app.add_middleware(LimitBody, limit=container.settings.max_upload_bytes + MAX_BODY_BYTES_SLACK)

    app.include_router(health.router)
    app.include_router(sessions.router)
    app.include_router(tickets.router)
    app.include_router(revisions.router)
    app.include_router(exports.router)
    app.include_router(live_progress.router)
    app.include_router(admin_api.router)
    app.include_router(account.router)
    install_console(app)  # last: the API's paths come first
    return app


class LimitBody:
    """Refuses (413) a request whose declared body is over the upload limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.limit:
                refused = JSONResponse(
                    error_body(
                        f"Request body of {declared} bytes is over the limit of {self.limit} bytes",
                        "user_fixable",
                        [
                            "Send a smaller request (zip a config export, "
                            "or upload files separately)"
                        ],
                    ),
                    status_code=413,
                )
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)
