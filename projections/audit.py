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
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from domain.admin import AdminActivity
from domain.export import Export
from domain.session import Session
from projections.base import Projection, id_text
from projections.store import ViewTransaction

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
