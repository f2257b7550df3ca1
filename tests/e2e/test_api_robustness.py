"""Bad input never gets a 500: garbage JSON, wrong types, non-UUID ids, huge values."""

from __future__ import annotations

import io
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from interfaces.api.app import create_app
from tests.e2e.conftest import Api, assert_error
from tests.support.postgres import free_port

Reviewed = tuple[str, list[Any]]
NOT_UUID = ["not-a-uuid", "1234", "00000000-0000-0000-0000-00000000000g", "%00", "x" * 300]
JSON = {"Content-Type": "application/json"}


def assert_clean(response: Any, label: str) -> None:
    """Below 500, and an error comes in the documented shape."""
    assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        assert_error(response, response.status_code)


GARBAGE_BODIES: list[bytes] = [
    b"",
    b"{",
    b"not json",
    b"\x00\xff\xfe",
    b"null",
    b"[]",
    b"1",
    b'"a string"',
    b'{"a": NaN}',
    b"[" * 50_000,
    b'{"name": ' + b"9" * 5_000 + b"}",
    b'{"name": "\\ud800", "site_context": {"site_name": "x"}, "jira_project_key": "NW"}',
]

WRONG_SESSION_BODIES: list[Any] = [
    {"name": 5, "site_context": {"site_name": "S"}, "jira_project_key": "NW"},
    {"name": ["a"], "site_context": {"site_name": "S"}, "jira_project_key": "NW"},
    {"name": "S", "site_context": "site", "jira_project_key": "NW"},
    {"name": "S", "site_context": {"site_name": 7}, "jira_project_key": "NW"},
    {"name": "S", "site_context": {"site_name": "S"}, "jira_project_key": 12},
    {
        "name": "S",
        "site_context": {"site_name": "S"},
        "jira_project_key": "NW",
        "default_labels": "a",
    },
    {
        "name": "S",
        "site_context": {"site_name": "S"},
        "jira_project_key": "NW",
        "default_labels": [1],
    },
    {"name": "S", "site_context": {"site_name": "S"}, "jira_project_key": "NW", "epic_key": 1},
    {"name": "x" * 1_000_000, "site_context": {"site_name": "S"}, "jira_project_key": "NW"},
    {
        "name": "S",
        "site_context": {"site_name": "S", "description": "d" * 100_000},
        "jira_project_key": "NW",
    },
]


def test_garbage_and_wrongly_typed_bodies_to_create_session(api: Api) -> None:
    for i, body in enumerate(GARBAGE_BODIES):
        assert_clean(api.post("/api/sessions", content=body, headers=JSON), f"garbage {i}")
    for i, body in enumerate(WRONG_SESSION_BODIES):
        assert_clean(api.post("/api/sessions", json=body), f"wrong types {i}")
    form = api.post("/api/sessions", data={"name": "S"})
    assert_clean(form, "form body")
    assert api.get("/api/sessions").json()["total"] == 0


def test_non_uuid_ids_in_paths(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    ticket_id = tickets[0]["id"]
    for bad in NOT_UUID:
        for method, path, kwargs in [
            ("GET", f"/api/sessions/{bad}", {}),
            ("GET", f"/api/sessions/{bad}/tickets", {}),
            ("POST", f"/api/sessions/{bad}/process", {}),
            ("GET", f"/api/sessions/{session_id}/tickets/{bad}", {}),
            ("PATCH", f"/api/sessions/{session_id}/tickets/{bad}", {"json": {"title": "t"}}),
            ("DELETE", f"/api/sessions/{session_id}/tickets/{ticket_id}/dependencies/{bad}", {}),
            ("POST", f"/api/sessions/{session_id}/tickets/{bad}/dependencies", {"json": {}}),
        ]:
            response = api.request(method, path, **kwargs)
            assert_clean(response, f"{method} {path[:80]}")
            assert response.status_code in (404, 405, 422), (path, response.text)


def test_wrongly_typed_review_bodies(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    base = f"/api/sessions/{session_id}"
    ticket = f"{base}/tickets/{tickets[0]['id']}"
    other = tickets[1]["id"]
    cases: list[tuple[str, str, Any]] = [
        ("PATCH", ticket, []),
        ("PATCH", ticket, {"title": 5, "version": 1}),
        ("PATCH", ticket, {"title": ["a"], "version": 1}),
        ("PATCH", ticket, {"labels": "a b", "version": 1}),
        ("PATCH", ticket, {"labels": [1, 2], "version": 1}),
        ("PATCH", ticket, {"labels": ["x" * 300], "version": 1}),
        ("PATCH", ticket, {"title": "t", "version": "one"}),
        ("PATCH", ticket, {"title": "t", "version": -1}),
        ("PATCH", ticket, {"title": "t", "version": 0}),
        ("PATCH", ticket, {"title": "t", "version": 1.5}),
        ("PATCH", ticket, {"title": "t", "version": 10**30}),
        ("PATCH", ticket, {"sprint": {"id": 1}, "version": 1}),
        ("PATCH", ticket, {"assignee": "a" * 100_000, "version": 1}),
        ("PUT", f"{base}/ticket-order", {}),
        ("PUT", f"{base}/ticket-order", {"ticket_ids": "all"}),
        ("PUT", f"{base}/ticket-order", {"ticket_ids": ["nope"]}),
        ("PUT", f"{base}/ticket-order", {"ticket_ids": [None]}),
        ("PUT", f"{base}/ticket-order", [other]),
        ("POST", f"{ticket}/dependencies", {}),
        ("POST", f"{ticket}/dependencies", {"depends_on": "nope"}),
        ("POST", f"{ticket}/dependencies", {"depends_on": [other]}),
        ("POST", f"{base}/tickets/ready", {"ready": "maybe"}),
        ("POST", f"{base}/tickets/ready", {"ticket_ids": "all"}),
        ("POST", f"{base}/tickets/ready", {"ticket_ids": ["3f2504e0-4f89-11d3-9a0c-0305e82c3301"]}),
        ("POST", f"{base}/adf-validation", {"ticket_ids": "all"}),
        ("POST", f"{base}/adf-validation", {"ticket_ids": [1]}),
        ("POST", f"{base}/adf-validation", []),
        ("POST", f"{base}/process", {"generator": 5}),
        ("POST", f"{base}/process", {"generator": "x" * 100_000}),
        ("POST", f"{base}/process", ["offline"]),
        ("POST", f"{base}/process/retry", {"generator": None, "extra": 1}),
    ]
    accepted = []
    for method, path, body in cases:
        response = api.request(method, path, json=body)
        assert_clean(response, f"{method} {path[-40:]} {str(body)[:60]}")
        if response.status_code < 300:
            accepted.append((method, path[-30:], str(body)[:60], response.status_code))
    for path in (ticket, f"{base}/ticket-order", f"{base}/adf-validation"):
        for body in GARBAGE_BODIES:
            method = "PATCH" if path == ticket else ("PUT" if path.endswith("order") else "POST")
            response = api.request(method, path, content=body, headers=JSON)
            assert_clean(response, f"{method} {path[-40:]} {body[:30]!r}")
    # The session survived all of it unchanged.
    assert accepted == [], accepted
    assert api.get(ticket).json()["version"] == 1
    assert api.session(session_id)["stage"] == "review"
    # Odd but well-typed values: accepted or refused, never a 500.
    for body in (
        {"labels": ["l"] * 10_000, "version": 1},
        {"title": "\u0000", "version": 2},
        {"analysis": "\u0000\u001f\ufffe" * 1000, "version": 3},
    ):
        assert_clean(api.patch(ticket, json=body), str(body)[:60])


@pytest.mark.parametrize(
    "if_match",
    ["abc", "*", "", " ", "1.0", "-1", "0x10", "1, 2", 'W/"x"', '"', "99999999999999999999"],
)
def test_odd_if_match_headers(api: Api, reviewed: Reviewed, if_match: str) -> None:
    session_id, tickets = reviewed
    path = f"/api/sessions/{session_id}/tickets/{tickets[0]['id']}"

    response = api.patch(path, json={"title": "t"}, headers={"If-Match": if_match})

    assert_clean(response, if_match)
    assert response.status_code in (400, 409, 428)
    assert api.get(path).json()["version"] == 1


def test_an_if_match_of_5000_digits_is_not_a_500(api: Api, reviewed: Reviewed) -> None:
    """Regression: str.isdigit() accepted what int() refuses (over 4300 digits) -> 500."""
    session_id, tickets = reviewed
    path = f"/api/sessions/{session_id}/tickets/{tickets[0]['id']}"

    response = api.patch(path, json={"title": "t"}, headers={"If-Match": "9" * 5_000})

    assert_error(response, 400, "If-Match")
    assert api.get(path).json()["version"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=abc",
        "offset=-1",
        "offset=abc",
        "min_position=-5",
        "min_position=abc",
        "limit=1e3",
        "offset=1.5",
    ],
)
def test_odd_list_queries(api: Api, query: str) -> None:
    response = api.get(f"/api/sessions?{query}")

    assert_clean(response, query)
    assert response.status_code == 422


@pytest.mark.parametrize("offset", [2**63, 10**30])
def test_a_huge_offset_is_not_a_500(api: Api, offset: int) -> None:
    """Regression: an offset past the database's integer range made the driver raise -> 500."""
    api.create_session()

    response = api.get(f"/api/sessions?offset={offset}")

    assert_error(response, 422, "offset")


def test_odd_uploads(api: Api) -> None:
    session_id = api.create_session()["id"]
    path = f"/api/sessions/{session_id}/files"
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w") as archive:
        archive.writestr("inner.zip", b"PK\x05\x06" + b"\x00" * 18)
    empty_zip = io.BytesIO()
    with zipfile.ZipFile(empty_zip, "w"):
        pass
    traversal = io.BytesIO()
    with zipfile.ZipFile(traversal, "w") as archive:
        archive.writestr("../../etc/bundles.csv", "config_name,entity_type\n")
    uploads: list[list[tuple[str, tuple[str, bytes, str]]]] = [
        [("files", ("", b"config_name\n", "text/csv"))],
        [("files", ("../../../etc/passwd.csv", b"root:x:0:0\n", "text/csv"))],
        [("files", ("bundles.csv", b"\x00" * 1000, "text/csv"))],
        [("files", ("bundles.csv", b"config_name,entity_type\n" + b'"' * 5000, "text/csv"))],
        [("files", ("bundles.csv", b"config_name\n" + b"a," * 20_000, "text/csv"))],
        [("files", ("x.zip", nested.getvalue(), "application/zip"))],
        [("files", ("x.zip", empty_zip.getvalue(), "application/zip"))],
        [("files", ("x.zip", traversal.getvalue(), "application/zip"))],
        [("files", ("views.view.a.yml", b"{{{: not yaml", "text/yaml"))],
        [("files", ("views.view.a.yml", b"- just\n- a list\n", "text/yaml"))],
        [("files", ("views.view.a.yml", b"!!python/object:os.system ls\n", "text/yaml"))],
        [("files", ("bundles.csv", ("x" * 10 + "\u2028" * 5).encode(), "text/csv"))],
    ]
    for i, files in enumerate(uploads):
        response = api.post(path, files=files)
        assert_clean(response, f"upload {i}")
        assert response.status_code != 201, f"upload {i} was accepted: {response.text[:300]}"
    for body in (b"", b"garbage", b"--boundary\r\n\r\n"):
        response = api.post(
            path, content=body, headers={"Content-Type": "multipart/form-data; boundary=boundary"}
        )
        assert_clean(response, f"raw multipart {body!r}")
    assert api.session(session_id)["stage"] == "setup"


# --- a real HTTP server, for bytes a test client cannot send ---------------------------


@pytest.fixture
def server(api: Api) -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        create_app(api.container), host="127.0.0.1", port=port, log_level="critical", lifespan="off"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        instance.should_exit = True
        thread.join(10)


def raw_http(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + b"\r\nConnection: close\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def test_a_superscript_digit_in_if_match_is_not_a_500(
    api: Api, reviewed: Reviewed, server: int
) -> None:
    """Regression: 'If-Match: \\xb2' (obs-text, read as '²') passed str.isdigit() but
    int('²') raised ValueError -> 500."""
    session_id, tickets = reviewed
    body = b'{"title": "t"}'
    head = (
        f"PATCH /api/sessions/{session_id}/tickets/{tickets[0]['id']} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {api.tokens['alice']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    ).encode() + b"If-Match: \xb2"

    status, answer = raw_http(server, head, body)

    assert status == 400, answer
    assert b"If-Match" in answer


def test_the_real_server_answers_a_normal_request(api: Api, server: int) -> None:
    head = (
        f"GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {api.tokens['alice']}"
    ).encode()

    status, body = raw_http(server, head)

    assert status == 200, body
