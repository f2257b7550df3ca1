"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from interfaces.api import account, exports, health, revisions, sessions, tickets
from interfaces.api import admin as admin_api
from interfaces.api import progress as live_progress
from interfaces.api.errors import ERROR_RESPONSES, error_body, install_error_handlers
from interfaces.api.text_guard import refuse_nul
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
    app.middleware("http")(refuse_nul)  # inside limit_body: reads only what that let in
    limit = container.settings.max_upload_bytes + MAX_BODY_BYTES_SLACK

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return JSONResponse(
                error_body(
                    f"Request body of {declared} bytes is over the limit of {limit} bytes",
                    "user_fixable",
                    ["Send a smaller request (zip a config export, or upload files separately)"],
                ),
                status_code=413,
            )
        return await call_next(request)

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
