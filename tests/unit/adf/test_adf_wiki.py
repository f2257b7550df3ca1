"""Markdown -> Jira wiki markup: each construct, and text that must come out literally.

Every case is also read back with the sandbox's wiki renderer (Jira's rules, written
independently of the writer) and must show the same structure as the ADF."""

from __future__ import annotations

import pytest

from application.adf import markdown_to_adf
from application.adf.wiki import adf_to_wiki, markdown_to_wiki, plain_to_wiki
from infrastructure.jira_sandbox.wiki_render import wiki_to_adf
from tests.support.wiki_structure import structure, text_content

CONSTRUCTS = [
    ("# One\n\n###### Six", "h1. One\n\nh6. Six"),
    ("para one\nsoft break\n\npara two", "para one soft break\n\npara two"),
    ("*em* **strong** ~~del~~ `x`", "_em_ *strong* -del- {{x}}"),
    ("***both***", "*_both_*"),
    ("**bold `x` bold**", "*bold* {{x}} *bold*"),  # ADF: code combines with link only
    ("[text](https://e.com/a_b)", "[text|https://e.com/a_b]"),
    ("[a **b** `c`](https://e.com/x)", "[a *b* {{c}}|https://e.com/x]"),
    ("**[strong link](https://e.com)**", "[*strong link*|https://e.com]"),
    ("<https://e.com>", "[https&#58;//e.com|https://e.com]"),
    ("[mail](mailto:a@b.org)", "[mail|mailto:a@b.org]"),
    ("[q](<https://e.com/?a=[1]|b c>)", "[q|https://e.com/?a=%5B1%5D%7Cb%20c]"),
    ("[bad](javascript:alert(1))", "\\[bad\\]\\(javascript:alert(1))"),
    ("![alt](https://e.com/i.png)", "[alt|https://e.com/i.png]"),
    ("- a\n- b", "* a\n* b"),
    ("1. a\n2. b", "# a\n# b"),
    ("- a\n  - b\n    - c\n- d", "* a\n** b\n*** c\n* d"),
    ("1. a\n   - b\n     1. c\n2. d", "# a\n#* b\n#*# c\n# d"),
    ("3. starts at three", "# starts at three"),
    ("- a\n\n  second paragraph\n- b", "* a \\\\ \\\\ second paragraph\n* b"),
    ("- a\n  ```sh\n  ls\n  ```\n- b", "* a {code:sh}\nls\n{code}\n* b"),
    ("- a\n  - b\n\n  after\n", "* a\n** b\n* after"),
    ("-\n- x", "* &#160;\n* x"),
    (
        "```python\nx = {'a': [1]}  # *not* _marked_\n```",
        ("{code:python}\nx = {'a': [1]}  # *not* _marked_\n{code}"),
    ),
    ("```\nplain \\ text\n```", "{noformat}\nplain \\ text\n{noformat}"),
    ("    indented code", "{noformat}\nindented code\n{noformat}"),
    ("> quoted\n>\n> - item", "{quote}\nquoted\n\n* item\n{quote}"),
    ("> ```js\n> a()\n> ```", "{quote}\n{code:js}\na()\n{code}\n{quote}"),
    ("| h1 | h2 |\n|---|---|\n| a | b |\n|  | c |", "||h1||h2||\n|a|b|\n| |c|"),
    (
        "| a \\| b | `c \\| d` |\n|---|---|\n| [l](https://e.com) | x |",
        ("||a &#124; b||{{c &#124; d}}||\n|[l|https://e.com]|x|"),
    ),
    ("above\n\n---\n\nbelow", "above\n\n----\n\nbelow"),
    ("line one  \nline two\\\nthree", "line one\\\\ line two\\\\ three"),
    ("<div>\n<b>x</b>\n</div>", "<div>\\\\ <b>x</b>\\\\ </div>"),
    ("- # heading in a list", "* *heading in a list*"),
]


@pytest.mark.parametrize(("markdown", "wiki"), CONSTRUCTS)
def test_each_construct_has_its_wiki_markup(markdown: str, wiki: str) -> None:
    assert markdown_to_wiki(markdown) == wiki
    assert structure(wiki_to_adf(wiki)) == structure(markdown_to_adf(markdown))


ESCAPES = [
    # phrase characters: escaped unless between two letters or digits
    (
        "2\\*3 a\\*b x_y snake_case_name 2-3 a+b x^2 a~b",
        "2*3 a*b x_y snake_case_name 2-3 a+b x^2 a~b",
    ),
    ("\\*a\\* \\_b\\_ -c- +d+ ^e^ ~f~", "\\*a\\* \\_b\\_ \\-c\\- \\+d\\+ \\^e\\^ \\~f\\~"),
    ("a - b -- c --- d", "a \\- b \\-\\- c \\-\\-\\- d"),
    ("??cite??", "\\?\\?cite\\?\\?"),
    ("\\*\\_a\\_\\*", "\\*\\_a\\_\\*"),
    # brackets, braces, pipes, images, backslashes, entities
    ("[a] {b} a|b", "\\[a\\] &#123;b&#125; a\\|b"),
    (
        "{{mono}} {code} {noformat}",
        "&#123;&#123;mono&#125;&#125; &#123;code&#125; &#123;noformat&#125;",
    ),
    ("Hi! !image.png!", "Hi\\! \\!image.png\\!"),
    ("C:\\\\Temp\\\\new \\\\\\\\ end\\\\", "C:&#92;Temp&#92;new &#92;&#92; end&#92;"),
    ("&amp;copy; &copy; AT&T &#42;", "&amp;copy; © AT&T \\*"),
    # what Jira reads at the start of a line
    ("h1. no heading", "h1&#46; no heading"),
    ("bq. no quote", "bq&#46; no quote"),
    ("\\# not a list", "\\# not a list"),
    ("\\- not a list", "\\- not a list"),
    ("\\* not a list", "\\* not a list"),
    ("\\---", "\\-\\-\\-"),
    ("| not a table", "\\| not a table"),
    ("a #hash mid-line", "a #hash mid-line"),
    # emoticons stay text
    ("(x) (i) (on) (*r) (flag) (X)", "\\(x) \\(i) \\(on) \\(\\*r) \\(flag) \\(X)"),
    (":) :-( ;) ;-) :P :D", ":\\) :\\-\\( ;\\) ;\\-\\) :&#80; :&#68;"),
    ("(x)y xD :Pa (note) :-x", "(x)y xD :Pa (note) :\\-x"),
    ("\\*) and &#59;)", "\\*\\) and ;\\)"),
    # bare URLs are not turned into links
    ("see https://e.com/a and mailto:a@b.c", "see https&#58;//e.com/a and mailto&#58;a@b.c"),
    # marks inside words, marks around spaces, delimiters inside their own mark
    ("x**a**y x`c`y", "x{*}a{*}y x{{{}c{}}}y"),
    ("** a **", "\\*\\* a \\*\\*"),
    ("**a *b* c**", "*a _b_ c*"),
    ("*a_b* **x*y**", "_a\\_b_ *x\\*y*"),
    ("~~a-b~~", "-a\\-b-"),
    ("`{{x}}`", "{{&#123;&#123;x&#125;&#125;}}"),
    ("`a` `b`", "{{a b}}"),
    ("a`b`c a`b`", "a{{{}b{}}}c a{{{}b}}"),
    ("`code` `{quote}`", "{{&#99;ode &#123;quote&#125;}}"),  # {{code}} is never read as {code}
    # characters Jira refuses inside a mark
    ("**a\tb ½**", "*a&#9;b &#189;*"),
]


@pytest.mark.parametrize(("markdown", "wiki"), ESCAPES)
def test_special_characters_come_out_literally(markdown: str, wiki: str) -> None:
    assert markdown_to_wiki(markdown) == wiki
    assert structure(wiki_to_adf(wiki)) == structure(markdown_to_adf(markdown))


def test_code_text_holding_both_closing_tags_is_kept_as_monospaced_lines() -> None:
    markdown = "```py\n{code}\n{noformat}\n```"
    wiki = markdown_to_wiki(markdown)
    assert wiki == "{{&#123;code&#125;}}\\\\ {{&#123;noformat&#125;}}"
    assert text_content(wiki_to_adf(wiki)) == text_content(markdown_to_adf(markdown))


@pytest.mark.parametrize(
    ("markdown", "wiki"),
    [
        ("```py\na {code} b\n```", "{noformat}\na {code} b\n{noformat}"),
        ("```\na {noformat} b\n```", "{code:none}\na {noformat} b\n{code}"),
    ],
)
def test_code_text_holding_a_closing_tag_uses_the_other_macro(markdown: str, wiki: str) -> None:
    assert markdown_to_wiki(markdown) == wiki
    assert text_content(wiki_to_adf(wiki)) == text_content(markdown_to_adf(markdown))


def test_a_language_jira_could_not_read_is_dropped() -> None:
    markdown = "```weird{lang}|x\nx\n```"
    assert markdown_to_wiki(markdown) == "{noformat}\nx\n{noformat}"


def test_empty_input_gives_empty_wiki_text() -> None:
    assert markdown_to_wiki("") == ""
    assert markdown_to_wiki("\n\n  \n") == ""


def test_a_ticket_document_converts_as_a_whole() -> None:
    from application.adf import build_ticket_document

    document = build_ticket_document(
        "node.type.page", "Page", "As an editor *I* want [pages](https://e.com).",
        "| a | b |\n|---|---|\n| 1 | 2 |", "- [ ] done",
    )  # fmt: skip
    wiki = adf_to_wiki(document.adf)
    assert wiki == (
        "h2. User story\n\nAs an editor _I_ want [pages|https://e.com].\n\n"
        "h2. Analysis\n\n||a||b||\n|1|2|\n\nh2. Verification\n\n* \\[ \\] done"
    )


@pytest.mark.parametrize(
    ("text", "wiki"),
    [
        ("attached as node.type.page-description.md.",) * 2,
        ("# a__b_-c *x* [y] (x)", "\\# a\\_\\_b\\_\\-c \\*x\\* \\[y\\] \\(x)"),
        ("two\nlines", "two\\\\ lines"),
    ],
)
def test_plain_text_shows_every_character(text: str, wiki: str) -> None:
    assert plain_to_wiki(text) == wiki
    shown = wiki_to_adf(wiki)["content"][0]["content"]
    assert "".join(n.get("text", "\n") for n in shown).replace("\n ", "\n") == text


def test_unknown_nodes_keep_their_text() -> None:
    document = {
        "version": 1,
        "type": "doc",
        "content": [
            {"type": "panel", "content": [{"type": "paragraph", "content": [
                {"type": "text", "text": "inside *panel*"},
                {"type": "mention", "attrs": {"id": "x"}},
            ]}]},
        ],
    }  # fmt: skip
    assert adf_to_wiki(document) == "inside \\*panel\\*"
