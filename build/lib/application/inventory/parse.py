"""The inventory import: uploaded files in, a valid inventory (or every problem) out.

`parse_inventory` accepts any mix of inventory CSV files, the YAML files of a
Drupal config export (a whole config directory may be uploaded as many files)
and .zip archives holding either. It checks every file and collects every
problem before deciding: if there is any problem, `InventoryRejected` is raised
with all of them, and nothing is imported.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from application.inventory.archive import is_junk, is_zip_name, read_zip
from application.inventory.csv_files import parse_csv_file
from application.inventory.drupal_config import is_yaml_name, parse_config_export
from application.inventory.model import (
    InventoryProblem,
    InventoryRejected,
    ParsedInventory,
    ParsedSource,
    UploadedFile,
)
from domain.inventory import InventoryEntity, Kind, sort_key

MAX_FILE_BYTES = 10 * 1024 * 1024  # per file
UPLOAD = "(upload)"
LOOSE_EXPORT = "config export"

_ACCEPTED = "Upload inventory .csv files, the .yml files of a config export, or a .zip of either"


@dataclass
class _Upload:
    """The uploaded files, sorted by what they are."""

    csv_files: list[UploadedFile] = field(default_factory=list)
    # export name -> its YAML files; loose YAML uploads form one export, each zip another
    exports: dict[str, list[UploadedFile]] = field(default_factory=dict)
    problems: list[InventoryProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _too_big(name: str, size: int) -> InventoryProblem:
    return InventoryProblem(
        name,
        None,
        None,
        f"The file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,} bytes per file",
        "Split the inventory into smaller files, or remove what is not needed",
    )


def _loose_export_name(names: Sequence[str]) -> str:
    """The directory the YAML files share (`config-sync`), else `config export`."""
    folders = {posixpath.dirname(name.replace("\\", "/")) for name in names}
    try:
        common = posixpath.commonpath(list(folders)) if folders else ""
    except ValueError:  # absolute and relative names mixed
        common = ""
    return common or LOOSE_EXPORT


def _sort_files(group: Sequence[UploadedFile], export_name: str | None, upload: _Upload) -> None:
    """File one group (the loose uploads, or one zip's members) by type."""
    yaml_files = [f for f in group if is_yaml_name(f.name)]
    others: list[UploadedFile] = []
    for file in group:
        name = file.name.replace("\\", "/")
        if name.lower().endswith(".csv"):
            upload.csv_files.append(file)
        elif is_yaml_name(name):
            continue
        elif export_name is not None and is_zip_name(name):
            upload.problems.append(
                InventoryProblem(
                    file.name,
                    None,
                    None,
                    "A zip inside a zip is not read",
                    "Put the CSV or YAML files directly in the zip",
                )
            )
        elif not is_junk(name):
            others.append(file)
    if yaml_files:
        name = export_name or _loose_export_name([f.name for f in yaml_files])
        upload.exports.setdefault(name, []).extend(yaml_files)
    if others and yaml_files:
        # A config directory holds a README.txt and an .htaccess beside its YAML.
        upload.warnings.append(
            "Skipped file(s) that are neither CSV nor YAML: "
            + ", ".join(f.name for f in others[:5])
            + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        )
    elif others:
        for file in others:
            upload.problems.append(
                InventoryProblem(
                    file.name,
                    None,
                    None,
                    "Unsupported type of file: not .csv, .yml/.yaml or .zip",
                    _ACCEPTED,
                )
            )


def _sort_upload(files: Sequence[UploadedFile]) -> _Upload:
    upload = _Upload()
    loose: list[UploadedFile] = []
    for file in files:
        if len(file.content) > MAX_FILE_BYTES:
            upload.problems.append(_too_big(file.name, len(file.content)))
        elif is_zip_name(file.name):
            members, problems = read_zip(file.name, file.content, MAX_FILE_BYTES)
            upload.problems.extend(problems)
            if not members and not problems:
                upload.problems.append(
                    InventoryProblem(
                        file.name,
                        None,
                        None,
                        "The zip holds no files",
                        "Zip the inventory CSV files or the config export directory",
                    )
                )
            _sort_files(members, file.name, upload)
        else:
            loose.append(file)
    _sort_files(loose, None, upload)
    return upload


def _where(entity: InventoryEntity) -> str:
    if entity.source_row:
        return f"{entity.source_file} row {entity.source_row}"
    return entity.source_file


def _check_kinds(sources: list[ParsedSource]) -> tuple[list[InventoryProblem], set[Kind]]:
    """One source per kind: two bundles files (or a bundles file and a config export)
    in one upload would be two versions of the same thing. Also returns the kinds
    that clash."""
    problems: list[InventoryProblem] = []
    first: dict[Kind, str] = {}
    for source in sources:
        for kind in source.kinds:
            if kind in first:
                problems.append(
                    InventoryProblem(
                        source.name,
                        None,
                        None,
                        f"Two sources of {kind.value} in one upload: {first[kind]} and "
                        f"{source.name}",
                        f"Upload one {kind.value} file: merge the two, or leave one out",
                    )
                )
            else:
                first[kind] = source.name
    clashing = {kind for kind in first if sum(kind in s.kinds for s in sources) > 1}
    return problems, clashing


def _check_duplicates(sources: list[ParsedSource], clashing: set[Kind]) -> list[InventoryProblem]:
    """Every config_name once. Between two sources of a clashing kind the clash is
    the problem already reported, so their (expected) duplicates are not listed."""
    problems: list[InventoryProblem] = []
    seen: dict[str, tuple[ParsedSource, InventoryEntity]] = {}
    for source in sources:
        for entity in source.entities:
            if entity.config_name not in seen:
                seen[entity.config_name] = (source, entity)
                continue
            earlier_source, earlier = seen[entity.config_name]
            if (
                earlier_source is not source
                and entity.kind is earlier.kind
                and entity.kind in clashing
            ):
                continue
            problems.append(
                InventoryProblem(
                    entity.source_file,
                    entity.source_row or None,
                    "config_name",
                    f"Duplicate config_name {entity.config_name!r}: it is also at "
                    f"{_where(earlier)}",
                    "Keep one row per config_name: delete or rename one of the two",
                )
            )
    return problems


def _drop_unknown_dependencies(
    entities: list[InventoryEntity], warnings: list[str], known: Collection[str]
) -> list[InventoryEntity]:
    """References to names that are neither in the upload nor `known` (the session's
    inventory so far) are ignored, with a warning."""
    names = {entity.config_name for entity in entities} | set(known)
    result: list[InventoryEntity] = []
    for entity in entities:
        unknown = [name for name in entity.depends_on if name not in names]
        if unknown:
            warnings.append(
                f"{_where(entity)}: {entity.config_name} depends on "
                + ", ".join(unknown)
                + (", which is" if len(unknown) == 1 else ", which are")
                + " not in the inventory; ignored"
            )
            kept = tuple(name for name in entity.depends_on if name in names)
            result.append(dataclasses.replace(entity, depends_on=kept))
        else:
            result.append(entity)
    return result


def _check_nul(
    files: Sequence[UploadedFile], entities: Sequence[InventoryEntity]
) -> list[InventoryProblem]:
    """No NUL character (U+0000) in a name or a value: it is never meant as text (a
    YAML "\\0" escape, a binary file name), and PostgreSQL cannot store it in a read model."""
    fix = "Remove the NUL character; it usually comes from binary data pasted into the file"
    problems = [
        InventoryProblem(
            file.name.replace("\x00", "\ufffd"),
            None,
            None,
            "The file name contains a NUL character (U+0000)",
            "Rename the file",
        )
        for file in files
        if "\x00" in file.name
    ]
    for entity in entities:
        values = {
            "config_name": entity.config_name,
            "label": entity.label,
            **entity.attributes,
            "depends_on": "; ".join(entity.depends_on),
        }
        bad = [column for column, value in values.items() if "\x00" in value]
        if bad:
            problems.append(
                InventoryProblem(
                    entity.source_file.replace("\x00", "\ufffd"),
                    entity.source_row or None,
                    bad[0],
                    f"{', '.join(bad)} of {entity.config_name!r} contain(s) a NUL character "
                    "(U+0000), which is not text",
                    fix,
                )
            )
    return problems


def parse_inventory(files: Sequence[UploadedFile], known: Collection[str] = ()) -> ParsedInventory:
    """Parse and validate a whole upload; raise InventoryRejected listing every problem.

    `known`: the config names the session's inventory already has, so that an upload of
    some kinds keeps its references to entities of the others (a fields file naming the
    bundles uploaded before); a revision would otherwise see them all as changed.
    """
    if not files:
        raise InventoryRejected(
            [InventoryProblem(UPLOAD, None, None, "No file was uploaded", _ACCEPTED)]
        )
    upload = _sort_upload(files)
    problems = list(upload.problems)
    warnings = list(upload.warnings)

    sources = [parse_csv_file(file.name, file.content) for file in upload.csv_files]
    sources += [parse_config_export(name, yml) for name, yml in upload.exports.items()]
    entities: list[InventoryEntity] = []
    for source in sources:
        problems.extend(source.problems)
        warnings.extend(source.warnings)
        entities.extend(source.entities)
    problems.extend(_check_nul(files, entities))
    kind_problems, clashing = _check_kinds(sources)
    problems.extend(kind_problems)
    problems.extend(_check_duplicates(sources, clashing))
    if not problems and not any(source.kinds for source in sources):
        problems.append(
            InventoryProblem(
                UPLOAD,
                None,
                None,
                "The upload holds no inventory: no CSV file and no config of an "
                "inventory kind (node.type.*, field.field.*, views.view.* ...)",
                _ACCEPTED,
            )
        )
    if problems:
        raise InventoryRejected(problems)

    entities = _drop_unknown_dependencies(entities, warnings, known)
    entities.sort(key=sort_key)
    listed: list[dict[str, object]] = [
        {"file_name": source.name, "kind": kind.value, "rows": rows}
        for source in sources
        for kind, rows in sorted(source.kinds.items(), key=lambda item: list(Kind).index(item[0]))
    ]
    return ParsedInventory(files=listed, entities=entities, warnings=warnings)
