"""Reading a Drupal configuration export (`drush config:export`) into inventory entities.

Each YAML file of the export is one config object, named after the file
(`node.type.page.yml` is `node.type.page`). The files of inventory kinds become
the same entities, with the same columns, as the site's inventory CSVs:

- bundles: `node.type.*`, `paragraphs.paragraphs_type.*`, `media.type.*`,
  `taxonomy.vocabulary.*`, `block_content.type.*`;
- fields: `field.field.*`, joined with their `field.storage.*` for the
  cardinality and the target entity type;
- image_styles: `image.style.*`; views: `views.view.*`; workflows:
  `workflows.workflow.*`; roles: `user.role.*`; menus: `system.menu.*`.

`depends_on` is the file's `dependencies.config`, kept to the names that are
themselves entities of this export (a field's storage, a view's field storages,
a bundle's module config ... are not inventory rows).

Only the files of those kinds (and `field.storage.*`) are parsed: the rest of an
export (blocks, displays, webforms ...) is skipped unread, which is most of its
size and parsing time (NestWatch: 0.3 s instead of 3.7 s). A YAML file whose name
is not a Drupal config name at all (no `<module>.` prefix) is parsed, so that a
stray file that does not parse is still reported. Files under
`language/<langcode>/` are translations of other files and are skipped too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from application.inventory.model import (
    BUNDLE_CONFIG_PREFIXES,
    InventoryProblem,
    ParsedSource,
    UploadedFile,
    kind_of_config_name,
)
from application.inventory.yaml_limits import yaml_hazard
from domain.inventory import KIND_COLUMNS, InventoryEntity, Kind

YAML_SUFFIXES = (".yml", ".yaml")
FIELD_STORAGE_PREFIX = "field.storage."
LIST_SEPARATOR = "; "

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_ENTITY_TYPE_OF_BUNDLE_PREFIX = {prefix: et for et, prefix in BUNDLE_CONFIG_PREFIXES.items()}

# Which key holds a bundle's machine name and which its label, per entity type.
_BUNDLE_KEYS = {
    "node": ("type", "name"),
    "taxonomy_term": ("vid", "name"),
}
_DEFAULT_KEYS = ("id", "label")


@dataclass(frozen=True)
class _ConfigFile:
    file_name: str
    config_name: str
    data: Mapping[str, Any]


def is_yaml_name(name: str) -> bool:
    return name.lower().endswith(YAML_SUFFIXES)


def config_name_of(file_name: str) -> str:
    """`config-sync/node.type.page.yml` -> `node.type.page`."""
    base = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0]


def is_translation(file_name: str) -> bool:
    """A file of the `language.<langcode>` collection: `.../language/<code>/<name>.yml`."""
    parts = file_name.replace("\\", "/").split("/")
    return len(parts) >= 3 and parts[-3] == "language"


def is_wanted(config_name: str) -> bool:
    """An inventory kind's config, or a field storage (joined into fields)."""
    if config_name.startswith(FIELD_STORAGE_PREFIX):
        return True
    return kind_of_config_name(config_name) is not None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _prose(value: object) -> str:
    """A label or description as the inventory CSVs hold it: whitespace runs collapsed."""
    return " ".join(_text(value).split())


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: object) -> list[str]:
    """A YAML list (or the keys of a mapping) as strings."""
    if isinstance(value, Mapping):
        return [_text(k) for k in value]
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return []


def _load(file: UploadedFile, source: ParsedSource) -> Mapping[str, Any] | None:
    try:
        text = file.content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = file.content.count(b"\n", 0, exc.start) + 1
        source.problems.append(
            InventoryProblem(
                file.name,
                line,
                None,
                f"The file is not UTF-8 (invalid byte at line {line})",
                "Export the configuration again with drush config:export, which writes UTF-8",
            )
        )
        return None
    hazard = yaml_hazard(text, _Loader)
    if hazard is not None:
        source.problems.append(
            InventoryProblem(
                file.name,
                None,
                None,
                hazard,
                "Upload the configuration as drush config:export wrote it (no YAML "
                "aliases, no deep nesting), or leave this file out",
            )
        )
        return None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        yaml_line: int | None = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        source.problems.append(
            InventoryProblem(
                file.name,
                yaml_line,
                None,
                f"The YAML does not parse: {reason}",
                "Fix the YAML syntax (indentation, quoting) or export the configuration again",
            )
        )
        return None
    if not isinstance(data, Mapping):
        source.problems.append(
            InventoryProblem(
                file.name,
                None,
                None,
                "The file is not a Drupal config object (a YAML mapping)",
                "Remove the file from the upload, or export the configuration again",
            )
        )
        return None
    return data


def parse_config_export(export_name: str, files: Sequence[UploadedFile]) -> ParsedSource:
    """Read the YAML files of one config export. Problems are collected, never raised."""
    source = ParsedSource(name=export_name)
    wanted: list[_ConfigFile] = []
    storages: dict[str, Mapping[str, Any]] = {}
    skipped = 0
    for file in files:
        config_name = config_name_of(file.name)
        wanted_file = is_wanted(config_name)
        if is_translation(file.name) or not (wanted_file or "." not in config_name):
            skipped += 1
            continue
        # A name without a `<module>.` prefix is not a Drupal config name: read it
        # anyway, so that a YAML file that does not parse is reported.
        data = _load(file, source)
        if data is None:
            continue
        if not wanted_file:
            skipped += 1
        elif config_name.startswith(FIELD_STORAGE_PREFIX):
            storages[config_name] = data
        else:
            wanted.append(_ConfigFile(file.name, config_name, data))

    names = {f.config_name for f in wanted}
    for config_file in sorted(wanted, key=lambda f: f.config_name):
        kind = kind_of_config_name(config_file.config_name)
        if kind is None:  # is_wanted() let it through: cannot happen
            continue
        attributes = _ATTRIBUTE_READERS[kind](config_file, storages, source)
        for column in KIND_COLUMNS[kind]:
            attributes.setdefault(column, "")
        dependencies = _strings(_mapping(config_file.data.get("dependencies")).get("config"))
        depends_on = tuple(
            dict.fromkeys(d for d in dependencies if d in names and d != config_file.config_name)
        )
        label = attributes.get("label") or attributes.get("machine_name") or ""
        label = label or attributes.get("field_name", "") or config_file.config_name
        source.entities.append(
            InventoryEntity(
                config_name=config_file.config_name,
                kind=kind,
                label=label,
                attributes=attributes,
                depends_on=depends_on,
                source_file=config_file.file_name,
                source_row=0,
            )
        )
        source.kinds[kind] = source.kinds.get(kind, 0) + 1
    if skipped:
        source.warnings.append(
            f"{export_name}: {skipped} YAML file(s) of other configuration "
            "(blocks, displays, translations ...) were skipped"
        )
    return source


_Reader = Callable[[_ConfigFile, dict[str, Mapping[str, Any]], ParsedSource], dict[str, str]]


def _bundle(
    config: _ConfigFile, storages: dict[str, Mapping[str, Any]], source: ParsedSource
) -> dict[str, str]:
    prefix, _, suffix = config.config_name.rpartition(".")
    entity_type = _ENTITY_TYPE_OF_BUNDLE_PREFIX[prefix]
    machine_key, label_key = _BUNDLE_KEYS.get(entity_type, _DEFAULT_KEYS)
    data = config.data
    return {
        "entity_type": entity_type,
        "machine_name": _text(data.get(machine_key)) or suffix,
        "label": _prose(data.get(label_key)),
        "description": _prose(data.get("description")),
    }


def _target(storage: Mapping[str, Any], field_settings: Mapping[str, Any]) -> str:
    """`taxonomy_term:aou_codes`, `paragraph:a,b`, `file`, `node` (any bundle) or ``."""
    target_type = _text(_mapping(storage.get("settings")).get("target_type"))
    if not target_type:
        return ""
    handler = _mapping(field_settings.get("handler_settings"))
    bundles = sorted(_strings(handler.get("target_bundles")))
    if not bundles:
        return target_type
    if handler.get("negate"):
        return f"{target_type}:all except {','.join(bundles)}"
    return f"{target_type}:{','.join(bundles)}"


def _field(
    config: _ConfigFile, storages: dict[str, Mapping[str, Any]], source: ParsedSource
) -> dict[str, str]:
    data = config.data
    parts = config.config_name.split(".")
    entity_type = _text(data.get("entity_type")) or (parts[2] if len(parts) > 4 else "")
    bundle = _text(data.get("bundle")) or (parts[3] if len(parts) > 4 else "")
    field_name = _text(data.get("field_name")) or parts[-1]
    storage_name = f"{FIELD_STORAGE_PREFIX}{entity_type}.{field_name}"
    storage = storages.get(storage_name)
    if storage is None:
        source.warnings.append(
            f"{config.file_name}: {storage_name} is not in the export; the field's "
            "cardinality and target are left empty"
        )
        storage = {}
    cardinality = storage.get("cardinality")
    return {
        "entity_type": entity_type,
        "bundle": bundle,
        "field_name": field_name,
        "label": _prose(data.get("label")),
        "field_type": _text(data.get("field_type")) or _text(storage.get("type")),
        "required": _text(bool(data.get("required"))),
        "cardinality": "unlimited" if cardinality == -1 else _text(cardinality),
        "target": _target(storage, _mapping(data.get("settings"))),
        "description": _prose(data.get("description")),
    }


def _effect_text(effect: Mapping[str, Any]) -> str:
    """`image_scale 220x220`, `image_scale 400x` (no height), `crop_crop`."""
    data = _mapping(effect.get("data"))
    width, height = data.get("width"), data.get("height")
    name = _text(effect.get("id"))
    if width is None and height is None:
        return name
    return f"{name} {_text(width)}x{_text(height)}"


def _weight(effect: Mapping[str, Any]) -> float:
    """An effect's weight; one that is not a number (hand-edited YAML) sorts as 0."""
    try:
        return float(effect.get("weight") or 0)
    except (TypeError, ValueError, OverflowError):
        return 0.0


def _image_style(
    config: _ConfigFile, storages: dict[str, Mapping[str, Any]], source: ParsedSource
) -> dict[str, str]:
    data = config.data
    effects = [_mapping(e) for e in _mapping(data.get("effects")).values()]
    effects.sort(key=_weight)  # stable: file order among equals
    return {
        "machine_name": _text(data.get("name")) or config.config_name.rsplit(".", 1)[-1],
        "label": _prose(data.get("label")),
        "effects": LIST_SEPARATOR.join(_effect_text(e) for e in effects),
    }


def _display_text(display_id: str, display: Mapping[str, Any]) -> str:
    """`default(default)`, `block_1(block)`, `page_1(page: /archive)`."""
    plugin = _text(display.get("display_plugin"))
    path = _text(_mapping(display.get("display_options")).get("path"))
    if path:
        return f"{display_id}({plugin}: /{path.lstrip('/')})"
    return f"{display_id}({plugin})"


def _view(
    config: _ConfigFile, storages: dict[str, Mapping[str, Any]], source: ParsedSource
) -> dict[str, str]:
    data = config.data
    displays = _mapping(data.get("display"))
    return {
        "machine_name": _text(data.get("id")) or config.config_name.rsplit(".", 1)[-1],
        "label": _prose(data.get("label")),
        "description": _prose(data.get("description")),
        "base_table": _text(data.get("base_table")),
        "displays": LIST_SEPARATOR.join(
            _display_text(_text(key), _mapping(display)) for key, display in displays.items()
        ),
    }


def _workflow(
    config: _ConfigFile, storages: dict[str, Mapping[str, Any]], source: ParsedSource
) -> dict[str, str]:
    data = config.data
    settings = _mapping(data.get("type_settings"))
    states = _mapping(settings.get("states"))
    transitions = _mapping(settings.get("transitions"))
    entity_types = _mapping(settings.get("entity_types"))
    return {
        "machine_name": _text(data.get("id")) or config.config_name.rsplit(".", 1)[-1],
        "label": _prose(data.get("label")),
        "type": _text(data.get("type")),
        "states": LIST_SEPARATOR.join(
            _text(_mapping(state).get("label")) or _text(key) for key, state in states.items()
        ),
        "transitions": LIST_SEPARATOR.join(
            f"{_text(t.get('label')) or _text(key)}: "
            f"{','.join(_strings(t.get('from')))}->{_text(t.get('to'))}"
            for key, t in ((k, _mapping(v)) for k, v in transitions.items())
        ),
        "applies_to": LIST_SEPARATOR.join(
            f"{_text(entity_type)}:{','.join(_strings(bundles))}"
            for entity_type, bundles in entity_types.items()
        ),
    }


def _role(
    config: _ConfigFile, storages: dict[str, Mapping[str, Any]], source: ParsedSource
) -> dict[str, str]:
    data = config.data
    return {
        "machine_name": _text(data.get("id")) or config.config_name.rsplit(".", 1)[-1],
        "label": _prose(data.get("label")),
        "is_admin": _text(bool(data.get("is_admin"))),
        "permissions": LIST_SEPARATOR.join(_strings(data.get("permissions"))),
    }


def _menu(
    config: _ConfigFile, storages: dict[str, Mapping[str, Any]], source: ParsedSource
) -> dict[str, str]:
    data = config.data
    return {
        "machine_name": _text(data.get("id")) or config.config_name.rsplit(".", 1)[-1],
        "label": _prose(data.get("label")),
        "description": _prose(data.get("description")),
    }


_ATTRIBUTE_READERS: dict[Kind, _Reader] = {
    Kind.BUNDLES: _bundle,
    Kind.FIELDS: _field,
    Kind.IMAGE_STYLES: _image_style,
    Kind.VIEWS: _view,
    Kind.WORKFLOWS: _workflow,
    Kind.ROLES: _role,
    Kind.MENUS: _menu,
}
