"""Validation of ADF documents against the official schema bundled with this package.

Two validators, each compiled once. fastjsonschema decides validity: it compiles
the schema to Python and checks a typical ticket in about a millisecond, where
jsonschema needs tens. jsonschema, the reference Draft-4 implementation, explains a
document the fast check refused, and its verdict is the one returned: the fast
check is never laxer (it reads a pattern's `$` as end of string, which only
sends more documents to jsonschema).

The schema picks a node's definition with `anyOf` over dozens of alternatives, so a
raw jsonschema error reads "... is not valid under any of the given schemas". The
messages here follow the alternatives that match the node's `type` down to the
actual problem, or say which node types the position accepts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from importlib.resources import files
from typing import Any, cast

import fastjsonschema
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend, validator_for

SCHEMA_RESOURCE = "adf-schema-v1-full.json"
_MAX_MESSAGE = 300


@cache
def adf_schema() -> dict[str, Any]:
    """The official ADF JSON schema shipped as package data (loaded once)."""
    text = files(__package__ or "application.adf").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _fast_check() -> Callable[[Any], Any]:
    # use_default=False: validation must never write the schema's defaults into the document.
    return fastjsonschema.compile(
        adf_schema(), use_default=False, use_formats=False, detailed_exceptions=False
    )


@cache
def _validator() -> Validator:
    schema = adf_schema()
    # The schema declares draft-04; honour its $schema rather than assume.
    base = validator_for(schema, default=Draft4Validator)
    base.check_schema(schema)
    full_any_of = base.VALIDATORS["anyOf"]

    def any_of(
        validator: Any, alternatives: list[Any], instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        # The stock keyword collects every error of every alternative, and ADF nests
        # anyOf in each node's content: explaining one broken ticket took seconds.
        # Stopping each alternative at its first error finds the matching one cheaply;
        # a failing anyOf then reports exactly what the stock keyword reports.
        for alternative in alternatives:
            if next(iter(validator.descend(instance, alternative)), None) is None:
                return
        yield from full_any_of(validator, alternatives, instance, schema)

    validator_class = extend(base, validators={"anyOf": any_of})  # type: ignore[no-untyped-call]
    return cast(Validator, validator_class(schema))


def validate_adf(document: dict[str, Any]) -> list[str]:
    """Human-readable schema violations, each prefixed by its JSON path; [] when valid."""
    try:
        _fast_check()(document)
    except fastjsonschema.JsonSchemaException:
        return explain_adf(document)
    return []


def explain_adf(document: dict[str, Any]) -> list[str]:
    """The violations jsonschema finds, without the fast pre-check."""
    validator = _validator()
    # Shallowest first: a broken root explains the rest; otherwise document order.
    errors = sorted(validator.iter_errors(document), key=lambda e: len(e.path))
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
        what = f"node type {found!r}" if found is not None else _short(error.instance)
        text = f"{what} is not allowed here (allowed: {', '.join(allowed)})"
    else:
        text = error.message
    return f"{error.json_path}: {_short(text)}"


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _short(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
