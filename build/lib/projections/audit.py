"""The audit log: every event of a session, its exports' events included, in store order.

One row per event, partitioned by session id and sorted by the event's notification id
(the event store's global order), with the acting user, the time, the event type and
its payload minus anything secret. An export's events name their export, not their
session, so the projection keeps its own small map of export id -> session id.
Admin activity (who looked at or rebuilt what) is logged in its own partition.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol
from uuid import UUID

from domain.admin import AdminActivity
from domain.export import Export
from domain.session import Session
from projections.base import Projection, id_text
from projections.store import ReadModelStore, ViewTransaction

TABLE = "audit"
EXPORT_SESSIONS = "audit_export_sessions"
ADMIN_PARTITION = "admin-activity"

# Fields never shown, wherever they appear in a payload (events must not hold
# secrets, but the audit log is the wrong place to find out that one did).
SECRET_MARKERS = ("token", "password", "secret", "api_key", "apikey", "authorization", "cipher")
REDACTED = "[redacted]"
ENVELOPE = ("originator_id", "originator_version", "timestamp", "actor")


_SECRET = re.compile("|".join(SECRET_MARKERS), re.IGNORECASE)
_PLAIN = frozenset({str, int, float, bool, type(None)})
_ENVELOPE = frozenset(ENVELOPE)
_secret_keys: dict[str, bool] = {}
_CACHE_SIZE = 4096


def is_secret(key: str) -> bool:
    found = _secret_keys.get(key)
    if found is None:
        if len(_secret_keys) >= _CACHE_SIZE:
            _secret_keys.clear()
        found = _secret_keys[key] = _SECRET.search(key) is not None
    return found


def to_json(value: Any) -> Any:
    """A JSON-friendly copy of event or aggregate state, with secrets redacted.

    Written for speed (it runs for every event of a rebuild): exact-type checks for
    the common shapes first, `isinstance` only for the rare ones.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return _dict_to_json(value, ())
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else to_json(v) for v in value]
    if kind is UUID:
        return id_text(value)
    if isinstance(value, Mapping):
        return to_json(dict(value))
    if isinstance(value, set | frozenset):
        return sorted((to_json(v) for v in value), key=str)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _dict_to_json(value: dict[Any, Any], skip: frozenset[str] | tuple[()]) -> dict[Any, Any]:
    """`to_json` of a dict, leaving out the string keys in `skip`."""
    copy: dict[Any, Any] = {}
    secret_keys = _secret_keys
    for key, v in value.items():
        if type(key) is str:
            if key in skip:
                continue
            secret = secret_keys.get(key)
            if secret is None:
                secret = is_secret(key)
            if secret:
                copy[key] = REDACTED
                continue
            copy[key] = v if type(v) in _PLAIN else to_json(v)
        else:
            copy[str(to_json(key))] = v if type(v) in _PLAIN else to_json(v)
    return copy


def event_payload(event: Any) -> dict[str, Any]:
    """What the event says, without the envelope every event has."""
    return _dict_to_json(vars(event), _ENVELOPE)


def event_type(event: Any) -> str:
    return type(event).__name__


def aggregate_type(event: Any) -> str:
    return type(event).__qualname__.partition(".")[0]


def audit_row(event: Any, position: int, session_id: str) -> dict[str, Any]:
    return {
        "position": position,
        "session_id": session_id,
        "aggregate_type": aggregate_type(event),
        "aggregate_id": id_text(event.originator_id),
        "version": event.originator_version,
        "type": event_type(event),
        "actor": getattr(event, "actor", None) or getattr(event, "admin", None),
        "timestamp": event.timestamp.isoformat(),
        "payload": event_payload(event),
    }


def row_key(position: int) -> str:
    """Keys sort like positions (the store orders by `sort`, then key)."""
    return f"{position:020d}"


class AuditProjection(Projection):
    name: ClassVar[str] = "audit"
    tables: ClassVar[tuple[str, ...]] = (TABLE, EXPORT_SESSIONS)

    def process(self, event: Any, tx: ViewTransaction) -> None:
        session_id = self.partition_of(event, tx)
        if session_id is None:
            return
        position = tx.event_position
        tx.put(
            TABLE,
            row_key(position),
            audit_row(event, position, session_id),
            partition=session_id,
            sort=position,
        )

    def partition_of(self, event: Any, tx: ViewTransaction) -> str | None:
        if isinstance(event, Session.Event):
            return id_text(event.originator_id)
        if isinstance(event, Export.ExportRequested):
            session_id = str(event.session_id)
            tx.put(EXPORT_SESSIONS, str(event.originator_id), {"session_id": session_id})
            return session_id
        if isinstance(event, Export.Event):
            known = tx.get(EXPORT_SESSIONS, str(event.originator_id))
            return None if known is None else str(known["session_id"])
        if isinstance(event, AdminActivity.Event):
            return ADMIN_PARTITION
        return None


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class EventFilter:
    """Which audit rows a page shows: event types (comma-separated), actor, time span."""

    types: str | None = None
    actor: str | None = None
    since: datetime | None = None  # naive: UTC
    until: datetime | None = None
    limit: int = 100
    offset: int = 0

    def parameters(self) -> dict[str, Any]:
        """The filter as JSON (how an admin's look at the history is itself recorded)."""
        return {
            "types": self.types,
            "actor": self.actor,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "limit": self.limit,
            "offset": self.offset,
        }

    def page(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        wanted = {t.strip() for t in self.types.split(",") if t.strip()} if self.types else None
        since, until = _as_utc(self.since), _as_utc(self.until)
        chosen = []
        for row in rows:
            if wanted is not None and row["type"] not in wanted:
                continue
            if self.actor is not None and row["actor"] != self.actor:
                continue
            if since is not None or until is not None:
                at = datetime.fromisoformat(row["timestamp"])
                if (since is not None and at < since) or (until is not None and at > until):
                    continue
            chosen.append(row)
        return {
            "total": len(chosen),
            "limit": self.limit,
            "offset": self.offset,
            "events": chosen[self.offset : self.offset + self.limit],
        }


class PastAggregate(Protocol):
    """An aggregate as it was after its event number `version`, and that event
    (`application.admin.state_at` answers one)."""

    @property
    def aggregate(self) -> Any: ...

    @property
    def version(self) -> int: ...

    @property
    def current_version(self) -> int: ...

    @property
    def event(self) -> Any: ...


class AuditView:
    """The queries on the audit log that `AuditProjection` writes; each history is in
    event-store order. A session or export the log does not know (yet) answers None."""

    def __init__(self, store: ReadModelStore) -> None:
        self.store = store

    def session_events(self, session_id: UUID, chosen: EventFilter) -> dict[str, Any] | None:
        """Every event of the session and of its exports."""
        rows = self.store.list(TABLE, partition=str(session_id))
        if not rows:
            return None
        return {"session_id": str(session_id), **chosen.page(rows)}

    def export_events(self, export_id: UUID, chosen: EventFilter) -> dict[str, Any] | None:
        known = self.store.get(EXPORT_SESSIONS, str(export_id))
        if known is None:
            return None
        session_id = str(known["session_id"])
        rows = [
            r
            for r in self.store.list(TABLE, partition=session_id)
            if r["aggregate_id"] == str(export_id)
        ]
        return {"export_id": str(export_id), "session_id": session_id, **chosen.page(rows)}

    def admin_activity(self, chosen: EventFilter) -> dict[str, Any]:
        """What admins did: what they looked at and rebuilt."""
        return chosen.page(self.store.list(TABLE, partition=ADMIN_PARTITION))

    @staticmethod
    def past_state(aggregate_type: str, past: PastAggregate) -> dict[str, Any]:
        """An aggregate's state at a version, as JSON with secrets redacted, and the
        change (event) that made it so."""
        state = {
            k: v
            for k, v in vars(past.aggregate).items()
            if k not in ("_id", "_version", "_pending_events")
        }
        body: dict[str, Any] = {
            "aggregate_type": aggregate_type,
            "id": str(past.aggregate.id),
            "version": past.version,
            "current_version": past.current_version,
            "changed_by": None,
        }
        if past.event is not None:
            event = past.event
            body["changed_by"] = {
                "type": event_type(event),
                "actor": getattr(event, "actor", None),
                "timestamp": event.timestamp.isoformat(),
                "payload": event_payload(event),
            }
        if aggregate_type == "Session":
            tickets = state.pop("tickets", {})
            body["tickets"] = sorted(
                (to_json(t) for t in tickets.values()), key=lambda t: t["user_order"]
            )
        body["state"] = to_json(state)
        return body
