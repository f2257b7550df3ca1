"""Inventory upload: many CSVs at once, a config-export zip, bad files rejected whole, limits."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import (
    NESTWATCH_CONFIG,
    NESTWATCH_CSV,
    SMALL_SITE_CSV,
    Api,
    assert_error,
    csv_files,
)

NESTWATCH_GROUPS = {
    "Content": 167,
    "Taxonomy": 8,
    "Media": 21,
    "Access": 4,
    "Views": 26,
    "Workflow": 1,
    "Navigation": 8,
}
NESTWATCH_KINDS = {
    "bundles": 38,
    "fields": 147,
    "image_styles": 11,
    "menus": 8,
    "roles": 4,
    "views": 26,
    "workflows": 1,
}


def zip_of_config_sync() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(NESTWATCH_CONFIG.iterdir()):
            archive.write(path, f"config-sync/{path.name}")
    return buffer.getvalue()


def test_the_nestwatch_csvs_upload_in_one_request(api: Api) -> None:
    session_id = api.create_session()["id"]
    parts = csv_files(NESTWATCH_CSV)
    assert len(parts) == 7

    response = api.post(f"/api/sessions/{session_id}/files", files=parts)

    assert response.status_code == 201, response.text
    assert "X-Event-Position" in response.headers
    body = response.json()
    assert body["entities"] == 235
    assert body["warnings"] == []
    assert {f["kind"]: f["rows"] for f in body["files"]} == NESTWATCH_KINDS
    assert {f["file_name"] for f in body["files"]} == {p[1][0] for p in parts}
    session = body["session"]
    assert session["stage"] == "uploaded"
    assert session["counts"]["entities"] == 235
    assert session["counts"]["by_group"] == NESTWATCH_GROUPS
    assert session["counts"]["by_kind"] == NESTWATCH_KINDS
    assert api.session(session_id) == session

    entities = api.get(f"/api/sessions/{session_id}/entities")
    assert entities.status_code == 200, entities.text
    rows = entities.json()["entities"]
    assert entities.json()["total"] == len(rows) == 235
    assert len({r["config_name"] for r in rows}) == 235
    by_name = {r["config_name"]: r for r in rows}
    species = by_name["field.field.node.bird.field_bird_species"]
    assert species["group"] == "Content"
    assert species["kind"] == "fields"
    assert species["depends_on"] == ["node.type.bird", "taxonomy.vocabulary.aou_codes"]


def test_a_zip_of_the_config_export_gives_the_same_inventory(api: Api) -> None:
    session_id = api.create_session()["id"]

    response = api.post(
        f"/api/sessions/{session_id}/files",
        files=[("files", ("config-sync.zip", zip_of_config_sync(), "application/zip"))],
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["entities"] == 235
    assert {f["kind"]: f["rows"] for f in body["files"]} == NESTWATCH_KINDS
    assert body["session"]["counts"]["by_group"] == NESTWATCH_GROUPS
    assert any("skipped" in w for w in body["warnings"]), body["warnings"]


SMALL_BUNDLES = (SMALL_SITE_CSV / "bundles.csv").read_text("utf-8")
BUNDLE_LINES = SMALL_BUNDLES.splitlines()


def _bad(name: str, text: str | bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    content = text.encode("utf-8") if isinstance(text, str) else text
    return [("files", (name, content, "text/csv"))]


BAD_FILES: dict[str, tuple[list[Any], list[str], dict[str, Any]]] = {
    # name: (multipart parts, texts the detail must contain, a problem's expected fields)
    "not-utf8": (
        _bad(
            "bundles.csv",
            SMALL_BUNDLES.replace("Basic block", "Basic bl\u00f6ck").encode("latin-1"),
        ),
        ["bundles.csv", "UTF-8"],
        {"file": "bundles.csv"},
    ),
    "utf16": (
        _bad("bundles.csv", SMALL_BUNDLES.encode("utf-16")),
        ["bundles.csv", "UTF-8"],
        {"file": "bundles.csv"},
    ),
    "missing-column": (
        _bad(
            "bundles.csv",
            "config_name,entity_type,label,description,depends_on\n"
            "node.type.page,node,Basic page,,\n",
        ),
        ["bundles.csv", "machine_name"],
        {"file": "bundles.csv", "row": 1, "column": "machine_name"},
    ),
    "duplicate-config-name": (
        _bad("bundles.csv", "\n".join([*BUNDLE_LINES, BUNDLE_LINES[1]]) + "\n"),
        ["bundles.csv", f"row {len(BUNDLE_LINES) + 1}", "config_name", "block_content.type.basic"],
        {"file": "bundles.csv", "row": len(BUNDLE_LINES) + 1, "column": "config_name"},
    ),
    "extra-cells": (
        _bad("bundles.csv", "\n".join([*BUNDLE_LINES[:3], BUNDLE_LINES[3] + ",one,two"]) + "\n"),
        ["bundles.csv", "row 4"],
        {"file": "bundles.csv", "row": 4},
    ),
    "good-and-bad-together": (
        [*csv_files(SMALL_SITE_CSV)[1:], *_bad("bundles.csv", "garbage\n")],
        ["bundles.csv"],
        {"file": "bundles.csv", "row": 1},
    ),
    "not-an-inventory-file": (
        [("files", ("notes.txt", b"hello", "text/plain"))],
        ["notes.txt"],
        {"file": "notes.txt"},
    ),
    "corrupt-zip": (
        [("files", ("inventory.zip", b"PK\x03\x04 definitely not a zip", "application/zip"))],
        ["inventory.zip"],
        {"file": "inventory.zip"},
    ),
    "empty-csv": (_bad("bundles.csv", b""), ["bundles.csv"], {"file": "bundles.csv"}),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_rejected_whole_naming_the_place(api: Api, case: str) -> None:
    parts, expected_texts, expected_problem = BAD_FILES[case]
    session_id = api.create_session()["id"]
    before = api.session(session_id)
    head = api.container.app.head_position()

    response = api.post(f"/api/sessions/{session_id}/files", files=parts)

    body = assert_error(response, 422, *expected_texts, problems=True)
    assert body["error_category"] == "user_fixable"
    assert body["recovery_actions"]
    assert any(
        all(problem.get(k) == v for k, v in expected_problem.items())
        for problem in body["problems"]
    ), body["problems"]
    for problem in body["problems"]:
        assert {"file", "row", "column", "message", "fix"} <= set(problem)
    # Nothing half-imported: no event, same stage, no entity.
    assert api.container.app.head_position() == head
    after = api.session(session_id)
    assert after == before
    assert after["stage"] == "setup"
    assert after["counts"]["entities"] == 0
    assert api.get(f"/api/sessions/{session_id}/entities").json()["total"] == 0


def test_a_bad_reupload_keeps_the_previous_inventory(api: Api) -> None:
    session_id = api.create_session()["id"]
    api.upload(session_id, SMALL_SITE_CSV)
    before = api.session(session_id)

    response = api.post(
        f"/api/sessions/{session_id}/files",
        files=_bad("bundles.csv", "\n".join([*BUNDLE_LINES, BUNDLE_LINES[1]])),
    )

    assert_error(response, 422, "Duplicate config_name")
    assert api.session(session_id) == before
    assert api.get(f"/api/sessions/{session_id}/entities").json()["total"] == 49


def test_reuploading_a_kind_replaces_only_that_kind(api: Api) -> None:
    session_id = api.create_session()["id"]
    api.upload(session_id, SMALL_SITE_CSV)

    fewer = "\n".join(BUNDLE_LINES[:3]) + "\n"  # 2 of the 6 bundles
    fields_ok = [p for p in csv_files(SMALL_SITE_CSV) if p[1][0] == "fields.csv"]
    response = api.post(
        f"/api/sessions/{session_id}/files",
        files=[*_bad("bundles.csv", fewer), *fields_ok],
    )

    assert response.status_code == 201, response.text
    session = response.json()["session"]
    assert session["counts"]["by_kind"]["bundles"] == 2
    assert session["counts"]["by_kind"]["fields"] == 15
    assert session["counts"]["entities"] == 49 - 4
    rows = api.get(f"/api/sessions/{session_id}/entities").json()["entities"]
    assert len(rows) == 45
    assert sum(1 for r in rows if r["kind"] == "bundles") == 2


def test_an_upload_over_the_limit_is_413_and_imports_nothing(
    api_with: Callable[..., Api],
) -> None:
    api = api_with(TICKETFORGE_MAX_UPLOAD_BYTES=2_000)
    session_id = api.create_session()["id"]
    fields = [p for p in csv_files(SMALL_SITE_CSV) if p[1][0] == "fields.csv"]
    assert len(fields[0][1][1]) > 2_000

    response = api.post(f"/api/sessions/{session_id}/files", files=fields)

    body = assert_error(response, 413, "fields.csv")
    assert body["error_category"] == "user_fixable"
    assert body["recovery_actions"]
    session = api.session(session_id)
    assert session["stage"] == "setup"
    assert session["counts"]["entities"] == 0

    # Several small files that together pass the limit are refused too.
    small = [p for p in csv_files(SMALL_SITE_CSV) if len(p[1][1]) < 1_000]
    assert sum(len(p[1][1]) for p in small) > 2_000
    assert_error(api.post(f"/api/sessions/{session_id}/files", files=small), 413)

    # A file under the limit goes through.
    roles = [p for p in csv_files(SMALL_SITE_CSV) if p[1][0] == "roles.csv"]
    assert api.post(f"/api/sessions/{session_id}/files", files=roles).status_code == 201


def test_a_request_body_far_over_the_limit_is_refused_before_it_is_read(
    api_with: Callable[..., Api],
) -> None:
    api = api_with(TICKETFORGE_MAX_UPLOAD_BYTES=1_000)
    session_id = api.create_session()["id"]
    huge = b"config_name,label\n" + b"x" * (1_100 * 1024)

    response = api.post(f"/api/sessions/{session_id}/files", files=_bad("bundles.csv", huge))

    assert_error(response, 413, "over the limit")
    assert api.session(session_id)["counts"]["entities"] == 0


def test_no_file_at_all_is_422(api: Api) -> None:
    session_id = api.create_session()["id"]

    response = api.post(f"/api/sessions/{session_id}/files", data={"nothing": "here"})

    assert_error(response, 422, "files")


def test_an_upload_that_changes_nothing_records_nothing_and_says_so(
    api: Api, reviewed: tuple[str, list[Any]]
) -> None:
    session_id, _ = reviewed
    before = api.session(session_id)

    response = api.post(f"/api/sessions/{session_id}/files", files=csv_files(SMALL_SITE_CSV))

    assert response.status_code == 201, response.text
    assert "X-Event-Position" not in response.headers
    revision = response.json()["revision"]
    assert revision["recorded"] is False and revision["number"] == 1
    assert (revision["added"], revision["changed"], revision["removed"]) == (0, 0, 0)
    assert "nothing was recorded" in revision["detail"]
    assert api.session(session_id) == before


def test_files_and_entities_agree_after_reuploading_an_empty_kind(api: Api) -> None:
    session_id = api.create_session()["id"]
    api.upload(session_id, SMALL_SITE_CSV)
    fields = [p for p in csv_files(SMALL_SITE_CSV) if p[1][0] == "fields.csv"]

    response = api.post(
        f"/api/sessions/{session_id}/files",
        files=[*_bad("bundles.csv", BUNDLE_LINES[0] + "\n"), *fields],
    )

    assert response.status_code in (201, 422), response.text
    session = api.session(session_id)
    entities = api.get(f"/api/sessions/{session_id}/entities").json()["entities"]
    by_kind: dict[str, int] = {}
    for row in entities:
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + 1
    recorded = {kind: f["rows"] for kind, f in session["files"].items() if f["rows"]}
    assert recorded == by_kind
    assert session["counts"]["by_kind"] == by_kind
