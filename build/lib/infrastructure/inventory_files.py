"""Reading an inventory from disk into uploaded files, for `parse_inventory`.

A path may be a CSV file, a .yml file, a .zip (passed on whole: the parser opens
it), or a directory. A directory is read non-recursively plus one level, so both
`inventory/` (the CSV files) and a site folder holding `inventory/` or
`config-sync/` work; only .csv, .yml, .yaml and .zip files are taken, and
hidden files are left out. Files found in a directory are named relative to the
directory's parent (`config-sync/node.type.page.yml`), so that a config export
keeps its directory's name.
"""

from __future__ import annotations

from pathlib import Path

from application.inventory.model import InventoryProblem, InventoryRejected, UploadedFile

INVENTORY_SUFFIXES = (".csv", ".yml", ".yaml", ".zip")


def _wanted(path: Path) -> bool:
    return (
        path.is_file()
        and not path.name.startswith(".")
        and path.suffix.lower() in INVENTORY_SUFFIXES
    )


def _directory_files(directory: Path) -> list[Path]:
    found: list[Path] = []
    for child in sorted(directory.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            found.extend(sorted(p for p in child.iterdir() if _wanted(p)))
        elif _wanted(child):
            found.append(child)
    return found


def read_inventory_path(path: Path) -> list[UploadedFile]:
    """The files to import from `path`; InventoryRejected when there is nothing to read."""
    if not path.exists():
        raise InventoryRejected(
            [
                InventoryProblem(
                    str(path),
                    None,
                    None,
                    "No such file or directory",
                    "Give the path of an inventory CSV file, a directory of CSV files, a "
                    "config export directory (config/sync), or a .zip of either",
                )
            ]
        )
    if path.is_file():
        return [UploadedFile(path.name, path.read_bytes())]
    directory = path.resolve()
    files = _directory_files(directory)
    if not files:
        raise InventoryRejected(
            [
                InventoryProblem(
                    str(path),
                    None,
                    None,
                    "The directory holds no .csv, .yml or .zip file (nor do its subdirectories)",
                    "Point at the directory that holds the inventory CSV files or the "
                    "config export's .yml files",
                )
            ]
        )
    return [
        UploadedFile(file.relative_to(directory.parent).as_posix(), file.read_bytes())
        for file in files
    ]
