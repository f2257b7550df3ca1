"""The OpenAPI document says what every route answers: a typed body for each success,
the error body for each documented error.

Built from the app alone (no database, no network): the routes' models are all the
document needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from interfaces.api.app import create_app
from interfaces.bootstrap import Container

JSON = "application/json"
EVENT_STREAM = "text/event-stream"
TYPED = ("type", "$ref", "anyOf", "allOf", "oneOf", "const", "enum")
ERROR_BODY = "#/components/schemas/ErrorBody"


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    stand_in = SimpleNamespace(settings=SimpleNamespace(max_upload_bytes=1024))
    return create_app(cast(Container, stand_in)).openapi()


def operations(openapi: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = openapi["components"]["schemas"][name]
    return schema


def answer_problems(openapi: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    """Why `schema` does not say what the answer holds (empty when it does)."""
    schema = resolve(openapi, schema)
    if schema.get("type") == "array":
        items = schema.get("items") or {}
        return [] if any(k in items for k in TYPED) else [f"{where}: array of untyped items"]
    properties = schema.get("properties")
    if schema.get("type") != "object" or not properties:
        return [f"{where}: not an object with properties: {schema}"]
    return [
        f"{where}.{name}: untyped"
        for name, field in properties.items()
        if not any(k in field for k in TYPED)
    ]


def test_every_success_answer_has_a_typed_schema(openapi: dict[str, Any]) -> None:
    problems: list[str] = []
    checked = 0
    for route, operation in operations(openapi):
        successes = {c: r for c, r in operation["responses"].items() if str(c).startswith("2")}
        if not successes:
            problems.append(f"{route}: no success answer documented")
        for status, response in successes.items():
            content = response.get("content") or {}
            where = f"{route} {status}"
            if EVENT_STREAM in content:
                checked += 1
                continue
            if JSON not in content or "schema" not in content[JSON]:
                problems.append(f"{where}: no JSON schema and no event stream: {content}")
                continue
            checked += 1
            problems += answer_problems(openapi, content[JSON]["schema"], where)
    assert not problems, "\n".join(problems)
    assert checked >= 30  # every route of the API, not an empty document


def test_the_event_stream_is_documented_with_its_media_type(openapi: dict[str, Any]) -> None:
    stream = openapi["paths"]["/api/sessions/{session_id}/progress/stream"]["get"]
    content = stream["responses"]["200"]["content"]
    assert list(content) == [EVENT_STREAM]
    assert content[EVENT_STREAM]["schema"]["type"] == "string"


def test_every_documented_error_has_the_error_body(openapi: dict[str, Any]) -> None:
    problems = []
    for route, operation in operations(openapi):
        for status, response in operation["responses"].items():
            if str(status)[0] not in "45" or route == "GET /readyz":  # readyz: its checks
                continue
            schema = (response.get("content") or {}).get(JSON, {}).get("schema", {})
            if schema.get("$ref") != ERROR_BODY:
                problems.append(f"{route} {status}: {schema}")
    assert not problems, "\n".join(problems)
    # FastAPI's own validation error shape is never answered (ours replaces it)
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


def test_routes_document_their_specific_errors(openapi: dict[str, Any]) -> None:
    session = openapi["paths"]["/api/sessions/{session_id}"]["get"]["responses"]
    assert {"401", "404"} <= set(session)
    edit = openapi["paths"]["/api/sessions/{session_id}/tickets/{ticket_id}"]["patch"]
    assert {"409", "428"} <= set(edit["responses"])
    admin = openapi["paths"]["/api/admin/projections"]["get"]["responses"]
    assert "403" in admin


def test_the_export_status_is_open_to_estimate_and_phases(openapi: dict[str, Any]) -> None:
    """Declared and optional: they pass through once the exports view emits them."""
    status = resolve(openapi, {"$ref": "#/components/schemas/ExportStatus"})
    assert {"estimate", "phases"} <= set(status["properties"])
    assert not {"estimate", "phases"} & set(status.get("required", []))
