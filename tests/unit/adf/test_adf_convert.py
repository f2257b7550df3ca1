"""Markdown -> ADF: each construct, checked for shape and against the official schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from application.adf import markdown_to_adf

Doc = dict[str, Any]
Check = Callable[[Doc], None]


def text(value: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return node


def para(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def item(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "listItem", "content": list(blocks)}


def link(href: str, title: str | None = None) -> dict[str, Any]:
    attrs = {"href": href} if title is None else {"href": href, "title": title}
    return {"type": "link", "attrs": attrs}


EM, STRONG, STRIKE, CODE = ({"type": t} for t in ("em", "strong", "strike", "code"))


def convert(markdown: str, assert_official: Check) -> list[dict[str, Any]]:
    document = markdown_to_adf(markdown)
    assert document["version"] == 1
    assert document["type"] == "doc"
    assert_official(document)
    content: list[dict[str, Any]] = document["content"]
    return content


def test_empty_markdown_is_an_empty_document(assert_official: Check) -> None:
    assert convert("", assert_official) == []
    assert convert("   \n\n", assert_official) == []


@pytest.mark.parametrize("level", range(1, 7))
def test_atx_headings_keep_their_level(level: int, assert_official: Check) -> None:
    content = convert("#" * level + " Title *here*", assert_official)
    assert content == [
        {
            "type": "heading",
            "attrs": {"level": level},
            "content": [text("Title "), text("here", EM)],
        }
    ]


def test_setext_heading_and_empty_heading(assert_official: Check) -> None:
    content = convert("Big\n===\n\n##\n", assert_official)
    assert content[0] == {"type": "heading", "attrs": {"level": 1}, "content": [text("Big")]}
    assert content[1] == {"type": "heading", "attrs": {"level": 2}, "content": []}


def test_paragraphs_soft_and_hard_breaks(assert_official: Check) -> None:
    content = convert("one\ntwo  \nthree\\\nfour\n\nnext", assert_official)
    assert content == [
        para(
            text("one two"),
            {"type": "hardBreak"},
            text("three"),
            {"type": "hardBreak"},
            text("four"),
        ),
        para(text("next")),
    ]


def test_emphasis_strong_strike_and_inline_code(assert_official: Check) -> None:
    content = convert("*em* **strong** ~~gone~~ `x = 1` ***both***", assert_official)
    assert content == [
        para(
            text("em", EM),
            text(" "),
            text("strong", STRONG),
            text(" "),
            text("gone", STRIKE),
            text(" "),
            text("x = 1", CODE),
            text(" "),
            text("both", EM, STRONG),
        )
    ]


def test_nested_identical_marks_collapse_and_code_drops_other_marks(assert_official: Check) -> None:
    content = convert("**a __b__ c** *x `y` z*", assert_official)
    assert content == [
        para(text("a b c", STRONG), text(" "), text("x ", EM), text("y", CODE), text(" z", EM))
    ]


def test_links_with_title_and_marks(assert_official: Check) -> None:
    content = convert(
        '[plain](https://example.com "Home") [**bold** and `code`](http://e.org/p?q=1)',
        assert_official,
    )
    href = "http://e.org/p?q=1"
    assert content == [
        para(
            text("plain", link("https://example.com", "Home")),
            text(" "),
            text("bold", link(href), STRONG),
            text(" and ", link(href)),
            text("code", link(href), CODE),
        )
    ]


def test_autolink_and_mailto(assert_official: Check) -> None:
    content = convert("<https://jira.example.com> [mail](mailto:a@b.org)", assert_official)
    assert content == [
        para(
            text("https://jira.example.com", link("https://jira.example.com")),
            text(" "),
            text("mail", link("mailto:a@b.org")),
        )
    ]


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        # markdown-it itself refuses these, so the source stays literal text.
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
        ("<javascript:alert(1)>", "<javascript:alert(1)>"),
        # markdown-it accepts these as links; the converter keeps only the text.
        ("[x](data:image/png;base64,AAAA)", "x"),
        ("[x](/node/1)", "x"),
        ("[x](ftp://files.example.com/a)", "x"),
        ("[x](https:no-host)", "x"),
        ("![pic](data:image/png;base64,AAAA)", "pic"),
    ],
)
def test_dangerous_or_meaningless_links_become_plain_text(
    markdown: str, expected: str, assert_official: Check, nodes: Callable[[Doc], list[Doc]]
) -> None:
    document = markdown_to_adf(markdown)
    assert_official(document)
    assert document["content"] == [para(text(expected))]
    assert not [n for n in nodes(document) if n.get("marks")]


def test_images_become_links_never_media(
    assert_official: Check, nodes: Callable[[Doc], list[Doc]]
) -> None:
    document = markdown_to_adf(
        '![Site *logo*](https://e.com/logo.png "Logo") ![](https://e.com/x.png) '
        "[![badge](https://e.com/b.svg)](https://ci.example.com)"
    )
    assert_official(document)
    assert document["content"] == [
        para(
            text("Site logo", link("https://e.com/logo.png", "Logo")),
            text(" "),
            text("https://e.com/x.png", link("https://e.com/x.png")),
            text(" "),
            text("badge", link("https://ci.example.com")),
        )
    ]
    assert not [n for n in nodes(document) if "media" in n["type"]]


def test_bullet_and_ordered_lists(assert_official: Check) -> None:
    content = convert("- a\n- b\n\n1. one\n2. two\n3) three\n4) four\n", assert_official)
    assert content == [
        {"type": "bulletList", "content": [item(para(text("a"))), item(para(text("b")))]},
        {"type": "orderedList", "content": [item(para(text("one"))), item(para(text("two")))]},
        {
            "type": "orderedList",
            "attrs": {"order": 3},
            "content": [item(para(text("three"))), item(para(text("four")))],
        },
    ]


def test_ordered_list_starting_at_zero(assert_official: Check) -> None:
    content = convert("0. zero\n1. one\n", assert_official)
    assert content[0]["attrs"] == {"order": 0}


def test_lists_nested_three_deep(assert_official: Check) -> None:
    content = convert("- level 1\n  1. level 2\n     - level 3 **deep**\n- back\n", assert_official)
    level3 = {"type": "bulletList", "content": [item(para(text("level 3 "), text("deep", STRONG)))]}
    level2 = {"type": "orderedList", "content": [item(para(text("level 2")), level3)]}
    assert content == [
        {
            "type": "bulletList",
            "content": [item(para(text("level 1")), level2), item(para(text("back")))],
        }
    ]


def test_fenced_code_with_and_without_language(assert_official: Check) -> None:
    content = convert(
        "```yaml title=x\nkey: **not bold**\n\nnext: 1\n```\n\n~~~\nplain\n~~~\n\n```\n```\n",
        assert_official,
    )
    assert content == [
        {
            "type": "codeBlock",
            "attrs": {"language": "yaml"},
            "content": [text("key: **not bold**\n\nnext: 1")],
        },
        {"type": "codeBlock", "content": [text("plain")]},
        {"type": "codeBlock", "content": []},
    ]


def test_indented_code_block(assert_official: Check) -> None:
    content = convert("para\n\n    $x = 1;\n    <b>raw</b>\n", assert_official)
    assert content[1] == {"type": "codeBlock", "content": [text("$x = 1;\n<b>raw</b>")]}


def test_code_in_lists(assert_official: Check) -> None:
    content = convert(
        "1. Run:\n\n   ```bash\n   drush cim -y\n   ```\n\n   then check `status`.\n"
        "2. ```\n   code first\n   ```\n",
        assert_official,
    )
    first, second = content[0]["content"]
    assert first == item(
        para(text("Run:")),
        {"type": "codeBlock", "attrs": {"language": "bash"}, "content": [text("drush cim -y")]},
        para(text("then check "), text("status", CODE), text(".")),
    )
    # A list item must open with a paragraph.
    assert second == item(para(), {"type": "codeBlock", "content": [text("code first")]})


def test_empty_list_item_and_item_starting_with_a_list(assert_official: Check) -> None:
    content = convert("-\n- - inner\n", assert_official)
    empty, nested = content[0]["content"]
    assert empty == item(para())
    assert nested == item(para(), {"type": "bulletList", "content": [item(para(text("inner")))]})


def test_blockquote(assert_official: Check) -> None:
    content = convert("> quoted *text*\n>\n> - point\n", assert_official)
    assert content == [
        {
            "type": "blockquote",
            "content": [
                para(text("quoted "), text("text", EM)),
                {"type": "bulletList", "content": [item(para(text("point")))]},
            ],
        }
    ]


def test_blocks_a_container_refuses_are_rewritten_as_paragraphs(assert_official: Check) -> None:
    content = convert(
        "> # Heading in quote\n> > nested quote\n>\n> ---\n>\n"
        "> | a | b |\n> |---|---|\n> | 1 | 2 |\n"
        "\n- ## Heading `code` in item\n  > quote in item\n",
        assert_official,
    )
    quote, items = content
    assert quote == {
        "type": "blockquote",
        "content": [
            para(text("Heading in quote", STRONG)),
            para(text("nested quote")),
            para(text("---")),
            para(text("a | b")),
            para(text("1 | 2")),
        ],
    }
    assert items["content"][0] == item(
        para(text("Heading ", STRONG), text("code", CODE), text(" in item", STRONG)),
        para(text("quote in item")),
    )


def test_empty_blockquote(assert_official: Check) -> None:
    assert convert(">\n", assert_official) == [{"type": "blockquote", "content": [para()]}]


def test_horizontal_rules(assert_official: Check) -> None:
    assert convert("a\n\n---\n\n***\n", assert_official) == [
        para(text("a")),
        {"type": "rule"},
        {"type": "rule"},
    ]


def test_table_with_header_marks_and_empty_cell(assert_official: Check) -> None:
    content = convert(
        "| Field | Type |\n|:--|--:|\n| `body` | **text** |\n| tags |  |\n", assert_official
    )

    def cell(kind: str, *inline: dict[str, Any]) -> dict[str, Any]:
        return {"type": kind, "content": [para(*inline)]}

    assert content == [
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        cell("tableHeader", text("Field")),
                        cell("tableHeader", text("Type")),
                    ],
                },
                {
                    "type": "tableRow",
                    "content": [
                        cell("tableCell", text("body", CODE)),
                        cell("tableCell", text("text", STRONG)),
                    ],
                },
                {
                    "type": "tableRow",
                    "content": [cell("tableCell", text("tags")), cell("tableCell")],
                },
            ],
        }
    ]


def test_table_inside_a_list_item_is_flattened(assert_official: Check) -> None:
    content = convert("- | a | b |\n  |---|---|\n  | 1 | *2* |\n", assert_official)
    assert content[0]["content"][0] == item(para(text("a | b")), para(text("1 | "), text("2", EM)))


def test_html_block_and_inline_html_stay_literal_text(assert_official: Check) -> None:
    content = convert(
        '<div class="x">\n<script>alert(1)</script>\n</div>\n\nSay <b>hi</b> <!-- c -->\n',
        assert_official,
    )
    hard = {"type": "hardBreak"}
    assert content == [
        para(
            text('<div class="x">'), hard, text("<script>alert(1)</script>"), hard, text("</div>")
        ),
        para(text("Say <b>hi</b> <!-- c -->")),
    ]


def test_html_block_with_blank_line_keeps_its_lines(assert_official: Check) -> None:
    content = convert("<!--\n\nnote\n-->\n", assert_official)
    hard = {"type": "hardBreak"}
    assert content == [para(text("<!--"), hard, hard, text("note"), hard, text("-->"))]


def test_escapes_and_entities_are_decoded(assert_official: Check) -> None:
    assert convert(r"\*not em\* &amp; &copy; &#35;", assert_official) == [
        para(text("*not em* & © #"))
    ]


def test_reference_links(assert_official: Check) -> None:
    content = convert("See [the docs][d].\n\n[d]: https://www.drupal.org/docs\n", assert_official)
    assert content == [
        para(text("See "), text("the docs", link("https://www.drupal.org/docs")), text("."))
    ]


def test_documents_do_not_share_node_objects() -> None:
    first = markdown_to_adf("**a** [b](https://e.com)")
    second = markdown_to_adf("**a** [b](https://e.com)")
    first["content"][0]["content"][0]["marks"].append({"type": "em"})
    first["content"][0]["content"][2]["marks"][0]["attrs"]["href"] = "changed"
    assert second == {
        "version": 1,
        "type": "doc",
        "content": [para(text("a", STRONG), text(" "), text("b", link("https://e.com")))],
    }
