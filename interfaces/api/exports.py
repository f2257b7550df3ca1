"""Export to Jira: start, status, retry, manual fixes, summary, sync back, project check."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from application.export.jira_errors import JiraError
from application.export.port import jql_date, jql_quote
from application.export.preflight import run_preflight
from application.export.run import session_label
from interfaces.api.deps import ContainerDep, CurrentUser, ReadPosition, session_doc, settle
from interfaces.api.errors import ApiError
from projections import exports as exports_view
from projections import tickets as tickets_view

router = APIRouter(prefix="/api", tags=["export"])

SECONDS_PER_TICKET_ESTIMATE = 0.05


class ResolveBody(BaseModel):
    note: str | None = Field(None, max_length=2000)


class ProjectCheck(BaseModel):
    project_key: str = Field(..., pattern=r"^[A-Z][A-Z0-9_]{1,9}$")
    issue_type: str = Field("Task", min_length=1, max_length=100)
    assignees: list[str] = Field(default_factory=list, max_length=200)
    sprints: list[str] = Field(default_factory=list, max_length=50)


def _export_doc(container: ContainerDep, session_id: UUID, user: CurrentUser) -> dict[str, Any]:
    session = session_doc(container, session_id, user)
    export_id = session.get("export_id")
    doc = container.store.get(exports_view.TABLE, export_id) if export_id else None
    if doc is None:
        raise ApiError(
            404,
            f"Session {session_id} has no export yet",
            "user_fixable",
            ["Start one with POST /api/sessions/{id}/export"],
        )
    return doc


def _jira_error(exc: JiraError) -> ApiError:
    status_code = 502 if exc.category == "temporary" else 422
    return ApiError(status_code, str(exc), exc.category, exc.recovery_actions)


@router.post("/sessions/{session_id}/export", status_code=status.HTTP_202_ACCEPTED)
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
        "estimated_duration_seconds": round(len(export.plan) * SECONDS_PER_TICKET_ESTIMATE, 1),
        "project_key": export.project_key,
        "status_url": f"/api/sessions/{session_id}/export/status",
    }


@router.get("/sessions/{session_id}/export/status")
def export_status(
    session_id: UUID, container: ContainerDep, user: CurrentUser, _: ReadPosition
) -> dict[str, Any]:
    return exports_view.status_view(_export_doc(container, session_id, user))


@router.post("/sessions/{session_id}/export/retry", status_code=status.HTTP_202_ACCEPTED)
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
        "retries_left": max(0, 3 - export.retries),
        "resumes_at_ticket": min((int(p["order"]) for p in export.pending_tickets()), default=None),
        "status_url": f"/api/sessions/{session_id}/export/status",
    }


@router.get("/sessions/{session_id}/export/manual-fixes")
def manual_fixes(
    session_id: UUID, container: ContainerDep, user: CurrentUser, _: ReadPosition
) -> dict[str, Any]:
    doc = _export_doc(container, session_id, user)
    fixes = list(doc["fixes"].values())
    return {
        "export_id": doc["id"],
        "fixes": fixes,
        "open": sum(1 for f in fixes if not f["resolved"]),
        "total": len(fixes),
    }


@router.post("/sessions/{session_id}/export/manual-fixes/{fix_id}/resolve")
def resolve_fix(
    session_id: UUID,
    fix_id: UUID,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
    body: ResolveBody | None = None,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    result = container.app.resolve_manual_fix(session_id, fix_id, body.note if body else None, user)
    settle(container, response, result.position)
    doc = _export_doc(container, session_id, user)
    return dict(doc["fixes"][str(fix_id)])


@router.get("/sessions/{session_id}/export/summary")
def export_summary(
    session_id: UUID, container: ContainerDep, user: CurrentUser, _: ReadPosition
) -> dict[str, Any]:
    doc = _export_doc(container, session_id, user)
    tickets = container.store.list(tickets_view.TABLE, partition=str(session_id))
    return exports_view.summary_view(doc, {t["id"]: t["title"] for t in tickets})


@router.post("/sessions/{session_id}/export/sync")
def sync_back(
    session_id: UUID, container: ContainerDep, user: CurrentUser, response: Response
) -> dict[str, Any]:
    """Refresh each exported issue's status, assignee and resolution (incremental by `updated`).

    The watermark is the newest `updated` Jira itself reported (not our clock, which may
    differ from Jira's). JQL dates stop at minutes, so the search overlaps the last sync;
    issues whose state is unchanged since the last sync are left out of the answer and
    of the recorded event.
    """
    doc = _export_doc(container, session_id, user)
    if doc["status"] != "completed":
        raise ApiError(409, f"Sync back needs a completed export; this one is {doc['status']}")
    export = container.app.load_export(UUID(doc["id"]), user)
    since, known = export.synced_up_to, export.sync
    project, label = jql_quote(doc["project_key"]), jql_quote(session_label(session_id))
    jql = f"project = {project} AND labels = {label}"
    jira = container.jira()
    try:
        if since:
            # Jira reads JQL dates in the searching user's time zone, not in UTC.
            zone = jira.myself().time_zone
            jql += f" AND updated >= {jql_date(datetime.fromisoformat(since), zone)}"
        snapshots = list(jira.search_snapshots(jql + " ORDER BY updated"))
    except JiraError as exc:
        raise _jira_error(exc) from exc
    finally:
        jira.close()
    issues = [
        {
            "key": s.key,
            "status": s.status,
            "status_category": s.status_category,
            "assignee": s.assignee.display_name if s.assignee else None,
            "assignee_email": s.assignee.email if s.assignee else None,
            "resolution": s.resolution,
            "updated": s.updated.isoformat() if s.updated else None,
        }
        for s in snapshots
    ]
    up_to = max((i["updated"] for i in issues if i["updated"]), default=since)
    changed = [i for i in issues if known.get(str(i["key"])) != i]
    result = container.app.record_sync(session_id, changed, up_to, user)
    settle(container, response, result.position)
    return {"updated": len(changed), "issues": changed, "fetched": len(issues)}


@router.post("/jira/validate-project")
def validate_project(
    body: ProjectCheck, container: ContainerDep, user: CurrentUser
) -> dict[str, Any]:
    jira = container.jira()
    try:
        result = run_preflight(
            jira, body.project_key, body.issue_type, assignees=body.assignees, sprints=body.sprints
        )
    except JiraError as exc:
        raise _jira_error(exc) from exc
    finally:
        jira.close()
    return result.to_dict()
