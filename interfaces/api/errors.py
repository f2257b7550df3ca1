"""Every error leaves as JSON `{"detail", "error_category", "recovery_actions"}`."""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import RecordConflictError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    ConflictError,
    DomainError,
    InvalidCommandError,
    NotFoundError,
    StaleVersionError,
)

log = logging.getLogger(__name__)


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
