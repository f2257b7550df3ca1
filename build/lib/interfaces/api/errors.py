"""Every error leaves as JSON `{"detail", "error_category", "recovery_actions"}`."""

from __future__ import annotations

import logging
from typing import Any, Literal

from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from eventsourcing.persistence import RecordConflictError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    ConflictError,
    DomainError,
    InvalidCommandError,
    NotFoundError,
    StaleVersionError,
)

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """What every error answer holds (some add `problems`, `current_version` ...)."""

    model_config = ConfigDict(extra="allow")

    detail: str
    error_category: Literal["user_fixable", "admin_required", "temporary"]
    recovery_actions: list[str]


# Declared on every route, so that the OpenAPI document says what an error looks like
# (and FastAPI's own 422 shape, which our handler replaces, is not advertised).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "Refused: what was wrong and how to fix it"},
    "5XX": {"model": ErrorBody, "description": "Not available now: try again"},
}

WHY = {
    400: "The request is malformed (e.g. an If-Match that is not a version)",
    401: "No valid bearer token",
    403: "The route needs the admin role",
    404: "Not found (another user's session is not found either)",
    409: "Does not fit the current state: stage, version, a running task, stale validation",
    413: "The upload is over the size limit",
    422: "The request is invalid, or the rules refuse it now",
    428: "The version edited is missing (If-Match header or `version`)",
    502: "Jira answered with an error",
    503: "Not available now (read models behind, LLM or NATS unreachable): retry later",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's errors, each with the error body and why it happens."""
    return {status: {"model": ErrorBody, "description": WHY[status]} for status in statuses}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        category: str = "user_fixable",
        recovery_actions: list[str] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.category = category
        self.recovery_actions = recovery_actions or []
        self.headers = headers
        self.extra = extra


def error_body(detail: str, category: str, actions: list[str], **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "error_category": category, "recovery_actions": actions, **extra}


def _status_for(exc: DomainError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if exc.error_category == "admin_required":
        return 422
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, InvalidCommandError):
        return 422
    return 400


DATABASE_RETRY_AFTER_S = 5


def database_unavailable_errors() -> tuple[type[Exception], ...]:
    """What "the database cannot be reached now" raises: connection refused or cut (a
    restart), no connection free in time. The event store's library wraps the driver's
    errors in its own; the read models and users use the driver (psycopg) directly."""
    errors: tuple[type[Exception], ...] = (StoreOperationalError, StoreInterfaceError)
    try:
        import psycopg
    except ImportError:  # pragma: no cover - installed with eventsourcing[postgres]
        return errors
    return (*errors, psycopg.OperationalError, psycopg.InterfaceError)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.detail, exc.category, exc.recovery_actions, **exc.extra),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        extra: dict[str, Any] = {}
        problems = getattr(exc, "problems", None)
        if problems:
            extra["problems"] = [p.to_dict() for p in problems]
        if isinstance(exc, StaleVersionError):
            extra["current_version"] = exc.current_version
        return JSONResponse(
            error_body(exc.detail, exc.error_category, exc.recovery_actions, **extra),
            status_code=_status_for(exc),
        )

    @app.exception_handler(RecordConflictError)
    async def busy(_: Request, exc: RecordConflictError) -> JSONResponse:
        return JSONResponse(
            error_body(str(exc), "temporary", ["Try the request again"]), status_code=409
        )

    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return JSONResponse(
            error_body(
                "The database cannot be reached right now (it is restarting, down, or out of "
                "connections); this request may not have been carried out",
                "temporary",
                [
                    f"Retry in {DATABASE_RETRY_AFTER_S} seconds; read the current state before "
                    "repeating a change",
                    "If it lasts, ask an administrator to check the database (GET /readyz)",
                ],
            ),
            status_code=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    for error in database_unavailable_errors():
        app.add_exception_handler(error, database_unavailable)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "location": ".".join(str(p) for p in e.get("loc", ())),
                "message": e.get("msg", ""),
            }
            for e in exc.errors()
        ]
        first = problems[0] if problems else {"location": "", "message": "invalid request"}
        return JSONResponse(
            error_body(
                f"Invalid request: {first['location']}: {first['message']}",
                "user_fixable",
                ["Fix the fields listed in 'problems' and send the request again"],
                problems=problems,
            ),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        category = "user_fixable" if exc.status_code < 500 else "temporary"
        return JSONResponse(
            error_body(str(exc.detail), category, []),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            error_body(
                "Internal error; nothing was changed by this request unless its events were saved",
                "temporary",
                ["Try again; if it persists, contact an administrator with the time of the error"],
            ),
            status_code=500,
        )
