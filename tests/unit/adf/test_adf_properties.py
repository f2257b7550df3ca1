"""Properties: any Markdown converts to valid ADF; validate_adf agrees with stock jsonschema."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from application.adf import build_ticket_document, markdown_to_adf, validate_adf

Doc = dict[str, Any]

# No example database: the working tree stays clean and every run explores afresh.
PROPERTY = settings(max_examples=400, deadline=None, database=None)

_INLINE = st.sampled_from(
    [
        "word", "two words", "*em*", "**strong**", "~~del~~", "`code`", "``a ` b``",
        "***x***", "**a `c` b**", "[link](https://e.com)", "[**b** `c`](http://e.org/x)",
        "[bad](javascript:alert(1))", "[d](data:image/png;base64,AA)", "[rel](/node/1)",
        "![img](https://e.com/i.png)", "![](data:image/png;base64,AA)",
        "[![i](https://e.com/i.png)](https://e.com)", "<https://a.b>", "<b>", "</b>",
        "<script>alert(1)</script>", "&amp;", "&#0;", "\\*", "_", "*", "**", "`", "[", "]",
        "(", ")", "|", "~~", "!", "#", "<!--", "-->", "  \n", "\\\n", "\n", " ", "\t",
    ]
)  # fmt: skip

_PREFIX = st.sampled_from(
    [
        "", "", "- ", "* ", "+ ", "1. ", "3) ", "0. ", "> ", "> > ", "# ", "###### ",
        "    ", "  ", "   - ", "      1. ", "> - ", "- > ", "- # ", "> # ", "- ```\n",
        "- - - ", "| ", "| a | b |\n|---|:-:|\n| ", "```py\n", "~~~\n", "---\n", "***\n",
        "<div>\n", "Title\n===\n", "- | a |\n  |---|\n  | ", "> ---\n> ", "-\n",
    ]
)  # fmt: skip

_inline_text = st.lists(_INLINE | st.text(max_size=6), max_size=8).map("".join)
_line = st.tuples(_PREFIX, _inline_text).map("".join)
structured_markdown = st.lists(_line, max_size=14).map("\n".join)
character_soup = st.text(
    alphabet=st.sampled_from(list("ab *_`~[]()<>!#|-+.:/\\&;\n\t=>0123456789")), max_size=120
)
any_markdown = structured_markdown | character_soup | st.text(max_size=80)


@PROPERTY
@given(markdown=any_markdown)
def test_any_markdown_converts_to_schema_valid_adf(
    markdown: str, assert_official_fast: Callable[[Doc], None]
) -> None:
    document = markdown_to_adf(markdown)
    assert_official_fast(document)
    assert validate_adf(document) == []


@PROPERTY
@given(story=structured_markdown, analysis=any_markdown, verification=character_soup)
def test_any_ticket_builds_a_schema_valid_description(
    story: str, analysis: str, verification: str, assert_official_fast: Callable[[Doc], None]
) -> None:
    ticket = build_ticket_document("node.type.page", "Page", story, analysis, verification)
    assert_official_fast(ticket.adf)
    assert ticket.attachment is None


def _all_nodes(node: Any) -> list[Doc]:
    if not isinstance(node, dict):
        return []
    found = [node]
    for child in node.get("content", []):
        found.extend(_all_nodes(child))
    return found


_NODE_TYPES = [
    "doc", "paragraph", "text", "heading", "bulletList", "orderedList", "listItem",
    "codeBlock", "blockquote", "rule", "table", "tableRow", "tableHeader", "tableCell",
    "hardBreak", "media", "panel", "nonsense",
]  # fmt: skip


def _mutate(node: Doc, mutation: int, node_type: str) -> None:
    if mutation == 0:
        node["type"] = node_type
    elif mutation == 1:
        node.pop("content", None)
    elif mutation == 2:
        node.setdefault("content", []).append({"type": "text", "text": "x"})
    elif mutation == 3:
        node["content"] = []
    elif mutation == 4:
        node["marks"] = [{"type": "code"}, {"type": "em"}]
    elif mutation == 5:
        node["attrs"] = {"bogus": 1}
    elif mutation == 6 and node.get("type") == "text":
        node["text"] = ""
    else:
        node.setdefault("content", []).append({"type": node_type, "content": []})


# Stock jsonschema is the reference here, and its time grows steeply with the nesting of a
# broken document, so these documents stay shallow.
_SHALLOW_PREFIX = st.sampled_from(
    [
        "",
        "- ",
        "1. ",
        "> ",
        "# ",
        "    ",
        "```\n",
        "---\n",
        "<div>\n",
        "  - ",
        "| a | b |\n|-|-|\n| ",
    ]
)
shallow_markdown = st.lists(st.tuples(_SHALLOW_PREFIX, _inline_text).map("".join), max_size=5).map(
    "\n".join
)


@settings(PROPERTY, max_examples=30)
@given(markdown=shallow_markdown, data=st.data())
def test_validate_adf_agrees_with_stock_jsonschema_on_broken_documents(
    markdown: str, data: st.DataObject, official_validator: Draft4Validator
) -> None:
    document = markdown_to_adf(markdown)
    targets = _all_nodes(document)
    target = targets[data.draw(st.integers(0, len(targets) - 1), label="node")]
    _mutate(
        target,
        data.draw(st.integers(0, 7), label="mutation"),
        data.draw(st.sampled_from(_NODE_TYPES), label="type"),
    )
    before = copy.deepcopy(document)
    errors = validate_adf(document)
    assert (errors == []) == official_validator.is_valid(document), errors
    assert document == before
