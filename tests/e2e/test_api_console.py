"""The console's server side: the page and its assets at `/` without shadowing any API
path, `GET /api/me`, and `POST /api/adf/preview` (the ADF a ticket's text becomes)."""

from __future__ import annotations

from application.adf import JIRA_DESCRIPTION_LIMIT, build_ticket_document
from tests.e2e.conftest import Api, assert_error


def test_the_console_is_served_at_the_root_with_its_assets(api: Api) -> None:
    page = api.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/console/js/app.js">' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset, kind in (("js/app.js", "javascript"), ("style.css", "text/css")):
        response = api.client.get(f"/console/{asset}")
        assert response.status_code == 200, asset
        assert kind in response.headers["content-type"]
    assert api.client.get("/console/../app.py").status_code == 404


def test_the_api_keeps_its_paths_and_error_shape(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/openapi.json").json()["info"]["title"] == "ticketforge"
    assert api.client.get("/docs").status_code == 200
    assert_error(api.get("/api/no-such-thing"), 404)
    assert_error(api.post("/api/no-such-thing"), 404)
    paths = api.client.get("/openapi.json").json()["paths"]
    assert "/" not in paths  # the page is not part of the API


def test_me_says_who_the_token_is_and_whether_they_are_admin(api: Api) -> None:
    assert api.get("/api/me").json() == {"name": "alice", "is_admin": False}
    assert api.get("/api/me", user="root").json() == {"name": "root", "is_admin": True}
    assert_error(api.client.get("/api/me"), 401)


def test_the_preview_is_the_document_the_export_sends(api: Api) -> None:
    text = {
        "config_name": "node.type.article",
        "title": "Build the Article type",
        "user_story": "As an editor I want **articles**.",
        "analysis": "- one\n- two",
        "verification": "Check [the docs](https://example.com).",
    }
    response = api.post("/api/adf/preview", json=text)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = build_ticket_document(*text.values())
    assert body["adf"] == expected.adf
    assert body["summary"] == "Build the Article type"
    assert body["status"] == "passed" and body["error_message"] is None
    assert body["attachment"] is None
    strong = [
        node
        for block in body["adf"]["content"]
        for node in block.get("content", [])
        if any(m["type"] == "strong" for m in node.get("marks", []))
    ]
    assert strong and strong[0]["text"] == "articles"


def test_the_preview_reports_the_check_failing_and_the_attachment(api: Api) -> None:
    long = "word " * (JIRA_DESCRIPTION_LIMIT // 2)
    body = api.post(
        "/api/adf/preview", json={"title": "x" * 300, "user_story": long, "config_name": "a.b"}
    ).json()
    assert body["status"] == "failed"
    assert "255" in body["error_message"]  # the summary is over Jira's limit
    assert body["suggested_fix"]
    assert body["attachment"] == "a.b-description.md"


def test_the_preview_needs_a_token_and_a_title(api: Api) -> None:
    assert_error(api.client.post("/api/adf/preview", json={"title": "t"}), 401)
    assert_error(api.post("/api/adf/preview", json={"user_story": "no title"}), 422)
    assert_error(api.post("/api/adf/preview", json={"title": "t", "analysis": 5}), 422)
