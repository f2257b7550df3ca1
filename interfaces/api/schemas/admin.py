"""Answers of the admin routes: projections, the audit trail, aggregates as they were."""

from __future__ import annotations

from typing import Any

from interfaces.api.schemas.common import Answer, Id, Timestamp


class RebuildOut(Answer):
    state: str
    started_at: Timestamp
    finished_at: Timestamp | None
    position: int | None
    events_per_s: float | None
    error: str | None


class ProjectionOut(Answer):
    name: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    leader: str | None
    leading_here: bool
    rebuildable: bool  # false: it publishes (live progress, task dispatch); lag only
    rebuild: RebuildOut | None


class ProjectionsOut(Answer):
    head: int
    projections: list[ProjectionOut]


class RebuildStarted(Answer):
    projection: str
    rebuild: RebuildOut | None


class AuditEvent(Answer):
    position: int
    session_id: str
    aggregate_type: str
    aggregate_id: Id
    version: int
    type: str
    actor: str | None
    timestamp: Timestamp
    payload: dict[str, Any]


class EventPage(Answer):
    total: int
    limit: int
    offset: int
    events: list[AuditEvent]


class SessionEvents(EventPage):
    session_id: Id


class ExportEvents(EventPage):
    export_id: Id
    session_id: Id


class Change(Answer):
    type: str
    actor: str | None
    timestamp: Timestamp
    payload: dict[str, Any]


class PastState(Answer):
    aggregate_type: str
    id: Id
    version: int
    current_version: int
    changed_by: Change | None
    tickets: list[dict[str, Any]] | None = None  # sessions only, in the user's order
    state: dict[str, Any]
