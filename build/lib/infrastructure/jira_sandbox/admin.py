"""The sandbox's control API under `/_sandbox`: faults, limits, stats, reset, simulated work."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from infrastructure.jira_sandbox.errors import ApiError
from infrastructure.jira_sandbox.faults import FaultUpdate
from infrastructure.jira_sandbox.limits import LimitConfig
from infrastructure.jira_sandbox.render import Json, select_fields
from infrastructure.jira_sandbox.state import (
    Render,
    SandboxDep,
)
from infrastructure.jira_sandbox.store import STATUSES

# -- sandbox administration (no authentication: the sandbox is for tests and demos) -----

admin = APIRouter(prefix="/_sandbox", include_in_schema=False)


class LimitUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    requests_per_second: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)
    issue_write_windows: list[tuple[int, float]] | None = None
    retry_after_seconds: float | None = Field(default=None, ge=0)
    max_attachment_bytes: int | None = Field(default=None, ge=0)
    max_bulk_issues: int | None = Field(default=None, ge=1)
    max_search_results: int | None = Field(default=None, ge=1)


def _limits_dict(config: LimitConfig) -> Json:
    return {f.name: getattr(config, f.name) for f in fields(LimitConfig)}


@admin.get("/faults")
def get_faults(sandbox: SandboxDep) -> Json:
    return sandbox.faults.as_dict()


@admin.post("/faults")
def set_faults(update: FaultUpdate, sandbox: SandboxDep) -> Json:
    sandbox.faults.update(update.changes())
    return sandbox.faults.as_dict()


@admin.get("/limits")
def get_limits(sandbox: SandboxDep) -> Json:
    return _limits_dict(sandbox.limiter.config)


@admin.post("/limits")
def set_limits(update: LimitUpdate, sandbox: SandboxDep) -> Json:
    changes = update.model_dump(exclude_unset=True)
    if "issue_write_windows" in changes:
        changes["issue_write_windows"] = tuple(
            tuple(w) for w in changes["issue_write_windows"] or ()
        )
    sandbox.limiter.configure(replace(sandbox.limiter.config, **changes))
    return _limits_dict(sandbox.limiter.config)


@admin.get("/stats")
def get_stats(sandbox: SandboxDep) -> Json:
    return sandbox.stats.snapshot() | {"issues_in_store": sandbox.store.count_issues()}


@admin.post("/reset")
def reset(sandbox: SandboxDep) -> Json:
    sandbox.reset()
    return {"reset": True}


class IssueWork(BaseModel):
    """Simulates people working in Jira, for sync-back tests and demos."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = None
    resolution: str | None = None
    assignee: str | None = None
    summary: str | None = None  # a person editing the text in Jira
    description: dict[str, Any] | None = None


@admin.patch("/issues/{key}")
def work_on_issue(key: str, work: IssueWork, sandbox: SandboxDep, render: Render) -> Json:
    issue = sandbox.store.issue(key)
    if issue is None:
        raise ApiError(404, [f"Issue {key} does not exist."])
    changes: dict[str, Any] = {}
    given = work.model_fields_set
    if work.status is not None:
        status = next((s for s in STATUSES if s.name.lower() == work.status.lower()), None)
        if status is None:
            raise ApiError(400, [f"Unknown status '{work.status}'."])
        changes["status_id"] = status.id
        if "resolution" not in given:
            changes["resolution"] = "Done" if status.category_key == "done" else None
    if "resolution" in given:
        changes["resolution"] = work.resolution
    if "assignee" in given:
        if work.assignee is not None and sandbox.store.user(work.assignee) is None:
            raise ApiError(400, [f"Unknown user '{work.assignee}'."])
        changes["assignee"] = work.assignee
    if changes:
        sandbox.store.update_issue(issue.id, changes)
    if work.summary is not None or "description" in given:
        sandbox.store.edit_issue(
            issue.id,
            summary=work.summary,
            description=work.description,
            set_description="description" in given,
        )
    updated = sandbox.store.issue(issue.id)
    return render.issue(
        updated or issue,
        select_fields(["status", "assignee", "resolution", "updated"], default_all=False),
    )
