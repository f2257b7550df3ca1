"""How aggregate state is written as JSON, so snapshots of `Session` and `Export` work.

The library's JSON transcoder knows UUIDs, decimals and datetimes. Our aggregates also
hold dataclasses (`Ticket`, `GenerationRun`, `InventoryEntity`, `ExportedIssue`, ...),
sets (of UUIDs, of tuples), tuples, and dicts keyed by UUID. JSON has no sets or
tuples, and its encoder refuses non-string keys before any custom transcoding is
asked, so `TicketForgeTranscoder` first rewrites those two shapes into tagged objects
that the registered transcodings turn back into the original types. A session's
tickets and entities, most of its snapshot, are written as tables of plain rows.

Decoding is `FastJSONDecoder`'s (orjson, then one walk over the tags): the same
objects as the library's `object_hook` decoder, in a fraction of the time, for loading
a session (its snapshot, a megabyte or more) and for the read side (every event).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from domain.export import ExportedIssue, Failure, ManualFix
from domain.inventory import Group, InventoryEntity, Kind
from domain.session import GenerationRun, Ticket


def tag_containers(obj: Any) -> Any:
    """Rewrite tuples and dicts with non-string keys into tagged objects, recursively.

    Everything else is left for the JSON encoder (and the transcodings it calls).
    Unchanged containers are returned as they are, so plain event state is not copied.
    A session's tickets and entities (most of its snapshot) become tables (`TicketTable`,
    `EntityTable`) where every value allows it.
    """
    kind = type(obj)
    if kind is dict:
        if obj:
            table = _table(obj)
            if table is not None:
                return table
        if any(type(k) is not str for k in obj):
            return {
                "_type_": "dict_items",
                "_data_": [[tag_containers(k), tag_containers(v)] for k, v in obj.items()],
            }
        changed = None
        for key, value in obj.items():
            tagged = tag_containers(value)
            if tagged is not value:
                if changed is None:
                    changed = dict(obj)
                changed[key] = tagged
        return obj if changed is None else changed
    if kind is list:
        items = [tag_containers(v) for v in obj]
        return obj if all(a is b for a, b in zip(items, obj, strict=True)) else items
    if kind is tuple:
        return {"_type_": "tuple", "_data_": [tag_containers(v) for v in obj]}
    return obj


def _plain(value: Any) -> bool:
    """JSON that reads back as itself, through any decoder, without a walk: strings,
    booleans, None, integers of at most 64 bits, and lists and string-keyed dicts of
    those (no dict that looks like a tag; no floats, which JSON may not keep)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-(2**63) <= value < 2**63)
    if kind is list:
        return all(_plain(v) for v in value)
    if kind is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return False
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


_TICKET_FIELDS = [f.name for f in dataclasses.fields(Ticket)]
_ENTITY_FIELDS = list(InventoryEntity.from_dict({"config_name": "", "kind": "bundles"}).to_dict())


def _table(obj: dict[Any, Any]) -> dict[str, Any] | None:
    """A dict of tickets by id, or of entities by config name, as one tagged table of
    plain rows; None for any other dict, or where one value is not plain enough."""
    first = next(iter(obj.values()))
    if type(first) is Ticket:
        return _ticket_table(obj)
    if type(first) is InventoryEntity:
        return _entity_table(obj)
    return None


def _ticket_table(tickets: dict[Any, Any]) -> dict[str, Any] | None:
    rows = []
    for key, ticket in tickets.items():
        if type(ticket) is not Ticket or type(key) is not UUID or key != ticket.id:
            return None
        depends_on = ticket.depends_on
        if type(depends_on) is not set or any(type(d) is not UUID for d in depends_on):
            return None
        row: list[Any] = []
        for name in _TICKET_FIELDS:
            if name == "id":
                row.append(key.hex)
            elif name == "depends_on":
                row.append([d.hex for d in depends_on])
            else:
                value = getattr(ticket, name)
                if not _plain(value):
                    return None
                row.append(value)
        rows.append(row)
    return {"_type_": TicketTable.name, "_data_": {"fields": _TICKET_FIELDS, "rows": rows}}


def _entity_table(entities: dict[Any, Any]) -> dict[str, Any] | None:
    rows = []
    for key, entity in entities.items():
        if type(entity) is not InventoryEntity or type(key) is not str:
            return None
        data = entity.to_dict()
        if key != entity.config_name or not _plain(data):
            return None
        rows.append(list(data.values()))
    return {"_type_": EntityTable.name, "_data_": {"fields": _ENTITY_FIELDS, "rows": rows}}


class TicketForgeTranscoder(JSONTranscoder):
    """JSON with tuples and non-string-keyed dicts kept as what they were; decoded by
    `FastJSONDecoder` (the same objects as the library's decoder, in a third of the
    time: loading a session decodes its snapshot, a megabyte or more, every time)."""

    def __init__(self) -> None:
        super().__init__()
        self.fast = FastJSONDecoder(self)

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        self.fast.refresh()

    def encode(self, obj: Any) -> bytes:
        return super().encode(tag_containers(obj))

    def decode(self, data: bytes) -> Any:
        return self.fast.decode(data)


class TupleAsList(Transcoding):
    type = tuple
    name = "tuple"

    def encode(self, obj: tuple[Any, ...]) -> list[Any]:
        return [tag_containers(v) for v in obj]

    def decode(self, data: list[Any]) -> tuple[Any, ...]:
        return tuple(data)


class _KeyedDict(dict[Any, Any]):
    """Stands for "a dict with non-string keys"; such dicts are tagged by `tag_containers`."""


class DictAsItems(Transcoding):
    """Decodes what `tag_containers` wrote (the encoder never asks about dicts)."""

    type = _KeyedDict
    name = "dict_items"

    def encode(self, obj: dict[Any, Any]) -> list[list[Any]]:
        return [[tag_containers(k), tag_containers(v)] for k, v in obj.items()]

    def decode(self, data: list[list[Any]]) -> dict[Any, Any]:
        return {k: v for k, v in data}


class _TicketRows:
    """Stands for a ticket table: written by `tag_containers`, not by type."""


class _EntityRows:
    """Stands for an entity table: written by `tag_containers`, not by type."""


class TicketTable(Transcoding):
    """A session's tickets: `{"fields": [...], "rows": [[...], ...]}`, ids and
    dependencies as hex. Its rows are plain (`_plain`): decoders need not walk them
    (`verbatim`)."""

    type = _TicketRows
    name = "ticket_table"
    verbatim = True

    def encode(self, obj: Any) -> Any:
        raise NotImplementedError("written by tag_containers")

    def decode(self, data: dict[str, Any]) -> dict[UUID, Ticket]:
        fields = data["fields"]
        tickets = {}
        if fields == _TICKET_FIELDS:  # written by this version: by position
            at_id, at_depends_on = fields.index("id"), fields.index("depends_on")
            for row in data["rows"]:
                row[at_id] = UUID(row[at_id])
                row[at_depends_on] = {UUID(d) for d in row[at_depends_on]}
                ticket = Ticket(*row)
                tickets[ticket.id] = ticket
            return tickets
        for row in data["rows"]:
            values = dict(zip(fields, row, strict=True))
            values["id"] = UUID(values["id"])
            values["depends_on"] = {UUID(d) for d in values["depends_on"]}
            ticket = Ticket(**values)
            tickets[ticket.id] = ticket
        return tickets


class EntityTable(Transcoding):
    """A session's entities by config name: their `to_dict` forms as rows."""

    type = _EntityRows
    name = "entity_table"
    verbatim = True

    def encode(self, obj: Any) -> Any:
        raise NotImplementedError("written by tag_containers")

    def decode(self, data: dict[str, Any]) -> dict[str, InventoryEntity]:
        fields = data["fields"]
        from_dict = InventoryEntity.from_dict
        entities = {}
        for row in data["rows"]:
            entity = from_dict(dict(zip(fields, row, strict=True)))
            entities[entity.config_name] = entity
        return entities


class SetAsList(Transcoding):
    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return [tag_containers(v) for v in obj]

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


class FrozensetAsList(Transcoding):
    type = frozenset
    name = "frozenset"

    def encode(self, obj: frozenset[Any]) -> list[Any]:
        return [tag_containers(v) for v in obj]

    def decode(self, data: list[Any]) -> frozenset[Any]:
        return frozenset(data)


class DataclassAsDict(Transcoding):
    """A dataclass as its fields; rebuilt with its constructor."""

    def __init__(self, cls: type[Any], name: str) -> None:
        self.type = cls
        self.name = name
        self._fields = [f.name for f in dataclasses.fields(cls)]

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: tag_containers(getattr(obj, name)) for name in self._fields}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


class InventoryEntityAsDict(Transcoding):
    """The entity's own dict form; `from_dict` restores its `Kind` and its tuple."""

    type = InventoryEntity
    name = "inventory_entity"

    def encode(self, obj: InventoryEntity) -> dict[str, Any]:
        return obj.to_dict()

    def decode(self, data: dict[str, Any]) -> InventoryEntity:
        return InventoryEntity.from_dict(data)


class StrEnumAsValue(Transcoding):
    """For enums that reach the encoder's hook (a `StrEnum` is written as its str)."""

    def __init__(self, cls: type[Any], name: str) -> None:
        self.type = cls
        self.name = name
        self._from: Callable[[str], Any] = cls

    def encode(self, obj: Any) -> str:
        return str(obj.value)

    def decode(self, data: str) -> Any:
        return self._from(data)


def register_transcodings(transcoder: JSONTranscoder) -> None:
    """Every type that appears in `Session` or `Export` state (and so in their snapshots)."""
    for transcoding in (
        TupleAsList(),
        DictAsItems(),
        TicketTable(),
        EntityTable(),
        SetAsList(),
        FrozensetAsList(),
        InventoryEntityAsDict(),
        DataclassAsDict(Ticket, "ticket"),
        DataclassAsDict(GenerationRun, "generation_run"),
        DataclassAsDict(ExportedIssue, "exported_issue"),
        DataclassAsDict(ManualFix, "manual_fix"),
        DataclassAsDict(Failure, "export_failure"),
        StrEnumAsValue(Kind, "inventory_kind"),
        StrEnumAsValue(Group, "inventory_group"),
    ):
        transcoder.register(transcoding)


# orjson reads an integer beyond 64 bits as a float where `json` keeps it exact. Such a
# float is at least 2**63 in size; a document with one goes to `json` (as does one with
# a float that large: rare, and right either way).
_BIG = float(2**63)
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19  # 19 digits in a row, after `_DIGITS`
REFUSED = object()


class Refused(ValueError):
    """orjson's answer could differ from `json`'s: decode with the library."""


def loads(data: bytes | str) -> Any:
    """`orjson.loads`, or `REFUSED` where its answer could differ from `json.loads`:
    what orjson rejects (`NaN`, lone surrogates) and 19 digits in a row anywhere (an
    integer beyond 64 bits, or digits in a string: `json` then, to be safe)."""
    raw = data if isinstance(data, bytes) else data.encode()
    if _LONG_NUMBER in raw.translate(_DIGITS):
        return REFUSED
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return REFUSED


class FastJSONDecoder:
    """Decodes what a `JSONTranscoder` wrote, as `transcoder.decode` does, in a third of
    the time: `orjson` parses, then one walk replaces the tagged objects
    (`{"_type_": name, "_data_": ...}`) by what the transcoder's registered
    transcodings make of them, innermost first, as the library's `object_hook` does.

    The two tags nearly every event holds (its timestamp, UUIDs) are decoded inline,
    and UUIDs seen before are shared rather than parsed again (they are immutable).
    Where orjson's answer could differ from `json`'s (`NaN`, lone surrogates: orjson
    refuses them; integers beyond 64 bits: orjson makes floats of them, which the walk
    spots) the library's decoder decodes.
    """

    # Bounded low: UUIDs are objects the cyclic collector walks, for as long as kept.
    UUID_CACHE_SIZE = 4096

    def __init__(self, transcoder: JSONTranscoder) -> None:
        self._transcoder = transcoder
        self._names = transcoder.names
        self._uuids: dict[str, UUID] = {}
        self.refresh()

    def refresh(self) -> None:
        """After a transcoding is registered: inline the two common tags only while
        their names mean what the library means by them."""
        self._iso = type(self._names.get("datetime_iso")) is DatetimeAsISO
        self._hex = type(self._names.get("uuid_hex")) is UUIDAsHex
        self._verbatim = {n for n, t in self._names.items() if getattr(t, "verbatim", False)}

    def decode(self, data: bytes) -> Any:
        try:
            return self.walk(orjson.loads(data))
        except (orjson.JSONDecodeError, Refused):
            return JSONTranscoder.decode(self._transcoder, data)  # the library's own

    def walk(self, obj: Any) -> Any:
        """What `decode` makes of `obj`, JSON parsed by `orjson` and not decoded yet.
        Raises `Refused` where orjson may have read a number differently."""
        kind = type(obj)
        if kind is dict or kind is list:
            return self._walk(obj)
        if kind is float and not -_BIG < obj < _BIG:
            raise Refused(obj)
        return obj

    def uuid(self, text: str) -> UUID:
        """`UUID(text)`, shared with earlier calls for the same text."""
        found = self._uuids.get(text)
        if found is None:
            if len(self._uuids) >= self.UUID_CACHE_SIZE:
                self._uuids.clear()
            found = self._uuids[text] = UUID(text)
        return found

    def _walk(self, obj: Any) -> Any:
        """Decode the tagged objects in `obj` (a fresh dict or list), in place."""
        if type(obj) is dict:
            if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
                return self._tagged(obj["_type_"], obj["_data_"])
            for key, value in obj.items():
                kind = type(value)
                if kind is dict:
                    # The common tags inline (a call each saved: this runs per event).
                    if len(value) == 2 and "_type_" in value and "_data_" in value:
                        name = value["_type_"]
                        data = value["_data_"]
                        if type(data) is str:
                            if name == "datetime_iso" and self._iso:
                                obj[key] = datetime.fromisoformat(data)
                                continue
                            if name == "uuid_hex" and self._hex:
                                found = self._uuids.get(data)
                                obj[key] = self.uuid(data) if found is None else found
                                continue
                        obj[key] = self._tagged(name, data)
                    else:
                        obj[key] = self._walk(value)
                elif kind is list:
                    obj[key] = self._walk(value)
                elif kind is float and not -_BIG < value < _BIG:
                    raise Refused(value)
            return obj
        for index, value in enumerate(obj):
            kind = type(value)
            if kind is dict or kind is list:
                obj[index] = self._walk(value)
            elif kind is float and not -_BIG < value < _BIG:
                raise Refused(value)
        return obj

    def _tagged(self, name: Any, data: Any) -> Any:
        kind = type(data)
        if kind is str:
            if name == "datetime_iso" and self._iso:
                return datetime.fromisoformat(data)
            if name == "uuid_hex" and self._hex:
                return self.uuid(data)
        elif (kind is dict or kind is list) and name not in self._verbatim:
            data = self._walk(data)
        elif kind is float and not -_BIG < data < _BIG:
            raise Refused(data)
        try:
            transcoding = self._names[name]
        except KeyError as e:
            msg = (
                f"Data serialized with name '{name}' is not deserializable. "
                "Please register a custom transcoding for this type."
            )
            raise TranscodingNotRegisteredError(msg) from e
        return transcoding.decode(data)
