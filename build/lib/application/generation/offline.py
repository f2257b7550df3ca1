"""The offline drafter: tickets written from the entity's own data, without a model.

It is the default when no LLM is configured, so its tickets must stand on their
own: each one says what to build and where in Drupal, shows the data from the
inventory (a bundle's fields, a view's displays, a workflow's transitions, ...),
names its dependencies by config name, and ends in a checklist a reviewer can
tick. It is pure and deterministic: the same request gives the same draft.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from application.generation.port import Draft, DraftRequest
from domain.inventory import InventoryEntity, Kind

TITLE_MAX = 255
_MAX_LIST_ITEMS = 150
"""Longest list rendered item by item (permissions, fields); the rest is summarised."""

_BUNDLE_NOUNS = {
    "node": "content type",
    "paragraph": "paragraph type",
    "media": "media type",
    "taxonomy_term": "vocabulary",
    "block_content": "block type",
    "comment": "comment type",
    "contact_message": "contact form",
}
_BUNDLE_ADMIN = {
    "node": ("Structure > Content types", "/admin/structure/types"),
    "paragraph": ("Structure > Paragraph types", "/admin/structure/paragraphs_type"),
    "media": ("Structure > Media types", "/admin/structure/media"),
    "taxonomy_term": ("Structure > Taxonomy", "/admin/structure/taxonomy"),
    "block_content": ("Structure > Block types", "/admin/structure/block-content"),
    "comment": ("Structure > Comment types", "/admin/structure/comment"),
}
_MANAGE_FIELDS = {
    "node": "/admin/structure/types/manage/{bundle}/fields",
    "paragraph": "/admin/structure/paragraphs_type/{bundle}/fields",
    "media": "/admin/structure/media/manage/{bundle}/fields",
    "taxonomy_term": "/admin/structure/taxonomy/manage/{bundle}/overview/fields",
    "block_content": "/admin/structure/block-content/manage/{bundle}/fields",
    "comment": "/admin/structure/comment/manage/{bundle}/fields",
    "user": "/admin/config/people/accounts/fields",
}
_ENTITY_TYPE_NOUNS = {
    "node": "content",
    "paragraph": "paragraphs",
    "media": "media",
    "taxonomy_term": "taxonomy terms",
    "block_content": "custom blocks",
    "comment": "comments",
    "user": "user accounts",
    "file": "files",
}
_FIELD_TYPES = {
    "boolean": "Boolean",
    "string": "Text (plain)",
    "string_long": "Text (plain, long)",
    "text": "Text (formatted)",
    "text_long": "Text (formatted, long)",
    "text_with_summary": "Text (formatted, long, with summary)",
    "integer": "Number (integer)",
    "decimal": "Number (decimal)",
    "float": "Number (float)",
    "list_string": "List (text)",
    "list_integer": "List (integer)",
    "list_float": "List (float)",
    "entity_reference": "Entity reference",
    "entity_reference_revisions": "Entity reference revisions (Paragraphs)",
    "image": "Image",
    "file": "File",
    "link": "Link",
    "email": "Email",
    "telephone": "Telephone number",
    "datetime": "Date",
    "daterange": "Date range",
    "timestamp": "Timestamp",
    "geolocation": "Geolocation",
    "color_field_type": "Color",
    "video_embed_field": "Video embed",
    "viewsreference": "Views reference",
    "layout_section": "Layout section (Layout Builder)",
}
_FIELD_MODULES = {
    "entity_reference_revisions": "entity_reference_revisions (with paragraphs)",
    "geolocation": "geolocation",
    "color_field_type": "color_field",
    "video_embed_field": "video_embed_field",
    "viewsreference": "viewsreference",
    "layout_section": "layout_builder",
    "daterange": "datetime_range",
    "datetime": "datetime",
    "link": "link",
    "image": "image",
    "file": "file",
    "telephone": "telephone",
    "list_string": "options",
    "list_integer": "options",
    "list_float": "options",
}
_BASE_TABLES = {
    "node_field_data": "content",
    "node_field_revision": "content revisions",
    "users_field_data": "user accounts",
    "taxonomy_term_field_data": "taxonomy terms",
    "media_field_data": "media",
    "file_managed": "files",
    "comment_field_data": "comments",
    "block_content_field_data": "custom blocks",
    "watchdog": "log messages (dblog)",
    "webform_submission": "webform submissions",
}
_EFFECTS = {
    "image_scale": "Scale",
    "image_scale_and_crop": "Scale and crop",
    "image_crop": "Crop",
    "image_resize": "Resize",
    "image_desaturate": "Desaturate",
    "image_rotate": "Rotate",
    "image_convert": "Convert",
    "crop_crop": "Manual crop (Crop API)",
    "focal_point_scale_and_crop": "Focal point scale and crop",
}
_CORE_ROLES = {"anonymous", "authenticated"}
_CORE_MENUS = {"account", "admin", "footer", "main", "tools"}


# ---------------------------------------------------------------- small helpers


def _split(value: str, sep: str = ";") -> list[str]:
    return [part.strip() for part in value.split(sep) if part.strip()]


def _cell(value: str) -> str:
    """Text safe inside a Markdown table cell; an em dash when empty."""
    text = " ".join(value.split()).replace("|", "\\|")
    return text or "—"


def _code(value: str) -> str:
    if not value:
        return "—"
    fence = "``" if "`" in value else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def _code_cell(value: str) -> str:
    return _code(" ".join(value.split())).replace("|", "\\|")


def _label(entity: InventoryEntity) -> str:
    return " ".join((entity.label or entity.machine_name or entity.config_name).split())


def _yes_no(value: str) -> str:
    return {"true": "yes", "1": "yes", "false": "no", "0": "no"}.get(value.strip().lower(), "—")


def _is_required(entity: InventoryEntity) -> bool:
    return _yes_no(entity.attributes.get("required", "")) == "yes"


def _cardinality(value: str) -> str:
    value = value.strip()
    if value in ("", "1"):
        return "1"
    if value.lower() in ("unlimited", "-1"):
        return "unlimited"
    return value


def _cardinality_phrase(value: str) -> str:
    card = _cardinality(value)
    if card == "1":
        return "a single value"
    if card == "unlimited":
        return "any number of values"
    return f"up to {card} values"


def _noun(entity: InventoryEntity) -> str:
    if entity.kind is Kind.BUNDLES:
        return _BUNDLE_NOUNS.get(entity.attributes.get("entity_type", ""), "bundle")
    return {
        Kind.FIELDS: "field",
        Kind.IMAGE_STYLES: "image style",
        Kind.VIEWS: "view",
        Kind.WORKFLOWS: "workflow",
        Kind.ROLES: "role",
        Kind.MENUS: "menu",
    }[entity.kind]


def _ref(entity: InventoryEntity) -> str:
    return f"{_code(entity.config_name)} — {_label(entity)} ({_noun(entity)})"


def _fit_title(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1].rstrip() + "…"


def _capped(items: list[str], render: Callable[[str], str]) -> list[str]:
    lines = [render(item) for item in items[:_MAX_LIST_ITEMS]]
    if len(items) > _MAX_LIST_ITEMS:
        lines.append(f"- … and {len(items) - _MAX_LIST_ITEMS} more (see the inventory row)")
    return lines


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


@dataclass(frozen=True)
class _Site:
    name: str
    audience: str

    @classmethod
    def of(cls, site: dict[str, str]) -> _Site:
        name = " ".join(site.get("site_name", "").split())
        audience = " ".join(site.get("audience", "").split()) or "site visitors"
        return cls(name=name, audience=audience)

    @property
    def editor(self) -> str:
        return f"As a site editor of {self.name}" if self.name else "As a site editor"

    @property
    def administrator(self) -> str:
        return f"As a site administrator of {self.name}" if self.name else "As a site administrator"

    @property
    def on_site(self) -> str:
        return f" on {self.name}" if self.name else ""


@dataclass(frozen=True)
class _Parts:
    title: str
    user_story: str
    what: list[str]
    data: list[str]
    checks: list[str]


# ---------------------------------------------------------- attribute parsers


@dataclass(frozen=True)
class Display:
    display_id: str
    display_type: str
    path: str


def parse_displays(value: str) -> list[Display]:
    """`default(default); page_1(page: /archive)` → displays with their paths."""
    displays = []
    for item in _split(value):
        display_id, _, rest = item.partition("(")
        inner = rest[:-1] if rest.endswith(")") else rest
        display_type, _, path = inner.partition(":")
        displays.append(
            Display(display_id.strip(), display_type.strip() or display_id.strip(), path.strip())
        )
    return displays


@dataclass(frozen=True)
class Transition:
    label: str
    from_states: tuple[str, ...]
    to_state: str


def parse_transitions(value: str) -> list[Transition]:
    """`Publish: draft,published->published; ...` → transitions."""
    transitions = []
    for item in _split(value):
        label, colon, rest = item.partition(":")
        if not colon:
            label, rest = "", item
        sources, _, target = rest.partition("->")
        transitions.append(
            Transition(label.strip(), tuple(_split(sources, ",")), target.strip() or "?")
        )
    return transitions


def parse_targets(value: str) -> tuple[str, list[str]]:
    """`taxonomy_term:aou_codes,band_colors` → ("taxonomy_term", ["aou_codes", "band_colors"])."""
    entity_type, colon, bundles = value.partition(":")
    if not colon:
        return value.strip(), []
    return entity_type.strip(), _split(bundles, ",")


def parse_applies_to(value: str) -> list[tuple[str, list[str]]]:
    """`node:page,article; media:image` → [("node", ["page", "article"]), ("media", ["image"])]."""
    return [parse_targets(item) for item in _split(value)]


def _describe_effect(effect: str) -> tuple[str, str, str]:
    """`image_scale_and_crop 1920x640` → (id, human name, arguments)."""
    effect_id, _, args = effect.partition(" ")
    name = _EFFECTS.get(effect_id, effect_id.replace("_", " ").capitalize())
    return effect_id, name, args.strip()


def _dimensions(args: str) -> tuple[str, str] | None:
    width, x, height = args.partition("x")
    if not x or not (width.isdigit() or height.isdigit()):
        return None
    return width, height


# ------------------------------------------------------------------ the drafter


class OfflineDrafter:
    """Deterministic template tickets; needs no network, key or model."""

    @property
    def name(self) -> str:
        return "offline"

    def check_health(self) -> None:
        return None

    def draft(self, request: DraftRequest) -> Draft:
        entity = request.entity
        site = _Site.of(request.site)
        related = {e.config_name: e for e in request.related}
        builder = _BUILDERS[entity.kind]
        parts = builder(entity, site, request.related)
        what = [parts.what[0], *(line for text in parts.what[2:] for line in ("", text))]
        analysis = [*what, "", *parts.data, "", *_dependencies(entity, related)]
        checks = [*parts.checks, _config_check(entity)]
        return Draft(
            title=_fit_title(parts.title),
            user_story=parts.user_story,
            analysis="\n".join(analysis).strip(),
            verification="\n".join(f"- [ ] {check}" for check in checks),
            generator=self.name,
            usage={},
        )


def _dependencies(entity: InventoryEntity, related: dict[str, InventoryEntity]) -> list[str]:
    own_fields = (
        {e.config_name for e in _fields_of(entity, related.values())}
        if entity.kind is Kind.BUNDLES
        else set()
    )
    lines = ["## Dependencies", ""]
    listed = [e for name, e in related.items() if name not in own_fields]
    lines.extend(f"- {_ref(e)}" for e in listed)
    listed_names = {e.config_name for e in listed}
    missing = [name for name in entity.depends_on if name not in listed_names]
    lines.extend(
        f"- {_code(name)} — not in this inventory: check it exists on the target site "
        "(or is provided by a module)"
        for name in missing
    )
    if not listed and not missing:
        lines.append(f"None: this {_noun(entity)} can be built on its own.")
    else:
        lines.extend(["", "Build the dependencies above first."])
    return lines


def _config_check(entity: InventoryEntity) -> str:
    files = [f"{entity.config_name}.yml"]
    if entity.kind is Kind.FIELDS:
        storage = _storage_name(entity)
        if storage:
            files.insert(0, f"{storage}.yml")
    shown = " and ".join(_code(f) for f in files)
    committed = "both files are" if len(files) > 1 else "the file is"
    return f"`drush config:export` writes {shown}, and {committed} committed"


def _storage_name(field_entity: InventoryEntity) -> str:
    attrs = field_entity.attributes
    entity_type, field_name = attrs.get("entity_type", ""), attrs.get("field_name", "")
    return f"field.storage.{entity_type}.{field_name}" if entity_type and field_name else ""


def _fields_of(
    bundle: InventoryEntity, candidates: Iterable[InventoryEntity]
) -> list[InventoryEntity]:
    entity_type = bundle.attributes.get("entity_type", "")
    name = bundle.machine_name
    fields = []
    for candidate in candidates:
        if candidate.kind is not Kind.FIELDS or candidate.attributes.get("bundle", "") != name:
            continue
        candidate_type = candidate.attributes.get("entity_type", "")
        if candidate_type == entity_type or (
            not entity_type and bundle.config_name in candidate.depends_on
        ):
            fields.append(candidate)
    return sorted(fields, key=lambda f: f.config_name)


def _find_bundle(
    entity_type: str, machine_name: str, related: Iterable[InventoryEntity]
) -> InventoryEntity | None:
    for candidate in related:
        if (
            candidate.kind is Kind.BUNDLES
            and candidate.machine_name == machine_name
            and candidate.attributes.get("entity_type", "") in ("", entity_type)
        ):
            return candidate
    return None


def _describe_target(target: str, related: Iterable[InventoryEntity]) -> str:
    entity_type, bundles = parse_targets(target)
    noun = _ENTITY_TYPE_NOUNS.get(entity_type, entity_type)
    if not bundles:
        return noun
    names = []
    for bundle in bundles:
        found = _find_bundle(entity_type, bundle, related)
        names.append(f"{_label(found)} ({_code(found.config_name)})" if found else _code(bundle))
    return f"{noun} of type " + ", ".join(names)


# ------------------------------------------------------------------- bundles


def _bundle(entity: InventoryEntity, site: _Site, related: tuple[InventoryEntity, ...]) -> _Parts:
    attrs = entity.attributes
    entity_type = attrs.get("entity_type", "")
    label, noun, machine = _label(entity), _noun(entity), entity.machine_name
    fields = _fields_of(entity, related)
    description = " ".join(attrs.get("description", "").split())

    with_fields = f" with its {len(fields)} fields" if fields else ""
    story_goal = {
        "node": f"publish and maintain {label} content for {site.audience}",
        "paragraph": f"compose pages from reusable {label} sections for {site.audience}",
        "media": f"upload {label} media once and reuse it across content for {site.audience}",
        "taxonomy_term": f"classify content with {label} terms that {site.audience} can browse",
        "block_content": f"place editable {label} blocks on pages for {site.audience}",
    }.get(entity_type, f"manage {label} items for {site.audience}")
    user_story = f"{site.editor}, I want a {label} {noun}{with_fields}, so that I can {story_goal}."

    what = ["## What to build", ""]
    what.append(
        f"Create the **{label}** {noun} (machine name {_code(machine)}, "
        f"config {_code(entity.config_name)}){site.on_site}."
    )
    if description:
        what.append(f"Description (shown to editors): {description}")
    admin = _BUNDLE_ADMIN.get(entity_type)
    if admin:
        what.append(f"Create it under {admin[0]} ({_code(admin[1])}).")
    manage = _MANAGE_FIELDS.get(entity_type, "").format(bundle=machine)
    if fields:
        what.append(
            "Each field below has its own ticket; this ticket creates the "
            f"{noun} they attach to"
            + (f" (fields are managed at {_code(manage)})." if manage else ".")
        )

    data = [f"## Fields ({len(fields)})", ""]
    if fields:
        rows = []
        for field_entity in fields:
            fa = field_entity.attributes
            rows.append(
                (
                    _code(fa.get("field_name", "") or field_entity.machine_name),
                    _cell(_label(field_entity)),
                    _code(fa.get("field_type", "")),
                    _yes_no(fa.get("required", "")),
                    _cardinality(fa.get("cardinality", "")),
                    _code_cell(fa.get("target", "")),
                )
            )
        data.extend(_table(("Field", "Label", "Type", "Required", "Cardinality", "Target"), rows))
        help_texts = [
            (f, " ".join(f.attributes.get("description", "").split()))
            for f in fields
            if f.attributes.get("description", "").strip()
        ]
        if help_texts:
            data.extend(["", "Help text:"])
            data.extend(
                f"- {_code(f.attributes.get('field_name', '') or f.machine_name)}: {text}"
                for f, text in help_texts
            )
    else:
        data.append(f"The inventory lists no fields for this {noun}: it uses only its base fields.")

    checks = [
        f"The {noun} **{label}** exists with machine name {_code(machine)}"
        + (" and the description above" if description else ""),
    ]
    if entity_type == "node":
        checks.append(
            f"An editor can create, save, view and edit a {label} item (Content > Add content)"
        )
    elif entity_type == "media":
        checks.append(f"An editor can add a {label} media item at `/media/add/{machine}`")
    elif entity_type == "taxonomy_term":
        checks.append(f"An editor can add, edit and reorder {label} terms")
    elif entity_type == "paragraph":
        checks.append(
            f"A {label} paragraph can be added to a content item whose paragraphs field allows it"
        )
    elif entity_type == "block_content":
        checks.append(f"An editor can create a {label} block and place it in a region")
    if fields:
        required = [f for f in fields if _is_required(f)]
        checks.append(
            f"Once the field tickets are done, Manage fields lists exactly the {len(fields)} "
            "fields in the table, with the types, required flags and cardinalities shown"
        )
        if required:
            names = ", ".join(_code(f.attributes.get("field_name", "")) for f in required)
            checks.append(f"Saving without a value in a required field ({names}) is refused")
    return _Parts(
        title=f"Build the {label} {noun} ({entity.config_name})",
        user_story=user_story,
        what=what,
        data=data,
        checks=checks,
    )


# -------------------------------------------------------------------- fields


def _field(entity: InventoryEntity, site: _Site, related: tuple[InventoryEntity, ...]) -> _Parts:
    attrs = entity.attributes
    label = _label(entity)
    field_name = attrs.get("field_name", "") or entity.machine_name
    entity_type, bundle_name = attrs.get("entity_type", ""), attrs.get("bundle", "")
    field_type = attrs.get("field_type", "")
    target = attrs.get("target", "").strip()
    required = _is_required(entity)
    cardinality = attrs.get("cardinality", "")
    bundle = _find_bundle(entity_type, bundle_name, related)
    if bundle is not None:
        bundle_text = f"the **{_label(bundle)}** {_noun(bundle)} ({_code(bundle.config_name)})"
        bundle_short = f"{_label(bundle)} {_noun(bundle)}"
    elif bundle_name and bundle_name == entity_type:  # e.g. user: one bundle, no bundle entity
        noun = _ENTITY_TYPE_NOUNS.get(entity_type, entity_type)
        bundle_text = f"{noun} ({_code(entity_type)})"
        bundle_short = noun
    elif bundle_name:
        bundle_text = f"the {_code(bundle_name)} bundle of {_code(entity_type)}"
        bundle_short = f"{bundle_name} {_ENTITY_TYPE_NOUNS.get(entity_type, entity_type)}"
    else:
        bundle_text = f"{_code(entity_type)} entities"
        bundle_short = _ENTITY_TYPE_NOUNS.get(entity_type, entity_type or "entities")
    description = " ".join(attrs.get("description", "").split())

    item = f"{_label(bundle)} item" if bundle is not None else "item"
    user_story = (
        f"{site.editor}, I want a {label} field on the {bundle_short}, "
        f"so that every {item} records its {label} ({_cardinality_phrase(cardinality)}) "
        f"for {site.audience}."
    )

    what = ["## What to build", ""]
    where = _MANAGE_FIELDS.get(entity_type, "").format(bundle=bundle_name)
    what.append(
        f"Add the **{label}** field ({_code(field_name)}) to {bundle_text}"
        + (f" at {_code(where)}." if where else ".")
    )
    storage = _storage_name(entity)
    if storage:
        what.append(
            f"Its storage {_code(storage)} is shared by every {entity_type} bundle using "
            f"{_code(field_name)}: create it once, reuse it elsewhere."
        )
    if description:
        what.append(f"Help text: {description}")

    type_name = _FIELD_TYPES.get(field_type, field_type or "—")
    data = ["## Data", ""]
    rows = [
        ("Field name", _code(field_name)),
        ("Label", _cell(label)),
        ("Type", f"{_code(field_type)} ({_cell(type_name)})" if field_type else "—"),
        ("Required", _yes_no(attrs.get("required", ""))),
        ("Cardinality", _cardinality(cardinality)),
        ("Target", _code_cell(target)),
        ("Bundle", _cell(bundle_text.replace("**", ""))),
    ]
    data.extend(_table(("Property", "Value"), rows))
    notes = []
    module = _FIELD_MODULES.get(field_type)
    if module:
        notes.append(f"The field type needs the {_code(module.split(' ')[0])} module enabled.")
    if field_type.startswith("list_"):
        notes.append(
            "The allowed values are not in the inventory: copy them from the existing "
            f"field storage ({_code(storage or field_name)})."
        )
    if field_type in ("entity_reference", "entity_reference_revisions") and target:
        notes.append(f"It references {_describe_target(target, related)}.")
    if field_type in ("image", "file"):
        notes.append(
            "Set the allowed extensions, maximum size and upload directory as on the existing site."
        )
    for note in notes:
        data.extend(["", note])

    checks = [
        f"{_code(field_name)} appears on {bundle_text.replace('**', '')} with label "
        f"**{label}** and type {_code(field_type or '—')}",
        (
            "Saving the form without a value is refused (the field is required)"
            if required
            else "Saving the form without a value works (the field is optional)"
        ),
    ]
    card = _cardinality(cardinality)
    if card == "1":
        checks.append("The form accepts a single value only")
    elif card == "unlimited":
        checks.append("The form offers “Add another item” without limit")
    else:
        checks.append(f"The form accepts at most {card} values")
    if target and field_type in ("entity_reference", "entity_reference_revisions"):
        checks.append(f"Only {_describe_target(target, related)} can be referenced")
    checks.append("A value saved in the field is shown on the item's page (or its display)")
    return _Parts(
        title=f"Add the {label} field to the {bundle_short} ({entity.config_name})",
        user_story=user_story,
        what=what,
        data=data,
        checks=checks,
    )


# --------------------------------------------------------------------- views


def _display_check(display: Display) -> str | None:
    path, kind, ident = display.path, display.display_type, _code(display.display_id)
    arg = " (with a valid value in place of `%`)" if "%" in path else ""
    if kind == "default":
        return None
    if kind == "page" and path:
        return f"Visiting {_code(path)}{arg} shows the listing (display {ident})"
    if kind == "feed" and path:
        return f"{_code(path)}{arg} returns a valid feed (display {ident})"
    if kind == "rest_export" and path:
        return f"`GET {path}`{arg} returns JSON with status 200 (display {ident})"
    if kind == "block":
        return f"Block display {ident} can be placed in Block layout and renders"
    if kind == "entity_browser":
        return f"Display {ident} can be chosen in an entity browser"
    if kind == "attachment":
        return f"Attachment {ident} renders with the display it is attached to"
    if kind == "embed":
        return f"Embed display {ident} renders where it is embedded"
    suffix = f" at {_code(path)}" if path else ""
    return f"Display {ident} ({kind}){suffix} is configured and renders"


def _view(entity: InventoryEntity, site: _Site, related: tuple[InventoryEntity, ...]) -> _Parts:
    attrs = entity.attributes
    label, machine = _label(entity), entity.machine_name
    base_table = attrs.get("base_table", "").strip()
    description = " ".join(attrs.get("description", "").split())
    displays = parse_displays(attrs.get("displays", ""))
    paths = [d.path for d in displays if d.path]
    listed = _BASE_TABLES.get(base_table, "items")
    admin_only = bool(paths) and all(p.startswith("/admin") for p in paths)

    if admin_only:
        user_story = (
            f"{site.administrator}, I want the {label} view at "
            f"{', '.join(paths)}, so that I can find and manage {listed} quickly."
        )
    elif paths:
        user_story = (
            f"{site.editor}, I want the {label} view at {', '.join(paths)}, "
            f"so that {site.audience} can find the {listed} they need."
        )
    else:
        user_story = (
            f"{site.editor}, I want the {label} view, so that its "
            f"listing of {listed} can be placed where {site.audience} need it."
        )

    what = ["## What to build", ""]
    what.append(
        f"Build the **{label}** view (machine name {_code(machine)}, "
        f"config {_code(entity.config_name)}) at Structure > Views (`/admin/structure/views`)."
    )
    if description:
        what.append(f"Purpose: {description}")
    if base_table:
        what.append(f"It lists {listed} (base table {_code(base_table)}).")

    data = [f"## Displays ({len(displays)})", ""]
    if displays:
        data.extend(
            _table(
                ("Display", "Type", "Path"),
                (
                    (_code_cell(d.display_id), _cell(d.display_type), _code_cell(d.path))
                    for d in displays
                ),
            )
        )
    else:
        data.append("The inventory lists no displays: add at least a default display.")

    checks = [
        f"The view {_code(machine)} exists with label **{label}**"
        + (f" and base table {_code(base_table)}" if base_table else "")
    ]
    checks.extend(c for c in (_display_check(d) for d in displays) if c is not None)
    checks.append(
        "For the same data, the listing shows the same items, order and filters as "
        "on the existing site"
    )
    return _Parts(
        title=f"Build the {label} view ({entity.config_name})",
        user_story=user_story,
        what=what,
        data=data,
        checks=checks,
    )


# ----------------------------------------------------------------- workflows


def _applies_to_text(value: str, related: tuple[InventoryEntity, ...]) -> list[str]:
    out = []
    for entity_type, bundles in parse_applies_to(value):
        noun = _ENTITY_TYPE_NOUNS.get(entity_type, entity_type)
        if not bundles:
            out.append(f"all {noun}")
        for bundle in bundles:
            found = _find_bundle(entity_type, bundle, related)
            if found is not None:
                out.append(f"the {_label(found)} {_noun(found)} ({_code(found.config_name)})")
            else:
                out.append(f"{_code(entity_type + ':' + bundle)}")
    return out


def _workflow(entity: InventoryEntity, site: _Site, related: tuple[InventoryEntity, ...]) -> _Parts:
    attrs = entity.attributes
    label, machine = _label(entity), entity.machine_name
    workflow_type = attrs.get("type", "").strip()
    states = _split(attrs.get("states", ""))
    transitions = parse_transitions(attrs.get("transitions", ""))
    targets = _applies_to_text(attrs.get("applies_to", ""), related)
    applies = ", ".join(targets) if targets else "no bundle yet"

    user_story = (
        f"{site.editor}, I want the {label} workflow"
        + (f" ({' → '.join(states)})" if states else "")
        + f" on {applies.replace('`', '')}, so that content is reviewed before "
        f"{site.audience} see it."
    )

    what = ["## What to build", ""]
    what.append(
        f"Configure the **{label}** workflow (machine name {_code(machine)}"
        + (f", type {_code(workflow_type)}" if workflow_type else "")
        + ") at Configuration > Workflow > Workflows (`/admin/config/workflow/workflows`)."
    )
    what.append(f"It applies to: {applies}.")
    if workflow_type == "content_moderation":
        what.append(
            "Each transition gets a permission (`use "
            f"{machine} transition <transition>`): grant them to the editorial roles."
        )

    data = [f"## States ({len(states)})", ""]
    data.extend([f"- {state}" for state in states] or ["None listed."])
    data.extend(["", f"## Transitions ({len(transitions)})", ""])
    if transitions:
        data.extend(
            _table(
                ("Transition", "From", "To"),
                (
                    (_cell(t.label), _cell(", ".join(t.from_states)), _cell(t.to_state))
                    for t in transitions
                ),
            )
        )
    else:
        data.append("None listed.")

    checks = [
        f"The workflow {_code(machine)} exists with label **{label}**",
    ]
    if states:
        checks.append(f"It has exactly the states {', '.join(states)}")
    checks.extend(
        f"Transition **{t.label or t.to_state}** moves content from "
        f"{' or '.join(t.from_states) or 'any state'} to {t.to_state}"
        for t in transitions
    )
    if transitions:
        checks.append("No other transitions are possible")
    if targets:
        checks.append(f"Editing {applies} shows the moderation state control")
    return _Parts(
        title=f"Configure the {label} workflow ({entity.config_name})",
        user_story=user_story,
        what=what,
        data=data,
        checks=checks,
    )


# --------------------------------------------------------------------- roles


def _role(entity: InventoryEntity, site: _Site, related: tuple[InventoryEntity, ...]) -> _Parts:
    attrs = entity.attributes
    label, machine = _label(entity), entity.machine_name
    permissions = _split(attrs.get("permissions", ""))
    is_admin = _yes_no(attrs.get("is_admin", "")) == "yes"

    if is_admin:
        goal = "administer the whole site without granting permissions one by one"
    elif permissions:
        goal = (
            f"users with this role can do exactly their {len(permissions)} permitted tasks, "
            "and nothing more"
        )
    else:
        goal = "users can be given this role without gaining any permission by accident"
    user_story = (
        f"{site.administrator}, I want the {label} role "
        f"configured as on the existing site, so that {goal}."
    )

    what = ["## What to build", ""]
    if machine in _CORE_ROLES:
        what.append(
            f"The **{label}** role ({_code(machine)}) is built into Drupal: "
            "set its permissions only."
        )
    else:
        what.append(
            f"Create the **{label}** role (machine name {_code(machine)}) at People > Roles "
            "(`/admin/people/roles`)."
        )
    if is_admin:
        what.append(
            "Mark it as the administrator role: it receives every permission automatically."
        )
    what.append(
        f"Grant permissions at {_code(f'/admin/people/permissions/{machine}')}"
        " (enable the modules that provide them first)."
    )

    data = [f"## Permissions ({len(permissions)})", ""]
    if permissions:
        data.extend(_capped(permissions, lambda p: f"- {_code(p)}"))
    elif is_admin:
        data.append("None listed: the administrator role has all permissions.")
    else:
        data.append("None: this role grants no permission of its own.")

    checks = [f"The role {_code(machine)} exists with label **{label}**"]
    if is_admin:
        checks.append("It is the administrator role (Account settings > Administrator role)")
    if permissions:
        checks.append(f"It has exactly the {len(permissions)} permissions listed, and no others")
        checks.extend(f"A user with this role can: {p}" for p in permissions[:_MAX_LIST_ITEMS])
    elif not is_admin:
        checks.append("It has no permissions")
    return _Parts(
        title=f"Configure the {label} role and its permissions ({entity.config_name})",
        user_story=user_story,
        what=what,
        data=data,
        checks=checks,
    )


# -------------------------------------------------------------- image styles


def _effect_check(effect_id: str, args: str) -> str | None:
    dims = _dimensions(args)
    if dims is None:
        return None
    width, height = dims
    exact = ("image_scale_and_crop", "image_resize", "focal_point_scale_and_crop")
    if effect_id in exact and width and height:
        return f"A derivative of a large test image is exactly {width}x{height} pixels"
    if effect_id == "image_scale":
        if width and height:
            return f"A derivative of a large test image fits within {width}x{height} pixels"
        if width:
            return f"A derivative of a large test image is {width} pixels wide"
        return f"A derivative of a large test image is {height} pixels high"
    return None


def _image_style(
    entity: InventoryEntity, site: _Site, related: tuple[InventoryEntity, ...]
) -> _Parts:
    label, machine = _label(entity), entity.machine_name
    effects = [_describe_effect(e) for e in _split(entity.attributes.get("effects", ""))]
    summary = "; ".join(f"{name} {args}".strip() for _, name, args in effects)

    user_story = (
        f"{site.editor}, I want images rendered with the {label} "
        "image style"
        + (f" ({summary})" if summary else "")
        + f", so that {site.audience} get consistently sized, fast-loading images."
    )
    what = [
        "## What to build",
        "",
        f"Create the **{label}** image style (machine name {_code(machine)}) at "
        "Configuration > Media > Image styles (`/admin/config/media/image-styles`).",
    ]
    if any(e[0] == "crop_crop" for e in effects):
        what.append(
            "The manual crop effect needs the `crop` module (and a crop type, e.g. from "
            "`image_widget_crop` or `focal_point`)."
        )
    data = [f"## Effects, in order ({len(effects)})", ""]
    if effects:
        data.extend(
            f"{i}. {name}" + (f" — {args}" if args else "") + f" ({_code(effect_id)})"
            for i, (effect_id, name, args) in enumerate(effects, start=1)
        )
    else:
        data.append("None listed: the style passes images through unchanged.")

    checks = [f"The image style {_code(machine)} exists with label **{label}**"]
    if effects:
        checks.append(
            f"It has exactly {len(effects)} effect(s), in this order: "
            + ", ".join(name for _, name, _ in effects)
        )
    for effect_id, _, args in effects:
        check = _effect_check(effect_id, args)
        if check is not None:
            checks.append(check)
    checks.append("Image fields and formatters that used this style on the existing site use it")
    return _Parts(
        title=f"Create the {label} image style ({entity.config_name})",
        user_story=user_story,
        what=what,
        data=data,
        checks=checks,
    )


# --------------------------------------------------------------------- menus


def _menu(entity: InventoryEntity, site: _Site, related: tuple[InventoryEntity, ...]) -> _Parts:
    label, machine = _label(entity), entity.machine_name
    description = " ".join(entity.attributes.get("description", "").split())
    purpose = description or f"the {label} links"
    user_story = (
        f"{site.editor}, I want the {label} menu "
        f"({purpose.rstrip('.')}), so that {site.audience} can find their way around."
    )
    what = ["## What to build", ""]
    if machine in _CORE_MENUS:
        what.append(
            f"The **{label}** menu ({_code(machine)}) ships with Drupal core: check its "
            "label and description, then add its links."
        )
    else:
        what.append(
            f"Create the **{label}** menu (machine name {_code(machine)}) at Structure > Menus "
            "(`/admin/structure/menu`)."
        )
    data = [
        "## Purpose",
        "",
        purpose if description else f"{purpose} (no description in the inventory).",
        "",
        "Menu links are content, not configuration: recreate or migrate them separately, "
        "and place the menu's block in the region the existing site uses.",
    ]
    checks = [
        f"The menu {_code(machine)} exists with label **{label}**"
        + (" and the description above" if description else ""),
        f"An editor can add, reorder and disable links at "
        f"{_code(f'/admin/structure/menu/manage/{machine}')}",
        "Where the existing site shows this menu, the new site shows it with the same links",
    ]
    return _Parts(
        title=f"Create the {label} menu ({entity.config_name})",
        user_story=user_story,
        what=what,
        data=data,
        checks=checks,
    )


_Builder = Callable[[InventoryEntity, _Site, tuple[InventoryEntity, ...]], _Parts]
_BUILDERS: dict[Kind, _Builder] = {
    Kind.BUNDLES: _bundle,
    Kind.FIELDS: _field,
    Kind.VIEWS: _view,
    Kind.WORKFLOWS: _workflow,
    Kind.ROLES: _role,
    Kind.IMAGE_STYLES: _image_style,
    Kind.MENUS: _menu,
}
