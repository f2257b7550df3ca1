"""What a revision of the inventory changed: entities matched by identity (their config
name, which holds the entity type and the machine name), compared attribute by attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.inventory import InventoryEntity, sort_key

# attribute -> [old, new]
Changes = dict[str, list[str]]


def entity_fields(entity: InventoryEntity) -> dict[str, str]:
    """What a revision compares: the entity's kind, label, columns and dependencies. Where
    the row sat in its file (`source_file`, `source_row`) is not part of the entity."""
    return {
        "kind": entity.kind.value,
        "label": entity.label,
        **entity.attributes,
        "depends_on": "; ".join(entity.depends_on),
    }


def entity_changes(old: InventoryEntity, new: InventoryEntity) -> Changes:
    """Each attribute that differs, as [old, new] (an attribute one side lacks is "")."""
    before, after = entity_fields(old), entity_fields(new)
    return {
        name: [before.get(name, ""), after.get(name, "")]
        for name in sorted(before.keys() | after.keys())
        if before.get(name, "") != after.get(name, "")
    }


def merge_changes(earlier: Mapping[str, list[str]], later: Mapping[str, list[str]]) -> Changes:
    """Two diffs in a row as one: each attribute's first old value and last new one; an
    attribute changed back to what it was drops out."""
    merged = {name: list(pair) for name, pair in earlier.items()}
    for name, (old, new) in later.items():
        first = merged[name][0] if name in merged else old
        merged[name] = [first, new]
    return {name: pair for name, pair in sorted(merged.items()) if pair[0] != pair[1]}


@dataclass(frozen=True)
class EntityChange:
    entity: InventoryEntity  # as it is now
    changes: Changes

    def to_dict(self) -> dict[str, Any]:
        return {"entity": self.entity.to_dict(), "changes": self.changes}


@dataclass(frozen=True)
class Revision:
    """What one upload changed in the inventory; `number` is 0 until it is recorded."""

    added: list[InventoryEntity] = field(default_factory=list)
    changed: list[EntityChange] = field(default_factory=list)
    removed: list[InventoryEntity] = field(default_factory=list)
    number: int = 0

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def compare_inventories(
    old: Mapping[str, InventoryEntity], new: Mapping[str, InventoryEntity]
) -> Revision:
    """The revision that takes the inventory `old` to `new` (both keyed by config name)."""
    added = [e for name, e in new.items() if name not in old]
    removed = [e for name, e in old.items() if name not in new]
    changed = []
    for name, entity in new.items():
        if name in old:
            changes = entity_changes(old[name], entity)
            if changes:
                changed.append(EntityChange(entity, changes))
    return Revision(
        added=sorted(added, key=sort_key),
        changed=sorted(changed, key=lambda c: sort_key(c.entity)),
        removed=sorted(removed, key=sort_key),
    )
