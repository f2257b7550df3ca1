"""Helpers for the Jira tests: the sandbox's control API, recording, the spec checker."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from infrastructure.jira import RetryPolicy
from infrastructure.jira_sandbox import LimitConfig

V2_SCHEMAS = Path(__file__).resolve().parents[3] / "specs" / "jira-datacenter-rest-v2.requests.json"
DEMO_EMAIL, DEMO_TOKEN = "demo@example.com", "demo-token"
VIEWER_EMAIL, VIEWER_TOKEN = "viewer@example.com", "viewer-token"
SPEC_PATH = Path(
    os.environ.get(
        "TICKETFORGE_JIRA_SPEC",
        Path(__file__).resolve().parents[3] / "specs" / "jira-cloud-platform-v3.openapi.json",
    )
)
# Short waits everywhere so the whole suite stays fast; behaviour is the same as with Jira's.
FAST_RETRY = RetryPolicy(max_attempts=5, initial_backoff=0.02, max_backoff=0.2, jitter=0.02)
SANDBOX_LIMITS = LimitConfig(retry_after_seconds=0.1)


def adf(*paragraphs: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": text}]}
            for text in paragraphs
        ],
    }


class SandboxAdmin:
    """The sandbox's own control API (`/_sandbox/...`)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()

    def faults(self, **changes: Any) -> dict[str, Any]:
        response = self.http.post("/_sandbox/faults", json=changes)
        response.raise_for_status()
        return dict(response.json())

    def limits(self, **changes: Any) -> dict[str, Any]:
        response = self.http.post("/_sandbox/limits", json=changes)
        response.raise_for_status()
        return dict(response.json())

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get("/_sandbox/stats").json())

    def requests(self, route: str) -> int:
        return int(self.stats()["requests"].get(route, 0))

    def status_count(self, status: int) -> int:
        return int(self.stats()["statuses"].get(str(status), 0))

    def work(self, key: str, **changes: Any) -> dict[str, Any]:
        response = self.http.patch(f"/_sandbox/issues/{key}", json=changes)
        response.raise_for_status()
        return dict(response.json())

    def close(self) -> None:
        self.http.close()


# -- conformance to the official OpenAPI description ------------------------------------


def _openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` is `type: [T, "null"]` (or anyOf null) in JSON Schema."""
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _openapi_to_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False) is True:
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
        else:
            converted = {"anyOf": [{"type": "null"}, converted]}
    return converted


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, list[str]]
    request_headers: httpx.Headers
    request_body: bytes
    status: int = 0
    response_body: bytes = b""
    response_type: str = ""

    def request_json(self) -> Any:
        return json.loads(self.request_body)

    def response_json(self) -> Any:
        return json.loads(self.response_body) if self.response_body else None


@dataclass
class Recorder:
    """httpx event hooks that keep every exchange; the requests still go to the sandbox."""

    exchanges: list[Exchange] = field(default_factory=list)

    def on_request(self, request: httpx.Request) -> None:
        body = request.read()
        query: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            query.setdefault(key, []).append(value)
        self.exchanges.append(
            Exchange(request.method, request.url.path, query, request.headers, body)
        )

    def on_response(self, response: httpx.Response) -> None:
        response.read()
        exchange = next(
            e
            for e in reversed(self.exchanges)
            if e.status == 0 and e.path == response.request.url.path
        )
        exchange.status = response.status_code
        exchange.response_body = response.content
        exchange.response_type = response.headers.get("content-type", "")

    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return {"request": [self.on_request], "response": [self.on_response]}


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    operation_id: str
    definition: dict[str, Any]


class SpecChecker:
    """Validates bodies against the request and response schemas of Jira's OpenAPI spec."""

    URI = "urn:jira-cloud-platform-v3"

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = _openapi_to_json_schema(spec)
        self.registry: Registry[Any] = Registry().with_resource(
            self.URI, DRAFT4.create_resource(self.spec)
        )
        self.operations: list[tuple[re.Pattern[str], Operation]] = []
        for template, item in self.spec["paths"].items():
            for method, definition in item.items():
                if method in ("get", "post", "put", "delete", "patch"):
                    pattern = re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$")
                    operation = Operation(
                        method.upper(), template, definition["operationId"], definition
                    )
                    self.operations.append((pattern, operation))
        # A literal path beats a template: /issue/bulk is not /issue/{issueIdOrKey}.
        self.operations.sort(key=lambda entry: entry[1].template.count("{"))

    def operation(self, method: str, path: str) -> Operation | None:
        for pattern, operation in self.operations:
            if operation.method == method and pattern.match(path):
                return operation
        return None

    def _validator(self, *pointer: str) -> Draft4Validator:
        return Draft4Validator(
            {"$ref": f"{self.URI}#/{_pointer(*pointer)}"}, registry=self.registry
        )

    def request_errors(self, operation: Operation, body: Any) -> list[str]:
        content = operation.definition.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            return [f"{operation.operation_id} takes no JSON body"]
        validator = self._validator(
            "paths", operation.template, operation.method.lower(), "requestBody", "content",
            "application/json", "schema",
        )  # fmt: skip
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]

    def response_schema_known(self, operation: Operation, status: int) -> bool:
        response = operation.definition.get("responses", {}).get(str(status), {})
        # `schema: {}` (linkIssues' 201) constrains nothing; Jira sends no body there.
        return bool(response.get("content", {}).get("application/json", {}).get("schema"))

    def response_errors(self, operation: Operation, status: int, body: Any) -> list[str]:
        validator = self._validator(
            "paths", operation.template, operation.method.lower(), "responses", str(status),
            "content", "application/json", "schema",
        )  # fmt: skip
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]

    def undeclared_query(self, operation: Operation, query: dict[str, list[str]]) -> set[str]:
        declared = {
            p["name"] for p in operation.definition.get("parameters", []) if p.get("in") == "query"
        }
        return set(query) - declared


def multipart_parts(exchange: Exchange) -> list[tuple[str | None, str | None, bytes]]:
    """(form field name, file name, content) of each part of a multipart request."""
    head = f"Content-Type: {exchange.request_headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + exchange.request_body)
    parts = []
    for part in message.iter_parts():
        params = dict(part.get_params(header="content-disposition") or [])
        payload = part.get_payload(decode=True)
        parts.append(
            (
                params.get("name"),
                part.get_filename(),
                payload if isinstance(payload, bytes) else b"",
            )
        )
    return parts


# -- Data Center REST v2: schemas built from cited examples (see the file) -------------


@dataclass(frozen=True)
class V2Operation:
    id: str
    method: str
    pattern: re.Pattern[str]
    definition: dict[str, Any]


class V2Checker:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.operations: list[V2Operation] = []
        for op in document["operations"]:
            pattern = re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", op["path"]) + "$")
            self.operations.append(V2Operation(op["id"], op["method"], pattern, op))
        # A literal path beats a template: /issue/bulk is not /issue/{issueIdOrKey}.
        self.operations.sort(key=lambda o: o.definition["path"].count("{"))

    def operation(self, method: str, path: str) -> V2Operation | None:
        return next(
            (o for o in self.operations if o.method == method and o.pattern.match(path)), None
        )

    def _errors(self, schema: dict[str, Any], body: Any) -> list[str]:
        validator = Draft4Validator({**schema, "definitions": self.document["definitions"]})
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]

    def request_errors(self, operation: V2Operation, body: Any) -> list[str]:
        schema = operation.definition.get("request")
        return (
            [f"{operation.id} takes no JSON body"] if schema is None else self._errors(schema, body)
        )

    def response_errors(self, operation: V2Operation, body: Any) -> list[str]:
        schema = operation.definition.get("response")
        return [] if schema is None else self._errors(schema, body)


def load_v2_checker() -> V2Checker:
    return V2Checker(json.loads(V2_SCHEMAS.read_text(encoding="utf-8")))
