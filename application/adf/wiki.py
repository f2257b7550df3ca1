"""Markdown (or the ADF built from it) -> Jira wiki markup, the description format of Jira
Data Center/Server's REST API v2.

The wiki text is written from the ADF document that `markdown_to_adf` builds, so Cloud and
Data Center see one structure: the same safe-link rule, the same image and raw-HTML
handling, the same fitting of headings, tables and rules inside lists and quotes.

Escaping follows Jira's wiki renderer (atlassian-renderer), whose components run in this
order on the text: macros ({code}, {noformat}, {quote}), block lines (h1., bq., ----, lists,
tables), links and bare URLs, backslash escapes, HTML escaping (entities are kept), dashes,
emoticons, images, the phrase marks (*strong*, _em_, -strike-, {{mono}}, ...), and `\\\\`
line breaks. So text comes out literally when:

- `\\X` is used for the characters Jira un-escapes (`-#*_+?^~|%{}[]()!@`); `{` and `}` are
  written as entities (`\\{` turns back into `{` before monospace is rendered), so are
  `|` in a table cell and `|`, `[`, `]` in a link's text;
- a phrase character inside a mark of its own (`_` in `_em_`) is always escaped: Jira's
  phrase never holds its delimiter;
- a backslash itself is `&#92;` (Jira never un-escapes one), an `&` that would read as an
  entity is `&amp;`;
- phrase characters are escaped unless they sit between two letters or digits (where Jira
  never takes them as marks), `#` only at the start of a line;
- emoticons (`(x)`, `:)`, `;-)`, ...), `--`/`---` dashes, `h1.`/`bq.` at a line start and
  `scheme://` (which Jira would turn into a link) are broken by one escaped character;
- a mark uses its plain delimiters (`*a*`) where Jira accepts them and the braced form
  (`{*}a{*}`) inside a word; whitespace at a mark's edges is moved outside it (Jira
  refuses `* a*`), and characters Jira refuses inside a mark are written as entities.

Inside {code} and {noformat} nothing is escaped (a code text holding `{code}` goes in
{noformat}, and the reverse). What wiki markup cannot say: an ordered list's start number,
a link's title, a code language that is not one plain word, a list item's second paragraph
(it follows the first after two `\\\\` breaks) and content after a nested list in an
item (it starts the next item).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote

from application.adf.convert import markdown_to_adf

Node = dict[str, Any]

# Phrase delimiters: *strong* _em_ -deleted- +inserted+ ^sup^ ~sub~ ??cite??
_PHRASE_CHARS = frozenset("*_-+^~")
_ENTITY_LIKE = re.compile(r"&#?[0-9A-Za-z]+;")
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*$")
_LINE_START_BLOCK = re.compile(r"(h[1-6]|bq)\.")
# Emoticon symbols of Jira's icon manager that start with "(" (matched case-insensitively).
_PAREN_EMOTICONS = (
    "(flagoff)", "(flag)", "(off)", "(on)", "(*r)", "(*g)", "(*b)", "(*y)", "(*)",
    "(y)", "(n)", "(i)", "(/)", "(x)", "(+)", "(-)", "(!)", "(?)",
)  # fmt: skip
_MACRO_NAME = re.compile(r"(code|noformat|quote|panel|color|anchor)", re.I)
# Runs of characters that are always written as they are (the rules below never touch
# them): ASCII letters and digits, spaces and harmless punctuation.
_PLAIN = re.compile(r"[A-Za-z0-9 ,./'\"=<>$%@`]+")
_SAFE_LANGUAGE = re.compile(r"[A-Za-z0-9_+#.-]{1,40}")

_MARK_ORDER = ("strong", "em", "strike", "code")
_DELIMITER = {"strong": "*", "em": "_", "strike": "-", "code": "{{"}
_CLOSER = {"strong": "*", "em": "_", "strike": "-", "code": "}}"}
# Unicode categories Jira accepts inside a phrase (besides its first and last character).
_PHRASE_CATEGORIES = ("L", "Z", "S", "M", "P")


def markdown_to_wiki(markdown: str) -> str:
    """Convert ticket Markdown to Jira wiki markup (same structure as `markdown_to_adf`)."""
    return adf_to_wiki(markdown_to_adf(markdown))


def adf_to_wiki(document: Node) -> str:
    """Write an ADF document (as `markdown_to_adf` or `build_ticket_document` builds it)
    as Jira wiki markup."""
    return _blocks(document.get("content", []))


def plain_to_wiki(text: str) -> str:
    """Plain text (not Markdown) as one wiki paragraph that shows every character as it
    is, e.g. a note built from a file name; a newline becomes a `\\\\` line break."""
    return _inline([{"type": "text", "text": text}], line_start=True)


def _blocks(nodes: list[Node]) -> str:
    rendered = (_block(node) for node in nodes)
    return "\n\n".join(text for text in rendered if text)


def _block(node: Node) -> str:
    kind = node.get("type")
    content = node.get("content", [])
    if kind == "paragraph":
        return _inline(content, line_start=True)
    if kind == "heading":
        level = min(max(int(node.get("attrs", {}).get("level", 1)), 1), 6)
        return f"h{level}. " + (_inline(content) or "&#160;")
    if kind in ("bulletList", "orderedList"):
        return "\n".join(_list(node, ""))
    if kind == "blockquote":
        return "{quote}\n" + _blocks(content) + "\n{quote}"
    if kind == "codeBlock":
        return _code_block(node)
    if kind == "rule":
        return "----"
    if kind == "table":
        return "\n".join(_row(row) for row in content)
    # Anything else we were given keeps its text as a paragraph.
    return _inline(list(_inline_nodes(node)), line_start=True)


def _inline_nodes(node: Node) -> list[Node]:
    if node.get("type") in ("text", "hardBreak"):
        return [node]
    found: list[Node] = []
    for child in node.get("content", []):
        found.extend(_inline_nodes(child))
    return found


def _list(node: Node, markers: str) -> list[str]:
    marker = markers + ("#" if node.get("type") == "orderedList" else "*")
    lines: list[str] = []
    for item in node.get("content", []):
        lines.extend(_list_item(item.get("content", []), marker))
    return lines


def _list_item(children: list[Node], marker: str) -> list[str]:
    """One item's line (paragraphs and code blocks up to its first nested list), then
    nested lists; content after a nested list continues in a new item of this list."""
    lines: list[str] = []
    line: list[str] = []
    previous = ""

    def flush() -> None:
        text = "".join(line).strip()
        lines.append(f"{marker} {text or '&#160;'}")
        line.clear()

    for child in children:
        kind = child.get("type")
        if kind in ("bulletList", "orderedList"):
            if previous != "list":
                flush()
            lines.extend(_list(child, marker))
            previous = "list"
            continue
        if kind == "codeBlock":
            line.append(" " + _code_block(child) + " ")
            previous = "code"
        else:
            text = _inline(_inline_nodes(child))
            if previous == "paragraph":
                line.append(" \\\\ \\\\ ")
            line.append(text)
            previous = "paragraph"
    if line or not lines:
        flush()
    return lines


def _code_block(node: Node) -> str:
    text = "".join(child.get("text", "") for child in node.get("content", []))
    language = str(node.get("attrs", {}).get("language") or "")
    lowered = text.lower()
    if _SAFE_LANGUAGE.fullmatch(language) and "{code" not in lowered:
        return f"{{code:{language}}}\n{text}\n{{code}}"
    if "{noformat" not in lowered:
        return f"{{noformat}}\n{text}\n{{noformat}}"
    if "{code" not in lowered:
        return f"{{code:none}}\n{text}\n{{code}}"
    # The text closes both macros: keep it, as monospaced lines.
    nodes: list[Node] = []
    for index, line in enumerate(text.split("\n")):
        if index:
            nodes.append({"type": "hardBreak"})
        if line:
            nodes.append({"type": "text", "text": line, "marks": [{"type": "code"}]})
    return _inline(nodes, line_start=True)


def _row(row: Node) -> str:
    cells: list[str] = []
    last = "|"
    for cell in row.get("content", []):
        last = "||" if cell.get("type") == "tableHeader" else "|"
        paragraphs = [
            _inline(_inline_nodes(block), in_cell=True) for block in cell.get("content", [])
        ]
        text = " \\\\ \\\\ ".join(p for p in paragraphs if p)
        cells.append(last + (text or " "))
    return "".join(cells) + last


# --- inline -------------------------------------------------------------------------


class _Run:
    """A stretch of text with one set of marks, or a hard break (text None)."""

    __slots__ = ("href", "marks", "text")

    def __init__(self, text: str | None, marks: tuple[str, ...] = (), href: str | None = None):
        self.text = text
        self.marks = marks
        self.href = href


def _runs(nodes: list[Node]) -> list[_Run]:
    runs: list[_Run] = []
    for node in nodes:
        if node.get("type") == "hardBreak":
            runs.append(_Run(None))
            continue
        text = node.get("text", "")
        if not isinstance(text, str) or not text:
            continue
        marks: set[str] = set()
        href: str | None = None
        for mark in node.get("marks", []):
            kind = mark.get("type")
            if kind == "link":
                href = str(mark.get("attrs", {}).get("href", ""))
            elif kind in _DELIMITER:
                marks.add(kind)
        ordered = tuple(m for m in _MARK_ORDER if m in marks)
        for index, line in enumerate(text.split("\n")):
            if index:
                runs.append(_Run(None))
            _add_text(runs, line, ordered, href)
    return runs


def _add_text(runs: list[_Run], text: str, marks: tuple[str, ...], href: str | None) -> None:
    """Add text, moving whitespace at its edges out of its marks (not out of its link)."""
    core = text.strip()
    if not core:
        _append(runs, _Run(text, (), href))
        return
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    if start:
        _append(runs, _Run(text[:start], (), href))
    _append(runs, _Run(core, marks, href))
    if end < len(text):
        _append(runs, _Run(text[end:], (), href))


def _unlink_edges(runs: list[_Run]) -> list[_Run]:
    """Whitespace opening or closing a link's text goes outside it (`[ a|...]` is no link)."""
    out: list[_Run] = []
    for index, run in enumerate(runs):
        if run.text is None or run.href is None:
            out.append(run)
            continue
        first = index == 0 or runs[index - 1].href != run.href or runs[index - 1].text is None
        last = index + 1 == len(runs) or runs[index + 1].href != run.href
        last = last or runs[index + 1].text is None
        text = run.text
        lead = len(text) - len(text.lstrip()) if first else 0
        trail = len(text) - len(text.rstrip()) if last else 0
        if lead == len(text) or (last and trail == len(text)):
            runs[index] = _Run(text)  # so the next run opens the link
            out.append(runs[index])
            continue
        if lead:
            out.append(_Run(text[:lead]))
        out.append(_Run(text[lead : len(text) - trail], run.marks, run.href))
        if trail:
            out.append(_Run(text[len(text) - trail :]))
    # Whitespace between two runs stays inside the marks (and link) open on both sides,
    # so `**a *b* c**` is one strong span: it takes the longest common prefix of their
    # mark stacks, so that no mark opens on it or closes right after it.
    for index in range(1, len(out) - 1):
        run, before, after = out[index], out[index - 1], out[index + 1]
        if run.text is None or run.text.strip() or run.marks:
            continue
        if before.text is None or after.text is None:
            continue
        shared = _common_prefix(_stack(before), _stack(after))
        href = shared[0][5:] if shared and shared[0].startswith("link:") else None
        out[index] = _Run(run.text, tuple(m for m in shared if not m.startswith("link:")), href)
    merged: list[_Run] = []
    for run in out:
        _append(merged, run)
    return merged


def _append(runs: list[_Run], run: _Run) -> None:
    last = runs[-1] if runs else None
    if (
        last is not None
        and last.text is not None
        and run.text is not None
        and (last.marks, last.href) == (run.marks, run.href)
    ):
        last.text += run.text
    else:
        runs.append(run)


def _stack(run: _Run) -> list[str]:
    """The marks open on a run, outermost first: its link, then its phrase marks."""
    return ([f"link:{run.href}"] if run.href is not None else []) + list(run.marks)


def _common_prefix(first: list[str], second: list[str]) -> list[str]:
    common: list[str] = []
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        common.append(a)
    return common


# Tokens of the flat inline stream: ("open", kind) ("close", kind) ("text", str) ("br", "")
# with kind a mark name or "link:<href>".
_Token = tuple[str, str]


def _tokens(runs: list[_Run]) -> list[_Token]:
    tokens: list[_Token] = []
    stack: list[str] = []
    for run in runs:
        target = [] if run.text is None else _stack(run)
        common = len(_common_prefix(stack, target))
        while len(stack) > common:
            tokens.append(("close", stack.pop()))
        for kind in target[common:]:
            tokens.append(("open", kind))
            stack.append(kind)
        tokens.append(("br", "") if run.text is None else ("text", run.text))
    while stack:
        tokens.append(("close", stack.pop()))
    return tokens


def _inline(nodes: list[Node], *, line_start: bool = False, in_cell: bool = False) -> str:
    tokens = _tokens(_unlink_edges(_runs(nodes)))
    writer = _InlineWriter(in_cell=in_cell)
    for index, (kind, value) in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if kind == "text":
            writer.text(value, line_start=line_start and not writer.out)
        elif kind == "br":
            writer.out.append("\\\\")
            if following is not None:
                writer.out.append(" ")
        elif kind == "open":
            writer.open(value)
        else:
            writer.close(value, following)
    return "".join(writer.out)


def _is_word(char: str) -> bool:
    """Jira's [\\p{L}\\p{Nd}]: a character next to which a phrase delimiter does not count."""
    category = unicodedata.category(char)
    return category.startswith("L") or category == "Nd"


class _InlineWriter:
    def __init__(self, *, in_cell: bool) -> None:
        self.out: list[str] = []
        self.in_cell = in_cell
        self.links = 0  # > 0 while writing a link's text
        self.phrases: list[str] = []  # the delimiters of the phrase marks open here
        self.escaped_last = False  # the last thing written ends, once rendered, in ";"

    def last_char(self) -> str:
        for piece in reversed(self.out):
            if piece:
                return piece[-1]
        return ""

    # marks

    def open(self, kind: str) -> None:
        self.escaped_last = False
        if kind.startswith("link:"):
            self.out.append("[")
            self.links += 1
            return
        previous = self.last_char()
        plain = not previous or not (_is_word(previous) or previous == "\\")
        self.out.append(_DELIMITER[kind] if plain else "{" + _DELIMITER[kind] + "}")
        self.phrases.append(_DELIMITER[kind])

    def close(self, kind: str, following: _Token | None) -> None:
        self.escaped_last = False
        if kind.startswith("link:"):
            self.links -= 1
            self.out.append("|" + _href(kind[5:]) + "]")
            return
        self.phrases.remove(_DELIMITER[kind])
        after = following[1][:1] if following is not None and following[0] == "text" else ""
        plain = not after or not _is_word(after)
        closer = _CLOSER[kind]
        self.out.append(closer if plain else "{" + closer + "}")

    # text

    def text(self, text: str, *, line_start: bool) -> None:
        index = 0
        start = -1
        if self.last_char() == "{" and _MACRO_NAME.match(text):
            # {{code}}: keep Jira's macro reader from seeing {code}.
            self.out.append(f"&#{ord(text[0])};")
            self.escaped_last = True
            index = 1
        if line_start:
            start = len(text) - len(text.lstrip())
            block = _LINE_START_BLOCK.match(text, start)
            if block is not None:
                # h1. / bq. opening a line: keep the letters, write the dot as an entity.
                self.out.append(text[: block.end() - 1] + "&#46;")
                self.escaped_last = True
                index = block.end()
        while index < len(text):
            char = text[index]
            if index != start and not (char in "PpD" and self._emoticon_prefix()):
                plain = _PLAIN.match(text, index)
                if plain is not None:
                    # Letters, digits and punctuation Jira gives no meaning to, in one go.
                    self.out.append(plain.group())
                    self.escaped_last = False
                    index = plain.end()
                    continue
            rendered = self._render_char(text, index, at_line_start=index == start)
            self.escaped_last = rendered != char
            self.out.append(rendered)
            index += 1

    def _render_char(self, text: str, index: int, *, at_line_start: bool) -> str:
        char = text[index]
        before = text[index - 1] if index else ""
        after = text[index + 1] if index + 1 < len(text) else ""
        category = unicodedata.category(char)
        if category.startswith("C") or category in ("No", "Nl"):
            # Controls, format characters and the like: Jira refuses them inside a phrase.
            return f"&#{ord(char)};"
        if char == "\\":
            return "&#92;"
        if char == "&":
            return "&amp;" if _ENTITY_LIKE.match(text, index) else "&"
        if char in "{}":
            return f"&#{ord(char)};"
        if char in "[]|":
            if self.links or (char == "|" and self.in_cell):
                return f"&#{ord(char)};"
            return "\\" + char
        if at_line_start and char == "#":
            return "\\#"
        if char in _PHRASE_CHARS:
            # Jira's phrase content never holds its own delimiter; elsewhere a delimiter
            # between two letters or digits is no delimiter.
            inside = char in self.phrases
            if not inside and before and after and _is_word(before) and _is_word(after):
                return char
            return "\\" + char
        if char == "?":
            return "\\?" if "?" in (before, after) else char
        if char == "!":
            return "\\!"
        if char == "(":
            if self._emoticon_prefix() or _paren_emoticon(text, index):
                return "\\("
            return char
        if char == ")":
            if self.escaped_last or self._emoticon_prefix():
                return "\\)"
            return char
        if char in "PpD" and self._emoticon_prefix() and not (after and _is_word(after)):
            return f"&#{ord(char)};"
        if char == ":" and _starts_url(text, index):
            return "&#58;"
        return char

    def _emoticon_prefix(self) -> bool:
        """The output so far ends, as Jira's emoticon renderer sees it, in ':' ';' ':-'
        or ';-' (an escape or entity is rendered as an entity, ending in ';')."""
        tail = "".join(self.out[-2:])
        return self.escaped_last or tail.endswith((":", ";", ":\\-", ";\\-"))


def _starts_url(text: str, colon: int) -> bool:
    """The colon of `scheme://` or `mailto:`, which Jira would turn into a link."""
    head = text[:colon]
    if head.lower().endswith("mailto"):
        return True
    return text.startswith("//", colon + 1) and _URL_SCHEME.search(head) is not None


def _paren_emoticon(text: str, index: int) -> bool:
    lowered = text[index : index + 9].lower()
    for symbol in _PAREN_EMOTICONS:
        if lowered.startswith(symbol):
            end = index + len(symbol)
            return end >= len(text) or not _is_word(text[end])
    return False


def _href(href: str) -> str:
    """A link target that cannot end the link early: `|`, `]`, `[` and spaces escaped."""
    return quote(href, safe="!#$&'()*+,/:;=?@~%-._")
