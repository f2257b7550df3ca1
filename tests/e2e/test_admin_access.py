"""Admin endpoints: 401 without a token, 403 for a non-admin, and every action recorded."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.e2e.conftest import Api, assert_error

ADMIN_GETS = [
    "/api/admin/projections",
    "/api/admin/activity",
    "/api/admin/sessions/{sid}/events",
    "/api/admin/sessions/{sid}/state",
    "/api/admin/exports/{sid}/events",
    "/api/admin/exports/{sid}/state",
]


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_admin_reads_need_the_admin_role(api: Api, path: str) -> None:
    url = path.format(sid=uuid4())
    assert_error(api.client.get(url), 401)
    assert_error(api.get(url, user="alice"), 403, "admin")


def test_rebuild_needs_the_admin_role(api: Api) -> None:
    url = "/api/admin/projections/tickets/rebuild"
    assert_error(api.client.post(url), 401)
    assert_error(api.post(url, user="alice"), 403)


def test_every_admin_action_is_recorded(api: Api) -> None:
    session_id = api.create_session()["id"]
    assert api.get("/api/admin/projections", user="root").status_code == 200
    assert api.get(f"/api/admin/sessions/{session_id}/events", user="root").status_code == 200
    response = api.get(f"/api/admin/sessions/{session_id}/state?version=1", user="root")
    assert response.status_code == 200
    position = int(response.headers["X-Admin-Action-Position"])

    activity = api.get(f"/api/admin/activity?min_position={position}", user="root")
    assert activity.status_code == 200, activity.text
    actions = [
        (e["type"], e["actor"], e["payload"].get("action"), e["payload"].get("target"))
        for e in activity.json()["events"]
    ]
    assert ("ActionPerformed", "root", "list_projections", "projections") in actions
    assert ("ActionPerformed", "root", "view_session_events", session_id) in actions
    assert ("ActionPerformed", "root", "view_session_state", session_id) in actions
    state_action = next(
        e for e in activity.json()["events"] if e["payload"].get("action") == "view_session_state"
    )
    assert state_action["payload"]["parameters"] == {"version": 1}


def test_unknown_ids_are_404(api: Api) -> None:
    missing = uuid4()
    assert_error(api.get(f"/api/admin/sessions/{missing}/events", user="root"), 404)
    assert_error(api.get(f"/api/admin/sessions/{missing}/state", user="root"), 404)
    assert_error(api.get(f"/api/admin/exports/{missing}/events", user="root"), 404)
    assert_error(api.get(f"/api/admin/exports/{missing}/state", user="root"), 404)
    assert_error(api.post("/api/admin/projections/nope/rebuild", user="root"), 404, "nope")
