"""Reading one inventory CSV file (see docs: inventory-format.md) into entities.

Pure: bytes in, entities and problems out. The checks that need every file at
once (duplicate config names across files, two files of one kind, unknown
`depends_on` targets) are made by `parse.parse_inventory`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from application.inventory.model import (
    BUNDLE_CONFIG_PREFIXES,
    FIELD_CONFIG_PREFIX,
    KIND_CONFIG_PREFIXES,
    InventoryProblem,
    ParsedSource,
    kind_of_config_name,
)
from domain.inventory import KIND_COLUMNS, InventoryEntity, Kind

CONFIG_NAME = "config_name"
DEPENDS_ON = "depends_on"
DEPENDS_ON_SEPARATOR = ";"

# Columns without which a row cannot be identified (config_name can be derived from them).
REQUIRED_COLUMNS: dict[Kind, tuple[str, ...]] = {
    Kind.BUNDLES: ("machine_name",),
    Kind.FIELDS: ("entity_type", "bundle", "field_name"),
    Kind.IMAGE_STYLES: ("machine_name",),
    Kind.VIEWS: ("machine_name",),
    Kind.WORKFLOWS: ("machine_name",),
    Kind.ROLES: ("machine_name",),
    Kind.MENUS: ("machine_name",),
}

# Columns whose surrounding whitespace is meaningless (identifiers); every other
# cell is kept exactly as written.
_IDENTIFIER_COLUMNS = frozenset(
    {CONFIG_NAME, "entity_type", "machine_name", "bundle", "field_name"}
)

# File-name keywords, as token sequences of the normalised file stem.
_NAME_KEYWORDS: dict[Kind, tuple[tuple[str, ...], ...]] = {
    Kind.BUNDLES: (("bundles",), ("bundle",)),
    Kind.FIELDS: (("fields",), ("field",)),
    Kind.IMAGE_STYLES: (("image", "styles"), ("image", "style"), ("imagestyles",)),
    Kind.VIEWS: (("views",), ("view",)),
    Kind.WORKFLOWS: (("workflows",), ("workflow",)),
    Kind.ROLES: (("roles",), ("role",)),
    Kind.MENUS: (("menus",), ("menu",)),
}

_KNOWN_COLUMNS = frozenset(
    {CONFIG_NAME, DEPENDS_ON}.union(*(set(cols) for cols in KIND_COLUMNS.values()))
)

_SAVE_AS_UTF8 = (
    "Save the file as 'CSV UTF-8 (comma delimited)' (Excel) or with UTF-8 encoding, "
    "then upload it again"
)


def expected_columns(kind: Kind) -> tuple[str, ...]:
    """The full header of a kind's file, in the documented order."""
    return (CONFIG_NAME, *KIND_COLUMNS[kind], DEPENDS_ON)


def base_name(name: str) -> str:
    """The last path component of an uploaded name (`/` or `\\` separated)."""
    return PurePosixPath(name.replace("\\", "/")).name


def kinds_from_file_name(name: str) -> list[Kind]:
    """Every kind whose keyword appears in the file name (`UWEC_Bundles.csv` -> bundles).

    Keywords are matched as whole words of the lower-cased stem, where any run of
    non-alphanumeric characters separates words (`site-fields`, `image styles`);
    failing that, as a substring of the stem with separators removed (`SiteFields`).
    """
    stem = base_name(name).rsplit(".", 1)[0].lower()
    tokens = [t for t in re.split(r"[^a-z0-9]+", stem) if t]
    found: list[Kind] = []
    for kind, sequences in _NAME_KEYWORDS.items():
        for seq in sequences:
            n = len(seq)
            if any(tuple(tokens[i : i + n]) == seq for i in range(len(tokens) - n + 1)):
                found.append(kind)
                break
    if found:
        return found
    compact = "".join(tokens)
    return [kind for kind in Kind if kind.value.replace("_", "") in compact]


def kinds_from_header(columns: set[str], config_names: list[str]) -> list[Kind]:
    """The kinds a header fits best: all required columns present, most columns matched.

    When several kinds fit equally (`machine_name,label,description` is both a
    legacy bundles file and a menus file), the config names of the first rows
    decide if they all point at one of them.
    """
    scored: list[tuple[int, Kind]] = []
    for kind in Kind:
        if set(REQUIRED_COLUMNS[kind]) <= columns:
            scored.append((len(columns & set(KIND_COLUMNS[kind])), kind))
    if not scored:
        return []
    best = max(score for score, _ in scored)
    tied = [kind for score, kind in scored if score == best]
    if len(tied) > 1:
        named = {kind_of_config_name(name) for name in config_names if name}
        if len(named) == 1:
            (only,) = named
            if only in tied:
                return [only]
    return tied


def _normalise_column(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def derive_config_name(kind: Kind, attributes: dict[str, str]) -> str:
    """The Drupal config name of a row that has none (legacy files).

    The rule follows Drupal's own naming, so that a legacy CSV and a config export
    of the same site agree:

    - bundles: `<prefix>.<machine_name>` where the prefix comes from `entity_type`
      (node -> `node.type`, paragraph -> `paragraphs.paragraphs_type`, media ->
      `media.type`, taxonomy_term -> `taxonomy.vocabulary`, block_content ->
      `block_content.type`, any other entity type -> `<entity_type>.type`); a row
      without `entity_type` is a node type (`node.type.<machine_name>`);
    - fields: `field.field.<entity_type>.<bundle>.<field_name>`;
    - image_styles: `image.style.<machine_name>`; views: `views.view.<machine_name>`;
      workflows: `workflows.workflow.<machine_name>`; roles: `user.role.<machine_name>`;
      menus: `system.menu.<machine_name>`.
    """
    if kind is Kind.BUNDLES:
        entity_type = attributes.get("entity_type") or "node"
        prefix = BUNDLE_CONFIG_PREFIXES.get(entity_type, f"{entity_type}.type")
        return f"{prefix}.{attributes['machine_name']}"
    if kind is Kind.FIELDS:
        return ".".join(
            (
                FIELD_CONFIG_PREFIX,
                attributes["entity_type"],
                attributes["bundle"],
                attributes["field_name"],
            )
        )
    return f"{KIND_CONFIG_PREFIXES[kind]}.{attributes['machine_name']}"


def split_depends_on(value: str) -> list[str]:
    """`a; b;c` -> [a, b, c]: `;`-separated, surrounding spaces and repeats dropped."""
    names = (part.strip() for part in value.split(DEPENDS_ON_SEPARATOR))
    return list(dict.fromkeys(name for name in names if name))


class _BadCsv(Exception):
    def __init__(self, reason: str, line: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) for each CSV record; _BadCsv names the record's line."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous_end = 0
    try:
        for cells in reader:
            yield previous_end + 1, cells
            previous_end = reader.line_num
    except csv.Error as exc:
        raise _BadCsv(str(exc), previous_end + 1) from exc


def _decode(name: str, content: bytes) -> str | InventoryProblem:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return InventoryProblem(
            name,
            None,
            None,
            "The file is UTF-16 encoded (Excel's 'Unicode Text'), not UTF-8",
            _SAVE_AS_UTF8,
        )
    nul = content.find(b"\x00")
    if nul >= 0:
        line = content.count(b"\n", 0, nul) + 1
        return InventoryProblem(
            name,
            line,
            None,
            f"The file contains NUL bytes (the first at line {line}): it is not UTF-8 text "
            "but UTF-16/UTF-32 without a byte order mark, or a binary file",
            _SAVE_AS_UTF8,
        )
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        bad = content[exc.start : exc.start + 4].hex(" ")
        return InventoryProblem(
            name,
            line,
            None,
            f"The file is not UTF-8: byte(s) {bad} at line {line} are not valid UTF-8 "
            "(it was probably saved as Windows-1252 or Latin-1)",
            _SAVE_AS_UTF8,
        )


def _empty(name: str) -> InventoryProblem:
    return InventoryProblem(
        name,
        None,
        None,
        "The file is empty",
        "Export the inventory again, or remove this file from the upload",
    )


def parse_csv_file(name: str, content: bytes) -> ParsedSource:
    """Read one inventory CSV file. Problems are collected, never raised."""
    source = ParsedSource(name=name)
    text = _decode(name, content)
    if isinstance(text, InventoryProblem):
        source.problems.append(text)
        return source
    records = _records(text)
    try:
        header = _first_non_blank(records)
        rows = list(records)
    except _BadCsv as exc:
        source.problems.append(_csv_error(name, exc))
        return source
    if header is None:
        source.problems.append(_empty(name))
        return source
    header_line, header_cells = header
    _read_rows(source, header_line, header_cells, rows)
    return source


def _first_non_blank(records: Iterator[tuple[int, list[str]]]) -> tuple[int, list[str]] | None:
    for line, cells in records:
        if any(cell.strip() for cell in cells):
            return line, cells
    return None


def _csv_error(name: str, exc: _BadCsv) -> InventoryProblem:
    return InventoryProblem(
        name,
        exc.line,
        None,
        f"The file is not valid CSV from line {exc.line}: {exc.reason}",
        "Check the quoting from this line on: a cell that contains a comma, a quote or a "
        'line break must be enclosed in double quotes, with inner quotes doubled ("")',
    )


def _resolve_kind(
    source: ParsedSource, columns: set[str], rows: list[tuple[int, list[str]]], index: int | None
) -> Kind | None:
    name = source.name
    from_name = kinds_from_file_name(name)
    if len(from_name) == 1:
        return from_name[0]
    sample = [
        cells[index].strip() for _, cells in rows[:20] if index is not None and index < len(cells)
    ]
    from_header = kinds_from_header(columns, sample)
    if len(from_header) == 1:
        return from_header[0]
    keywords = ", ".join(k.value for k in Kind)
    if len(from_name) > 1:
        why = (
            "its name has the keywords of several kinds ("
            + ", ".join(k.value for k in from_name)
            + ")"
        )
    else:
        why = f"its name has none of the kind keywords ({keywords})"
    if from_header:
        why += (
            " and its header fits several kinds (" + ", ".join(k.value for k in from_header) + ")"
        )
    else:
        why += " and its header does not have the columns of any kind"
    source.problems.append(
        InventoryProblem(
            name,
            None,
            None,
            f"Unknown kind of inventory file: {why}",
            f"Rename the file after its kind (one of {keywords}; e.g. bundles.csv), "
            "or give it the header of its kind",
        )
    )
    return None


def _read_rows(
    source: ParsedSource,
    header_line: int,
    header_cells: list[str],
    rows: list[tuple[int, list[str]]],
) -> None:
    name = source.name
    columns = [_normalise_column(cell) for cell in header_cells]
    known = [c for c in columns if c in _KNOWN_COLUMNS]
    if not known:
        shown = ",".join(header_cells)[:80]
        from_name = kinds_from_file_name(name)
        example = (
            ",".join(expected_columns(from_name[0]))
            if len(from_name) == 1
            else (",".join(expected_columns(Kind.BUNDLES)))
        )
        source.problems.append(
            InventoryProblem(
                name,
                header_line,
                None,
                f"No header row: the first line ({shown!r}) has none of the expected column names",
                f"Add a header row as the first line, e.g. {example}",
            )
        )
        return

    seen: dict[str, int] = {}
    for position, column in enumerate(columns):
        if not column:
            continue
        if column in seen:
            source.problems.append(
                InventoryProblem(
                    name,
                    header_line,
                    column,
                    f"The header has the column {column!r} twice "
                    f"(columns {seen[column] + 1} and {position + 1})",
                    "Remove or rename one of the two columns",
                )
            )
        else:
            seen[column] = position
    if source.problems:
        return

    config_index = seen.get(CONFIG_NAME)
    kind = _resolve_kind(source, set(seen), rows, config_index)
    if kind is None:
        return
    source.kinds[kind] = 0

    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in seen]
    for column in missing:
        source.problems.append(
            InventoryProblem(
                name,
                header_line,
                column,
                f"Required column {column!r} is missing from this {kind.value} file",
                f"Add the column {column!r}; the {kind.value} columns are "
                + ", ".join(expected_columns(kind))
                + " (config_name and depends_on are optional)",
            )
        )
    if missing:
        return

    ignored = [c for c in seen if c not in (CONFIG_NAME, DEPENDS_ON, *KIND_COLUMNS[kind])]
    if ignored:
        source.warnings.append(
            f"{name}: column(s) {', '.join(ignored)} are not part of the {kind.value} "
            "format and were ignored"
        )
    _build_entities(source, kind, header_cells, seen, rows)


def _build_entities(
    source: ParsedSource,
    kind: Kind,
    header_cells: list[str],
    seen: dict[str, int],
    rows: list[tuple[int, list[str]]],
) -> None:
    name = source.name
    width = len(header_cells)
    kind_columns = KIND_COLUMNS[kind]
    positions = [(column, seen.get(column)) for column in kind_columns]
    config_index = seen.get(CONFIG_NAME)
    depends_index = seen.get(DEPENDS_ON)
    required = REQUIRED_COLUMNS[kind]
    label_fallback = "field_name" if kind is Kind.FIELDS else "machine_name"
    count = 0

    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue  # blank line, or a spreadsheet's empty row ",,,,"
        if len(cells) > width:
            source.problems.append(
                InventoryProblem(
                    name,
                    line,
                    None,
                    f"The row has {len(cells)} cells but the header has {width} columns",
                    "Enclose cells that contain a comma in double quotes, or remove the "
                    "extra cells",
                )
            )
            continue
        attributes: dict[str, str] = {}
        for column, index in positions:
            value = cells[index] if index is not None and index < len(cells) else ""
            attributes[column] = value.strip() if column in _IDENTIFIER_COLUMNS else value
        empty = [column for column in required if not attributes[column]]
        for column in empty:
            source.problems.append(
                InventoryProblem(
                    name,
                    line,
                    column,
                    f"The {column} cell is empty",
                    f"Fill in {column} for this row, or delete the row",
                )
            )
        if empty:
            continue
        config_name = ""
        if config_index is not None and config_index < len(cells):
            config_name = cells[config_index].strip()
        if kind is Kind.BUNDLES and not attributes["entity_type"]:
            attributes["entity_type"] = "node"
        if not config_name:
            config_name = derive_config_name(kind, attributes)
        depends_on: list[str] = []
        if depends_index is not None and depends_index < len(cells):
            depends_on = split_depends_on(cells[depends_index])
        if config_name in depends_on:
            depends_on.remove(config_name)
            source.warnings.append(
                f"{name} row {line}: {config_name} lists itself in depends_on; ignored"
            )
        label = attributes.get("label") or attributes[label_fallback] or config_name
        source.entities.append(
            InventoryEntity(
                config_name=config_name,
                kind=kind,
                label=label,
                attributes=attributes,
                depends_on=tuple(depends_on),
                source_file=name,
                source_row=line,
            )
        )
        count += 1
    source.kinds[kind] = count
    if count == 0 and not source.problems:
        source.warnings.append(f"{name}: the file has a header but no rows")
