"""Which other entities a drafter should see next to the one it drafts.

A ticket names what it builds on (the entity's `depends_on` that exist in the
inventory) and, for a bundle, the fields it carries, so the `related` tuple of a
`DraftRequest` holds exactly those. Building it per entity by scanning the whole
inventory would be quadratic on a 5,000-row site, so `RelatedIndex` indexes the
inventory once and answers each entity in time proportional to its own links.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.inventory import InventoryEntity, Kind, sort_key

MAX_RELATED = 200
"""Upper bound on the related entities of one request (prompt size, ticket size)."""


def _bundle_key(entity_type: str, bundle: str) -> tuple[str, str]:
    return (entity_type, bundle)


class RelatedIndex:
    """The inventory indexed for `for_entity`: by config name, bundles and fields by bundle."""

    def __init__(self, entities: Iterable[InventoryEntity], limit: int = MAX_RELATED) -> None:
        self._limit = limit
        self._by_name: dict[str, InventoryEntity] = {}
        self._bundles: dict[tuple[str, str], InventoryEntity] = {}
        fields_by_key: dict[tuple[str, str], list[InventoryEntity]] = {}
        # Older inventories have bundles without an entity type: their fields are
        # found by bundle machine name plus a `depends_on` naming the bundle.
        fields_by_bundle_name: dict[str, list[InventoryEntity]] = {}
        for entity in entities:
            self._by_name[entity.config_name] = entity
            attrs = entity.attributes
            if entity.kind is Kind.BUNDLES:
                key = _bundle_key(attrs.get("entity_type", ""), entity.machine_name)
                self._bundles.setdefault(key, entity)
            elif entity.kind is Kind.FIELDS:
                bundle = attrs.get("bundle", "")
                key = _bundle_key(attrs.get("entity_type", ""), bundle)
                fields_by_key.setdefault(key, []).append(entity)
                fields_by_bundle_name.setdefault(bundle, []).append(entity)
        self._fields_by_key = {
            key: tuple(sorted(fields, key=lambda f: f.config_name))
            for key, fields in fields_by_key.items()
        }
        self._fields_by_bundle_name = {
            name: tuple(sorted(fields, key=lambda f: f.config_name))
            for name, fields in fields_by_bundle_name.items()
        }

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, config_name: str) -> InventoryEntity | None:
        return self._by_name.get(config_name)

    def fields_of(self, bundle: InventoryEntity) -> tuple[InventoryEntity, ...]:
        """The fields attached to a bundle, sorted by config name."""
        if bundle.kind is not Kind.BUNDLES:
            return ()
        entity_type = bundle.attributes.get("entity_type", "")
        name = bundle.machine_name
        if entity_type:
            return self._fields_by_key.get(_bundle_key(entity_type, name), ())
        return tuple(
            f
            for f in self._fields_by_bundle_name.get(name, ())
            if bundle.config_name in f.depends_on or not f.attributes.get("entity_type")
        )

    def bundle_of(self, field_entity: InventoryEntity) -> InventoryEntity | None:
        """The bundle a field is attached to, when the inventory has it."""
        if field_entity.kind is not Kind.FIELDS:
            return None
        attrs = field_entity.attributes
        return self._bundles.get(_bundle_key(attrs.get("entity_type", ""), attrs.get("bundle", "")))

    def for_entity(self, entity: InventoryEntity) -> tuple[InventoryEntity, ...]:
        """Dependencies that exist (in processing order), then a bundle's fields; bounded."""
        seen = {entity.config_name}
        dependencies: list[InventoryEntity] = []
        for name in entity.depends_on:
            dep = self._by_name.get(name)
            if dep is not None and name not in seen:
                seen.add(name)
                dependencies.append(dep)
        bundle = self.bundle_of(entity)
        if bundle is not None and bundle.config_name not in seen:
            # A field always needs its bundle, even when `depends_on` forgot to say so.
            seen.add(bundle.config_name)
            dependencies.append(bundle)
        dependencies.sort(key=sort_key)
        result = dependencies[: self._limit]
        for field_entity in self.fields_of(entity):
            if len(result) >= self._limit:
                break
            if field_entity.config_name not in seen:
                seen.add(field_entity.config_name)
                result.append(field_entity)
        return tuple(result)


def related_entities(
    entity: InventoryEntity, all_entities_by_name: Mapping[str, InventoryEntity]
) -> tuple[InventoryEntity, ...]:
    """The `DraftRequest.related` of one entity.

    This indexes the whole inventory on every call; to serve many entities build a
    `RelatedIndex` once and call `for_entity`.
    """
    return RelatedIndex(all_entities_by_name.values()).for_entity(entity)
