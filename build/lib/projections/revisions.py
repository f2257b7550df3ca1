"""The revisions of each session's inventory: who uploaded what, when, and what it
changed (entities added, changed attribute by attribute, removed)."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any, ClassVar
from uuid import UUID

from domain.inventory import InventoryEntity
from domain.session import Session
from projections.base import Projection, id_text
from projections.store import ReadModelStore, ViewTransaction

TABLE = "revisions"


def shown_entity(data: dict[str, Any]) -> dict[str, Any]:
    """An entity as a revision shows it: its recorded form and its processing group."""
    entity = InventoryEntity.from_dict(data)
    return {**entity.to_dict(), "group": entity.group.value}


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": doc["number"],
        "actor": doc["actor"],
        "at": doc["at"],
        "added": len(doc["added"]),
        "changed": len(doc["changed"]),
        "removed": len(doc["removed"]),
    }


class RevisionsProjection(Projection):
    name: ClassVar[str] = "revisions"
    tables: ClassVar[tuple[str, ...]] = (TABLE,)

    @singledispatchmethod
    def process(self, event: Any, tx: ViewTransaction) -> None:
        """Events this read model does not show."""

    @process.register
    def _revised(self, event: Session.InventoryRevised, tx: ViewTransaction) -> None:
        session_id = id_text(event.originator_id)
        tx.put(
            TABLE,
            f"{session_id}:{event.number:010d}",
            {
                "session_id": session_id,
                "number": event.number,
                "actor": event.actor,
                "at": event.timestamp.isoformat(),
                "added": [shown_entity(e) for e in event.added],
                "changed": [
                    {"entity": shown_entity(c["entity"]), "changes": c["changes"]}
                    for c in event.changed
                ],
                "removed": [shown_entity(e) for e in event.removed],
            },
            partition=session_id,
            sort=event.number,
        )


class RevisionsView:
    """The queries on the revisions read model that `RevisionsProjection` writes."""

    def __init__(self, store: ReadModelStore) -> None:
        self.store = store

    def list(self, session_id: UUID) -> dict[str, Any]:
        """Every revision of the session, first to last, with how much each changed."""
        rows = self.store.list(TABLE, partition=str(session_id))
        return {"items": [summary(r) for r in rows]}

    def get(self, session_id: UUID, number: int) -> dict[str, Any] | None:
        """Revision `number`, entity by entity; None when the session has no such one."""
        doc = self.store.get(TABLE, f"{session_id}:{number:010d}")
        if doc is None or doc["session_id"] != str(session_id):
            return None
        return {k: v for k, v in doc.items() if k != "session_id"}
