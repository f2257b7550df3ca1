"""The sandbox's wiki renderer reads Jira wiki markup as Jira's renderer documents it
(hand-written markup, not our writer's output)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.adf import validate_adf
from infrastructure.jira_sandbox.wiki_render import wiki_to_adf


def text(value: str, *marks: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if marks:
        node["marks"] = [m if isinstance(m, dict) else {"type": m} for m in marks]
    return node


def para(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def link(href: str) -> dict[str, Any]:
    return {"type": "link", "attrs": {"href": href}}


def emoji(short_name: str) -> dict[str, Any]:
    return {"type": "emoji", "attrs": {"shortName": short_name}}


def read(wiki: str) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = wiki_to_adf(wiki)["content"]
    return content


BR = {"type": "hardBreak"}


@pytest.mark.parametrize(
    ("wiki", "inline"),
    [
        ("*bold* _it_ -del-", [text("bold", "strong"), text(" "), text("it", "em"), text(" "),
                               text("del", "strike")]),
        ("+ins+ ??cite??", [text("ins", "underline"), text(" "), text("cite", "em")]),
        ("^sup^~sub~", [text("sup", {"type": "subsup", "attrs": {"type": "sup"}}),
                        text("sub", {"type": "subsup", "attrs": {"type": "sub"}})]),
        ("{{a_b*c* x *y*}}", [text("a_b*c* x y", "code")]),  # ADF: code drops strong
        ("*a _b_ c*", [text("a ", "strong"), text("b", "em", "strong"), text(" c", "strong")]),
        ("a*b*c 2*3*4", [text("a*b*c 2*3*4")]),  # no delimiter inside a word
        ("a{*}b{*}c", [text("a"), text("b", "strong"), text("c")]),
        ("x{{{}mono{}}}y", [text("x"), text("mono", "code"), text("y")]),
        ("a * not bold*", [text("a * not bold*")]),
        ("*not bold *", [text("*not bold *")]),
        ("*a\nb*", [text("*a"), BR, text("b*")]),  # a phrase stays on its line
        ("\\*not bold\\* \\[x\\] \\{y\\}", [text("*not bold* [x] {y}")]),
        ("\\:) C:\\path", [text(":) C:\\path")]),
        ("&copy; &amp; &#42; &#x41; &nosuch; AT&T", [text("© & * A &nosuch; AT&T")]),
        ("a -- b --- c a--b", [text("a \u2013 b \u2014 c a--b")]),
        ("line\\\\next \\\\ last", [text("line"), BR, text("next "), BR, text(" last")]),
        ("a\\\\b\\\\c", [text("a\\\\b"), BR, text("c")]),  # not before another backslash
        ("[Example|https://e.com/a_b]", [text("Example", link("https://e.com/a_b"))]),
        ("[*b* x|https://e.com]", [text("b", link("https://e.com"), "strong"),
                                    text(" x", link("https://e.com"))]),
        ("[https://e.com]", [text("https://e.com", link("https://e.com"))]),
        ("see https://e.com/x.", [text("see "), text("https://e.com/x.", link("https://e.com/x."))]),
        ("[ not a link] []", [text("[ not a link] []")]),
        ("smile :) no (x) :Pa", [text("smile "), emoji(":smile:"), text(" no "), emoji(":x:"),
                                 text(" :Pa")]),
        ("!image.png! !x", [{"type": "inlineCard", "attrs": {"url": "image.png"}}, text(" !x")]),
    ],
)  # fmt: skip
def test_inline_markup(wiki: str, inline: list[dict[str, Any]]) -> None:
    assert read(wiki) == [para(*inline)]


def test_blocks() -> None:
    wiki = (
        "h1. Title\n\nh6. Small\n\nfirst line\nsecond line\n\n----\n\nbq. quoted\n\n"
        "{quote}\nq *1*\n\n* in quote\n{quote}\n\n{code:java}\nint *x* = {1};\n{code}\n\n"
        "{noformat}\n{{raw}}\n{noformat}\n\n{code}\nno language\n{code}"
    )
    assert read(wiki) == [
        {"type": "heading", "attrs": {"level": 1}, "content": [text("Title")]},
        {"type": "heading", "attrs": {"level": 6}, "content": [text("Small")]},
        para(text("first line"), BR, text("second line")),
        {"type": "rule"},
        {"type": "blockquote", "content": [para(text("quoted"))]},
        {
            "type": "blockquote",
            "content": [
                para(text("q "), text("1", "strong")),
                {"type": "bulletList", "content": [
                    {"type": "listItem", "content": [para(text("in quote"))]}]},
            ],
        },
        {"type": "codeBlock", "attrs": {"language": "java"},
         "content": [text("int *x* = {1};")]},
        {"type": "codeBlock", "content": [text("{{raw}}")]},
        {"type": "codeBlock", "content": [text("no language")]},
    ]  # fmt: skip


def item(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "listItem", "content": list(content)}


def test_lists_nest_by_their_markers() -> None:
    wiki = "* a\n** b\n*# c\n* d\n- e\n\n# one\n#* two\n# three"
    bullets = {"type": "bulletList", "content": [
        item(para(text("a")),
             {"type": "bulletList", "content": [item(para(text("b")))]},
             {"type": "orderedList", "content": [item(para(text("c")))]}),
        item(para(text("d"))),
        item(para(text("e"))),
    ]}  # fmt: skip
    numbers = {"type": "orderedList", "content": [
        item(para(text("one")), {"type": "bulletList", "content": [item(para(text("two")))]}),
        item(para(text("three"))),
    ]}  # fmt: skip
    assert read(wiki) == [bullets, numbers]


def test_a_list_item_holds_a_code_macro() -> None:
    assert read("* run {code:sh}\nls -l\n{code} then") == [
        {"type": "bulletList", "content": [item(
            para(text("run")),
            {"type": "codeBlock", "attrs": {"language": "sh"}, "content": [text("ls -l")]},
            para(text("then")),
        )]},
    ]  # fmt: skip


def test_tables() -> None:
    wiki = "||h1||h2||\n|a *b*|[l|https://e.com]|\n| |x\\|y|"
    cell = lambda kind, *inline: {"type": kind, "content": [para(*inline)]}  # noqa: E731
    assert read(wiki) == [
        {"type": "table", "content": [
            {"type": "tableRow", "content": [cell("tableHeader", text("h1")),
                                             cell("tableHeader", text("h2"))]},
            {"type": "tableRow", "content": [
                cell("tableCell", text("a "), text("b", "strong")),
                cell("tableCell", text("l", link("https://e.com")))]},
            {"type": "tableRow", "content": [cell("tableCell"), cell("tableCell", text("x|y"))]},
        ]},
    ]  # fmt: skip


def test_private_use_characters_and_unclosed_macros_stay_text() -> None:
    assert read("a\ue000b \U000f0000 {code}\nx") == [
        para(text("a\ue000b \U000f0000 {code}"), BR, text("x"))
    ]


_WIKI_PIECES = [
    *"ab *_-+^~?!#()\\:;&.|[]{}\n\t",
    "{code}", "{code:py}", "{noformat}", "{quote}", "{panel:title=x}", "{panel}", "||", "h2. ",
    "bq. ", "----", "* ", "# ", "*# ", "- ", "[a|http://b]", "http://x.y", "\\\\", "&amp;",
    "&#1114112;", "&#0;", "\ue000", "\U000f0000", "{{", "}}", "{*}", ":)", "(x)", "!a!",
]  # fmt: skip


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.sampled_from(_WIKI_PIECES) | st.text(max_size=3), max_size=40).map("".join))
def test_any_wiki_text_reads_as_valid_adf(wiki: str) -> None:
    """Whatever a client sends the Data Center sandbox renders, as ADF the schema accepts."""
    assert validate_adf(wiki_to_adf(wiki)) == []


def test_macros_nested_past_any_sense_are_read_without_recursing() -> None:
    wiki = "{quote}{panel}" * 2000 + "x" + "{panel}{quote}" * 2000
    assert validate_adf(wiki_to_adf(wiki)) == []
