"""The review list: one row per ticket, and the export order computed from it."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any, ClassVar, Literal
from uuid import UUID

from domain.export import Export
from domain.inventory import InventoryEntity
from domain.ordering import export_order
from domain.session import Session
from projections.base import Projection, id_text
from projections.store import ReadModelStore, ViewTransaction

TABLE = "tickets"
ENTITIES = "entities"
SESSION_DEFAULTS = "ticket_defaults"
CONFLICT_FIXES = "ticket_conflict_fixes"  # conflict manual fix id -> its ticket

# What a ticket can be flagged (its `flags`): its entity changed after a person edited
# it, its entity left the inventory, or a person edited its issue in Jira since we last
# wrote it (an unresolved conflict of the latest export).
TICKET_FLAGS = ("source_changed", "obsolete", "conflict")


def with_flag(doc: dict[str, Any], flag: str, on: bool) -> None:
    flags = set(doc.get("flags", ()))
    if on:
        flags.add(flag)
    else:
        flags.discard(flag)
    doc["flags"] = sorted(flags)


class TicketsProjection(Projection):
    name: ClassVar[str] = "tickets"
    tables: ClassVar[tuple[str, ...]] = (TABLE, ENTITIES, SESSION_DEFAULTS, CONFLICT_FIXES)

    @singledispatchmethod
    def process(self, event: Any, tx: ViewTransaction) -> None:
        """Events this read model does not show."""

    def _put(self, tx: ViewTransaction, doc: dict[str, Any]) -> None:
        tx.put(TABLE, doc["id"], doc, partition=doc["session_id"], sort=doc["user_order"])

    def _get(self, tx: ViewTransaction, ticket_id: UUID) -> dict[str, Any]:
        doc = tx.get(TABLE, id_text(ticket_id))
        assert doc is not None, f"ticket {ticket_id} unknown to the tickets view"
        return doc

    @process.register
    def _created(self, event: Session.SessionCreated, tx: ViewTransaction) -> None:
        tx.put(SESSION_DEFAULTS, str(event.originator_id), {"labels": event.default_labels})

    @process.register
    def _uploaded(self, event: Session.InventoryUploaded, tx: ViewTransaction) -> None:
        session_id = str(event.originator_id)
        kinds = {e["kind"] for e in event.entities} | set(event.replaced_kinds)
        for old in tx.partition(ENTITIES, session_id):
            if old["kind"] in kinds:
                tx.delete(ENTITIES, f"{session_id}:{old['config_name']}")
        for data in event.entities:
            entity = InventoryEntity.from_dict(data)
            row = {**entity.to_dict(), "group": entity.group.value, "session_id": session_id}
            tx.put(ENTITIES, f"{session_id}:{entity.config_name}", row, partition=session_id)

    @process.register
    def _generation_requested(
        self, event: Session.GenerationRequested, tx: ViewTransaction
    ) -> None:
        for ticket_id in event.discarded_ticket_ids:
            tx.delete(TABLE, str(ticket_id))

    @process.register
    def _generated(self, event: Session.TicketGenerated, tx: ViewTransaction) -> None:
        session_id = id_text(event.originator_id)
        entity = tx.get(ENTITIES, f"{session_id}:{event.config_name}") or {}
        # A first draft is version 1 (the aggregate had no such ticket): no read, which
        # a rebuild of thousands of drafts would pay once each on PostgreSQL.
        old = tx.get(TABLE, id_text(event.ticket_id)) if event.ticket_version > 1 else None
        if old is not None:  # drafted again: new text; its review fields stay
            old.update(
                entity_label=entity.get("label", old["entity_label"]),
                title=event.title,
                user_story=event.user_story,
                analysis=event.analysis,
                verification=event.verification,
                generator=event.generator,
                depends_on=[str(d) for d in event.depends_on],
                ready=False,
                version=event.ticket_version,
                usage=event.usage,
                validation={"state": "missing", "content_version": None, "error": None},
                redraft_pending=False,
                source_changes=None,
                updated_at=event.timestamp.isoformat(),
                updated_by=event.actor,
            )
            with_flag(old, "source_changed", False)
            self._put(tx, old)
            return
        self._put(
            tx,
            {
                "id": id_text(event.ticket_id),
                "session_id": session_id,
                "config_name": event.config_name,
                "kind": entity.get("kind", ""),
                "group": entity.get("group", ""),
                "entity_label": entity.get("label", ""),
                "title": event.title,
                "user_story": event.user_story,
                "analysis": event.analysis,
                "verification": event.verification,
                "generator": event.generator,
                "user_order": event.user_order,
                "depends_on": [str(d) for d in event.depends_on],
                "ready": False,
                "assignee": None,
                "sprint": None,
                "priority": None,
                "labels": (tx.get(SESSION_DEFAULTS, session_id) or {}).get("labels", []),
                "version": event.ticket_version,
                "usage": event.usage,
                "validation": {"state": "missing", "content_version": None, "error": None},
                "flags": [],
                "source_changes": None,
                "redraft_pending": False,
                "updated_at": event.timestamp.isoformat(),
                "updated_by": event.actor,
            },
        )

    def _flag(self, tx: ViewTransaction, event: Any, flag: str, on: bool) -> dict[str, Any]:
        doc = self._get(tx, event.ticket_id)
        with_flag(doc, flag, on)
        return doc

    @process.register
    def _export_requested(self, event: Export.ExportRequested, tx: ViewTransaction) -> None:
        """A new export checks every issue again: the last one's conflicts are its own."""
        for fix in tx.partition(CONFLICT_FIXES, str(event.session_id)):
            doc = tx.get(TABLE, fix["ticket_id"])
            if doc is not None:
                with_flag(doc, "conflict", False)
                self._put(tx, doc)
            tx.delete(CONFLICT_FIXES, fix["fix_id"])

    @process.register
    def _conflict(self, event: Export.ManualFixRecorded, tx: ViewTransaction) -> None:
        if event.kind != "conflict" or event.ticket_id is None:
            return
        doc = self._get(tx, event.ticket_id)
        with_flag(doc, "conflict", True)
        self._put(tx, doc)
        tx.put(
            CONFLICT_FIXES,
            str(event.fix_id),
            {"ticket_id": str(event.ticket_id), "fix_id": str(event.fix_id)},
            partition=doc["session_id"],
            sort=0,
        )

    @process.register
    def _conflict_resolved(self, event: Export.ManualFixResolved, tx: ViewTransaction) -> None:
        fix = tx.get(CONFLICT_FIXES, str(event.fix_id))
        if fix is None:
            return  # not a conflict
        doc = self._get(tx, UUID(fix["ticket_id"]))
        with_flag(doc, "conflict", False)
        self._put(tx, doc)

    @process.register
    def _flagged(self, event: Session.TicketFlaggedSourceChanged, tx: ViewTransaction) -> None:
        doc = self._flag(tx, event, "source_changed", True)
        doc["source_changes"] = event.changes
        self._put(tx, doc)

    @process.register
    def _dismissed(self, event: Session.SourceChangeDismissed, tx: ViewTransaction) -> None:
        doc = self._flag(tx, event, "source_changed", False)
        doc["source_changes"] = None
        self._put(tx, doc)

    @process.register
    def _redraft_requested(
        self, event: Session.TicketRedraftRequested, tx: ViewTransaction
    ) -> None:
        doc = self._get(tx, event.ticket_id)
        doc["redraft_pending"] = True
        self._put(tx, doc)

    @process.register
    def _obsolete(self, event: Session.TicketMarkedObsolete, tx: ViewTransaction) -> None:
        doc = self._flag(tx, event, "obsolete", True)
        with_flag(doc, "source_changed", False)
        doc.update(source_changes=None, redraft_pending=False)
        self._put(tx, doc)

    @process.register
    def _restored(self, event: Session.TicketRestored, tx: ViewTransaction) -> None:
        self._put(tx, self._flag(tx, event, "obsolete", False))

    @process.register
    def _edited(self, event: Session.TicketEdited, tx: ViewTransaction) -> None:
        doc = self._get(tx, event.ticket_id)
        doc.update(event.changes)
        doc["version"] = event.ticket_version
        doc["updated_at"] = event.timestamp.isoformat()
        doc["updated_by"] = event.actor
        self._put(tx, doc)

    @process.register
    def _reordered(self, event: Session.TicketsReordered, tx: ViewTransaction) -> None:
        for position, ticket_id in enumerate(event.ticket_ids, 1):
            doc = self._get(tx, ticket_id)
            if doc["user_order"] != position:
                doc["user_order"] = position
                self._put(tx, doc)

    @process.register
    def _dep_added(self, event: Session.DependencyAdded, tx: ViewTransaction) -> None:
        doc = self._get(tx, event.ticket_id)
        doc["depends_on"] = sorted({*doc["depends_on"], str(event.depends_on)})
        self._put(tx, doc)

    @process.register
    def _dep_removed(self, event: Session.DependencyRemoved, tx: ViewTransaction) -> None:
        doc = self._get(tx, event.ticket_id)
        doc["depends_on"] = [d for d in doc["depends_on"] if d != str(event.depends_on)]
        self._put(tx, doc)

    @process.register
    def _ready(self, event: Session.TicketMarkedReady, tx: ViewTransaction) -> None:
        for ticket_id in event.ticket_ids:
            doc = self._get(tx, ticket_id)
            doc["ready"] = event.ready
            self._put(tx, doc)

    def _mark_passed(
        self, tx: ViewTransaction, ticket_ids: list[UUID], content_version: int
    ) -> None:
        for ticket_id in ticket_ids:
            doc = self._get(tx, ticket_id)
            doc["validation"] = {
                "state": "passed",
                "content_version": content_version,
                "error": None,
            }
            self._put(tx, doc)

    @process.register
    def _passed(self, event: Session.ValidationPassed, tx: ViewTransaction) -> None:
        self._mark_passed(tx, event.ticket_ids, event.content_version)

    @process.register
    def _failed(self, event: Session.ValidationFailed, tx: ViewTransaction) -> None:
        self._mark_passed(tx, event.passed_ticket_ids, event.content_version)
        for failure in event.failures:
            doc = self._get(tx, UUID(failure["ticket_id"]))
            doc["validation"] = {
                "state": "failed",
                "content_version": event.content_version,
                "error": failure.get("error"),
                "suggested_fix": failure.get("suggested_fix"),
            }
            self._put(tx, doc)


def in_export_order(tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dependencies first, `user_order` within a level."""
    by_id = {t["id"]: t for t in tickets}
    ids = export_order(
        [(t["id"], int(t["user_order"])) for t in tickets],
        {t["id"]: t["depends_on"] for t in tickets},
    )
    return [by_id[i] for i in ids]


def with_freshness(ticket: dict[str, Any], content_version: int) -> dict[str, Any]:
    """A passed validation from an older content version shows as stale."""
    validation = dict(ticket["validation"])
    if validation["state"] == "passed" and validation["content_version"] != content_version:
        validation["state"] = "stale"
    return {**ticket, "validation": validation}


Rows = list[dict[str, Any]]  # spelled here: inside `TicketsView`, `list` is its method


class TicketsView:
    """The queries on the review list and the entities that `TicketsProjection` writes.

    A ticket's validation is shown against the session's current content version
    (`content_version`, from the sessions view), so that an old pass shows as stale.
    """

    def __init__(self, store: ReadModelStore) -> None:
        self.store = store

    def list(
        self,
        session_id: UUID,
        content_version: int,
        order: Literal["export", "user"] = "export",
        flag: str | None = None,
    ) -> dict[str, Any]:
        """Every ticket of the session (or those flagged `flag`), in export order
        (dependencies first) or the user's."""
        tickets = self._rows(session_id)
        if order == "export":
            tickets = in_export_order(tickets)
        if flag is not None:
            tickets = [t for t in tickets if flag in t.get("flags", ())]
        shown = [with_freshness(t, content_version) for t in tickets]
        return {
            "session_id": str(session_id),
            "order": order,
            "tickets": shown,
            "total": len(shown),
        }

    def get(self, session_id: UUID, ticket_id: UUID, content_version: int) -> dict[str, Any] | None:
        """The ticket, or None when the session has no such ticket."""
        doc = self.store.get(TABLE, str(ticket_id))
        if doc is None or doc["session_id"] != str(session_id):
            return None
        return with_freshness(doc, content_version)

    def readiness(self, session_id: UUID) -> dict[str, int]:
        """How many of the session's tickets are marked ready, of how many (an obsolete
        ticket needs no ready mark)."""
        tickets = [t for t in self._rows(session_id) if "obsolete" not in t.get("flags", ())]
        return {"ready": sum(1 for t in tickets if t["ready"]), "total": len(tickets)}

    def titles(self, session_id: UUID) -> dict[str, str]:
        """Ticket id -> title, for answers that name tickets (the export summary)."""
        return {t["id"]: t["title"] for t in self._rows(session_id)}

    def entity_names(self, session_id: UUID) -> set[str]:
        """The config names of the session's inventory."""
        return {r["config_name"] for r in self.store.list(ENTITIES, partition=str(session_id))}

    def entities(self, session_id: UUID) -> dict[str, Any]:
        """The session's inventory entities as uploaded (the latest file of each kind)."""
        rows = self.store.list(ENTITIES, partition=str(session_id))
        return {"entities": rows, "total": len(rows)}

    def _rows(self, session_id: UUID) -> Rows:
        return self.store.list(TABLE, partition=str(session_id))
