"""Authentication and ownership: 401 without a valid token, 404 for another user's session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import SMALL_SITE_CSV, Api, assert_error, csv_files


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6c2VjcmV0", "Bearer not-a-token", "tf_abc"],
    ids=["none", "empty", "scheme-only", "blank-token", "basic", "unknown-token", "no-scheme"],
)
def test_requests_without_a_valid_token_get_401(api: Api, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    for method, url in [
        ("GET", "/api/sessions"),
        ("POST", "/api/sessions"),
        ("GET", "/api/sessions/00000000-0000-0000-0000-000000000000"),
    ]:
        response = api.client.request(method, url, headers=headers, json={})
        body = assert_error(response, 401)
        assert response.headers.get("www-authenticate") == "Bearer"
        assert body["error_category"] == "user_fixable"
        assert body["recovery_actions"]


def test_a_token_of_a_user_works_and_names_the_owner(api: Api) -> None:
    session = api.create_session(user="bob")

    assert session["owner"] == "bob"
    assert session["updated_by"] == "bob"


def test_another_users_session_is_404_everywhere_and_unchanged(
    api: Api, reviewed: tuple[str, list[Any]]
) -> None:
    session_id, tickets = reviewed
    ticket = tickets[0]
    base = f"/api/sessions/{session_id}"
    before = api.session(session_id)
    attempts = [
        ("GET", base, {}),
        ("GET", f"{base}/entities", {}),
        ("GET", f"{base}/tickets", {}),
        ("GET", f"{base}/tickets/{ticket['id']}", {}),
        ("GET", f"{base}/process/status", {}),
        ("PATCH", f"{base}/tickets/{ticket['id']}", {"json": {"title": "Hijacked", "version": 1}}),
        ("POST", f"{base}/files", {"files": csv_files(SMALL_SITE_CSV)}),
        ("POST", f"{base}/process", {}),
        ("POST", f"{base}/process/retry", {}),
        ("POST", f"{base}/process/cancel", {}),
        ("POST", f"{base}/adf-validation", {"json": {}}),
        ("POST", f"{base}/tickets/ready", {"json": {"ready": True}}),
        ("PUT", f"{base}/ticket-order", {"json": {"ticket_ids": [t["id"] for t in tickets]}}),
        (
            "POST",
            f"{base}/tickets/{tickets[-1]['id']}/dependencies",
            {"json": {"depends_on": ticket["id"]}},
        ),
        ("DELETE", f"{base}/tickets/{ticket['id']}/dependencies/{tickets[-1]['id']}", {}),
    ]

    for method, url, kwargs in attempts:
        response = api.request(method, url, user="bob", **kwargs)
        assert_error(response, 404, session_id)

    after = api.session(session_id)
    assert after["version"] == before["version"]
    assert after["content_version"] == before["content_version"]
    assert api.get(f"{base}/tickets/{ticket['id']}").json()["title"] == ticket["title"]


def test_an_admin_sees_and_may_act_on_any_session(
    api: Api, reviewed: tuple[str, list[Any]]
) -> None:
    session_id, tickets = reviewed
    ticket = tickets[0]

    shown = api.session(session_id, user="root")
    assert shown["owner"] == "alice"
    assert len(api.tickets(session_id, user="root")) == len(tickets)

    response = api.patch(
        f"/api/sessions/{session_id}/tickets/{ticket['id']}",
        user="root",
        json={"priority": "High"},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    assert response.json()["updated_by"] == "root"
    assert (
        api.get(f"/api/sessions/{session_id}/tickets/{ticket['id']}").json()["priority"] == "High"
    )


def test_the_session_list_shows_only_the_callers_sessions(api: Api) -> None:
    alice_ids = {api.create_session(name=f"Alice {i}")["id"] for i in range(2)}
    bob_id = api.create_session(user="bob", name="Bob's")["id"]

    alice = api.get("/api/sessions").json()
    bob = api.get("/api/sessions", user="bob").json()
    root = api.get("/api/sessions", user="root").json()

    assert {s["id"] for s in alice["sessions"]} == alice_ids
    assert alice["total"] == 2
    assert {s["owner"] for s in alice["sessions"]} == {"alice"}
    assert [s["id"] for s in bob["sessions"]] == [bob_id]
    assert bob["total"] == 1
    assert {s["id"] for s in root["sessions"]} == alice_ids | {bob_id}
    assert root["total"] == 3


def test_an_unknown_session_is_404_for_its_would_be_owner_too(api: Api) -> None:
    response = api.get("/api/sessions/3f2504e0-4f89-11d3-9a0c-0305e82c3301")

    assert_error(response, 404, "3f2504e0-4f89-11d3-9a0c-0305e82c3301")
