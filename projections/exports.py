"""Export status, summary and manual fixes: one document per export run."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import singledispatchmethod
from typing import Any, ClassVar
from uuid import UUID

from domain.export import MAX_EXPORT_RETRIES, Export
from projections.base import Projection
from projections.store import ReadModelStore, ViewTransaction
from projections.tickets import TicketsView

TABLE = "exports"


class ExportsProjection(Projection):
    name: ClassVar[str] = "exports"
    tables: ClassVar[tuple[str, ...]] = (TABLE,)

    @singledispatchmethod
    def process(self, event: Any, tx: ViewTransaction) -> None:
        """Events this read model does not show."""

    def _load(self, tx: ViewTransaction, event: Any) -> dict[str, Any]:
        doc = tx.get(TABLE, str(event.originator_id))
        assert doc is not None, f"export {event.originator_id} unknown to the exports view"
        doc["version"] = event.originator_version
        doc["updated_at"] = event.timestamp.isoformat()
        return doc

    def _save(self, tx: ViewTransaction, doc: dict[str, Any]) -> None:
        tx.put(TABLE, doc["id"], doc, partition=doc["session_id"], sort=doc["sequence"])

    @process.register
    def _requested(self, event: Export.ExportRequested, tx: ViewTransaction) -> None:
        earlier = tx.partition(TABLE, str(event.session_id))
        carried = event.carried or {}
        orders = {str(p["ticket_id"]): int(p["order"]) for p in event.plan}
        hashes = {str(p["ticket_id"]): p.get("source_hash") for p in event.plan}
        issues = {
            str(i["ticket_id"]): {
                "ticket_id": str(i["ticket_id"]),
                "order": orders[str(i["ticket_id"])],
                "key": i["key"],
                "url": i["url"],
                "found_by_search": False,
                "carried": True,
            }
            for i in carried.get("issues", ())
        }
        keys = {t: i["key"] for t, i in issues.items()}
        forced = set(carried.get("force", ()))
        to_update = sum(
            1
            for i in carried.get("issues", ())
            if str(i["ticket_id"]) in forced
            or (i.get("sent") or {}).get("source") != hashes[str(i["ticket_id"])]
        )
        self._save(
            tx,
            {
                "id": str(event.originator_id),
                "session_id": str(event.session_id),
                "sequence": len(earlier) + 1,
                "task_id": str(event.task_id),
                "project_key": event.project_key,
                "issue_type": event.issue_type,
                "content_version": event.content_version,
                "status": "requested",
                "total": len(event.plan),
                "dependencies_total": sum(len(p["depends_on"]) for p in event.plan),
                "attempt": 0,
                "retries": 0,
                "runs": 0,
                "issues": issues,
                "epics": {
                    str(e["group"]): {
                        "group": e["group"],
                        "name": e["name"],
                        "key": e["key"],
                        "url": e["url"],
                        "children": e.get("children", 0),
                        "found_by_search": False,
                    }
                    for e in carried.get("epics", ())
                },
                "attachments": 0,
                "links": [
                    {"blocker": keys[d], "blocked": keys[t], "type": "Blocks", "carried": True}
                    for t, d in carried.get("links", ())
                    if t in keys and d in keys
                ],
                "previous_export_id": carried.get("previous_export_id"),
                "to_update": to_update,
                "updated": 0,
                "conflicts": {},
                "to_unlink": len(carried.get("unlink", ())),
                "unlinked": [],
                "to_mark_obsolete": len(carried.get("obsolete", ())),
                "obsolete": [],
                "fixes": {},
                "failure": None,
                "requested_at": event.timestamp.isoformat(),
                "requested_by": event.actor,
                "started_at": None,
                "finished_at": None,
                "sync": {},
                "synced_at": None,
                "version": event.originator_version,
                "updated_at": event.timestamp.isoformat(),
            },
        )

    @process.register
    def _started(self, event: Export.ExportStarted, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc.update(status="running", attempt=event.attempt, runs=event.run, failure=None)
        doc["started_at"] = doc["started_at"] or event.timestamp.isoformat()
        self._save(tx, doc)

    @process.register
    def _exported(self, event: Export.TicketExported, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["issues"][str(event.ticket_id)] = {
            "ticket_id": str(event.ticket_id),
            "order": event.order,
            "key": event.key,
            "url": event.url,
            "found_by_search": event.found_by_search,
        }
        self._save(tx, doc)

    @process.register
    def _epic(self, event: Export.EpicExported, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc.setdefault("epics", {})[event.group] = {
            "group": event.group,
            "name": event.name,
            "key": event.key,
            "url": event.url,
            "children": event.children,
            "found_by_search": event.found_by_search,
        }
        self._save(tx, doc)

    @process.register
    def _updated(self, event: Export.TicketIssueUpdated, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["updated"] = doc.get("updated", 0) + 1
        self._save(tx, doc)

    @process.register
    def _conflict(self, event: Export.ExportConflictRecorded, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc.setdefault("conflicts", {})[str(event.ticket_id)] = {
            "ticket_id": str(event.ticket_id),
            "key": event.key,
            "ours": {k: event.ours.get(k) for k in ("summary", "text")},
            "theirs": {k: event.theirs.get(k) for k in ("summary", "text")},
        }
        self._save(tx, doc)

    @process.register
    def _unlinked(self, event: Export.IssueLinkRemoved, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc.setdefault("unlinked", []).append(
            {"blocker": event.blocker_key, "blocked": event.blocked_key, "type": "Blocks"}
        )
        doc["links"] = [
            link
            for link in doc["links"]
            if (link["blocker"], link["blocked"]) != (event.blocker_key, event.blocked_key)
        ]
        self._save(tx, doc)

    @process.register
    def _obsolete(self, event: Export.IssueMarkedObsolete, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc.setdefault("obsolete", []).append({"ticket_id": str(event.ticket_id), "key": event.key})
        self._save(tx, doc)

    @process.register
    def _attached(self, event: Export.AttachmentUploaded, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["attachments"] += 1
        self._save(tx, doc)

    @process.register
    def _linked(self, event: Export.DependencyLinked, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["links"].append(
            {"blocker": event.blocker_key, "blocked": event.blocked_key, "type": "Blocks"}
        )
        self._save(tx, doc)

    @process.register
    def _fix(self, event: Export.ManualFixRecorded, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["fixes"][str(event.fix_id)] = {
            "fix_id": str(event.fix_id),
            "ticket_id": str(event.ticket_id) if event.ticket_id else None,
            "issue_key": event.issue_key,
            "kind": event.kind,
            "detail": event.detail,
            "recommended_action": event.recommended_action,
            "resolved": False,
            "resolution_note": None,
            "recorded_at": event.timestamp.isoformat(),
        }
        self._save(tx, doc)

    @process.register
    def _fix_resolved(self, event: Export.ManualFixResolved, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        fix = doc["fixes"][str(event.fix_id)]
        fix.update(resolved=True, resolution_note=event.note, resolved_by=event.actor)
        if event.choice:
            fix["choice"] = event.choice
        self._save(tx, doc)

    @process.register
    def _failed(self, event: Export.ExportFailed, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["status"] = "failed"
        doc["finished_at"] = event.timestamp.isoformat()
        doc["failure"] = {
            "category": event.category,
            "message": event.message,
            "failed_ticket_id": str(event.failed_ticket_id) if event.failed_ticket_id else None,
            "failed_ticket_order": event.failed_ticket_order,
            "recovery_actions": event.recovery_actions,
        }
        self._save(tx, doc)

    @process.register
    def _retried(self, event: Export.ExportRetried, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc.update(status="requested", task_id=str(event.task_id), retries=event.attempt)
        self._save(tx, doc)

    @process.register
    def _estimated(self, event: Export.ExportEstimated, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["estimate"] = dict(event.estimate)
        doc["estimated_at"] = event.timestamp.isoformat()
        self._save(tx, doc)

    @process.register
    def _completed(self, event: Export.ExportCompleted, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["status"] = "completed"
        doc["finished_at"] = event.timestamp.isoformat()
        doc["phases"] = dict(event.phases)
        self._save(tx, doc)

    @process.register
    def _synced(self, event: Export.IssuesSynced, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        for issue in event.issues:
            doc["sync"][str(issue["key"])] = issue
        doc["synced_at"] = event.timestamp.isoformat()
        self._save(tx, doc)


def _minutes(doc: dict[str, Any]) -> float | None:
    if not doc["finished_at"]:
        return None
    started = datetime.fromisoformat(doc["requested_at"])
    return round((datetime.fromisoformat(doc["finished_at"]) - started).total_seconds() / 60, 3)


def _eta_seconds(doc: dict[str, Any], now: datetime | None = None) -> float | None:
    """While the run goes: the estimate's duration less the time since it was made."""
    estimate, at = doc.get("estimate"), doc.get("estimated_at")
    if doc["status"] != "running" or not estimate or not at:
        return None
    now = now or datetime.now(UTC)
    elapsed = (now - datetime.fromisoformat(at)).total_seconds()
    return round(max(float(estimate["duration_s"]) - elapsed, 0.0), 1)


def status_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The seeds' ExportStatusResponse fields (exporting / completed / failed), with the
    estimate made before anything was written, the ETA from it while the run goes, the
    time each phase took once it completed, and a re-export's updates, conflicts, link
    removals and obsolete issues."""
    created = len(doc["issues"])
    new = sum(1 for i in doc["issues"].values() if not i.get("carried"))
    edits = doc.get("updated", 0) + len(doc.get("conflicts", {}))
    edits += len(doc.get("unlinked", [])) + len(doc.get("obsolete", []))
    done = created + len(doc["links"]) + edits
    goal = doc["total"] + doc["dependencies_total"]
    goal += doc.get("to_update", 0) + doc.get("to_unlink", 0) + doc.get("to_mark_obsolete", 0)
    percentage = 100.0 if doc["status"] == "completed" else round(100.0 * done / max(goal, 1), 1)
    failure = doc["failure"] or {}
    return {
        "export_id": doc["id"],
        "session_id": doc["session_id"],
        "task_id": doc["task_id"],
        "status": doc["status"],
        "project_key": doc["project_key"],
        "progress_percentage": percentage,
        "tickets_completed": created,
        "total_tickets": doc["total"],
        "jira_tickets_created": new,
        "dependencies_total": doc["dependencies_total"],
        "dependencies_created": len(doc["links"]),
        "attachments_uploaded": doc["attachments"],
        "manual_fixes_needed": sum(1 for f in doc["fixes"].values() if not f["resolved"]),
        "attempt": doc["attempt"],
        "retry_attempts_used": doc["retries"],
        "retry_available": doc["status"] == "failed" and doc["retries"] < MAX_EXPORT_RETRIES,
        "failed_at_ticket_order": failure.get("failed_ticket_order"),
        "failed_ticket_id": failure.get("failed_ticket_id"),
        "error_category": failure.get("category"),
        "user_message": failure.get("message"),
        "recovery_actions": failure.get("recovery_actions", []),
        "total_processing_time_minutes": _minutes(doc),
        "requested_at": doc["requested_at"],
        "started_at": doc["started_at"],
        "completed_at": doc["finished_at"] if doc["status"] == "completed" else None,
        "finished_at": doc["finished_at"],
        "estimate": doc.get("estimate"),
        "eta_seconds": _eta_seconds(doc),
        "previous_export_id": doc.get("previous_export_id"),
        "issues_carried": created - new,
        "issues_to_update": doc.get("to_update", 0),
        "issues_updated": doc.get("updated", 0),
        "conflicts": len(doc.get("conflicts", {})),
        "links_to_remove": doc.get("to_unlink", 0),
        "links_removed": len(doc.get("unlinked", [])),
        "issues_to_mark_obsolete": doc.get("to_mark_obsolete", 0),
        "issues_marked_obsolete": len(doc.get("obsolete", [])),
        "phases": doc.get("phases"),
    }


def summary_view(doc: dict[str, Any], titles: dict[str, str] | None = None) -> dict[str, Any]:
    """The seeds' ExportResultsResponse, plus where each issue stands in Jira (sync back)."""
    titles = titles or {}
    issues = sorted(doc["issues"].values(), key=lambda i: i["order"])
    urls = {i["key"]: i["url"] for i in issues}
    return {
        **status_view(doc),
        "total_tickets_created": len(issues),
        "epics": [
            {
                "group": e["group"],
                "name": e["name"],
                "jira_key": e["key"],
                "jira_url": e["url"],
                "children": e["children"],
                "found_by_search": e["found_by_search"],
            }
            for e in doc.get("epics", {}).values()
        ],
        "jira_tickets": [
            {
                "ticket_id": i["ticket_id"],
                "order": i["order"],
                "jira_key": i["key"],
                "jira_url": i["url"],
                "title": titles.get(i["ticket_id"], ""),
                "found_by_search": i["found_by_search"],
                "jira": doc["sync"].get(i["key"]),
            }
            for i in issues
        ],
        "dependencies": doc["links"],
        "manual_fixes": [
            {
                "fix_id": f["fix_id"],
                "ticket_id": f["ticket_id"],
                "jira_key": f["issue_key"],
                "jira_url": urls.get(f["issue_key"] or ""),
                "title": titles.get(f["ticket_id"] or "", ""),
                "issue_type": f["kind"],
                "detail": f["detail"],
                "recommended_action": f["recommended_action"],
                "resolved": f["resolved"],
                "resolution_note": f["resolution_note"],
            }
            for f in doc["fixes"].values()
        ],
        "synced_at": doc["synced_at"],
    }


class ExportsView:
    """The queries on the export runs that `ExportsProjection` writes (one row per run).

    Each answers None for an export the read model does not know (yet).
    """

    def __init__(self, store: ReadModelStore, tickets: TicketsView) -> None:
        self.store = store
        self.tickets = tickets

    def status(self, export_id: UUID) -> dict[str, Any] | None:
        doc = self._doc(export_id)
        return None if doc is None else status_view(doc)

    def summary(self, export_id: UUID) -> dict[str, Any] | None:
        doc = self._doc(export_id)
        if doc is None:
            return None
        return summary_view(doc, self.tickets.titles(UUID(doc["session_id"])))

    def manual_fixes(self, export_id: UUID) -> dict[str, Any] | None:
        doc = self._doc(export_id)
        if doc is None:
            return None
        fixes = list(doc["fixes"].values())
        return {
            "export_id": doc["id"],
            "fixes": fixes,
            "open": sum(1 for f in fixes if not f["resolved"]),
            "total": len(fixes),
        }

    def manual_fix(self, export_id: UUID, fix_id: UUID) -> dict[str, Any] | None:
        doc = self._doc(export_id)
        fix = None if doc is None else doc["fixes"].get(str(fix_id))
        return None if fix is None else dict(fix)

    def _doc(self, export_id: UUID) -> dict[str, Any] | None:
        return self.store.get(TABLE, str(export_id))
