"""Revisions of the inventory end to end (issue 14, part A), on both backends.

NestWatch v1, then a revised copy of its CSV files (5 entities added, 10 changed, 3
removed; a person edited 2 of the changed entities' tickets): the revision's diff, the
process that drafts only the new entities and redrafts the 8 unedited changed ones, the
2 edited tickets flagged `source_changed` with their text kept (one redrafted, one
dismissed), the 3 removed entities' tickets obsolete and restored when they come back,
dependencies following the inventory, validation going stale, flags in the read models
and their filter, the audit trail and the session's state across revisions; and the
stage rules (409 while generation or an export runs; review goes on after an export).
"""

from __future__ import annotations

import csv
import io
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from infrastructure.jira_sandbox import SandboxServer
from tests.e2e.conftest import NESTWATCH_CSV, Api, assert_error, csv_files
from tests.integration.export.support import jira_env

ADDED = {
    "bundles.csv": [
        {
            "config_name": "node.type.feeder_survey",
            "entity_type": "node",
            "machine_name": "feeder_survey",
            "label": "Feeder survey",
            "description": "Seasonal counts at backyard feeders",
        }
    ],
    "fields.csv": [
        {
            "config_name": "field.field.node.feeder_survey.field_count",
            "entity_type": "node",
            "bundle": "feeder_survey",
            "field_name": "field_count",
            "label": "Count",
            "field_type": "integer",
            "required": "true",
            "cardinality": "1",
            "depends_on": "node.type.feeder_survey",
        },
        {
            "config_name": "field.field.node.feeder_survey.field_species",
            "entity_type": "node",
            "bundle": "feeder_survey",
            "field_name": "field_species",
            "label": "Species",
            "field_type": "entity_reference",
            "required": "false",
            "cardinality": "-1",
            "target": "node:bird",
            "depends_on": "node.type.feeder_survey; node.type.bird",
        },
    ],
    "roles.csv": [
        {
            "config_name": "user.role.surveyor",
            "machine_name": "surveyor",
            "label": "Surveyor",
            "is_admin": "false",
            "permissions": "create feeder_survey content",
        }
    ],
    "views.csv": [
        {
            "config_name": "views.view.feeder_surveys",
            "machine_name": "feeder_surveys",
            "label": "Feeder surveys",
            "description": "Recent feeder counts",
            "base_table": "node_field_data",
            "displays": "default(default); page_1(page: /feeders)",
            "depends_on": "node.type.feeder_survey",
        }
    ],
}
# config name -> column -> new value
CHANGED = {
    "node.type.bird": {"description": "Bird records, with banding data"},
    "node.type.capture": {"description": "Capture and banding events"},
    "node.type.foray": {"label": "Field foray"},
    "taxonomy.vocabulary.region": {"description": "Regions and their sub-regions"},
    "field.field.node.bird.field_bird_sex": {"required": "true"},
    "field.field.node.capture.body": {"label": "Capture notes"},
    "field.field.node.foray.field_foray_date_and_time": {"label": "Foray dates"},
    "views.view.birds": {
        "depends_on": "node.type.bird; taxonomy.vocabulary.band_colors; taxonomy.vocabulary.region"
    },
    "views.view.archive": {"description": "All content, by month and year."},
    "user.role.authenticated": {"permissions": "access content; search content; view media"},
}
REMOVED = ("system.menu.main", "image.style.social_media", "views.view.who_s_online")
# A person edits these two before the revision: they are flagged, not redrafted.
EDITED = ("node.type.bird", "views.view.birds")


def revised_nestwatch(directory: Path) -> Path:
    """A copy of the NestWatch CSV files with the revision above applied."""
    directory.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    for source in sorted(NESTWATCH_CSV.glob("*.csv")):
        with source.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or ())
            rows = [row for row in reader if row["config_name"] not in REMOVED]
        for row in rows:
            row.update(CHANGED.get(row["config_name"], {}))
            seen.add(row["config_name"])
        rows += [{c: new.get(c, "") for c in columns} for new in ADDED.get(source.name, [])]
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        (directory / source.name).write_text(out.getvalue(), encoding="utf-8")
    assert set(CHANGED) <= seen, set(CHANGED) - seen
    return directory


def url(session_id: str, rest: str = "") -> str:
    return f"/api/sessions/{session_id}{rest}"


def by_name(tickets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["config_name"]: t for t in tickets}


def flagged(api: Api, session_id: str, flag: str) -> set[str]:
    response = api.get(url(session_id, f"/tickets?flag={flag}"))
    assert response.status_code == 200, response.text
    return {t["config_name"] for t in response.json()["tickets"]}


def upload(api: Api, session_id: str, directory: Path) -> dict[str, Any]:
    response = api.post(url(session_id, "/files"), files=csv_files(directory))
    assert response.status_code == 201, response.text
    return dict(response.json())


def edit(api: Api, session_id: str, ticket: dict[str, Any], **changes: Any) -> dict[str, Any]:
    response = api.patch(
        url(session_id, f"/tickets/{ticket['id']}"),
        json=changes,
        headers={"If-Match": str(ticket["version"])},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def validate(api: Api, session_id: str) -> dict[str, Any]:
    response = api.post(url(session_id, "/adf-validation"), json={})
    assert response.status_code == 200, response.text
    return dict(response.json())


def ready_all(api: Api, session_id: str) -> None:
    response = api.post(url(session_id, "/tickets/ready"), json={"ready": True})
    assert response.status_code == 200, response.text


def test_a_revision_is_recorded_drafted_flagged_and_followed(api: Api, tmp_path: Path) -> None:
    session_id = api.create_session()["id"]
    first = upload(api, session_id, NESTWATCH_CSV)
    assert first["revision"]["recorded"] and first["revision"]["number"] == 1
    assert first["revision"]["added"] == 235
    api.process(session_id)
    v1 = by_name(api.tickets(session_id))
    assert len(v1) == 235
    for name in EDITED:
        edit(api, session_id, v1[name], analysis=f"A person's analysis of {name}.")
    assert validate(api, session_id)["all_passed"]
    before = api.session(session_id)
    assert before["validation"]["state"] == "passed" and before["revisions"] == 1

    answer = upload(api, session_id, revised_nestwatch(tmp_path / "v2"))

    # The revision: what it added, changed (old -> new) and removed.
    assert answer["revision"] == {
        "recorded": True,
        "number": 2,
        "added": 5,
        "changed": 10,
        "removed": 3,
        "detail": "Revision 2: 5 added, 10 changed, 3 removed",
    }
    session = answer["session"]
    assert session["stage"] == "uploaded"  # the next process has tickets to draft
    assert session["revisions"] == 2
    assert session["validation"]["state"] == "stale"
    listed = api.get(url(session_id, "/revisions"))
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(i["number"], i["added"], i["changed"], i["removed"]) for i in items] == [
        (1, 235, 0, 0),
        (2, 5, 10, 3),
    ]
    assert all(i["actor"] == "alice" and i["at"] for i in items)
    detail = api.get(url(session_id, "/revisions/2")).json()
    assert {e["config_name"] for e in detail["added"]} == {
        n["config_name"] for rows in ADDED.values() for n in rows
    }
    assert {e["config_name"] for e in detail["removed"]} == set(REMOVED)
    changes = {c["entity"]["config_name"]: c["changes"] for c in detail["changed"]}
    assert set(changes) == set(CHANGED)
    assert changes["node.type.foray"] == {"label": ["Foray", "Field foray"]}
    assert changes["views.view.birds"] == {
        "depends_on": [
            "node.type.bird; taxonomy.vocabulary.aou_codes; taxonomy.vocabulary.band_colors",
            CHANGED["views.view.birds"]["depends_on"],
        ]
    }
    removed_menu = next(e for e in detail["removed"] if e["config_name"] == "system.menu.main")
    assert removed_menu["label"] == "Main navigation" and removed_menu["group"] == "Navigation"
    assert_error(api.get(url(session_id, "/revisions/3")), 404, "no revision 3")

    # Before the process: removed -> obsolete (kept), edited -> flagged, others wait.
    assert flagged(api, session_id, "obsolete") == set(REMOVED)
    assert flagged(api, session_id, "source_changed") == set(EDITED)
    now = by_name(api.tickets(session_id))
    assert len(now) == 235
    assert sum(1 for t in now.values() if t["redraft_pending"]) == 8
    bird = now["node.type.bird"]
    assert bird["analysis"] == "A person's analysis of node.type.bird."
    assert bird["source_changes"] == {
        "description": ["For capturing Bird Data", CHANGED["node.type.bird"]["description"]]
    }
    menu = now["system.menu.main"]
    assert menu["flags"] == ["obsolete"] and menu["depends_on"] == []
    assert not any(menu["id"] in t["depends_on"] for t in now.values())
    assert set(session["flags"]["obsolete"]) == {now[n]["id"] for n in REMOVED}
    assert set(session["flags"]["source_changed"]) == {now[n]["id"] for n in EDITED}

    status = api.process(session_id)

    # Only the 5 added and the 8 unedited changed entities were drafted.
    assert (status["total"], status["generated"]) == (13, 13)
    v2 = by_name(api.tickets(session_id))
    assert len(v2) == 240
    redrafted = {n for n in CHANGED if n not in EDITED}
    for name, ticket in v2.items():
        if name in redrafted:
            assert ticket["version"] == v1[name]["version"] + 1, name
            assert not ticket["redraft_pending"] and ticket["flags"] == []
        elif name in EDITED:
            assert ticket["analysis"] == f"A person's analysis of {name}."
            assert ticket["flags"] == ["source_changed"]
        elif name in REMOVED:
            assert ticket["flags"] == ["obsolete"] and ticket["version"] == v1[name]["version"]
        elif name in v1:  # untouched, but for its links to removed entities
            gone = {v1[n]["id"] for n in REMOVED}
            assert ticket["depends_on"] == [d for d in v1[name]["depends_on"] if d not in gone]
            unchanged = {**v1[name], "validation": ticket["validation"]}
            assert ticket == {**unchanged, "depends_on": ticket["depends_on"]}, name
        else:
            assert ticket["version"] == 1 and ticket["user_order"] > 235
    assert v2["node.type.foray"]["title"] != v1["node.type.foray"]["title"]
    assert v2["node.type.foray"]["user_order"] == v1["node.type.foray"]["user_order"]

    # Dependencies follow the inventory.
    ids = {n: t["id"] for n, t in v2.items()}
    species = v2["field.field.node.feeder_survey.field_species"]
    assert set(species["depends_on"]) == {ids["node.type.feeder_survey"], ids["node.type.bird"]}
    birds_view = set(v2["views.view.birds"]["depends_on"])
    assert ids["taxonomy.vocabulary.region"] in birds_view
    assert ids["taxonomy.vocabulary.aou_codes"] not in birds_view
    session = api.session(session_id)
    assert session["stage"] == "review"
    assert session["counts"]["tickets"] == 240 and session["counts"]["obsolete"] == 3

    # Obsolete tickets need no ready mark or validation.
    ready_all(api, session_id)
    report = validate(api, session_id)
    assert report["tickets_tested"] == 237 and report["all_passed"]
    assert report["export_ready"] == {"ready": True, "blockers": []}

    # A flagged ticket: redrafted on request, or its flag dismissed.
    bird = v2["node.type.bird"]
    response = api.post(url(session_id, f"/tickets/{bird['id']}/redraft"))
    assert response.status_code == 202, response.text
    assert response.json()["task_id"]
    assert api.wait_processed(session_id)["total"] == 1
    redrafted_bird = by_name(api.tickets(session_id))["node.type.bird"]
    assert redrafted_bird["flags"] == [] and redrafted_bird["source_changes"] is None
    assert redrafted_bird["analysis"] != bird["analysis"]
    assert redrafted_bird["version"] == bird["version"] + 1
    assert api.session(session_id)["validation"]["state"] == "stale"
    view = v2["views.view.birds"]
    dismissed = api.delete(url(session_id, f"/tickets/{view['id']}/flags/source_changed"))
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["flags"] == [] and dismissed.json()["analysis"] == view["analysis"]
    again = api.delete(url(session_id, f"/tickets/{view['id']}/flags/source_changed"))
    assert_error(again, 404, "not flagged")
    assert flagged(api, session_id, "source_changed") == set()
    obsolete_id = v2["system.menu.main"]["id"]
    assert_error(api.post(url(session_id, f"/tickets/{obsolete_id}/redraft")), 409, "obsolete")

    # The first inventory again: the removed come back, the added go, the changed revert.
    back = upload(api, session_id, NESTWATCH_CSV)
    assert (back["revision"]["number"], back["revision"]["added"]) == (3, 3)
    assert (back["revision"]["changed"], back["revision"]["removed"]) == (10, 5)
    assert flagged(api, session_id, "obsolete") == {
        n["config_name"] for rows in ADDED.values() for n in rows
    }
    restored = by_name(api.tickets(session_id))
    assert restored["system.menu.main"]["flags"] == []
    assert set(restored["views.view.birds"]["depends_on"]) >= {ids["taxonomy.vocabulary.aou_codes"]}
    assert [i["number"] for i in api.get(url(session_id, "/revisions")).json()["items"]] == [
        1,
        2,
        3,
    ]


def test_the_audit_trail_and_past_states_show_revisions(api: Api, tmp_path: Path) -> None:
    session_id = api.create_session()["id"]
    upload(api, session_id, NESTWATCH_CSV)
    api.process(session_id)
    tickets = by_name(api.tickets(session_id))
    edit(api, session_id, tickets["node.type.bird"], title="Birds, as alice sees them")
    before_revision = api.session(session_id)["version"]

    upload(api, session_id, revised_nestwatch(tmp_path / "v2"))
    assert api.container.settle()

    response = api.get(
        url(session_id, "").replace("/api/sessions", "/api/admin/sessions")
        + "/events?limit=1000&type=InventoryRevised,TicketFlaggedSourceChanged,"
        "TicketMarkedObsolete,TicketRedraftRequested",
        user="root",
    )
    assert response.status_code == 200, response.text
    rows = response.json()["events"]
    kinds = [r["type"] for r in rows]
    assert kinds.count("InventoryRevised") == 2
    assert kinds.count("TicketMarkedObsolete") == 3
    assert kinds.count("TicketFlaggedSourceChanged") == 1
    assert kinds.count("TicketRedraftRequested") == 9
    assert all(r["actor"] == "alice" and r["timestamp"] for r in rows)
    revised = [r for r in rows if r["type"] == "InventoryRevised"][-1]["payload"]
    assert (revised["number"], len(revised["added"]), len(revised["removed"])) == (2, 5, 3)

    def state(version: int) -> dict[str, Any]:
        response = api.get(f"/api/admin/sessions/{session_id}/state?version={version}", user="root")
        assert response.status_code == 200, response.text
        return dict(response.json())

    old, new = state(before_revision), state(api.session(session_id)["version"])
    assert old["state"]["revision"] == 1 and new["state"]["revision"] == 2
    assert len(old["state"]["entities"]) == 235 and len(new["state"]["entities"]) == 237
    assert "system.menu.main" in old["state"]["entities"]
    assert "system.menu.main" in new["state"]["removed_entities"]
    assert {t["config_name"] for t in new["tickets"] if t["obsolete"]} == set(REMOVED)
    assert not any(t["obsolete"] for t in old["tickets"])


# --- stage rules ------------------------------------------------------------------------


def test_no_upload_while_generation_or_an_export_runs(
    api_with: Callable[..., Api], sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    api = api_with(start=False, **jira_env(sandbox_server))  # no worker: tasks stay queued
    small = tmp_path / "small"
    shutil.copytree(NESTWATCH_CSV, small)
    (small / "fields.csv").unlink()
    session_id = api.create_session(jira_project_key="DEMO")["id"]
    upload(api, session_id, small)
    started = api.post(url(session_id, "/process"))
    assert started.status_code == 202, started.text

    body = assert_error(api.post(url(session_id, "/files"), files=csv_files(NESTWATCH_CSV)), 409)
    assert "tickets are being generated" in body["detail"] and "processing" in body["detail"]
    assert body["recovery_actions"]

    task_id = started.json()["task_id"]
    assert api.container.generation.run(UUID(session_id), UUID(task_id)) == "completed"
    assert api.container.settle()
    ready_all(api, session_id)
    validate(api, session_id)
    exporting = api.post(url(session_id, "/export"))
    assert exporting.status_code == 202, exporting.text

    body = assert_error(api.post(url(session_id, "/files"), files=csv_files(NESTWATCH_CSV)), 409)
    assert "an export is running" in body["detail"] and "exporting" in body["detail"]
    assert api.session(session_id)["revisions"] == 1


EXPORT_TIMEOUT_S = 60.0


def wait_export(api: Api, session_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + EXPORT_TIMEOUT_S
    while True:
        response = api.get(url(session_id, "/export/status"))
        assert response.status_code == 200, response.text
        current = dict(response.json())
        if current["status"] in ("completed", "failed"):
            return current
        assert time.monotonic() < deadline, f"export still {current}"
        time.sleep(0.05)


@pytest.fixture
def xapi(api_with: Callable[..., Api], sandbox_server: SandboxServer) -> Api:
    return api_with(**jira_env(sandbox_server))


def test_review_goes_on_after_a_completed_export_and_a_revision_leads_back_to_it(
    xapi: Api, tmp_path: Path
) -> None:
    api = xapi
    small = tmp_path / "small"
    shutil.copytree(NESTWATCH_CSV, small)
    (small / "fields.csv").unlink()
    session_id = api.create_session(jira_project_key="DEMO")["id"]
    upload(api, session_id, small)
    api.process(session_id)
    ready_all(api, session_id)
    validate(api, session_id)
    assert api.post(url(session_id, "/export")).status_code == 202
    assert wait_export(api, session_id)["status"] == "completed"
    # the session's read model follows the exports' (one write, two projections)
    deadline = time.monotonic() + 10
    while api.session(session_id)["stage"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.session(session_id)["stage"] == "completed"
    tickets = by_name(api.tickets(session_id))

    # People keep working: the first change moves the session back to review.
    edited = edit(api, session_id, tickets["node.type.bird"], priority="High")
    assert edited["priority"] == "High"
    session = api.session(session_id)
    assert session["stage"] == "review"
    assert session["validation"]["state"] == "stale"
    validate(api, session_id)
    assert api.session(session_id)["export_ready"] is True

    # A revision after the export: process drafts what it added, then review again.
    shutil.copy(NESTWATCH_CSV / "fields.csv", small / "fields.csv")
    answer = upload(api, session_id, small)
    assert answer["revision"]["added"] == 147 and answer["session"]["stage"] == "uploaded"
    assert api.process(session_id)["total"] == 147
    session = api.session(session_id)
    assert session["stage"] == "review" and session["counts"]["tickets"] == 235
    assert by_name(api.tickets(session_id))["node.type.bird"]["priority"] == "High"
