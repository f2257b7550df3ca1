"""Shared fixtures: the official ADF schema, read from the spec, never from our package."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
from jsonschema import Draft4Validator

# The official schema as Atlassian publishes it, kept in the repository's specs/.
OFFICIAL_SCHEMA = Path(__file__).resolve().parents[3] / "specs" / "adf-schema-v1-full.json"


@pytest.fixture(scope="session")
def official_schema_path() -> Path:
    return OFFICIAL_SCHEMA


@pytest.fixture(scope="session")
def official_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(OFFICIAL_SCHEMA.read_text("utf-8"))
    return schema


@pytest.fixture(scope="session")
def official_validator(official_schema: dict[str, Any]) -> Draft4Validator:
    """Stock jsonschema Draft-4 validator on the official file: the independent oracle."""
    Draft4Validator.check_schema(official_schema)
    return Draft4Validator(official_schema)


@pytest.fixture(scope="session")
def assert_official(official_validator: Draft4Validator) -> Callable[[dict[str, Any]], None]:
    def check(document: dict[str, Any]) -> None:
        errors = [
            f"{e.json_path}: {e.message[:200]}" for e in official_validator.iter_errors(document)
        ]
        assert errors == [], f"not valid ADF: {errors}\n{json.dumps(document, indent=1)}"
        assert_editor_rules(document)

    return check


@pytest.fixture(scope="session")
def assert_official_fast(official_schema: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """For many documents: fastjsonschema compiled from the official file. It is never
    laxer than jsonschema, and fails in milliseconds where jsonschema takes seconds."""
    fast = fastjsonschema.compile(official_schema, use_default=False)

    def check(document: dict[str, Any]) -> None:
        try:
            fast(document)
        except fastjsonschema.JsonSchemaException as exc:
            pytest.fail(f"not valid ADF: {exc}\n{json.dumps(document)[:3000]}")
        assert_editor_rules(document)

    return check


@pytest.fixture(scope="session")
def nodes() -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    """Every node of a document, depth first (marks excluded)."""
    return lambda document: list(walk(document))


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.get("content", []):
            yield from walk(child)


def assert_editor_rules(document: dict[str, Any]) -> None:
    """Rules of Atlassian's editor that the JSON schema does not spell out."""
    every = list(walk(document))
    assert not [n for n in every if n.get("type") == "text" and not n.get("text")]
    for node in every:
        if node.get("type") == "listItem":
            assert node["content"][0]["type"] == "paragraph", node
