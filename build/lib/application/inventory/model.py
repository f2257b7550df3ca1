"""Value types of the inventory import: what comes in, what goes out, what goes wrong."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.errors import InvalidCommandError
from domain.inventory import InventoryEntity, Kind

_SUMMARY_PROBLEMS = 2

# Drupal config name prefixes, shared by the CSV reader (to derive a missing
# config_name) and the config export reader (to recognise the files).
BUNDLE_CONFIG_PREFIXES: dict[str, str] = {
    "node": "node.type",
    "paragraph": "paragraphs.paragraphs_type",
    "media": "media.type",
    "taxonomy_term": "taxonomy.vocabulary",
    "block_content": "block_content.type",
}
KIND_CONFIG_PREFIXES: dict[Kind, str] = {
    Kind.IMAGE_STYLES: "image.style",
    Kind.VIEWS: "views.view",
    Kind.WORKFLOWS: "workflows.workflow",
    Kind.ROLES: "user.role",
    Kind.MENUS: "system.menu",
}
FIELD_CONFIG_PREFIX = "field.field"


def kind_of_config_name(config_name: str) -> Kind | None:
    """The inventory kind a Drupal config name belongs to, if any."""
    prefix = config_name.rsplit(".", 1)[0]
    if prefix in BUNDLE_CONFIG_PREFIXES.values():
        return Kind.BUNDLES
    if config_name.startswith(FIELD_CONFIG_PREFIX + "."):
        return Kind.FIELDS
    for kind, kind_prefix in KIND_CONFIG_PREFIXES.items():
        if prefix == kind_prefix:
            return kind
    return None


@dataclass(frozen=True)
class UploadedFile:
    """One uploaded file: its name (a relative path for config exports) and its bytes."""

    name: str
    content: bytes


@dataclass(frozen=True)
class InventoryProblem:
    """One thing wrong with the input, located as precisely as the input allows.

    `row` is the 1-based line number in the file (the header is line 1) when the
    problem is about a row; `column` is the header name when it is about a column.
    """

    file: str
    row: int | None
    column: str | None
    message: str
    fix: str

    @property
    def location(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "message": self.message,
            "fix": self.fix,
        }

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class InventoryRejected(InvalidCommandError):
    """The upload was refused as a whole; `problems` lists every problem found.

    `detail` is a one-line summary naming the first problems; `recovery_actions`
    are the fixes, without repeats, in the order of the problems.
    """

    def __init__(self, problems: list[InventoryProblem]) -> None:
        if not problems:
            raise ValueError("InventoryRejected needs at least one problem")
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:_SUMMARY_PROBLEMS])
        more = len(self.problems) - _SUMMARY_PROBLEMS
        count = "1 problem" if len(self.problems) == 1 else f"{len(self.problems)} problems"
        detail = f"Inventory rejected, nothing was imported ({count}): {shown}"
        if more > 0:
            detail += f" (and {more} more)"
        fixes = list(dict.fromkeys(p.fix for p in self.problems if p.fix))
        super().__init__(detail, fixes)

    def to_dicts(self) -> list[dict[str, object]]:
        return [p.to_dict() for p in self.problems]


@dataclass(frozen=True)
class ParsedInventory:
    """A fully valid inventory.

    `files` has one entry per accepted CSV file, and per kind found in a config
    export: {"file_name": str, "kind": str (a Kind value), "rows": int}.
    `entities` are sorted by `domain.inventory.sort_key`.
    """

    files: list[dict[str, object]]
    entities: list[InventoryEntity]
    warnings: list[str] = field(default_factory=list)


@dataclass
class ParsedSource:
    """What one source (a CSV file, or one config export) yielded. Internal to the import.

    `kinds` maps each kind the source provides to its number of rows (a CSV file
    provides one kind, possibly with zero rows; a config export provides several).
    """

    name: str
    kinds: dict[Kind, int] = field(default_factory=dict)
    entities: list[InventoryEntity] = field(default_factory=list)
    problems: list[InventoryProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
