"""A corpus of broken inventories, each sent through POST /api/sessions/{id}/files.

Every one is refused with a 4xx in the error shape that names the file and says what
is wrong, and nothing is half-imported: the session already holds the small site's
inventory, and its events, its document and its entities are exactly as before.

test_api_upload.py refuses the everyday mistakes on a fresh session (Latin-1, UTF-16
with a BOM, a missing column, a duplicate config_name, extra cells, a bad file beside
good ones, a corrupt zip, an empty CSV, over the size limit); this corpus is the
hostile and odd rest: other encodings, binary files, zip bombs and path traversal,
YAML alias bombs and deep nesting. The corpus is generated here (bombs are small to
build and large to open), so nothing large is kept in the repository.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import NESTWATCH_CONFIG, SMALL_SITE_CSV, Api, assert_error

Part = tuple[str, tuple[str, bytes, str]]

BUNDLES = (SMALL_SITE_CSV / "bundles.csv").read_bytes()
BUNDLES_TEXT = BUNDLES.decode("utf-8")
PAGE_TYPE = (NESTWATCH_CONFIG / "node.type.bird.yml").read_bytes()
GARBAGE = random.Random(8).randbytes(4096)


def part(name: str, content: bytes, media_type: str = "application/octet-stream") -> Part:
    return ("files", (name, content, media_type))


def zipped(*members: tuple[str, bytes] | zipfile.ZipInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            if isinstance(member, zipfile.ZipInfo):
                archive.writestr(member, data)
            else:
                archive.writestr(*member)
    return buffer.getvalue()


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o120777 << 16  # S_IFLNK
    return info


def billion_laughs(levels: int = 9, key: str = "name") -> bytes:
    """`lol9` is 9^9 strings when expanded; its text is under 1 KB."""
    lines = ['lol0: &lol0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 9) + "]")
    lines += ["type: bomb", f"{key}: *lol{levels}", f"description: *lol{levels}"]
    return "\n".join(lines).encode()


def merge_key_bomb(levels: int = 9) -> bytes:
    """Merge keys (`<<: [*a, *a, ...]`) are flattened while loading: 9^levels pairs."""
    lines = ["m0: &m0 {a: 1, b: 2}"]
    for i in range(1, levels + 1):
        lines.append(f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 9) + "]}")
    lines.append("type: bomb")
    return "\n".join(lines).encode()


# name: (parts, texts that the detail must contain)
CORPUS: dict[str, tuple[list[Part], list[str]]] = {
    # --- encodings -----------------------------------------------------------
    "utf8-bom-then-latin1": (
        [
            part(
                "bundles.csv",
                b"\xef\xbb\xbf" + BUNDLES_TEXT.replace("page", "p\u00e4ge").encode("latin-1"),
            )
        ],
        ["bundles.csv", "UTF-8"],
    ),
    "utf16-be-with-bom": (
        [part("bundles.csv", b"\xfe\xff" + BUNDLES_TEXT.encode("utf-16-be"))],
        ["bundles.csv", "UTF-16"],
    ),
    "utf16-le-without-bom": (
        [part("bundles.csv", BUNDLES_TEXT.encode("utf-16-le"))],
        ["bundles.csv", "NUL"],
    ),
    "utf32-be-with-bom": (
        [part("bundles.csv", BUNDLES_TEXT.encode("utf-32"))],
        ["bundles.csv"],
    ),
    "windows-1252-yaml": (
        [part("config/node.type.page.yml", "type: page\nname: Caf\u00e9\n".encode("cp1252"))],
        ["node.type.page.yml", "UTF-8"],
    ),
    "utf16-yaml": (
        [part("config/node.type.page.yml", "type: page\nname: Page\n".encode("utf-16"))],
        ["node.type.page.yml", "UTF-8"],
    ),
    "nul-byte-in-a-cell": (
        [part("bundles.csv", BUNDLES.replace(b"Basic page", b"Basic\x00page"))],
        ["bundles.csv", "NUL"],
    ),
    "nul-escape-in-yaml": (
        [part("config/node.type.page.yml", b'type: page\nname: "Pa\\0ge"\n')],
        ["node.type.page.yml", "NUL"],
    ),
    # --- columns and names ---------------------------------------------------
    "fields-without-field-name": (
        [
            part(
                "fields.csv",
                b"config_name,entity_type,bundle,label\nfield.field.node.page.body,node,page,Body\n",
            )
        ],
        ["fields.csv", "field_name"],
    ),
    "no-known-column": ([part("inventory.csv", b"foo,bar\n1,2\n")], ["inventory.csv"]),
    "a-column-twice": (
        [part("bundles.csv", b"config_name,machine_name,machine_name\nnode.type.a,a,a\n")],
        ["bundles.csv", "machine_name", "twice"],
    ),
    "duplicate-across-kinds": (
        [
            part("bundles.csv", BUNDLES),
            part("menus.csv", b"config_name,machine_name,label\nnode.type.page,page,Page\n"),
        ],
        ["Duplicate config_name", "node.type.page"],
    ),
    "a-csv-and-a-config-export-of-one-kind": (
        [part("bundles.csv", BUNDLES), part("config-sync/node.type.bird.yml", PAGE_TYPE)],
        ["Two sources of bundles"],
    ),
    "a-cell-over-the-csv-field-limit": (
        [
            part(
                "bundles.csv",
                b'config_name,machine_name,label\nnode.type.a,a,"' + b"x" * 200_000 + b'"\n',
            )
        ],
        ["bundles.csv", "field limit"],
    ),
    # --- empty and binary files --------------------------------------------
    "only-line-breaks": ([part("bundles.csv", b"\r\n\r\n\n")], ["bundles.csv", "empty"]),
    "empty-yaml": ([part("config/node.type.page.yml", b"")], ["node.type.page.yml"]),
    "yaml-that-is-a-list": (
        [part("config/node.type.page.yml", b"- a\n- b\n")],
        ["node.type.page.yml"],
    ),
    "empty-zip": ([part("inventory.zip", zipped())], ["inventory.zip", "no files"]),
    "zero-byte-zip": ([part("inventory.zip", b"")], ["inventory.zip", "not a valid zip"]),
    "binary-garbage-as-csv": ([part("bundles.csv", GARBAGE)], ["bundles.csv"]),
    "binary-garbage-as-yaml": (
        [part("config/node.type.page.yml", GARBAGE)],
        ["node.type.page.yml"],
    ),
    "binary-garbage-as-zip": ([part("inventory.zip", GARBAGE)], ["inventory.zip"]),
    "a-png-named-csv": ([part("bundles.csv", b"\x89PNG\r\n\x1a\n" + GARBAGE)], ["bundles.csv"]),
    "a-zip-without-inventory": (
        [part("inventory.zip", zipped(("README.txt", b"hello"), ("notes.md", b"# notes")))],
        ["inventory.zip"],
    ),
    # --- archives ------------------------------------------------------------
    "zip-bomb": (
        [part("inventory.zip", zipped(("bundles.csv", b"\0" * 5_000_000)))],
        ["zip bomb"],
    ),
    "zip-inside-a-zip": (
        [part("inventory.zip", zipped(("inner.zip", zipped(("bundles.csv", BUNDLES)))))],
        ["inner.zip", "zip inside a zip"],
    ),
    "zip-member-with-dot-dot": (
        [part("inventory.zip", zipped(("../../etc/bundles.csv", BUNDLES)))],
        ["../../etc/bundles.csv", "leaves the archive"],
    ),
    "zip-member-with-absolute-path": (
        [part("inventory.zip", zipped(("/etc/bundles.csv", BUNDLES)))],
        ["leaves the archive"],
    ),
    "zip-member-with-drive-letter": (
        [part("inventory.zip", zipped(("C:/temp/bundles.csv", BUNDLES)))],
        ["leaves the archive"],
    ),
    "zip-member-with-backslash-dot-dot": (
        [part("inventory.zip", zipped(("..\\..\\bundles.csv", BUNDLES)))],
        ["leaves the archive"],
    ),
    "zip-member-that-is-a-symlink": (
        [part("inventory.zip", zipped(symlink("bundles.csv"), data=b"/etc/passwd"))],
        ["symbolic link"],
    ),
    # --- YAML ----------------------------------------------------------------
    "yaml-billion-laughs": (
        [part("config/node.type.bomb.yml", billion_laughs())],
        ["node.type.bomb.yml", "billion laughs"],
    ),
    "yaml-billion-laughs-in-a-zip": (
        [part("config.zip", zipped(("config/node.type.bomb.yml", billion_laughs())))],
        ["node.type.bomb.yml", "billion laughs"],
    ),
    "yaml-merge-key-bomb": (
        [part("config/node.type.bomb.yml", merge_key_bomb())],
        ["node.type.bomb.yml", "billion laughs"],
    ),
    "yaml-deep-flow-nesting": (
        [
            part(
                "config/node.type.deep.yml", b"type: deep\nname: " + b"[" * 100_000 + b"]" * 100_000
            )
        ],
        ["node.type.deep.yml", "nests too deeply"],
    ),
    "yaml-deep-block-nesting": (
        [part("config/node.type.deep.yml", b"type: deep\nname:\n  " + b"- " * 100_000 + b"x\n")],
        ["node.type.deep.yml", "nests too deeply"],
    ),
    "yaml-python-object-tag": (
        [part("config/node.type.page.yml", b"type: !!python/object/apply:os.system ['id']\n")],
        ["node.type.page.yml", "does not parse"],
    ),
}


def _state(api: Api, session_id: str) -> tuple[int, dict[str, Any], list[Any]]:
    entities = api.get(f"/api/sessions/{session_id}/entities")
    assert entities.status_code == 200, entities.text
    return api.container.app.head_position(), api.session(session_id), entities.json()["entities"]


@pytest.fixture
def uploaded(api: Api) -> str:
    """A session that holds the small site's inventory (49 entities)."""
    session_id = api.create_session()["id"]
    api.upload(session_id, SMALL_SITE_CSV)
    return session_id


def test_every_broken_inventory_of_the_corpus_is_refused_whole(api: Api, uploaded: str) -> None:
    """One session for the whole corpus (a container per case would cost a minute):
    each case must leave it exactly as it was, so the next one starts from the same."""
    before = _state(api, uploaded)
    assert before[1]["counts"]["entities"] == 49
    failures: dict[str, str] = {}
    for case, (parts, texts) in CORPUS.items():
        response = api.post(f"/api/sessions/{uploaded}/files", files=parts)
        try:
            body = assert_error(response, 422, *texts, problems=True)
            assert body["error_category"] == "user_fixable"
            assert body["recovery_actions"]
            for problem in body["problems"]:
                assert problem["message"] and problem["fix"], problem
            assert "X-Event-Position" not in response.headers
            assert _state(api, uploaded) == before, "the session changed"
        except AssertionError as exc:
            failures[case] = str(exc)
    assert not failures, "\n".join(f"{case}: {why}" for case, why in failures.items())


def test_the_corpus_refused_all_at_once_names_every_file(api: Api, uploaded: str) -> None:
    """Each bad file of one request is reported, not only the first."""
    chosen = ["yaml-billion-laughs", "zip-bomb", "nul-byte-in-a-cell", "zip-member-with-dot-dot"]
    parts = [p for name in chosen for p in CORPUS[name][0]]
    before = _state(api, uploaded)

    response = api.post(f"/api/sessions/{uploaded}/files", files=parts)

    body = assert_error(response, 422, problems=True)
    files = " ".join(str(p["file"]) for p in body["problems"])
    for name in ("node.type.bomb.yml", "inventory.zip", "bundles.csv"):
        assert name in files, body["problems"]
    assert _state(api, uploaded) == before


def test_files_over_the_upload_limit_are_413_and_change_nothing(
    api_with: Callable[..., Api],
) -> None:
    api = api_with(TICKETFORGE_MAX_UPLOAD_BYTES=16_000)
    session_id = api.create_session()["id"]
    api.upload(session_id, SMALL_SITE_CSV)  # 6.8 KB
    before = _state(api, session_id)
    row = b"node.type.x%d,node,x%d,X,,\n"
    big = BUNDLES + b"".join(row % (i, i) for i in range(800))  # about 24 KB
    attempts = {
        "one file over the limit": [part("bundles.csv", big, "text/csv")],
        "two files that are over it together": [
            part("bundles.csv", big[:9_000], "text/csv"),
            part("fields.csv", big[:9_000], "text/csv"),
        ],
        "a zip over the limit": [
            part("inventory.zip", zipped(("bundles.csv", random.Random(9).randbytes(20_000))))
        ],
        "a body far over it, refused before it is read": [
            part("bundles.csv", b"x" * (1_100 * 1024 + 16_000), "text/csv")
        ],
    }

    for what, parts in attempts.items():
        response = api.post(f"/api/sessions/{session_id}/files", files=parts)
        body = assert_error(response, 413)
        assert body["error_category"] == "user_fixable", what
        assert body["recovery_actions"], what
        assert _state(api, session_id) == before, what


FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
]


def test_formula_like_cells_are_kept_as_text_through_export(
    api_with: Callable[..., Api], sandbox_server: Any
) -> None:
    """inventory-format.md: a cell that a spreadsheet would run as a formula is kept as
    text and never evaluated anywhere. We write no spreadsheet; what leaves us is Jira
    JSON, where the text must arrive verbatim as a plain string, not dropped or altered."""
    from tests.integration.export.support import Sandbox, jira_env

    api = api_with(**jira_env(sandbox_server))
    session_id = api.create_session(jira_project_key="DEMO")["id"]
    rows = "".join(
        f'system.menu.m{i},m{i},"{value.replace(chr(34), chr(34) * 2)}",'
        f'"{value.replace(chr(34), chr(34) * 2)}",\n'
        for i, value in enumerate(FORMULAS)
    )
    menus = ("config_name,machine_name,label,description,depends_on\n" + rows).encode()

    response = api.post(f"/api/sessions/{session_id}/files", files=[part("menus.csv", menus)])

    assert response.status_code == 201, response.text
    entities = api.get(f"/api/sessions/{session_id}/entities").json()["entities"]
    assert sorted(e["label"] for e in entities) == sorted(FORMULAS)
    api.process(session_id)
    assert api.post(f"/api/sessions/{session_id}/tickets/ready", json={}).status_code == 200
    validated = api.post(f"/api/sessions/{session_id}/adf-validation", json={})
    assert validated.status_code == 200 and validated.json()["all_passed"], validated.text
    started = api.post(f"/api/sessions/{session_id}/export")
    assert started.status_code == 202, started.text
    _wait_export(api, session_id)

    summary = api.get(f"/api/sessions/{session_id}/export/summary").json()
    sandbox = Sandbox(sandbox_server)
    try:
        issues = [
            sandbox.issue(row["jira_key"], "summary", "description")
            for row in summary["jira_tickets"]
        ]
    finally:
        sandbox.close()
    assert len(issues) == len(FORMULAS)
    texts = [_adf_text(issue["description"]) for issue in issues]
    for value in FORMULAS:
        assert sum(value in text for text in texts) == 1, (value, texts)
        assert all(isinstance(issue["summary"], str) for issue in issues)


def _adf_text(node: Any) -> str:
    """Every text node of an ADF document, joined."""
    if isinstance(node, dict):
        own = node.get("text", "") if node.get("type") == "text" else ""
        return own + " ".join(_adf_text(c) for c in node.get("content", []))
    return ""


def _wait_export(api: Api, session_id: str) -> None:
    import time

    deadline = time.monotonic() + 30
    while True:
        status = api.get(f"/api/sessions/{session_id}/export/status").json()
        if status["status"] in ("completed", "failed"):
            assert status["status"] == "completed", status
            return
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
