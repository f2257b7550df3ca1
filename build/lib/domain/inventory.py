"""Inventory entities: one row of a site's configuration inventory."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Group(StrEnum):
    """Processing groups, declared in processing order."""

    CONTENT = "Content"
    TAXONOMY = "Taxonomy"
    MEDIA = "Media"
    ACCESS = "Access"
    VIEWS = "Views"
    WORKFLOW = "Workflow"
    NAVIGATION = "Navigation"

    @property
    def rank(self) -> int:
        return list(Group).index(self)


class Kind(StrEnum):
    """Kinds of inventory file; the value is the keyword in a file name."""

    BUNDLES = "bundles"
    FIELDS = "fields"
    IMAGE_STYLES = "image_styles"
    VIEWS = "views"
    WORKFLOWS = "workflows"
    ROLES = "roles"
    MENUS = "menus"


KIND_COLUMNS: dict[Kind, tuple[str, ...]] = {
    Kind.BUNDLES: ("entity_type", "machine_name", "label", "description"),
    Kind.FIELDS: (
        "entity_type",
        "bundle",
        "field_name",
        "label",
        "field_type",
        "required",
        "cardinality",
        "target",
        "description",
    ),
    Kind.IMAGE_STYLES: ("machine_name", "label", "effects"),
    Kind.VIEWS: ("machine_name", "label", "description", "base_table", "displays"),
    Kind.WORKFLOWS: ("machine_name", "label", "type", "states", "transitions", "applies_to"),
    Kind.ROLES: ("machine_name", "label", "is_admin", "permissions"),
    Kind.MENUS: ("machine_name", "label", "description"),
}

_BUNDLE_GROUPS = {
    "media": Group.MEDIA,
    "taxonomy_term": Group.TAXONOMY,
}

_KIND_GROUPS = {
    Kind.IMAGE_STYLES: Group.MEDIA,
    Kind.VIEWS: Group.VIEWS,
    Kind.WORKFLOWS: Group.WORKFLOW,
    Kind.ROLES: Group.ACCESS,
    Kind.MENUS: Group.NAVIGATION,
}


def group_for(kind: Kind, attributes: dict[str, str]) -> Group:
    """The processing group of an entity: bundles and fields go by entity type."""
    if kind in (Kind.BUNDLES, Kind.FIELDS):
        return _BUNDLE_GROUPS.get(attributes.get("entity_type", ""), Group.CONTENT)
    return _KIND_GROUPS[kind]


@dataclass(frozen=True)
class InventoryEntity:
    """One configuration entity. `attributes` holds the kind's columns as text."""

    config_name: str
    kind: Kind
    label: str
    attributes: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    source_file: str = ""
    source_row: int = 0

    @property
    def group(self) -> Group:
        return group_for(self.kind, self.attributes)

    @property
    def machine_name(self) -> str:
        return self.attributes.get("machine_name") or self.attributes.get("field_name", "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "config_name": self.config_name,
            "kind": self.kind.value,
            "label": self.label,
            "attributes": dict(self.attributes),
            "depends_on": list(self.depends_on),
            "source_file": self.source_file,
            "source_row": self.source_row,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InventoryEntity:
        return cls(
            config_name=str(data["config_name"]),
            kind=Kind(data["kind"]),
            label=str(data.get("label", "")),
            attributes={str(k): str(v) for k, v in dict(data.get("attributes", {})).items()},
            depends_on=tuple(str(d) for d in data.get("depends_on", [])),
            source_file=str(data.get("source_file", "")),
            source_row=int(data.get("source_row", 0)),
        )


def sort_key(entity: InventoryEntity) -> tuple[int, int, str]:
    """Default processing and ticket order: group, then kind, then config name."""
    return (entity.group.rank, list(Kind).index(entity.kind), entity.config_name)
