"""What a running sandbox holds, and the request dependencies and lookups its routers share."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Body, Depends, Request
from fastapi.responses import JSONResponse

from infrastructure.jira_sandbox.errors import ApiError
from infrastructure.jira_sandbox.faults import FaultConfig, FaultInjector
from infrastructure.jira_sandbox.limits import (
    LimitConfig,
    LimitExceeded,
    SandboxLimiter,
)
from infrastructure.jira_sandbox.render import Json, Renderer
from infrastructure.jira_sandbox.stats import SandboxStats
from infrastructure.jira_sandbox.store import (
    CLOUD,
    FLAVORS,
    IssueRow,
    ProjectRow,
    SandboxStore,
)


@dataclass(frozen=True)
class Credentials:
    """Who may call the sandbox: Basic `email -> API token`, Bearer `token -> email`."""

    basic: Mapping[str, str] = field(
        default_factory=lambda: {
            "demo@example.com": "demo-token",
            "viewer@example.com": "viewer-token",
        }
    )
    bearer: Mapping[str, str] = field(
        default_factory=lambda: {"demo-bearer-token": "demo@example.com"}
    )


class Sandbox:
    """Everything one sandbox app holds; routes reach it through `request.app.state`."""

    def __init__(
        self,
        store: SandboxStore,
        faults: FaultConfig,
        limits: LimitConfig,
        credentials: Credentials,
        flavor: str = CLOUD,
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {', '.join(FLAVORS)}, not {flavor!r}")
        self.flavor = flavor
        self.store = store
        self.initial_faults = faults
        self.initial_limits = limits
        self.credentials = credentials
        self.faults = FaultInjector(faults)
        self.limiter = SandboxLimiter(limits)
        self.stats = SandboxStats()
        self._accounts: dict[str, str] = {}
        self._ensure_principals()

    def _ensure_principals(self) -> None:
        emails = {*self.credentials.basic, *self.credentials.bearer.values()}
        self._accounts = {email.lower(): self.store.ensure_user(email) for email in emails}

    def authenticate(self, header: str | None) -> str | None:
        """The account id behind an Authorization header, or None."""
        scheme, _, value = (header or "").partition(" ")
        email: str | None = None
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            user, _, token = decoded.partition(":")
            expected = {k.lower(): v for k, v in self.credentials.basic.items()}.get(user.lower())
            if expected is not None and hmac.compare_digest(expected, token):
                email = user
        elif scheme.lower() == "bearer":
            for token, owner in self.credentials.bearer.items():
                if hmac.compare_digest(token, value.strip()):
                    email = owner
        return self._accounts.get(email.lower()) if email else None

    def reset(self) -> None:
        self.store.reset()
        self._ensure_principals()
        self.faults.reset(self.initial_faults)
        self.limiter.configure(self.initial_limits)
        self.stats.clear()

    def guard_issue_writes(self, keys: Sequence[str]) -> None:
        exceeded = self.limiter.check_issue_writes(keys)
        if exceeded is not None:
            self.stats.rate_limited(exceeded.reason)
            raise rate_limit_error(exceeded)


def rate_limit_error(exceeded: LimitExceeded) -> ApiError:
    reset = datetime.now(UTC) + timedelta(seconds=exceeded.retry_after)
    seconds = exceeded.retry_after
    return ApiError(
        429,
        ["Rate limit exceeded."],
        headers={
            "Retry-After": str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}",
            "X-RateLimit-Limit": str(exceeded.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{reset.microsecond // 1000:03d}Z",
            "X-RateLimit-NearLimit": "true",
            "RateLimit-Reason": exceeded.reason,
        },
    )


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


# -- dependencies ---------------------------------------------------------------------


def get_sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def get_account(request: Request) -> str:
    account: str = request.state.account_id
    return account


def get_renderer(request: Request, sandbox: Annotated[Sandbox, Depends(get_sandbox)]) -> Renderer:
    return Renderer(
        sandbox.store,
        str(request.base_url),
        sandbox.faults.config.user_time_zone,
        sandbox.flavor,
    )


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]
Account = Annotated[str, Depends(get_account)]
Render = Annotated[Renderer, Depends(get_renderer)]
JsonBody = Annotated[Any, Body()]

# -- lookups shared by the routers -----------------------------------------------------------


def browsable_project(sandbox: Sandbox, account: str, key: str) -> ProjectRow:
    project = sandbox.store.project(key)
    if project is None or not sandbox.store.has_permission(account, project.key, "BROWSE_PROJECTS"):
        raise ApiError(404, [f"No project could be found with key '{key}'."])
    return project


def browsable_issue(sandbox: Sandbox, account: str, key: str) -> IssueRow:
    issue = sandbox.store.issue(key)
    if issue is None or not sandbox.store.has_permission(
        account, issue.project_key, "BROWSE_PROJECTS"
    ):
        raise ApiError(404, ["Issue does not exist or you do not have permission to see it."])
    return issue


def page_of(values: list[Any], start_at: int, max_results: int) -> Json:
    chunk = values[start_at : start_at + max_results]
    return {
        "maxResults": max_results,
        "startAt": start_at,
        "total": len(values),
        "isLast": start_at + len(chunk) >= len(values),
        "values": chunk,
    }
