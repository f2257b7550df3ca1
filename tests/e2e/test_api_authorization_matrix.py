"""The authorization matrix over every route of the app (PRODUCT.md, Interfaces):
401 without a valid token, 404 for another user's session, 403 for a route the
role may not use; the owner and an admin get past all three.

The routes come from `app.routes`, so a route added without a row here fails
`test_every_route_has_a_row`.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import fastapi.routing
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount, Route
from starlette.testclient import WebSocketDenialResponse

from tests.e2e.conftest import SMALL_SITE_CSV, Api, assert_error, csv_files

PUBLIC = "public"  # anyone, no token
USER = "user"  # any user with a valid token
SESSION = "session"  # the session's owner, or an admin; others get 404
ADMIN = "admin"  # admins only; other users get 403

S = "/api/sessions/{session_id}"
T = S + "/tickets/{ticket_id}"
A = "/api/admin"

MATRIX: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/"): PUBLIC,  # the review console's page
    ("GET", "/console/{path}"): PUBLIC,  # its static assets
    ("GET", "/api/me"): USER,
    ("POST", "/api/adf/preview"): USER,
    ("POST", "/api/sessions"): USER,
    ("GET", "/api/sessions"): USER,
    ("POST", "/api/jira/validate-project"): USER,
    ("GET", S): SESSION,
    ("PATCH", S): SESSION,
    ("POST", S + "/files"): SESSION,
    ("GET", S + "/entities"): SESSION,
    ("GET", S + "/revisions"): SESSION,
    ("GET", S + "/revisions/{number}"): SESSION,
    ("POST", T + "/redraft"): SESSION,
    ("DELETE", T + "/flags/source_changed"): SESSION,
    ("POST", S + "/process"): SESSION,
    ("POST", S + "/process/retry"): SESSION,
    ("POST", S + "/process/cancel"): SESSION,
    ("GET", S + "/process/status"): SESSION,
    ("GET", S + "/tickets"): SESSION,
    ("GET", T): SESSION,
    ("PATCH", T): SESSION,
    ("PUT", S + "/ticket-order"): SESSION,
    ("POST", T + "/dependencies"): SESSION,
    ("DELETE", T + "/dependencies/{depends_on}"): SESSION,
    ("POST", S + "/tickets/ready"): SESSION,
    ("POST", S + "/adf-validation"): SESSION,
    ("POST", S + "/export"): SESSION,
    ("GET", S + "/export/status"): SESSION,
    ("GET", S + "/export/plan"): SESSION,
    ("POST", S + "/export/retry"): SESSION,
    ("GET", S + "/export/manual-fixes"): SESSION,
    ("POST", S + "/export/manual-fixes/{fix_id}/resolve"): SESSION,
    ("GET", S + "/export/summary"): SESSION,
    ("POST", S + "/export/sync"): SESSION,
    ("GET", S + "/progress/stream"): SESSION,
    ("WS", S + "/progress/ws"): SESSION,
    ("GET", A + "/projections"): ADMIN,
    ("POST", A + "/projections/{name}/rebuild"): ADMIN,
    ("GET", A + "/sessions/{session_id}/events"): ADMIN,
    ("GET", A + "/sessions/{session_id}/state"): ADMIN,
    ("GET", A + "/exports/{export_id}/events"): ADMIN,
    ("GET", A + "/exports/{export_id}/state"): ADMIN,
    ("GET", A + "/activity"): ADMIN,
}

Reviewed = tuple[str, list[Any]]


def app_routes(api: Api) -> set[tuple[str, str]]:
    """(method, path) of every route, `WS` for a WebSocket, included routers flattened."""
    routes = api.client.app.routes  # type: ignore[attr-defined]
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)  # FastAPI >= 0.16x
    flat = (
        [(c.original_route, c.path, c.methods) for c in iterate(routes)]
        if iterate is not None
        else [(r, r.path, getattr(r, "methods", None)) for r in routes]
    )
    found: set[tuple[str, str]] = set()
    for route, path, methods in flat:
        if isinstance(route, APIWebSocketRoute):
            found.add(("WS", path))
        elif isinstance(route, Mount):  # static files: read-only
            found.add(("GET", path.rstrip("/") + "/{path}"))
        elif isinstance(route, APIRoute | Route):
            found.update((method, path) for method in methods or () if method != "HEAD")
        else:
            raise AssertionError(f"a route of an unknown type: {route!r}")
    return found


def test_every_route_has_a_row(api: Api) -> None:
    routes = app_routes(api)

    missing = sorted(routes - set(MATRIX))
    stale = sorted(set(MATRIX) - routes)
    assert not missing, f"routes without a row in MATRIX (who may call them?): {missing}"
    assert not stale, f"rows for routes the app no longer has: {stale}"


def _request_for(
    method: str, path: str, session_id: str, tickets: list[Any]
) -> tuple[str, dict[str, Any]]:
    """The URL with real ids, and a body a legitimate caller would send."""
    url = path.format(
        session_id=session_id,
        ticket_id=tickets[-1]["id"],
        depends_on=tickets[0]["id"],
        fix_id=uuid4(),
        export_id=uuid4(),
        number=1,
        name="audit",
        path="style.css",
    )
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/sessions"): {
            "json": {"name": "M", "site_context": {"site_name": "S"}, "jira_project_key": "MX"}
        },
        ("POST", "/api/jira/validate-project"): {"json": {"project_key": "NW"}},
        ("POST", "/api/adf/preview"): {"json": {"title": "A ticket"}},
        ("PATCH", S): {"json": {"epic_mode": "none"}},
        ("POST", S + "/files"): {"files": csv_files(SMALL_SITE_CSV)},
        ("PATCH", T): {"json": {"priority": "High"}, "headers": {"If-Match": '"1"'}},
        ("PUT", S + "/ticket-order"): {"json": {"ticket_ids": [t["id"] for t in tickets]}},
        ("POST", T + "/dependencies"): {"json": {"depends_on": tickets[0]["id"]}},
        ("POST", S + "/tickets/ready"): {"json": {"ready": True}},
        ("POST", S + "/adf-validation"): {"json": {}},
        ("POST", S + "/export/manual-fixes/{fix_id}/resolve"): {"json": {}},
    }
    return url, bodies.get((method, path), {})


def _call(api: Api, method: str, url: str, user: str | None, **kwargs: Any) -> tuple[int, Any]:
    """(status, JSON body or None); a WebSocket's refused handshake counts as its status."""
    headers = dict(kwargs.pop("headers", {}))
    if user is not None:
        headers.update(api.auth(user))
    if method == "WS":
        try:
            with api.client.websocket_connect(url, headers=headers):
                return 101, None
        except WebSocketDenialResponse as refused:
            return refused.status_code, refused.json()
    response = api.client.request(method, url, headers=headers, **kwargs)
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if response.status_code >= 400:
        assert_error(response, response.status_code)
    return response.status_code, response.json() if is_json else None


def _session_hidden(status: int, body: Any, session_id: str) -> bool:
    """The answer for a session that does not exist: another's is not even confirmed."""
    return status == 404 and body.get("detail") == f"Session {session_id} not found"


def test_the_matrix_holds_for_anonymous_strangers_owners_and_admins(
    api: Api, reviewed: Reviewed
) -> None:
    session_id, tickets = reviewed
    rows = sorted(app_routes(api))
    before = api.session(session_id)
    head = api.container.app.head_position()
    wrong: list[str] = []

    # Everything refused first: nothing of it may leave a trace.
    for method, path in rows:
        kind = MATRIX[(method, path)]
        url, kwargs = _request_for(method, path, session_id, tickets)
        if kind == PUBLIC:
            status, _ = _call(api, method, url, None, **kwargs)
            if status != 200:
                wrong.append(f"anonymous {method} {path}: {status}, expected 200")
            continue
        status, _ = _call(api, method, url, None, **kwargs)
        if status != 401:
            wrong.append(f"anonymous {method} {path}: {status}, expected 401")
        if kind == SESSION:
            status, body = _call(api, method, url, "bob", **kwargs)
            if not _session_hidden(status, body, session_id):
                wrong.append(f"another user {method} {path}: {status} {body}, expected 404")
        if kind == ADMIN:
            for user in ("alice", "bob"):
                status, _ = _call(api, method, url, user, **kwargs)
                if status != 403:
                    wrong.append(f"user {user} {method} {path}: {status}, expected 403")
    assert api.container.app.head_position() == head, "a refused request recorded events"
    assert api.session(session_id) == before

    # Then the owner and an admin: past authentication and authorization everywhere.
    for user in ("alice", "root"):
        for method, path in rows:
            kind = MATRIX[(method, path)]
            if kind == PUBLIC or (kind == ADMIN and user != "root"):
                continue
            url, kwargs = _request_for(method, path, session_id, tickets)
            status, body = _call(api, method, url, user, **kwargs)
            if status in (401, 403) or (body and _session_hidden(status, body, session_id)):
                wrong.append(f"{user} {method} {path}: refused with {status} {body}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer " + b"x" * 10_000,
        "Bearer \u00e9t\u00e9".encode(),
        b"bearer  spaced ",
        b"Bearer a b",
    ],
    ids=["long", "utf-8", "spaces", "two-words"],
)
def test_odd_bearer_tokens_are_401_not_500(api: Api, authorization: bytes) -> None:
    response = api.client.get("/api/sessions", headers={"Authorization": authorization})

    assert_error(response, 401)
