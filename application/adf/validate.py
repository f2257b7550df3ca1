"""Validation of ADF documents against the official schema bundled with this package.

The schema picks a node's definition with `anyOf` over dozens of alternatives, so a
raw jsonschema error reads "... is not valid under any of the given schemas". The
messages here follow the alternatives that match the node's `type` down to the
actual problem, or say which node types the position accepts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

SCHEMA_RESOURCE = "adf-schema-v1-full.json"
_MAX_MESSAGE = 300


@cache
def adf_schema() -> dict[str, Any]:
    """The official ADF JSON schema shipped as package data (loaded once)."""
    text = files(__package__ or "application.adf").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Validator:
    schema = adf_schema()
    # The schema declares draft-04; honour its $schema rather than assume.
    cls = validator_for(schema, default=Draft4Validator)
    cls.check_schema(schema)
    return cls(schema)


def validate_adf(document: dict[str, Any]) -> list[str]:
    """Human-readable schema violations, each prefixed by its JSON path; [] when valid."""
    validator = _validator()
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    messages: list[str] = []
    for error in errors:
        for leaf in _leaves(error):
            message = _describe(leaf)
            if message not in messages:
                messages.append(message)
    return messages


def _leaves(error: ValidationError) -> list[ValidationError]:
    """Follow `anyOf` into the alternatives whose node type matches the instance."""
    if error.validator != "anyOf" or not error.context:
        return [error]
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    matching = [errs for errs in branches.values() if not any(_wrong_type(e) for e in errs)]
    if not matching:
        return [error]
    closest = min(matching, key=len)
    return [leaf for sub in closest for leaf in _leaves(sub)]


def _wrong_type(error: ValidationError) -> bool:
    return error.validator == "enum" and list(error.relative_path) == ["type"]


def _describe(error: ValidationError) -> str:
    if error.validator == "anyOf" and error.context:
        allowed = _dedupe(
            str(value)
            for sub in error.context
            if _wrong_type(sub) and isinstance(sub.validator_value, list)
            for value in sub.validator_value
        )
        found = error.instance.get("type") if isinstance(error.instance, dict) else None
        what = f"node type {found!r}" if found is not None else f"{_short(error.instance)}"
        text = f"{what} is not allowed here (allowed: {', '.join(allowed)})"
    else:
        text = error.message
    return f"{error.json_path}: {_short(text)}"


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _short(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
