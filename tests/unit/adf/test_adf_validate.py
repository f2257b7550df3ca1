"""validate_adf: the bundled official schema, specific messages, agreement with stock jsonschema."""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from application.adf import adf_schema, markdown_to_adf, validate_adf
from application.adf.validate import SCHEMA_RESOURCE, explain_adf


def doc(*content: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "type": "doc", "content": list(content)}


def para(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def test_bundled_schema_is_the_official_one_byte_for_byte(official_schema_path: Path) -> None:
    bundled = files("application.adf").joinpath(SCHEMA_RESOURCE).read_bytes()
    assert bundled == official_schema_path.read_bytes()
    assert adf_schema() == json.loads(official_schema_path.read_text("utf-8"))
    assert adf_schema()["$schema"] == "http://json-schema.org/draft-04/schema#"


def test_a_valid_document_has_no_errors() -> None:
    assert validate_adf(doc(para({"type": "text", "text": "hello"}))) == []
    assert validate_adf(doc()) == []


def test_list_item_with_a_text_child_is_caught_with_its_path() -> None:
    broken = doc(
        {
            "type": "bulletList",
            "content": [{"type": "listItem", "content": [{"type": "text", "text": "x"}]}],
        }
    )
    errors = validate_adf(broken)
    assert len(errors) == 1
    assert errors[0].startswith(
        "$.content[0].content[0].content[0]: node type 'text' is not allowed"
    )
    assert "paragraph" in errors[0]  # names what would be allowed


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            doc(para({"type": "text", "text": ""})),
            "$.content[0].content[0].text: '' should be non-empty",
        ),
        (
            doc(
                para({"type": "text", "text": "a", "marks": [{"type": "code"}, {"type": "strong"}]})
            ),
            "$.content[0].content[0].marks[",
        ),
        (doc({"type": "heading", "content": []}), "$.content[0]: 'attrs' is a required property"),
        (
            doc({"type": "heading", "attrs": {"level": 7}, "content": []}),
            "$.content[0].attrs.level: 7 is greater than the maximum of 6",
        ),
        (
            doc(
                {
                    "type": "codeBlock",
                    "content": [{"type": "text", "text": "x", "marks": [{"type": "em"}]}],
                }
            ),
            "$.content[0].content[0].marks",
        ),
        (doc({"type": "bulletList", "content": []}), "$.content[0].content: [] "),
        (
            doc(
                {
                    "type": "table",
                    "content": [
                        {"type": "tableRow", "content": [{"type": "tableCell", "content": []}]}
                    ],
                }
            ),
            "$.content[0].content[0].content[0].content: [] ",
        ),
        (doc({"type": "media"}), "$.content[0]: node type 'media' is not allowed here"),
        ({"version": 2, "type": "doc", "content": []}, "$.version: 2 is not one of [1]"),
        ({"type": "doc", "content": []}, "$: 'version' is a required property"),
        ({"version": 1, "type": "doc", "content": [], "extra": 1}, "$: Additional properties"),
    ],
)
def test_schema_violations_are_reported_with_their_path(
    document: dict[str, Any], expected: str
) -> None:
    errors = validate_adf(document)
    assert errors, "the broken document passed"
    assert any(error.startswith(expected) for error in errors), errors


def test_messages_stay_short_for_huge_instances() -> None:
    errors = validate_adf(doc({"type": "nope", "text": "x" * 10_000}))
    assert errors and all(len(error) < 400 for error in errors)


def test_validation_does_not_modify_the_document() -> None:
    document = markdown_to_adf("# T\n\n| a |\n|---|\n| 1 |\n\n- x\n\n```py\ny\n```\n")
    document["content"].append({"type": "text", "text": ""})
    before = copy.deepcopy(document)
    assert validate_adf(document)
    assert document == before


def test_the_fast_check_agrees_with_stock_jsonschema_on_a_corpus(
    official_validator: Draft4Validator,
) -> None:
    # Pattern anchors are where fastjsonschema and jsonschema differ ("$" before a final
    # newline); jsonschema's verdict must win.
    colour = {"type": "textColor", "attrs": {"color": "#aabbcc\n"}}
    cases = [
        doc(para({"type": "text", "text": "x", "marks": [colour]})),
        doc(
            para(
                {
                    "type": "text",
                    "text": "x",
                    "marks": [{"type": "textColor", "attrs": {"color": "red"}}],
                }
            )
        ),
        doc({"type": "rule", "attrs": {"localId": 1}}),
        doc(
            {
                "type": "orderedList",
                "attrs": {"order": -1},
                "content": [{"type": "listItem", "content": [para()]}],
            }
        ),
        doc(
            {
                "type": "orderedList",
                "attrs": {"order": True},
                "content": [{"type": "listItem", "content": [para()]}],
            }
        ),
        doc({"type": "heading", "attrs": {"level": 1.5}, "content": []}),
    ]
    for case in cases:
        assert (validate_adf(case) == []) == official_validator.is_valid(case), case


def test_explaining_a_broken_ticket_names_the_one_real_problem(
    official_validator: Draft4Validator,
) -> None:
    # Stock jsonschema collects every error of every anyOf alternative; the explanation
    # must still name the one real problem. (Speed is measured in bench/adf.py.)
    markdown = "\n\n".join(
        f"## Section {i}\n\n- item **{i}**\n  1. nested `code`\n     - deeper [l](https://e.com)\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n> quote"
        for i in range(6)
    )
    document = markdown_to_adf(markdown)
    document["content"][-1]["content"].append({"type": "text", "text": "stray"})
    errors = explain_adf(document)
    stock = list(official_validator.iter_errors(document))
    assert len(stock) == 1
    assert errors == [
        "$.content[23].content[1]: node type 'text' is not allowed here (allowed: paragraph, "
        "orderedList, bulletList, codeBlock, mediaSingle, mediaGroup, extension)"
    ]


def test_valid_documents_pass_both_checks() -> None:
    documents = [
        markdown_to_adf(f"## T{i}\n\n- a **{i}**\n  1. `x`\n\n| a | b |\n|---|---|\n| 1 | {i} |\n")
        for i in range(60)
    ]
    assert all(validate_adf(d) == [] for d in documents)
    assert all(explain_adf(d) == [] for d in documents)
