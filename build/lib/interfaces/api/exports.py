"""Export to Jira: start, status, retry, manual fixes, summary, sync back, project check."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from application.export import sync as issue_sync
from application.export.check import check_project, check_session_export
from application.export.jira_errors import JiraError
from application.export.plan import plan_next_export
from application.export.schedule import estimate_plan
from domain.export import MAX_EXPORT_RETRIES
from interfaces.api.deps import (
    ContainerDep,
    CurrentUser,
    ReadPosition,
    ViewsDep,
    session_doc,
    settle,
)
from interfaces.api.errors import ApiError, documented
from interfaces.api.schemas.exports import (
    ExportPlan,
    ExportRetried,
    ExportStarted,
    ExportStatus,
    ExportSummary,
    ManualFix,
    ManualFixList,
    ProjectCheckOut,
    SyncOut,
)

router = APIRouter(prefix="/api", tags=["export"], responses=documented(401))

EXPORT_ERRORS = documented(404)


class ResolveBody(BaseModel):
    note: str | None = Field(None, max_length=2000)
    choice: Literal["keep_jira", "overwrite"] | None = Field(
        None,
        description="For a conflict: keep Jira's text, or overwrite it with ours on the "
        "next export",
    )


class ProjectCheck(BaseModel):
    project_key: str | None = Field(
        None,
        pattern=r"^[A-Z][A-Z0-9_]{1,9}$",
        description="Required unless session_id is given (then the session's project)",
    )
    session_id: UUID | None = Field(
        None,
        description="Check for exporting this session: its project, issue type and what its "
        "tickets use, with the export's estimate (requests and duration)",
    )
    issue_type: str = Field("Task", min_length=1, max_length=100)
    assignees: list[str] = Field(default_factory=list, max_length=200)
    sprints: list[str] = Field(default_factory=list, max_length=50)


def _no_export(session_id: UUID) -> ApiError:
    return ApiError(
        404,
        f"Session {session_id} has no export yet",
        "user_fixable",
        ["Start one with POST /api/sessions/{id}/export"],
    )


def _export_id(container: ContainerDep, session_id: UUID, user: CurrentUser) -> UUID:
    """The session's latest export (404 for a session `user` may not see, or none)."""
    export_id = session_doc(container, session_id, user).get("export_id")
    if export_id is None:
        raise _no_export(session_id)
    return UUID(export_id)


def _shown(answer: dict[str, Any] | None, session_id: UUID) -> dict[str, Any]:
    if answer is None:  # the export is not in the read model (yet)
        raise _no_export(session_id)
    return answer


def _jira_error(exc: JiraError) -> ApiError:
    status_code = 502 if exc.category == "temporary" else 422
    return ApiError(status_code, str(exc), exc.category, exc.recovery_actions)


@router.post(
    "/sessions/{session_id}/export",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportStarted,
    responses=documented(404, 409, 422),
)
def start_export(
    session_id: UUID, container: ContainerDep, user: CurrentUser, response: Response
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    export, already, result = container.app.request_export(session_id, user)
    settle(container, response, result.position)
    return {
        "task_id": str(export.task_id),
        "export_id": str(export.id),
        "already_running": already,
        "total_tickets": len(export.plan),
        "total_dependencies": sum(len(p["depends_on"]) for p in export.plan),
        "estimated_duration_seconds": round(estimate_plan(export.plan).duration_s, 1),
        "project_key": export.project_key,
        "status_url": f"/api/sessions/{session_id}/export/status",
    }


@router.get(
    "/sessions/{session_id}/export/status",
    response_model=ExportStatus,
    response_model_exclude_unset=True,
    responses=EXPORT_ERRORS,
)
def export_status(
    session_id: UUID, container: ContainerDep, views: ViewsDep, user: CurrentUser, _: ReadPosition
) -> dict[str, Any]:
    export_id = _export_id(container, session_id, user)
    return _shown(views.exports.status(export_id), session_id)


@router.post(
    "/sessions/{session_id}/export/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportRetried,
    responses=documented(404, 409, 422),
)
def retry_export(
    session_id: UUID, container: ContainerDep, user: CurrentUser, response: Response
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    export, result = container.app.retry_export(session_id, user)
    settle(container, response, result.position)
    return {
        "task_id": str(export.task_id),
        "export_id": str(export.id),
        "retry": export.retries,
        "retries_left": max(0, MAX_EXPORT_RETRIES - export.retries),
        "resumes_at_ticket": min((int(p["order"]) for p in export.pending_tickets()), default=None),
        "status_url": f"/api/sessions/{session_id}/export/status",
    }


@router.get(
    "/sessions/{session_id}/export/plan",
    response_model=ExportPlan,
    responses=documented(404, 409),
)
def export_plan(session_id: UUID, container: ContainerDep, user: CurrentUser) -> dict[str, Any]:
    """The dry run: what `POST .../export` would create, update, link, unlink and mark
    obsolete, the conflicts a person's edits in Jira would cause, the requests and the
    time; Jira is only read (the issues to update), never written."""
    session_doc(container, session_id, user)
    return plan_next_export(container.app, container.jira, session_id, user)


@router.get(
    "/sessions/{session_id}/export/manual-fixes",
    response_model=ManualFixList,
    response_model_exclude_unset=True,
    responses=EXPORT_ERRORS,
)
def manual_fixes(
    session_id: UUID, container: ContainerDep, views: ViewsDep, user: CurrentUser, _: ReadPosition
) -> dict[str, Any]:
    export_id = _export_id(container, session_id, user)
    return _shown(views.exports.manual_fixes(export_id), session_id)


@router.post(
    "/sessions/{session_id}/export/manual-fixes/{fix_id}/resolve",
    response_model=ManualFix,
    response_model_exclude_unset=True,
    responses=documented(404, 409),
)
def resolve_fix(
    session_id: UUID,
    fix_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
    body: ResolveBody | None = None,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    note, choice = (body.note, body.choice) if body else (None, None)
    result = container.app.resolve_manual_fix(session_id, fix_id, note, user, choice)
    settle(container, response, result.position)
    export_id = _export_id(container, session_id, user)
    return _shown(views.exports.manual_fix(export_id, fix_id), session_id)


@router.get(
    "/sessions/{session_id}/export/summary",
    response_model=ExportSummary,
    response_model_exclude_unset=True,
    responses=EXPORT_ERRORS,
)
def export_summary(
    session_id: UUID, container: ContainerDep, views: ViewsDep, user: CurrentUser, _: ReadPosition
) -> dict[str, Any]:
    export_id = _export_id(container, session_id, user)
    return _shown(views.exports.summary(export_id), session_id)


@router.post(
    "/sessions/{session_id}/export/sync",
    response_model=SyncOut,
    responses=documented(404, 409, 422, 502),
)
def sync_back(
    session_id: UUID, container: ContainerDep, user: CurrentUser, response: Response
) -> dict[str, Any]:
    """Refresh each exported issue's status, assignee and resolution from Jira (incremental
    by `updated`); answers the issues that changed since the last sync."""
    try:
        result = issue_sync.sync_back(container.app, container.jira, session_id, user)
    except JiraError as exc:
        raise _jira_error(exc) from exc
    settle(container, response, result.position)
    return {"updated": len(result.changed), "issues": result.changed, "fetched": result.fetched}


@router.post(
    "/jira/validate-project", response_model=ProjectCheckOut, responses=documented(422, 502)
)
def validate_project(
    body: ProjectCheck, container: ContainerDep, user: CurrentUser
) -> dict[str, object]:
    """The export's pre-flight checks on a Jira project, with the reasons it would fail;
    for a session, also the requests its export would make and how long they would take."""
    try:
        if body.session_id is not None:
            session_doc(container, body.session_id, user)
            checked, estimate = check_session_export(
                container.app, container.jira, body.session_id, user
            )
            return {**checked.to_dict(), "estimate": estimate.to_dict()}
        if body.project_key is None:
            raise ApiError(
                422,
                "Give project_key (a Jira project key such as NW), or session_id",
                "user_fixable",
                ["Send {'project_key': 'NW'} or {'session_id': '<a session id>'}"],
            )
        checked = check_project(
            container.jira,
            body.project_key,
            body.issue_type,
            assignees=body.assignees,
            sprints=body.sprints,
        )
    except JiraError as exc:
        raise _jira_error(exc) from exc
    return checked.to_dict()
