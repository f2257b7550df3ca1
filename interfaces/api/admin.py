"""Admin only: the audit trail, aggregates as they were, and the read models' health.

Every request here is itself recorded (`AdminActivity.ActionPerformed`), reads too:
who looked at whose history is part of the audit trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from application.admin import record_admin_action, state_at
from application.users import User
from domain.export import Export
from domain.session import Session
from interfaces.api.deps import AdminUser, ContainerDep, ViewsDep, read_model
from interfaces.api.errors import ApiError, documented
from interfaces.api.schemas.admin import (
    EventPage,
    ExportEvents,
    PastState,
    ProjectionsOut,
    RebuildStarted,
    SessionEvents,
)
from interfaces.bootstrap import Container
from projections.audit import AuditProjection, EventFilter
from projections.base import RebuildRefusedError

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=documented(401, 403))

AuditReadModel = read_model(AuditProjection.name)
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
) -> EventFilter:
    return EventFilter(
        types=type, actor=actor, since=since, until=until, limit=limit, offset=offset
    )


EventFilters = Annotated[EventFilter, Depends(_filters)]


def _not_found(kind: str, aggregate_id: UUID) -> ApiError:
    return ApiError(404, f"{kind} {aggregate_id} not found", "user_fixable", [])


@router.get("/projections", response_model=ProjectionsOut)
def projections(
    container: ContainerDep, views: ViewsDep, user: AdminUser, response: Response
) -> dict[str, Any]:
    """Each projection's position, the head, and the lag in events and in seconds,
    including the projections that publish to NATS (`rebuildable: false`)."""
    # Measured before this request's own audit event, which no projection can have seen.
    overview = views.projections.overview()
    _record(container, response, user, "list_projections", "projections", {})
    return overview


@router.post(
    "/projections/{name}/rebuild",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RebuildStarted,
    responses=documented(404, 409),
)
def rebuild_projection(
    name: str, container: ContainerDep, views: ViewsDep, user: AdminUser, response: Response
) -> dict[str, Any]:
    """Rebuild from event 1 in the background; queries use the old copy until the swap."""
    runner = views.projections.runner_of(name)
    if runner is None:
        raise ApiError(
            404,
            f"No projection named '{name}'",
            "user_fixable",
            [f"Known projections: {', '.join(views.projections.names())}"],
        )
    if not runner.projections[name].rebuildable:
        raise ApiError(
            409,
            f"Projection '{name}' cannot be rebuilt: it publishes to NATS as it follows the "
            "event store (live progress, task hand-off), and replaying it from event 1 would "
            "publish nothing while its new position skipped what it had not published yet",
            "user_fixable",
            [
                "Nothing to do: it catches up by itself; watch its lag_events in "
                "GET /api/admin/projections",
                "If its lag grows, check NATS (GET /readyz)",
            ],
        )
    try:
        rebuild = runner.start_rebuild(name)
    except RebuildRefusedError as exc:
        raise ApiError(409, str(exc), "user_fixable", ["Wait for the running rebuild"]) from exc
    _record(container, response, user, "rebuild_projection", name, {})
    response.headers["Location"] = "/api/admin/projections"
    return {"projection": name, "rebuild": views.projections.rebuild(rebuild)}


@router.get(
    "/sessions/{session_id}/events",
    dependencies=[AuditReadModel],
    response_model=SessionEvents,
    responses=documented(404),
)
def session_events(
    session_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: AdminUser,
    response: Response,
    filters: EventFilters,
) -> dict[str, Any]:
    """Every event of the session and of its exports, in event-store order, with actor."""
    page = views.audit.session_events(session_id, filters)
    if page is None:  # unknown to the audit view (the one min_position waited for)
        raise _not_found("Session", session_id)
    _record(container, response, user, "view_session_events", str(session_id), filters.parameters())
    return page


@router.get(
    "/sessions/{session_id}/state",
    response_model=PastState,
    response_model_exclude_unset=True,
    responses=documented(404, 422),
)
def session_state(
    session_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: AdminUser,
    response: Response,
    version: Annotated[int | None, Query(ge=1, description="Default: the current version")] = None,
) -> dict[str, Any]:
    """The session as it was after its event number `version`, and who made that change."""
    _record(container, response, user, "view_session_state", str(session_id), {"version": version})
    return views.audit.past_state("Session", state_at(container.app, Session, session_id, version))


@router.get(
    "/exports/{export_id}/events",
    dependencies=[AuditReadModel],
    response_model=ExportEvents,
    responses=documented(404),
)
def export_events(
    export_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: AdminUser,
    response: Response,
    filters: EventFilters,
) -> dict[str, Any]:
    """The export's events, in event-store order."""
    page = views.audit.export_events(export_id, filters)
    if page is None:
        raise _not_found("Export", export_id)
    _record(container, response, user, "view_export_events", str(export_id), filters.parameters())
    return page


@router.get(
    "/exports/{export_id}/state",
    response_model=PastState,
    response_model_exclude_unset=True,
    responses=documented(404, 422),
)
def export_state(
    export_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: AdminUser,
    response: Response,
    version: Annotated[int | None, Query(ge=1, description="Default: the current version")] = None,
) -> dict[str, Any]:
    _record(container, response, user, "view_export_state", str(export_id), {"version": version})
    return views.audit.past_state("Export", state_at(container.app, Export, export_id, version))


@router.get("/activity", dependencies=[AuditReadModel], response_model=EventPage)
def admin_activity(
    container: ContainerDep,
    views: ViewsDep,
    user: AdminUser,
    response: Response,
    filters: EventFilters,
) -> dict[str, Any]:
    """What admins did (this request included, once the audit view has caught up)."""
    _record(
        container, response, user, "view_admin_activity", "admin-activity", filters.parameters()
    )
    return views.audit.admin_activity(filters)
