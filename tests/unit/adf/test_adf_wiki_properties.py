"""Properties of Markdown -> wiki markup: any Markdown converts without error, Jira's
reading of the wiki text (the sandbox's renderer) shows the same text as the ADF, and
Markdown built from plain blocks keeps its whole structure."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from application.adf import markdown_to_adf
from application.adf.wiki import markdown_to_wiki
from infrastructure.jira_sandbox.wiki_render import wiki_to_adf
from tests.support.wiki_structure import structure, text_content
from tests.unit.adf.test_adf_properties import any_markdown

PROPERTY = settings(
    max_examples=int(os.environ.get("WIKI_EXAMPLES", "400")), deadline=None, database=None
)

# Every character Jira's wiki renderer gives a meaning to, and their neighbours.
_SPECIAL = [
    *"{}[]|*_-+^~?!#()\\:;&.@%<>/ \t",
    "h1. ", "bq. ", "----", "--", "---", "(x)", "(i)", ":)", ":-)", ";)", ":P", ":D", "(*)",
    "{{", "}}", "{*}", "{code}", "{noformat}", "{quote}", "\\\\", "&amp;", "&#42;", "&copy;",
    "http://e.com/a_b", "https://x.y", "mailto:a@b.c", "!img.png!", "[a|http://b]", "??",
    "\u00a0", "\u00bd", "\u200b", "\U0001f600", "\ue000", "\U000f0001",
]  # fmt: skip
_word = st.sampled_from(["a", "word", "Ab9", "x_y", "2-3", "é", "日本"])
_inline = st.lists(st.sampled_from(_SPECIAL) | _word | st.text(max_size=3), max_size=10).map(
    "".join
)
_MARKED = ["{}", "*{}*", "**{}**", "~~{}~~", "`{}`", "[{}](https://e.com/p?q=1)", "***{}***"]


@st.composite
def _span(draw: st.DrawFn) -> str:
    """Text in zero to two marks, the outer one around marked and unmarked parts."""
    text = draw(_inline).replace("`", "").replace("\n", " ")
    text = draw(st.sampled_from(_MARKED)).format(text) if text.strip() else text
    if draw(st.booleans()):
        other = draw(_word)
        parts = [text, other] if draw(st.booleans()) else [other, text]
        text = draw(st.sampled_from(_MARKED[:4] + _MARKED[5:])).format(" ".join(parts))
    return text


_paragraph = st.lists(_span(), min_size=1, max_size=5).map(" ".join)
_block = st.one_of(
    _paragraph,
    _paragraph.map(lambda t: "## " + t),
    st.lists(_paragraph, min_size=1, max_size=3).map(lambda ts: "\n".join("- " + t for t in ts)),
    st.lists(_paragraph, min_size=1, max_size=3).map(
        lambda ts: "\n".join(f"{i + 1}. {t}" for i, t in enumerate(ts))
    ),
    _paragraph.map(lambda t: "- a\n  - " + t + "\n    1. b"),
    _paragraph.map(lambda t: "> " + t),
    # A code text holding {code} or {noformat} cannot keep its language (tested on its own).
    _inline.map(lambda t: "```py\n" + t.replace("`", "").replace("{", "(") + "\n```"),
    _inline.map(lambda t: "```\n" + t.replace("`", "").replace("{", "(") + "\n```"),
    st.lists(_span(), min_size=2, max_size=2).map(
        lambda c: f"| h | {c[0]} |\n|---|---|\n| {c[1]} | x |".replace("\n|", "\n|")
    ),
    st.just("---"),
)
block_markdown = st.lists(_block, min_size=1, max_size=6).map("\n\n".join)
_code_macros = st.lists(st.sampled_from(["{code}", "{noformat}", "{code:x}", "a", "\n"])).map(
    lambda parts: "```" + ("py" if len(parts) % 2 else "") + "\n" + "".join(parts) + "\n```"
)


@PROPERTY
@given(markdown=any_markdown | block_markdown | _code_macros)
def test_any_markdown_converts_and_keeps_its_text(markdown: str) -> None:
    wiki = markdown_to_wiki(markdown)
    assert isinstance(wiki, str)
    assert text_content(wiki_to_adf(wiki)) == text_content(markdown_to_adf(markdown)), wiki


@PROPERTY
@given(markdown=block_markdown)
def test_markdown_of_plain_blocks_keeps_its_structure(markdown: str) -> None:
    wiki = markdown_to_wiki(markdown)
    assert structure(wiki_to_adf(wiki)) == structure(_readable_languages(markdown)), wiki


def _readable_languages(markdown: str) -> dict[str, Any]:
    """The ADF, less code languages wiki markup cannot carry (`{code:x}` must stay one
    macro parameter): those code blocks become {noformat}."""
    document = markdown_to_adf(markdown)
    for node in _walk(document):
        language = (node.get("attrs") or {}).get("language")
        if node["type"] == "codeBlock" and language and not _LANGUAGE.fullmatch(language):
            del node["attrs"]
    return document


_LANGUAGE = re.compile(r"[A-Za-z0-9_+#.-]{1,40}")


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("content", []):
        yield from _walk(child)
