"""The Jira sandbox: the subset of Jira Cloud REST v3 and Agile 1.0 that ticketforge uses,
or, with `flavor="datacenter"`, of Jira Data Center's REST v2 (then `/rest/api/3` does not
exist, as on Data Center; a Cloud sandbox answers only `/rest/api/2/serverInfo` of v2).

Paths, bodies, status codes and error shapes follow Jira Cloud
(`{"errorMessages": [...], "errors": {...}}`). Every `/rest/...` request goes
through one middleware, in this order: latency, injected 401, authentication,
injected 429 storm, the site's burst limit, the route, injected timeout.
Per-issue write limits are checked by the routes that write to an issue.

Default credentials (see `Credentials`): Basic `demo@example.com` / `demo-token`
(full access to DEMO and TF), Basic `viewer@example.com` / `viewer-token` (may
only browse DEMO), Bearer `demo-bearer-token` (as demo@example.com).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from infrastructure.jira_sandbox.admin import admin
from infrastructure.jira_sandbox.agile_api import agile
from infrastructure.jira_sandbox.browse import pages
from infrastructure.jira_sandbox.errors import ApiError
from infrastructure.jira_sandbox.faults import FaultConfig
from infrastructure.jira_sandbox.limits import (
    BURST_REASON,
    LimitConfig,
    LimitExceeded,
)
from infrastructure.jira_sandbox.platform_api import api, api_v2
from infrastructure.jira_sandbox.state import (
    Credentials,
    Sandbox,
    error_response,
    rate_limit_error,
)
from infrastructure.jira_sandbox.store import CLOUD, DATACENTER, SandboxStore

__all__ = ["Credentials", "create_sandbox_app"]


def _route_name(request: Request) -> str:
    """`METHOD /path/{template}` of a Jira route, for the stats (also before routing ran)."""
    for route in (*api.routes, *api_v2.routes, *agile.routes):
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return f"{request.method} {getattr(route, 'path', request.url.path)}"
    return f"{request.method} {request.url.path}"


# Jira answers serverInfo anonymously (how a client learns Cloud from Data Center before
# it knows which credentials to send); it is not counted, limited or faulted either.
ANONYMOUS = frozenset({"/rest/api/2/serverInfo", "/rest/api/3/serverInfo"})


def _served(flavor: str, path: str) -> bool:
    """Data Center has no REST v3; this Cloud sandbox serves only serverInfo of v2."""
    if flavor == DATACENTER:
        return not path.startswith("/rest/api/3/")
    return not path.startswith("/rest/api/2/") or path == "/rest/api/2/serverInfo"


async def _jira_gate(
    sandbox: Sandbox, request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    faults = sandbox.faults
    if not _served(sandbox.flavor, request.url.path):
        return error_response(ApiError(404, [f"No REST resource at {request.url.path}."]))
    latency = faults.latency_seconds()
    if latency > 0:
        await asyncio.sleep(latency)
    if faults.unauthorized():
        sandbox.stats.fault("unauthorized")
        return error_response(ApiError(401, ["You are not authenticated (injected fault)."]))
    account = sandbox.authenticate(request.headers.get("Authorization"))
    if account is None:
        return error_response(
            ApiError(
                401,
                ["You are not authenticated. Authentication required to perform this operation."],
            )
        )
    request.state.account_id = account
    if faults.config.forbidden_routes and _route_name(request) in faults.config.forbidden_routes:
        sandbox.stats.fault("forbidden_route")
        return error_response(
            ApiError(403, ["You do not have permission to perform this operation (injected)."])
        )
    storm = faults.take_storm()
    if storm is not None:
        sandbox.stats.fault("rate_limit_storm")
        sandbox.stats.rate_limited("storm")
        limit = sandbox.limiter.config.burst
        return error_response(rate_limit_error(LimitExceeded(BURST_REASON, limit, storm)))
    exceeded = sandbox.limiter.check_burst(request.method)
    if exceeded is not None:
        sandbox.stats.rate_limited(exceeded.reason)
        return error_response(rate_limit_error(exceeded))
    response = await call_next(request)
    delay = faults.take_timeout()
    if delay is not None:
        # The work is done; only the answer is late, as when Jira is slow.
        sandbox.stats.fault("timeout")
        await asyncio.sleep(delay)
    return response


def create_sandbox_app(
    db_path: Path | None,
    *,
    faults: FaultConfig | None = None,
    limits: LimitConfig | None = None,
    latency_ms: float = 0,
    credentials: Credentials | None = None,
    flavor: str = CLOUD,
) -> FastAPI:
    """A Jira sandbox app over `db_path` (None: in memory); `flavor`: `cloud` or
    `datacenter`."""
    fault_config = faults or FaultConfig()
    if latency_ms:
        fault_config = replace(fault_config, latency_ms=latency_ms)
    sandbox = Sandbox(
        SandboxStore(db_path),
        fault_config,
        limits or LimitConfig(),
        credentials or Credentials(),
        flavor,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        sandbox.store.close()

    app = FastAPI(
        title="ticketforge Jira sandbox",
        description=__doc__,
        lifespan=lifespan,
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
    )
    app.state.sandbox = sandbox
    for router in (api, api_v2, agile, pages, admin):
        app.include_router(router)

    @app.middleware("http")
    async def jira_gate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not request.url.path.startswith("/rest/") or request.url.path in ANONYMOUS:
            return await call_next(request)
        route = _route_name(request)
        sandbox.stats.request(route)
        response = await _jira_gate(sandbox, request, call_next)
        sandbox.stats.response(route, response.status_code)
        return response

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        messages = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in error.errors()
        ]
        return error_response(ApiError(400, messages))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(ApiError(error.status_code, [str(error.detail)]))

    return app
