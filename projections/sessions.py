"""Session list and detail: stage, counts, files, generation run and validation state."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any, ClassVar
from uuid import UUID

from domain.export import Export
from domain.inventory import InventoryEntity
from domain.session import MAX_GENERATION_RETRIES, Session
from projections.base import Projection
from projections.store import ReadModelStore, ViewTransaction

TABLE = "sessions"


# Per-ticket flags the session shows: flag -> the document's map of ticket ids.
FLAG_MAPS = {
    "source_changed": "source_changed_tickets",
    "obsolete": "obsolete_tickets",
    "conflict": "conflict_tickets",  # a person edited the issue in Jira (latest export)
}
EXPORT_OWNERS = "session_export_owners"  # export id, conflict fix id -> session (ticket)


def validation_state(doc: dict[str, Any]) -> str:
    """Mirror of `Session.validation_state`, computed from the read model's fields."""
    obsolete = doc.get("obsolete_tickets", {})
    validated = {t: v for t, v in doc["validated_at"].items() if t not in obsolete}
    if not validated:
        return "missing"
    if any(t not in obsolete for t in doc["failed_tickets"]):
        return "failed"
    seen = set(validated.values())
    if seen == {doc["content_version"]}:
        return "passed"
    if seen == {None}:
        return "missing"
    return "stale"


def public_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The session as the API shows it (internal bookkeeping left out)."""
    hidden = ("validated_at", "ready_tickets", *FLAG_MAPS.values())
    shown = {k: v for k, v in doc.items() if k not in hidden}
    obsolete = doc.get("obsolete_tickets", {})
    shown["revisions"] = doc.get("revision", 0)
    # rows written before epic modes: an epic key meant every ticket under it
    shown.setdefault("epic_mode", "existing" if doc.get("epic_key") else "none")
    shown["flags"] = {flag: sorted(doc.get(name, {})) for flag, name in FLAG_MAPS.items()}
    state = validation_state(doc)
    shown["validation"] = {
        "state": state,
        "content_version": doc["content_version"],
        "failed_tickets": len(doc["failed_tickets"]),
        "last_run": doc.get("last_validation"),
    }
    # An obsolete ticket is kept and counted, but needs no ready mark or validation.
    live = [t for t in doc["validated_at"] if t not in obsolete]
    ready = sum(1 for t in live if t in doc["ready_tickets"])
    shown["counts"] = {
        **doc["counts"],
        "tickets": len(doc["validated_at"]),
        "ready": ready,
        "obsolete": len(obsolete),
        "source_changed": len(doc.get("source_changed_tickets", {})),
        "conflict": len(doc.get("conflict_tickets", {})),
    }
    blockers = []
    if doc["stage"] != "review":
        blockers.append(f"the session is in stage '{doc['stage']}', not review")
    if not live:
        blockers.append("the session has no tickets")
    if state != "passed":
        blockers.append(f"validation is {state}: re-validation required")
    if len(live) - ready:
        blockers.append(f"{len(live) - ready} ticket(s) are not marked ready")
    shown["export_ready"] = not blockers
    shown["export_blockers"] = blockers
    return shown


def process_status_view(doc: dict[str, Any]) -> dict[str, Any]:
    """Where the session's ticket generation stands (the last run, if any)."""
    run = doc.get("generation")
    if run is None:
        return {"stage": doc["stage"], "task_id": None, "status": "not_started", "percentage": 0.0}
    finished = run["generated"] + run["failed"]
    percentage = 100.0 * finished / run["total"] if run["total"] else 0.0
    if run["status"] == "completed":
        percentage = 100.0
    return {
        "stage": doc["stage"],
        "task_id": run["task_id"],
        "status": run["status"],
        "generator": run["generator"],
        "attempt": run["attempt"],
        "retries_left": max(0, MAX_GENERATION_RETRIES - doc["generation_retries"]),
        "percentage": round(percentage, 1),
        "total": run["total"],
        "generated": run["generated"],
        "failed": run["failed"],
        "errors": run["errors"],
        "tokens": doc["tokens"],
        "requested_at": run["requested_at"],
        "started_at": run["started_at"],
        "finished_at": run["finished_at"],
    }


class SessionsProjection(Projection):
    name: ClassVar[str] = "sessions"
    tables: ClassVar[tuple[str, ...]] = (TABLE, EXPORT_OWNERS)

    @singledispatchmethod
    def process(self, event: Any, tx: ViewTransaction) -> None:
        """Events this read model does not show."""

    @process.register
    def _export_created(self, event: Export.ExportRequested, tx: ViewTransaction) -> None:
        session = str(event.session_id)
        tx.put(EXPORT_OWNERS, str(event.originator_id), {"session_id": session}, partition=session)
        doc = tx.get(TABLE, session)
        if doc is not None and doc.get("conflict_tickets"):
            doc["conflict_tickets"] = {}  # the new export checks them again
            self._save(tx, doc)

    @process.register
    def _conflict(self, event: Export.ManualFixRecorded, tx: ViewTransaction) -> None:
        owner = tx.get(EXPORT_OWNERS, str(event.originator_id))
        if event.kind != "conflict" or event.ticket_id is None or owner is None:
            return
        doc = tx.get(TABLE, owner["session_id"])
        if doc is None:
            return
        ticket = str(event.ticket_id)
        doc.setdefault("conflict_tickets", {})[ticket] = str(event.fix_id)
        self._save(tx, doc)
        tx.put(
            EXPORT_OWNERS,
            f"fix:{event.fix_id}",
            {"session_id": owner["session_id"], "ticket_id": ticket},
            partition=owner["session_id"],
        )

    @process.register
    def _conflict_resolved(self, event: Export.ManualFixResolved, tx: ViewTransaction) -> None:
        fix = tx.get(EXPORT_OWNERS, f"fix:{event.fix_id}")
        doc = tx.get(TABLE, fix["session_id"]) if fix is not None else None
        if fix is None or doc is None:
            return
        doc.get("conflict_tickets", {}).pop(fix["ticket_id"], None)
        self._save(tx, doc)

    def _load(self, tx: ViewTransaction, event: Any) -> dict[str, Any]:
        doc = tx.get(TABLE, str(event.originator_id))
        assert doc is not None, f"session {event.originator_id} unknown to the sessions view"
        for name in ("revision", *FLAG_MAPS.values()):  # rows written before revisions
            doc.setdefault(name, 0 if name == "revision" else {})
        doc["version"] = event.originator_version
        doc["updated_at"] = event.timestamp.isoformat()
        doc["updated_by"] = event.actor
        return doc

    def _save(self, tx: ViewTransaction, doc: dict[str, Any]) -> None:
        tx.put(TABLE, doc["id"], doc, owner=doc["owner"], sort=0)

    @process.register
    def _created(self, event: Session.SessionCreated, tx: ViewTransaction) -> None:
        doc = {
            "id": str(event.originator_id),
            "name": event.name,
            "owner": event.owner,
            "site": event.site,
            "jira_project_key": event.jira_project_key,
            "issue_type": event.issue_type,
            "default_labels": event.default_labels,
            "epic_key": event.epic_key,
            "epic_mode": event.epic_mode,
            "stage": "setup",
            "files": {},
            "warnings": [],
            "counts": {"entities": 0, "by_group": {}, "by_kind": {}},
            "content_version": 0,
            "validated_at": {},
            "failed_tickets": {},
            "ready_tickets": {},
            "last_validation": None,
            "generation": None,
            "generation_retries": 0,
            "tokens": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "created_at": event.timestamp.isoformat(),
            "updated_at": event.timestamp.isoformat(),
            "updated_by": event.actor,
            "version": event.originator_version,
            "entities_by_kind": {},
            "export_id": None,
            "revision": 0,
            "source_changed_tickets": {},
            "obsolete_tickets": {},
        }
        self._save(tx, doc)

    @process.register
    def _epic_mode_changed(self, event: Session.EpicModeChanged, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["epic_mode"] = event.epic_mode
        doc["epic_key"] = event.epic_key
        self._save(tx, doc)

    @process.register
    def _uploaded(self, event: Session.InventoryUploaded, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        by_kind: dict[str, dict[str, int]] = doc["entities_by_kind"]
        for kind in {e["kind"] for e in event.entities} | set(event.replaced_kinds):
            by_kind[kind] = {}
        for data in event.entities:
            entity = InventoryEntity.from_dict(data)
            groups = by_kind[entity.kind.value]
            groups[entity.group.value] = groups.get(entity.group.value, 0) + 1
        for f in event.files:
            doc["files"][str(f["kind"])] = f
        by_group: dict[str, int] = {}
        for groups in by_kind.values():
            for group, n in groups.items():
                by_group[group] = by_group.get(group, 0) + n
        doc["counts"] = {
            "entities": sum(by_group.values()),
            "by_group": by_group,
            "by_kind": {k: sum(g.values()) for k, g in by_kind.items() if g},
        }
        doc["warnings"] = event.warnings
        doc["stage"] = "uploaded"
        doc["content_version"] += 1
        self._save(tx, doc)

    @process.register
    def _generation_requested(
        self, event: Session.GenerationRequested, tx: ViewTransaction
    ) -> None:
        doc = self._load(tx, event)
        for ticket_id in event.discarded_ticket_ids:
            doc["validated_at"].pop(str(ticket_id), None)
            doc["ready_tickets"].pop(str(ticket_id), None)
            doc["failed_tickets"].pop(str(ticket_id), None)
        doc["generation_retries"] = event.attempt
        doc["generation"] = {
            "task_id": str(event.task_id),
            "generator": event.generator,
            "attempt": event.attempt,
            "status": "requested",
            "total": 0,
            "generated": 0,
            "failed": 0,
            "errors": [],
            "requested_at": event.timestamp.isoformat(),
            "started_at": None,
            "finished_at": None,
        }
        doc["stage"] = "processing"
        doc["content_version"] += 1
        self._save(tx, doc)

    @process.register
    def _generation_started(self, event: Session.GenerationStarted, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["generation"].update(
            status="running", total=event.total, started_at=event.timestamp.isoformat()
        )
        self._save(tx, doc)

    @process.register
    def _ticket_generated(self, event: Session.TicketGenerated, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["validated_at"][str(event.ticket_id)] = None
        doc["ready_tickets"].pop(str(event.ticket_id), None)
        doc["failed_tickets"].pop(str(event.ticket_id), None)
        doc["source_changed_tickets"].pop(str(event.ticket_id), None)
        run = doc["generation"]
        if run is not None and run["task_id"] == str(event.task_id):
            run["generated"] += 1
        for key, value in event.usage.items():
            doc["tokens"][key] = doc["tokens"].get(key, 0) + int(value)
        doc["content_version"] += 1
        self._save(tx, doc)

    @process.register
    def _ticket_failed(self, event: Session.TicketGenerationFailed, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        run = doc["generation"]
        run["failed"] += 1
        run["errors"].append(
            {"config_name": event.config_name, "error": event.error, "category": event.category}
        )
        self._save(tx, doc)

    def _finish(self, event: Any, tx: ViewTransaction, status: str, stage: str) -> dict[str, Any]:
        doc = self._load(tx, event)
        doc["generation"].update(status=status, finished_at=event.timestamp.isoformat())
        doc["stage"] = stage
        return doc

    @process.register
    def _completed(self, event: Session.GenerationCompleted, tx: ViewTransaction) -> None:
        self._save(tx, self._finish(event, tx, "completed", "review"))

    @process.register
    def _failed(self, event: Session.GenerationFailed, tx: ViewTransaction) -> None:
        doc = self._finish(event, tx, "failed", "processing_failed")
        doc["generation"]["errors"].append(
            {"config_name": "", "error": event.error, "category": event.category}
        )
        self._save(tx, doc)

    @process.register
    def _cancelled(self, event: Session.GenerationCancelled, tx: ViewTransaction) -> None:
        self._save(tx, self._finish(event, tx, "cancelled", "cancelled"))

    @staticmethod
    def _reopen(doc: dict[str, Any]) -> None:
        """Mirror of `Session._reopen`: a change after a completed export starts the next
        review."""
        if doc["stage"] == "completed":
            doc["stage"] = "review"

    @process.register
    def _content_changed(self, event: Session.TicketEdited, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["content_version"] += 1
        self._reopen(doc)
        self._save(tx, doc)

    @process.register
    def _revised(self, event: Session.InventoryRevised, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["revision"] = event.number
        doc["stage"] = event.stage
        self._save(tx, doc)

    @process.register
    def _flagged(self, event: Session.TicketFlaggedSourceChanged, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["source_changed_tickets"][str(event.ticket_id)] = True
        self._save(tx, doc)

    @process.register
    def _dismissed(self, event: Session.SourceChangeDismissed, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["source_changed_tickets"].pop(str(event.ticket_id), None)
        self._reopen(doc)
        self._save(tx, doc)

    @process.register
    def _redraft_requested(
        self, event: Session.TicketRedraftRequested, tx: ViewTransaction
    ) -> None:
        doc = self._load(tx, event)
        self._reopen(doc)
        self._save(tx, doc)

    @process.register
    def _obsolete(self, event: Session.TicketMarkedObsolete, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["obsolete_tickets"][str(event.ticket_id)] = True
        doc["source_changed_tickets"].pop(str(event.ticket_id), None)
        doc["content_version"] += 1
        self._save(tx, doc)

    @process.register
    def _restored(self, event: Session.TicketRestored, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["obsolete_tickets"].pop(str(event.ticket_id), None)
        doc["content_version"] += 1
        self._save(tx, doc)

    @process.register
    def _reordered(self, event: Session.TicketsReordered, tx: ViewTransaction) -> None:
        self._content_changed(event, tx)

    @process.register
    def _dep_added(self, event: Session.DependencyAdded, tx: ViewTransaction) -> None:
        self._content_changed(event, tx)

    @process.register
    def _dep_removed(self, event: Session.DependencyRemoved, tx: ViewTransaction) -> None:
        self._content_changed(event, tx)

    @process.register
    def _ready(self, event: Session.TicketMarkedReady, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        for ticket_id in event.ticket_ids:
            if event.ready:
                doc["ready_tickets"][str(ticket_id)] = True
            else:
                doc["ready_tickets"].pop(str(ticket_id), None)
        self._reopen(doc)
        self._save(tx, doc)

    @process.register
    def _passed(self, event: Session.ValidationPassed, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        self._record_validation(doc, event, [str(t) for t in event.ticket_ids], {})
        self._reopen(doc)
        self._save(tx, doc)

    @process.register
    def _validation_failed(self, event: Session.ValidationFailed, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        failed = {f["ticket_id"]: f.get("error", "invalid") for f in event.failures}
        self._record_validation(doc, event, [str(t) for t in event.passed_ticket_ids], failed)
        self._reopen(doc)
        self._save(tx, doc)

    @staticmethod
    def _record_validation(
        doc: dict[str, Any], event: Any, passed: list[str], failed: dict[str, str]
    ) -> None:
        for ticket_id in passed:
            doc["validated_at"][ticket_id] = event.content_version
            doc["failed_tickets"].pop(ticket_id, None)
        for ticket_id, error in failed.items():
            doc["validated_at"][ticket_id] = None
            doc["failed_tickets"][ticket_id] = error
        doc["last_validation"] = {
            "status": "failed" if failed else "passed",
            "content_version": event.content_version,
            "tickets_tested": len(passed) + len(failed),
            "passed": len(passed),
            "failed": len(failed),
            "at": event.timestamp.isoformat(),
            "by": event.actor,
        }

    @process.register
    def _export_requested(self, event: Session.ExportRequested, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["stage"] = "exporting"
        doc["export_id"] = str(event.export_id)
        self._save(tx, doc)

    @process.register
    def _export_resumed(self, event: Session.ExportResumed, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["stage"] = "exporting"
        self._save(tx, doc)

    @process.register
    def _export_finished(self, event: Session.ExportFinished, tx: ViewTransaction) -> None:
        doc = self._load(tx, event)
        doc["stage"] = "completed" if event.outcome == "completed" else "export_failed"
        self._save(tx, doc)


def session_id_of(doc: dict[str, Any]) -> UUID:
    return UUID(doc["id"])


class SessionsView:
    """The queries on the sessions read model that `SessionsProjection` writes.

    `document` is the row as the projection keeps it (with its bookkeeping): callers
    that answer several questions about one session read it once and pass it to the
    shaping methods (`public`, `process_status`, `export_readiness`).
    """

    def __init__(self, store: ReadModelStore) -> None:
        self.store = store

    def document(self, session_id: UUID) -> dict[str, Any] | None:
        """The session's row (its `owner` says who may see it), or None if unknown."""
        return self.store.get(TABLE, str(session_id))

    def list(self, owner: str | None, *, limit: int, offset: int) -> dict[str, Any]:
        """A page of sessions (all, or `owner`'s), and how many there are in all."""
        docs = self.store.list(TABLE, owner=owner, limit=limit, offset=offset)
        return {
            "sessions": [public_view(d) for d in docs],
            "total": self.store.count(TABLE, owner=owner),
        }

    @staticmethod
    def public(doc: dict[str, Any]) -> dict[str, Any]:
        return public_view(doc)

    @staticmethod
    def process_status(doc: dict[str, Any]) -> dict[str, Any]:
        return process_status_view(doc)

    @staticmethod
    def export_readiness(doc: dict[str, Any]) -> dict[str, Any]:
        """Whether the session can be exported now, and if not, why."""
        shown = public_view(doc)
        return {"ready": shown["export_ready"], "blockers": shown["export_blockers"]}
