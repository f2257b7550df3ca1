"""How aggregate state is written as JSON, so snapshots of `Session` and `Export` work.

The library's JSON transcoder knows UUIDs, decimals and datetimes. Our aggregates also
hold dataclasses (`Ticket`, `GenerationRun`, `InventoryEntity`, `ExportedIssue`, ...),
sets (of UUIDs, of tuples), tuples, and dicts keyed by UUID. JSON has no sets or
tuples, and its encoder refuses non-string keys before any custom transcoding is
asked, so `TicketForgeTranscoder` first rewrites those two shapes into tagged objects
that the registered transcodings turn back into the original types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.export import ExportedIssue, Failure, ManualFix
from domain.inventory import Group, InventoryEntity, Kind
from domain.session import GenerationRun, Ticket


def tag_containers(obj: Any) -> Any:
    """Rewrite tuples and dicts with non-string keys into tagged objects, recursively.

    Everything else is left for the JSON encoder (and the transcodings it calls).
    Unchanged containers are returned as they are, so plain event state is not copied.
    """
    kind = type(obj)
    if kind is dict:
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


class TicketForgeTranscoder(JSONTranscoder):
    """JSON with tuples and non-string-keyed dicts kept as what they were."""

    def encode(self, obj: Any) -> bytes:
        return super().encode(tag_containers(obj))


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
