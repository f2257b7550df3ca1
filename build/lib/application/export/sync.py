"""Sync back: where each exported issue stands in Jira now (status, assignee, resolution).

Incremental by `updated`: the watermark is the newest `updated` Jira itself reported
(not our clock, which may differ from Jira's). JQL dates stop at minutes, so each
search overlaps the previous one; issues whose state is unchanged since the last sync
are left out of the answer and of the recorded event (`IssuesSynced`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from application.export.issues import session_label
from application.export.jira_types import IssueSnapshot
from application.export.port import JiraGateway, jql_date, jql_quote
from application.sessions import TicketForge
from application.users import User
from domain.errors import ConflictError, NotFoundError
from domain.export import Export

RECONCILE = 50  # Jira reconciles at most 50 issue ids per search


@dataclass(frozen=True)
class SyncResult:
    changed: list[dict[str, Any]]  # the issues whose state differs from the last sync
    fetched: int  # the issues Jira returned (the overlap with the last sync included)
    position: int | None  # of the recorded `IssuesSynced`, for read-your-writes


def sync_back(
    app: TicketForge, jira: Callable[[], JiraGateway], session_id: UUID, user: User
) -> SyncResult:
    """Read the session's exported issues back from Jira and record what changed.

    Jira errors (`JiraError`) propagate: the caller says what they mean.
    """
    export = _completed_export(app, session_id, user)
    since, known = export.synced_up_to, export.sync
    project, label = jql_quote(export.project_key), jql_quote(session_label(session_id))
    jql = f"project = {project} AND labels = {label}"
    gateway = jira()
    try:
        if since:
            # Jira reads JQL dates in the searching user's time zone, not in UTC.
            zone = gateway.myself().time_zone
            jql += f" AND updated >= {jql_date(datetime.fromisoformat(since), zone)}"
            issues = [_issue(s) for s in gateway.search_snapshots(jql + " ORDER BY updated")]
        else:
            issues = _first_sync(gateway, export, jql)
    finally:
        gateway.close()
    up_to = max((i["updated"] for i in issues if i["updated"]), default=since)
    changed = [i for i in issues if known.get(str(i["key"])) != i]
    result = app.record_sync(session_id, changed, up_to, user)
    return SyncResult(changed=changed, fetched=len(issues), position=result.position)


def _first_sync(gateway: JiraGateway, export: Export, jql: str) -> list[dict[str, Any]]:
    """Every exported issue, though Jira's search index may not show the newest yet: by
    key, RECONCILE at a time, with their ids as `reconcileIssues` (read-after-write)."""
    recorded = sorted(export.issues.values(), key=lambda i: i.order)
    issues: list[dict[str, Any]] = []
    for start in range(0, len(recorded), RECONCILE):
        chunk = recorded[start : start + RECONCILE]
        keys = ", ".join(jql_quote(i.key) for i in chunk)
        ids = [i.jira_id for i in chunk if i.jira_id.isdigit()]
        found = gateway.search_snapshots(f"{jql} AND key in ({keys}) ORDER BY key", 100, ids)
        issues.extend(_issue(s) for s in found)
    return sorted(issues, key=lambda i: (i["updated"] or "", i["key"]))


def _completed_export(app: TicketForge, session_id: UUID, user: User) -> Export:
    session = app.load_session(session_id, user)
    if session.export_id is None:
        raise NotFoundError(
            f"Session {session_id} has no export yet",
            ["Start one with POST /api/sessions/{id}/export"],
        )
    export = app.load_export(session.export_id)
    if export.status != "completed":
        raise ConflictError(f"Sync back needs a completed export; this one is {export.status}")
    return export


def _issue(snapshot: IssueSnapshot) -> dict[str, Any]:
    assignee = snapshot.assignee
    return {
        "key": snapshot.key,
        "status": snapshot.status,
        "status_category": snapshot.status_category,
        "assignee": assignee.display_name if assignee else None,
        "assignee_email": assignee.email if assignee else None,
        "resolution": snapshot.resolution,
        "updated": snapshot.updated.isoformat() if snapshot.updated else None,
    }
