"""Zip uploads: both shapes of inventory work, and hostile archives are refused."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable

import pytest

from application.inventory import (
    InventoryProblem,
    InventoryRejected,
    UploadedFile,
    parse_inventory,
)
from application.inventory.archive import MAX_MEMBERS, MAX_RATIO, MAX_TOTAL_BYTES

MENUS = b"config_name,machine_name,label,description,depends_on\nsystem.menu.main,main,Main,,\n"
BUNDLES = (
    b"config_name,entity_type,machine_name,label,description,depends_on\n"
    b"node.type.page,node,page,Page,,system.menu.main\n"
)


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def patch_central_directory(content: bytes, patch: Callable[[str, bytearray], None]) -> bytes:
    """Rewrite each central directory entry in place: what a hand-made hostile zip does."""
    data = bytearray(content)
    end = data.rfind(b"PK\x05\x06")
    count, _, offset = struct.unpack("<HII", data[end + 10 : end + 20])
    position = offset
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack(
            "<HHH", data[position + 28 : position + 34]
        )
        name = data[position + 46 : position + 46 + name_len].decode()
        entry = bytearray(data[position : position + 46])
        patch(name, entry)
        data[position : position + 46] = entry
        position += 46 + name_len + extra_len + comment_len
    return bytes(data)


def upload(content: bytes, name: str = "inventory.zip") -> list[UploadedFile]:
    return [UploadedFile(name, content)]


def problems_of(files: list[UploadedFile]) -> list[InventoryProblem]:
    with pytest.raises(InventoryRejected) as caught:
        parse_inventory(files)
    return caught.value.problems


def test_a_zip_of_csv_files_in_a_top_folder_imports() -> None:
    content = make_zip(
        {
            "site/": b"",
            "site/menus.csv": MENUS,
            "site/bundles.csv": BUNDLES,
            "__MACOSX/site/._menus.csv": b"\x00\x05\x16\x07junk",
            "site/.DS_Store": b"\x00\x00junk",
        }
    )
    result = parse_inventory(upload(content))

    assert {e.config_name for e in result.entities} == {"node.type.page", "system.menu.main"}
    page = next(e for e in result.entities if e.config_name == "node.type.page")
    assert page.source_file == "inventory.zip/site/bundles.csv"
    assert page.source_row == 2
    assert page.depends_on == ("system.menu.main",)
    assert [f["file_name"] for f in result.files] == [
        "inventory.zip/site/menus.csv",
        "inventory.zip/site/bundles.csv",
    ]


def test_a_zip_of_a_config_export_imports_under_the_zip_name() -> None:
    content = make_zip(
        {
            "sync/system.menu.main.yml": b"id: main\nlabel: Main\ndescription: ''\n",
            "sync/.htaccess": b"Deny from all\n",
            "sync/README.txt": b"config\n",
        }
    )
    result = parse_inventory(upload(content, "config.zip"))

    assert [e.config_name for e in result.entities] == ["system.menu.main"]
    assert result.files == [{"file_name": "config.zip", "kind": "menus", "rows": 1}]


def test_problems_inside_a_zip_name_the_member() -> None:
    content = make_zip({"inv/menus.csv": MENUS + b"system.menu.x,,X,,\n"})
    (problem,) = problems_of(upload(content))

    assert (problem.file, problem.row, problem.column) == (
        "inventory.zip/inv/menus.csv",
        3,
        "machine_name",
    )


@pytest.mark.parametrize(
    "member", ["../menus.csv", "inv/../../menus.csv", "/etc/menus.csv", "C:/menus.csv"]
)
def test_a_member_path_that_leaves_the_archive_is_refused(member: str) -> None:
    content = make_zip({"bundles.csv": BUNDLES, member: MENUS})
    problems = problems_of(upload(content))

    assert len(problems) == 1
    assert problems[0].file == "inventory.zip"
    assert member in problems[0].message
    assert "leaves the archive" in problems[0].message


def test_a_backslash_traversal_is_refused_too() -> None:
    # zipfile writes "/" separators, so the name is patched in the raw bytes.
    content = make_zip({"xx/menus.csv": MENUS}).replace(b"xx/menus.csv", b"..\\menus.csv")
    (problem,) = problems_of(upload(content))

    assert "leaves the archive" in problem.message


def test_a_symbolic_link_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("menus.csv", MENUS)
        link = zipfile.ZipInfo("bundles.csv")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    (problem,) = problems_of(upload(buffer.getvalue()))

    assert problem.file == "inventory.zip/bundles.csv"
    assert "symbolic link" in problem.message


def test_an_encrypted_member_is_refused() -> None:
    def encrypt(name: str, entry: bytearray) -> None:
        if name == "menus.csv":
            flags = struct.unpack("<H", entry[8:10])[0] | 0x1
            entry[8:10] = struct.pack("<H", flags)

    content = patch_central_directory(make_zip({"menus.csv": MENUS}), encrypt)
    (problem,) = problems_of(upload(content))

    assert problem.file == "inventory.zip/menus.csv"
    assert "encrypted" in problem.message


def test_more_than_the_member_limit_is_refused() -> None:
    members = {f"m{i}.txt": b"" for i in range(MAX_MEMBERS + 1)}
    (problem,) = problems_of(upload(make_zip(members, zipfile.ZIP_STORED)))

    assert problem.file == "inventory.zip"
    assert f"{MAX_MEMBERS + 1:,} members" in problem.message


def test_a_member_that_expands_over_the_ratio_is_refused_as_a_bomb() -> None:
    bomb = b"config_name,machine_name,label\n" + b" " * (5 * 1024 * 1024)
    content = make_zip({"menus.csv": bomb})
    (problem,) = problems_of(upload(content))

    assert problem.file == "inventory.zip/menus.csv"
    assert "zip bomb" in problem.message
    assert f"{MAX_RATIO}:1" in problem.message


def test_a_zip_declaring_over_the_total_size_limit_is_refused_unread() -> None:
    # Eleven members of 100 kB of incompressible data, each declaring 9.6 MB: every
    # member is under the per-file and ratio limits, together they are over the total.
    chunk = bytes(range(256)) * 400
    members = {f"part{i}.csv": chunk for i in range(11)}
    declared = 9_600_000

    def inflate(name: str, entry: bytearray) -> None:
        entry[24:28] = struct.pack("<I", declared)

    content = patch_central_directory(make_zip(members, zipfile.ZIP_STORED), inflate)
    (problem,) = problems_of(upload(content))

    assert problem.file == "inventory.zip"
    assert f"{MAX_TOTAL_BYTES:,}" in problem.message
    assert f"{11 * declared:,}" in problem.message


def test_a_member_larger_than_it_declares_is_refused_when_read() -> None:
    def shrink(name: str, entry: bytearray) -> None:
        entry[24:28] = struct.pack("<I", 10)

    content = patch_central_directory(make_zip({"menus.csv": MENUS}, zipfile.ZIP_STORED), shrink)
    (problem,) = problems_of(upload(content))

    assert problem.file == "inventory.zip/menus.csv"
    assert "cannot be read" in problem.message or "larger than" in problem.message


def test_a_file_that_is_not_a_zip_is_refused() -> None:
    (problem,) = problems_of(upload(b"config_name,label\n"))

    assert problem.file == "inventory.zip"
    assert "not a valid zip" in problem.message


def test_an_empty_zip_is_refused() -> None:
    (problem,) = problems_of(upload(make_zip({"empty/": b""})))

    assert problem.file == "inventory.zip"
    assert "no files" in problem.message


def test_a_zip_inside_a_zip_is_refused() -> None:
    inner = make_zip({"menus.csv": MENUS})
    (problem,) = problems_of(upload(make_zip({"inner.zip": inner, "bundles.csv": BUNDLES})))

    assert problem.file == "inventory.zip/inner.zip"
