"""Creating and reading sessions, and the health endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api, assert_error


def test_create_session_echoes_the_fields_in_stage_setup(api: Api) -> None:
    response = api.post(
        "/api/sessions",
        json={
            "name": "NestWatch rebuild",
            "site_context": {
                "site_name": "NestWatch",
                "description": "Nest monitoring",
                "audience": "Volunteers",
            },
            "jira_project_key": "NW_2",
            "issue_type": "Story",
            "default_labels": ["drupal", "migration"],
            "epic_key": "NW-12",
        },
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"/api/sessions/{body['id']}"
    assert int(response.headers["X-Event-Position"]) >= 1
    assert body["name"] == "NestWatch rebuild"
    assert body["site"] == {
        "site_name": "NestWatch",
        "description": "Nest monitoring",
        "audience": "Volunteers",
    }
    assert body["jira_project_key"] == "NW_2"
    assert body["issue_type"] == "Story"
    assert body["default_labels"] == ["drupal", "migration"]
    assert body["epic_key"] == "NW-12"
    assert body["owner"] == "alice"
    assert body["stage"] == "setup"
    assert body["counts"]["entities"] == 0
    assert body["counts"]["tickets"] == 0
    assert body["export_ready"] is False
    assert body["validation"]["state"] == "missing"
    assert api.session(body["id"]) == body


def test_create_session_defaults(api: Api) -> None:
    response = api.post(
        "/api/sessions",
        json={"name": "Minimal", "site_context": {"site_name": "S"}, "jira_project_key": "AB"},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["issue_type"] == "Task"
    assert body["default_labels"] == []
    assert body["epic_key"] is None
    assert body["site"] == {"site_name": "S", "description": "", "audience": ""}


VALID: dict[str, Any] = {
    "name": "S",
    "site_context": {"site_name": "S"},
    "jira_project_key": "NW",
}


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"jira_project_key": "nw"}, "body.jira_project_key"),
        ({"jira_project_key": "N"}, "body.jira_project_key"),
        ({"jira_project_key": "1NW"}, "body.jira_project_key"),
        ({"jira_project_key": "NW-1"}, "body.jira_project_key"),
        ({"jira_project_key": "ABCDEFGHIJK"}, "body.jira_project_key"),
        ({"name": ""}, "body.name"),
        ({"name": "x" * 201}, "body.name"),
        ({"site_context": {"site_name": ""}}, "body.site_context.site_name"),
        ({"site_context": None}, "body.site_context"),
        ({"epic_key": "NW12"}, "body.epic_key"),
        ({"issue_type": ""}, "body.issue_type"),
        ({"default_labels": [f"l{i}" for i in range(21)]}, "body.default_labels"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_invalid_session_bodies_are_422_with_problems(
    api: Api, change: dict[str, Any], location: str
) -> None:
    response = api.post("/api/sessions", json={**VALID, **change})

    body = assert_error(response, 422, location, problems=True)
    assert body["error_category"] == "user_fixable"
    assert location in {p["location"] for p in body["problems"]}
    assert api.get("/api/sessions").json()["total"] == 0


@pytest.mark.parametrize("missing", ["name", "site_context", "jira_project_key"])
def test_a_missing_required_field_is_422(api: Api, missing: str) -> None:
    body = {k: v for k, v in VALID.items() if k != missing}

    response = api.post("/api/sessions", json=body)

    problems = assert_error(response, 422, problems=True)["problems"]
    assert f"body.{missing}" in {p["location"] for p in problems}


@pytest.mark.parametrize("label", ["", "has space"])
def test_a_label_jira_cannot_take_is_422(api: Api, label: str) -> None:
    response = api.post("/api/sessions", json={**VALID, "default_labels": ["ok", label]})

    assert_error(response, 422, "labels")
    assert api.get("/api/sessions").json()["total"] == 0


def test_session_list_paginates(api: Api) -> None:
    ids = [api.create_session(name=f"S{i}")["id"] for i in range(3)]

    page = api.get("/api/sessions?limit=2&offset=0").json()
    rest = api.get("/api/sessions?limit=2&offset=2").json()

    assert page["total"] == rest["total"] == 3
    assert len(page["sessions"]) == 2
    assert len(rest["sessions"]) == 1
    assert {s["id"] for s in page["sessions"] + rest["sessions"]} == set(ids)


def test_healthz(api: Api) -> None:
    response = api.client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_its_checks(api: Api) -> None:
    api.create_session()

    response = api.client.get("/readyz")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True
    assert body["checks"]["event_store"]["ok"] is True
    assert body["checks"]["event_store"]["head"] >= 1
    assert body["checks"]["projections"]["ok"] is True
    assert {"sessions", "tickets", "work_queue"} <= set(body["checks"]["projections"]["lag"])


def test_a_session_written_by_another_process_a_moment_ago_is_found(api: Api) -> None:
    """Another API process created it; our read models have not seen it yet (no
    background projector here at all): the lookup catches up instead of a 404."""
    from application.users import User

    api.container.projector.stop()
    created = api.container.app.create_session(
        name="elsewhere",
        site={"site_name": "x"},
        jira_project_key="TF",
        issue_type="Task",
        user=User("alice"),
    )
    assert api.container.store.get("sessions", str(created.session_id)) is None
    assert api.session(str(created.session_id))["name"] == "elsewhere"
    assert_error(api.get(f"/api/sessions/{created.session_id}", user="bob"), 404, "not found")


def test_epic_mode_is_set_at_creation_changed_by_patch_and_refused_when_wrong(api: Api) -> None:
    base = {"name": "E", "site_context": {"site_name": "S"}, "jira_project_key": "NW"}
    created = api.post("/api/sessions", json={**base, "epic_mode": "per_group"})
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    assert created.json()["epic_mode"] == "per_group"
    assert api.session(session_id)["epic_mode"] == "per_group"
    legacy = api.post("/api/sessions", json={**base, "epic_key": "NW-3"})
    assert legacy.json()["epic_mode"] == "existing"  # an epic key alone: as before

    body = assert_error(api.post("/api/sessions", json={**base, "epic_mode": "per_theme"}), 422)
    assert "epic_mode" in body["detail"]
    body = assert_error(api.post("/api/sessions", json={**base, "epic_mode": "existing"}), 422)
    assert "epic_key" in body["detail"] and body["recovery_actions"]

    patched = api.patch(f"/api/sessions/{session_id}", json={"epic_mode": "none"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["epic_mode"] == "none"
    patched = api.patch(
        f"/api/sessions/{session_id}", json={"epic_mode": "existing", "epic_key": "NW-9"}
    )
    assert (patched.json()["epic_mode"], patched.json()["epic_key"]) == ("existing", "NW-9")
    assert_error(api.patch(f"/api/sessions/{session_id}", json={"epic_mode": "sometimes"}), 422)
    body = assert_error(
        api.patch(
            f"/api/sessions/{session_id}", json={"epic_mode": "per_group", "epic_key": "NW-9"}
        ),
        422,
    )
    assert "epic_key" in body["detail"]
    assert api.session(session_id)["epic_mode"] == "existing"  # nothing half-written
