"""Opening an uploaded .zip (of CSV files, or of a config export) safely, in memory.

A zip is refused as a whole, before any member is read, when it holds a path
that could escape a directory (`..`, an absolute name), a symbolic link, an
encrypted member, more than MAX_MEMBERS members, more than MAX_TOTAL_BYTES
uncompressed, or a member that expands more than MAX_RATIO times (a zip bomb).
Member sizes are taken from the zip's directory and enforced again while reading,
so a zip that lies about them is refused too.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
import zlib

from application.inventory.model import InventoryProblem, UploadedFile

MAX_MEMBERS = 5_000
MAX_TOTAL_BYTES = 100 * 1024 * 1024
MAX_RATIO = 100
_CHUNK = 64 * 1024

_REMAKE_ZIP = (
    "Make a new zip of just the inventory files (or the config export directory) "
    "with your system's 'Compress' command, and upload that"
)


def is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")


def is_junk(member: str) -> bool:
    """Files that zip tools and operating systems add: `__MACOSX/`, `._x`, `.DS_Store`, dotfiles."""
    parts = member.split("/")
    return "__MACOSX" in parts or parts[-1].startswith(".")


def member_label(zip_name: str, member: str) -> str:
    """How a member is named in problems and on entities: `inventory.zip/bundles.csv`."""
    return f"{zip_name}/{member}"


def _unsafe_path(member: str) -> bool:
    if member.startswith("/") or re.match(r"^[A-Za-z]:", member):
        return True
    return ".." in member.split("/")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _check_members(
    zip_name: str, infos: list[zipfile.ZipInfo], max_file_bytes: int
) -> list[InventoryProblem]:
    problems: list[InventoryProblem] = []
    total = 0
    for info in infos:
        member = info.filename.replace("\\", "/")
        where = member_label(zip_name, member)
        if _unsafe_path(member):
            problems.append(
                InventoryProblem(
                    zip_name,
                    None,
                    None,
                    f"The zip member {member!r} has a path that leaves the archive "
                    "('..' or an absolute path); the zip is refused",
                    _REMAKE_ZIP,
                )
            )
            continue
        if _is_symlink(info):
            problems.append(
                InventoryProblem(
                    where,
                    None,
                    None,
                    "The zip member is a symbolic link; links are refused",
                    "Put the files themselves in the zip, not links to them",
                )
            )
            continue
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            problems.append(
                InventoryProblem(
                    where,
                    None,
                    None,
                    "The zip member is encrypted (password-protected)",
                    "Make the zip without a password",
                )
            )
            continue
        total += info.file_size
        if info.file_size > max_file_bytes:
            problems.append(
                InventoryProblem(
                    where,
                    None,
                    None,
                    f"The file is {info.file_size:,} bytes uncompressed; the limit is "
                    f"{max_file_bytes:,} bytes per file",
                    "Split the inventory into smaller files, or remove what is not needed",
                )
            )
        elif info.file_size > MAX_RATIO * info.compress_size:
            ratio = info.file_size / info.compress_size if info.compress_size else float("inf")
            problems.append(
                InventoryProblem(
                    where,
                    None,
                    None,
                    f"The zip member expands {ratio:,.0f} times ({info.compress_size:,} -> "
                    f"{info.file_size:,} bytes), over the {MAX_RATIO}:1 limit; this looks "
                    "like a zip bomb",
                    _REMAKE_ZIP,
                )
            )
    if total > MAX_TOTAL_BYTES:
        problems.append(
            InventoryProblem(
                zip_name,
                None,
                None,
                f"The zip expands to {total:,} bytes, over the limit of {MAX_TOTAL_BYTES:,}",
                "Zip only the inventory CSV files or the config export directory",
            )
        )
    return problems


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str
) -> tuple[bytes | None, InventoryProblem | None]:
    """The member's bytes, never more than it declared."""
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > info.file_size:
                    return None, InventoryProblem(
                        where,
                        None,
                        None,
                        "The zip member is larger than the zip says it is; the zip is refused",
                        _REMAKE_ZIP,
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError) as exc:
        return None, InventoryProblem(
            where,
            None,
            None,
            f"The zip member cannot be read: {exc}",
            _REMAKE_ZIP,
        )
    return b"".join(chunks), None


def read_zip(
    zip_name: str, content: bytes, max_file_bytes: int
) -> tuple[list[UploadedFile], list[InventoryProblem]]:
    """The zip's files (junk and directories left out), or the problems that refuse it.

    Members are named `<zip name>/<path in the zip>`.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        return [], [
            InventoryProblem(
                zip_name,
                None,
                None,
                f"The file is not a valid zip archive ({exc})",
                "Upload the zip again, or upload the CSV / YAML files themselves",
            )
        ]
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            return [], [
                InventoryProblem(
                    zip_name,
                    None,
                    None,
                    f"The zip holds {len(infos):,} members, over the limit of {MAX_MEMBERS:,}",
                    "Zip only the inventory CSV files or the config export directory",
                )
            ]
        problems = _check_members(zip_name, infos, max_file_bytes)
        if problems:
            return [], problems
        files: list[UploadedFile] = []
        for info in infos:
            member = info.filename.replace("\\", "/")
            if info.is_dir() or is_junk(member):
                continue
            where = member_label(zip_name, member)
            data, problem = _read_member(archive, info, where)
            if problem is not None:
                problems.append(problem)
            elif data is not None:
                files.append(UploadedFile(where, data))
    if problems:
        return [], problems
    return files, []
