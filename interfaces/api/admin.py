"""Admin only: the audit trail, aggregates as they were, and the read models' health.

Every request here is itself recorded (`AdminActivity.ActionPerformed`), reads too:
who looked at whose history is part of the audit trail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from application.admin import PastState, record_admin_action, state_at
from application.users import User
from domain.export import Export
from domain.session import Session
from interfaces.api.deps import AdminUser, ContainerDep, read_model
from interfaces.api.errors import ApiError
from interfaces.bootstrap import Container
from projections import audit as audit_view
from projections.base import ProjectionStatus, RebuildRefusedError, RebuildStatus

router = APIRouter(prefix="/api/admin", tags=["admin"])

AuditReadModel = read_model(audit_view.AuditProjection.name)
MAX_PAGE = 1000


def _record(
    container: Container,
    response: Response,
    user: User,
    action: str,
    target: str,
    parameters: dict[str, Any],
) -> None:
    position = record_admin_action(container.app, user, action, target, parameters)
    container.wrote(position)
    if position is not None:
        response.headers["X-Admin-Action-Position"] = str(position)


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _page(
    rows: list[dict[str, Any]],
    *,
    types: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    wanted = {t.strip() for t in types.split(",") if t.strip()} if types else None
    since, until = _as_utc(since), _as_utc(until)
    chosen = []
    for row in rows:
        if wanted is not None and row["type"] not in wanted:
            continue
        if actor is not None and row["actor"] != actor:
            continue
        if since is not None or until is not None:
            at = datetime.fromisoformat(row["timestamp"])
            if (since is not None and at < since) or (until is not None and at > until):
                continue
        chosen.append(row)
    return {
        "total": len(chosen),
        "limit": limit,
        "offset": offset,
        "events": chosen[offset : offset + limit],
    }


def _filters(
    type: Annotated[
        str | None, Query(description="Event type(s), comma-separated (e.g. TicketEdited)")
    ] = None,
    actor: Annotated[str | None, Query(description="Only events by this user")] = None,
    since: Annotated[
        datetime | None, Query(description="At or after (ISO 8601; UTC if naive)")
    ] = None,
    until: Annotated[datetime | None, Query(description="At or before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    return {
        "types": type,
        "actor": actor,
        "since": since,
        "until": until,
        "limit": limit,
        "offset": offset,
    }


EventFilters = Annotated[dict[str, Any], Depends(_filters)]


def _check_session(container: Container, session_id: UUID) -> None:
    """Known to the audit view (the one the caller may have waited for with min_position)."""
    if not container.store.count(audit_view.TABLE, partition=str(session_id)):
        raise ApiError(404, f"Session {session_id} not found", "user_fixable", [])


def _session_of_export(container: Container, export_id: UUID) -> str:
    known = container.store.get(audit_view.EXPORT_SESSIONS, str(export_id))
    if known is None:
        raise ApiError(404, f"Export {export_id} not found", "user_fixable", [])
    return str(known["session_id"])


def _past_state(kind: str, past: PastState) -> dict[str, Any]:
    state = {
        k: v
        for k, v in vars(past.aggregate).items()
        if k not in ("_id", "_version", "_pending_events")
    }
    body: dict[str, Any] = {
        "aggregate_type": kind,
        "id": str(past.aggregate.id),
        "version": past.version,
        "current_version": past.current_version,
        "changed_by": None,
    }
    if past.event is not None:
        event = past.event
        body["changed_by"] = {
            "type": audit_view.event_type(event),
            "actor": getattr(event, "actor", None),
            "timestamp": event.timestamp.isoformat(),
            "payload": audit_view.event_payload(event),
        }
    if kind == "Session":
        tickets = state.pop("tickets", {})
        body["tickets"] = sorted(
            (audit_view.to_json(t) for t in tickets.values()), key=lambda t: t["user_order"]
        )
    body["state"] = audit_view.to_json(state)
    return body


def _rebuild_view(rebuild: RebuildStatus | None) -> dict[str, Any] | None:
    if rebuild is None:
        return None
    return {
        "state": rebuild.state,
        "started_at": datetime.fromtimestamp(rebuild.started_at, UTC).isoformat(),
        "finished_at": (
            datetime.fromtimestamp(rebuild.finished_at, UTC).isoformat()
            if rebuild.finished_at is not None
            else None
        ),
        "position": rebuild.position,
        "events_per_s": round(rebuild.events_per_s, 1) if rebuild.events_per_s else None,
        "error": rebuild.error,
    }


def _projection_view(s: ProjectionStatus) -> dict[str, Any]:
    return {
        "name": s.name,
        "position": s.position,
        "head": s.head,
        "lag_events": s.lag_events,
        "lag_seconds": s.lag_seconds,
        "leader": s.leader,
        "leading_here": s.leading_here,
        "rebuild": _rebuild_view(s.rebuild),
    }


@router.get("/projections")
def projections(container: ContainerDep, user: AdminUser, response: Response) -> dict[str, Any]:
    """Each projection's position, the head, and the lag in events and in seconds."""
    _record(container, response, user, "list_projections", "projections", {})
    statuses = container.projector.status()
    return {
        "head": statuses[0].head if statuses else container.app.head_position(),
        "projections": [_projection_view(s) for s in statuses],
    }


@router.post("/projections/{name}/rebuild", status_code=status.HTTP_202_ACCEPTED)
def rebuild_projection(
    name: str, container: ContainerDep, user: AdminUser, response: Response
) -> dict[str, Any]:
    """Rebuild from event 1 in the background; queries use the old copy until the swap."""
    if name not in container.projector.projections:
        raise ApiError(
            404,
            f"No projection named '{name}'",
            "user_fixable",
            [f"Known projections: {', '.join(sorted(container.projector.projections))}"],
        )
    try:
        rebuild = container.projector.start_rebuild(name)
    except RebuildRefusedError as exc:
        raise ApiError(409, str(exc), "user_fixable", ["Wait for the running rebuild"]) from exc
    _record(container, response, user, "rebuild_projection", name, {})
    response.headers["Location"] = "/api/admin/projections"
    return {"projection": name, "rebuild": _rebuild_view(rebuild)}


@router.get("/sessions/{session_id}/events", dependencies=[AuditReadModel])
def session_events(
    session_id: UUID,
    container: ContainerDep,
    user: AdminUser,
    response: Response,
    filters: EventFilters,
) -> dict[str, Any]:
    """Every event of the session and of its exports, in event-store order, with actor."""
    _check_session(container, session_id)
    _record(container, response, user, "view_session_events", str(session_id), _params(filters))
    rows = container.store.list(audit_view.TABLE, partition=str(session_id))
    return {"session_id": str(session_id), **_page(rows, **filters)}


@router.get("/sessions/{session_id}/state")
def session_state(
    session_id: UUID,
    container: ContainerDep,
    user: AdminUser,
    response: Response,
    version: Annotated[int | None, Query(ge=1, description="Default: the current version")] = None,
) -> dict[str, Any]:
    """The session as it was after its event number `version`, and who made that change."""
    _record(container, response, user, "view_session_state", str(session_id), {"version": version})
    return _past_state("Session", state_at(container.app, Session, session_id, version))


@router.get("/exports/{export_id}/events", dependencies=[AuditReadModel])
def export_events(
    export_id: UUID,
    container: ContainerDep,
    user: AdminUser,
    response: Response,
    filters: EventFilters,
) -> dict[str, Any]:
    """The export's events, in event-store order."""
    session_id = _session_of_export(container, export_id)
    _record(container, response, user, "view_export_events", str(export_id), _params(filters))
    rows = [
        r
        for r in container.store.list(audit_view.TABLE, partition=session_id)
        if r["aggregate_id"] == str(export_id)
    ]
    return {"export_id": str(export_id), "session_id": session_id, **_page(rows, **filters)}


@router.get("/exports/{export_id}/state")
def export_state(
    export_id: UUID,
    container: ContainerDep,
    user: AdminUser,
    response: Response,
    version: Annotated[int | None, Query(ge=1, description="Default: the current version")] = None,
) -> dict[str, Any]:
    _record(container, response, user, "view_export_state", str(export_id), {"version": version})
    return _past_state("Export", state_at(container.app, Export, export_id, version))


@router.get("/activity", dependencies=[AuditReadModel])
def admin_activity(
    container: ContainerDep, user: AdminUser, response: Response, filters: EventFilters
) -> dict[str, Any]:
    """What admins did (this request included, once the audit view has caught up)."""
    _record(container, response, user, "view_admin_activity", "admin-activity", _params(filters))
    rows = container.store.list(audit_view.TABLE, partition=audit_view.ADMIN_PARTITION)
    return _page(rows, **filters)


def _params(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in filters.items()}
