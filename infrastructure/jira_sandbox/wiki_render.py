"""Jira wiki markup -> ADF, as Jira Data Center's wiki renderer would read it.

The sandbox's Data Center flavour stores descriptions as the wiki text it was given and
renders them with this (to ADF, which `/browse` and the checks already understand). The
tests use it as the independent reader of what `application.adf.wiki` writes, so it is
written from Jira's renderer (atlassian-renderer), not from our writer, and it reads the
text in the renderer's order:

1. macros: {code[:lang]}, {noformat}, {quote}, {panel}, each until its closing tag;
2. block lines: `h1.`-`h6.`, `bq.`, `----`, list lines (`*`, `#`, `-`, mixed `#*`),
   table lines (`||head||` / `|cell|`), blank lines between paragraphs; other lines are
   paragraph lines, a newline inside a paragraph being a line break;
3. inline, per block: links `[alias|url]` / `[url]`, bare URLs, backslash escapes
   (`\\X` for X in `-#*_+?^~|%{}[]()!@`), `--`/`---` dashes, emoticons (`:)` `(x)` ...,
   a backslash in front keeps the symbol), images `!src!`, the phrases
   (*strong* ^sup^ ~sub~ _em_ -del- ??cite?? +ins+ {{mono}}, or braced `{*}...{*}`, with
   Jira's rules: no letter or digit before the opening or after the closing delimiter,
   no space inside either, one line at most), `\\\\` line breaks, then HTML entities.

What Jira renders as something ADF has no node for becomes the closest node: an
emoticon an `emoji`, an image an `inlineCard`, ^sup^/~sub~ a `subsup` mark, +ins+ an
`underline` mark, ??cite?? an `em` mark, {panel} a `panel`.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from html.entities import html5
from typing import Any

Node = dict[str, Any]

# Placeholders: block and inline tokens are single characters of plane 15's private use
# area; the opening and closing of phrase marks are characters of the BMP's. Input that
# already holds such characters keeps them as literal-text tokens.
_TOKEN_BASE = 0xF0000
_TAG_BASE = 0xE000
_PHRASES = (  # Jira's order: (delimiter, mark)
    ("*", "strong"),
    ("^", "sup"),
    ("~", "sub"),
    ("_", "em"),
    ("-", "strike"),
    ("??", "cite"),
    ("+", "underline"),
    ("{{", "code"),
)
_CLOSING = {"{{": "}}"}
_TAG_OPEN = {mark: chr(_TAG_BASE + 2 * index) for index, (_, mark) in enumerate(_PHRASES)}
_TAG_CLOSE = {mark: chr(_TAG_BASE + 2 * index + 1) for index, (_, mark) in enumerate(_PHRASES)}
_TAGS = {char: (mark, True) for mark, char in _TAG_OPEN.items()} | {
    char: (mark, False) for mark, char in _TAG_CLOSE.items()
}

_ESCAPE = re.compile(r"(^|(?<!\\))\\([-#*_+?^~|%{}\[\]()!@])")
_EM_DASH = re.compile(r"(^|\s)---(?=\s|$)")
_EN_DASH = re.compile(r"(^|\s)--(?=\s|$)")
_FORCED_BREAK = re.compile(r"(?<!\\)\\\\(?!\S*\\)")
_URL = re.compile(
    r"(?:(?:https?|ftp|file|irc|nntp|news)://|mailto:)[^\s\[\]|<>\"\ue000-\uf8ff\U000f0000-\U0010ffff]+",
    re.I,
)
_IMAGE = re.compile(r"!([^\s!][^!\n]*?)!")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")
_EMOTICONS = {
    ":-)": "smile", ":)": "smile", ":P": "stuck_out_tongue", ":p": "stuck_out_tongue",
    ";-)": "wink", ";)": "wink", ":D": "grinning", ":-(": "frowning", ":(": "frowning",
    "(y)": "thumbsup", "(n)": "thumbsdown", "(i)": "information_source",
    "(/)": "white_check_mark", "(x)": "x", "(+)": "heavy_plus_sign",
    "(-)": "heavy_minus_sign", "(!)": "warning", "(?)": "question", "(on)": "bulb",
    "(off)": "bulb", "(*)": "star", "(*b)": "star", "(*y)": "star", "(*g)": "star",
    "(*r)": "star", "(flag)": "triangular_flag_on_post", "(flagoff)": "flags",
}  # fmt: skip
_EMOTICON = re.compile(
    r"(\\?(?:" + "|".join(re.escape(s) for s in sorted(_EMOTICONS, key=len, reverse=True)) + r"))"
)

_HEADING = re.compile(r"\s*h([1-6])\.\s+(.*)", re.S)
_QUOTE_LINE = re.compile(r"\s*bq\.\s+(.*)", re.S)
_RULE = re.compile(r"\s*-{4,}\s*")
_LIST_LINE = re.compile(r"\s*([*#]+|-)\s+(.*)", re.S)
_TABLE_LINE = re.compile(r"\s*\|")
_MACRO = re.compile(r"\{(code|noformat|quote|panel)(?::([^}\n]*))?\}", re.I)
_JAVA_SPACE = " \t\n\x0b\f\r"
_MAX_NESTING = 32


def wiki_to_adf(wiki: str) -> Node:
    """Read Jira wiki markup into an ADF document."""
    return {"version": 1, "type": "doc", "content": _Reader().blocks(wiki)}


class _Reader:
    def __init__(self) -> None:
        self.tokens: list[Node | list[Node]] = []
        self.depth = 0  # {quote}/{panel} bodies being read

    # tokens

    def token(self, value: Node | list[Node]) -> str:
        self.tokens.append(value)
        return chr(_TOKEN_BASE + len(self.tokens) - 1)

    def is_token(self, char: str) -> bool:
        return _TOKEN_BASE <= ord(char) < _TOKEN_BASE + len(self.tokens)

    def protect(self, text: str) -> str:
        """Private-use characters in the input become literal-text tokens."""
        return "".join(
            self.token({"type": "text", "text": c}) if _is_private(c) else c for c in text
        )

    def restore(self, text: str) -> str:
        """Raw text (a code body, a link target) with literal-text tokens put back."""
        out: list[str] = []
        for char in text:
            value = self.tokens[ord(char) - _TOKEN_BASE] if self.is_token(char) else None
            if isinstance(value, dict) and value.get("type") == "text":
                out.append(value["text"])
            else:
                out.append(char)
        return "".join(out)

    # blocks

    def blocks(self, wiki: str) -> list[Node]:
        text = self.macros(self.protect(wiki.replace("\r\n", "\n").replace("\r", "\n")))
        return self.lines(text.split("\n"))

    def macros(self, text: str) -> str:
        """Replace every macro by a block token (its body read now)."""
        out: list[str] = []
        index = 0
        while True:
            match = _MACRO.search(text, index)
            if match is None:
                out.append(text[index:])
                return "".join(out)
            start = match.start()
            if start and text[start - 1] in "\\{":  # escaped, or {{monospace}}
                out.append(text[index : match.end()])
                index = match.end()
                continue
            name = match.group(1).lower()
            end = self.macro_end(text, match.end(), name)
            if end is None:  # never closed: Jira shows it as text
                out.append(text[index : match.end()])
                index = match.end()
                continue
            body_end, after = end
            out.append(text[index:start])
            out.append(self.token(self.macro(name, match.group(2), text[match.end() : body_end])))
            index = after

    def macro_end(self, text: str, start: int, name: str, depth: int = 0) -> tuple[int, int] | None:
        if depth > _MAX_NESTING:  # a pathological nest is read as text, not recursed into
            return None
        closing = re.compile(r"\{" + name + r"\}", re.I)
        if name in ("code", "noformat"):
            found = closing.search(text, start)
            return (found.start(), found.end()) if found else None
        index = start
        while True:  # the body may hold other macros, whose bodies may hold anything
            found = closing.search(text, index)
            inner = _MACRO.search(text, index)
            if found is None:
                return None
            if inner is None or inner.start() >= found.start() or inner.group(1).lower() == name:
                return found.start(), found.end()
            inner_end = self.macro_end(text, inner.end(), inner.group(1).lower(), depth + 1)
            if inner_end is None:
                return found.start(), found.end()
            index = inner_end[1]

    def macro(self, name: str, params: str | None, body: str) -> Node:
        if name in ("code", "noformat"):
            body = self.restore(body.removeprefix("\n").removesuffix("\n"))
            node: Node = {"type": "codeBlock"}
            language = _language(params) if name == "code" else None
            if language:
                node["attrs"] = {"language": language}
            node["content"] = [{"type": "text", "text": body}] if body else []
            return node
        self.depth += 1
        content = self.lines(self.macros(body).split("\n")) if self.depth <= _MAX_NESTING else []
        self.depth -= 1
        if name == "quote":
            return {"type": "blockquote", "content": _fit(content, _QUOTE_CONTENT)}
        return {"type": "panel", "attrs": {"panelType": "info"}, "content": _fit(content, _PANEL)}

    def lines(self, lines: list[str]) -> list[Node]:
        blocks: list[Node] = []
        paragraph: list[str] = []
        list_lines: list[str] = []
        table_lines: list[str] = []

        def flush() -> None:
            if paragraph:
                blocks.extend(self.paragraphs("\n".join(paragraph)))
                paragraph.clear()
            if list_lines:
                blocks.extend(self.list_block(list_lines))
                list_lines.clear()
            if table_lines:
                blocks.append(self.table(table_lines))
                table_lines.clear()

        for line in lines:
            if not line.strip():
                flush()
            elif (heading := _HEADING.fullmatch(line)) is not None:
                flush()
                level = int(heading.group(1))
                inline = self.inline(heading.group(2).strip())
                blocks.append({"type": "heading", "attrs": {"level": level}, "content": inline})
            elif (quoted := _QUOTE_LINE.fullmatch(line)) is not None:
                flush()
                content = _fit(self.paragraphs(quoted.group(1)), _QUOTE_CONTENT)
                blocks.append({"type": "blockquote", "content": content})
            elif _RULE.fullmatch(line):
                flush()
                blocks.append({"type": "rule"})
            elif _LIST_LINE.fullmatch(line):
                if not list_lines:
                    flush()
                list_lines.append(line)
            elif _TABLE_LINE.match(line):
                if not table_lines:
                    flush()
                table_lines.append(line)
            else:
                if list_lines or table_lines:
                    flush()
                paragraph.append(line)
        flush()
        return blocks

    def paragraphs(self, text: str) -> list[Node]:
        """A paragraph's text, split where a block macro sits in it."""
        blocks: list[Node] = []
        pending: list[str] = []

        def flush() -> None:
            chunk = "".join(pending).strip(_JAVA_SPACE)
            pending.clear()
            if chunk:
                blocks.append({"type": "paragraph", "content": self.inline(chunk)})

        for char in text:
            if self.is_token(char) and isinstance(self.tokens[ord(char) - _TOKEN_BASE], dict):
                value = self.tokens[ord(char) - _TOKEN_BASE]
                assert isinstance(value, dict)
                if value["type"] in ("codeBlock", "blockquote", "panel"):
                    flush()
                    blocks.append(value)
                    continue
            pending.append(char)
        flush()
        return blocks

    def list_block(self, lines: list[str]) -> list[Node]:
        """Consecutive list lines: the markers' prefix shared with the line before says
        which list an item continues; deeper markers open lists in the last item."""
        lists: list[Node] = []
        stack: list[tuple[str, Node]] = []  # stack[i]: the open list at depth i + 1
        for line in lines:
            match = _LIST_LINE.fullmatch(line)
            assert match is not None
            kinds = ["orderedList" if m == "#" else "bulletList" for m in match.group(1)]
            common = 0
            while common < min(len(stack), len(kinds)) and stack[common][0] == kinds[common]:
                common += 1
            del stack[common:]
            while len(stack) < len(kinds):
                kind = kinds[len(stack)]
                new_list: Node = {"type": kind, "content": []}
                if stack:
                    items = stack[-1][1]["content"]
                    if not items:
                        items.append(_list_item([]))
                    items[-1]["content"].append(new_list)
                else:
                    lists.append(new_list)
                stack.append((kind, new_list))
            stack[-1][1]["content"].append(_list_item(self.paragraphs(match.group(2))))
        for node in lists:
            _fix_items(node)
        return lists

    def table(self, lines: list[str]) -> Node:
        rows = [{"type": "tableRow", "content": self.cells(line.strip())} for line in lines]
        return {"type": "table", "content": rows}

    def cells(self, line: str) -> list[Node]:
        cells: list[Node] = []
        kind: str | None = None
        current: list[str] = []
        depth = 0  # inside [link] or {{mono}} a pipe is content
        index = 0

        def close() -> None:
            if kind is not None:
                inline = self.inline("".join(current).strip(_JAVA_SPACE))
                cells.append({"type": kind, "content": [{"type": "paragraph", "content": inline}]})
            current.clear()

        while index < len(line):
            char = line[index]
            escaped = index > 0 and line[index - 1] == "\\"
            if char == "|" and not escaped and depth == 0:
                close()
                if line.startswith("||", index):
                    kind, index = "tableHeader", index + 2
                else:
                    kind, index = "tableCell", index + 1
                continue
            if char == "[" and not escaped:
                depth += 1
            elif char == "]" and not escaped and depth:
                depth -= 1
            current.append(char)
            index += 1
        if "".join(current).strip():
            close()
        return cells

    # inline

    def inline(self, text: str) -> list[Node]:
        text = self.links(text)
        text = self.urls(text)
        text = _ESCAPE.sub(_escaped, text)
        text = _EM_DASH.sub("\\1\u2014", text)
        text = _EN_DASH.sub("\\1\u2013", text)
        text = self.emoticons(text)
        text = self.images(text)
        for delimiter, mark in _PHRASES:
            text = self.phrase(text, delimiter, mark)
        text = _FORCED_BREAK.sub(lambda _: self.token({"type": "hardBreak"}), text)
        return self.nodes(text)

    def links(self, text: str) -> str:
        """Jira's link scanner: `[` ... `]` on one line, not escaped, not `[ ` or `[]`."""
        out: list[str] = []
        link: list[str] | None = None
        previous = ""
        for char in text:
            if char == "[":
                if link is not None and previous != "\\":
                    out.extend(link)
                    link = ["["]
                elif link is not None:
                    link.append(char)
                elif previous == "\\":
                    out.append(char)
                else:
                    link = ["["]
            elif char == "]" and link is not None:
                if previous == "\\":
                    link.append(char)
                elif len(link) == 1:
                    out.extend(["[", "]"])
                    link = None
                else:
                    out.append(self.link("".join(link[1:])))
                    link = None
            elif (char.isspace() and previous == "[" and link is not None) or (
                char == "\n" and link is not None
            ):
                out.extend(link)
                out.append(char)
                link = None
            elif link is None:
                out.append(char)
            else:
                link.append(char)
            previous = char
        if link is not None:
            out.extend(link)
        return "".join(out)

    def link(self, body: str) -> str:
        alias, _, rest = body.partition("|")
        if not _:
            alias, rest = "", body
        target = self.restore(rest.split("|")[0].strip())
        label = self.inline(alias) if alias else [{"type": "text", "text": target}]
        return self.token([_with_mark(node, _link_mark(target)) for node in label])

    def urls(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            url = self.restore(match.group(0))
            return self.token([{"type": "text", "text": url, "marks": [_link_mark(url)]}])

        return _URL.sub(replace, text)

    def emoticons(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            symbol = match.group(1)
            end = match.end()
            if end < len(text) and _is_word(text[end]) and not self.is_token(text[end]):
                return symbol
            if symbol.startswith("\\"):
                return symbol[1:]
            short = _EMOTICONS[symbol]
            return self.token({"type": "emoji", "attrs": {"shortName": f":{short}:"}})

        return _EMOTICON.sub(replace, text)

    def images(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            src = match.group(1).split("|")[0]
            return self.token({"type": "inlineCard", "attrs": {"url": src}})

        return _IMAGE.sub(replace, text)

    def phrase(self, text: str, delimiter: str, mark: str) -> str:
        """Jira's PhraseRendererComponent for one delimiter, left to right."""
        scan = _Scan(self, text, delimiter, _CLOSING.get(delimiter, delimiter))
        out: list[str] = []
        index = 0
        while index < len(text):
            found = scan.phrase_at(index)
            if found is None:
                out.append(text[index])
                index += 1
                continue
            content_start, content_end, end = found
            out.append(_TAG_OPEN[mark] + text[content_start:content_end] + _TAG_CLOSE[mark])
            index = end
        return "".join(out)

    def closing_at(self, text: str, index: int, closing: str) -> int | None:
        if text.startswith(closing, index):
            after = index + len(closing)
            if after >= len(text) or not _is_word(text[after]) or self.is_token(text[after]):
                return after
        if text.startswith("{" + closing + "}", index):
            return index + len(closing) + 2
        return None

    def valid_start(self, text: str, index: int) -> bool:
        if index == 0:
            return True
        previous = text[index - 1]
        return self.is_token(previous) or not (_is_word(previous) or previous == "\\")

    def phrase_char(self, char: str) -> bool:
        if self.is_token(char) or char in _TAGS:
            return True
        category = unicodedata.category(char)
        return category[0] in "LZSMP" or category == "Nd"

    # nodes

    def nodes(self, text: str) -> list[Node]:
        out: list[Node] = []
        marks: list[str] = []
        pending: list[str] = []

        def flush() -> None:
            if pending:
                raw = "".join(pending)
                pending.clear()
                for line_index, line in enumerate(raw.split("\n")):
                    if line_index:
                        out.append({"type": "hardBreak"})
                    decoded = _decode(line)
                    if decoded:
                        out.append(_text(decoded, marks))

        for char in text:
            if char in _TAGS:
                flush()
                mark, opening = _TAGS[char]
                if opening:
                    marks.append(mark)
                elif mark in marks:
                    marks.remove(mark)
            elif self.is_token(char):
                flush()
                value = self.tokens[ord(char) - _TOKEN_BASE]
                for node in value if isinstance(value, list) else _as_inline(value):
                    out.append(_with_marks(node, marks))
            else:
                pending.append(char)
        flush()
        return _merge(out)


class _Scan:
    """One phrase delimiter's pass over a text, as Jira's regular expression
    `(?:VALID_START D|{D})([^\\s D]((?!E)[\\p{L}\\p{Nd}\\p{Z}\\p{S}\\p{M}\\p{P}]*?[^\\s E])??)`
    `(?<!\\\\)(?:E VALID_END|{E})` finds phrases (D, E: the opening and closing delimiters).
    `stop[i]` is the first index from i where a middle character fails (E starts there, or
    a character outside those classes), so every opening is tried in constant time."""

    def __init__(self, reader: _Reader, text: str, opening: str, closing: str) -> None:
        self.reader, self.text, self.opening, self.closing = reader, text, opening, closing
        size = len(text)
        self.stop = [size] * (size + 1)
        for index in range(size - 1, -1, -1):
            fails = text.startswith(closing, index) or not reader.phrase_char(text[index])
            self.stop[index] = index if fails else self.stop[index + 1]
        braced = "{" + closing + "}"
        self.closers = [
            i for i in range(size) if text.startswith(closing, i) or text.startswith(braced, i)
        ]

    def phrase_at(self, index: int) -> tuple[int, int, int] | None:
        text, opening = self.text, self.opening
        starts: list[int] = []
        if text.startswith(opening, index) and self.reader.valid_start(text, index):
            starts.append(index + len(opening))
        if text.startswith("{" + opening + "}", index):
            starts.append(index + len(opening) + 2)
        for start in starts:
            found = self.content(start)
            if found is not None:
                return start, found[0], found[1]
        return None

    def content(self, start: int) -> tuple[int, int] | None:
        """The end of the shortest content from `start`, and of its closing delimiter."""
        text, closing = self.text, self.closing
        if start >= len(text) or text[start] in _JAVA_SPACE or text[start] in self.opening:
            return None
        if text[start] != "\\":
            after = self.reader.closing_at(text, start + 1, closing)
            if after is not None:
                return start + 1, after
        # A longer content ends at `last`, its middle text[start + 1 : last] all allowed.
        limit = self.stop[start + 1] if start + 1 < len(text) else start + 1
        position = bisect_left(self.closers, start + 2)
        while position < len(self.closers) and self.closers[position] - 1 <= limit:
            end = self.closers[position]
            last = text[end - 1]
            if last not in _JAVA_SPACE and last not in closing and last != "\\":
                after = self.reader.closing_at(text, end, closing)
                if after is not None:
                    return end, after
            position += 1
        return None


def _as_inline(node: Node) -> list[Node]:
    """A block macro where only inline content may stand (a table cell, a heading)."""
    if node["type"] == "codeBlock":
        out: list[Node] = []
        for index, line in enumerate("".join(t["text"] for t in node["content"]).split("\n")):
            if index:
                out.append({"type": "hardBreak"})
            if line:
                out.append({"type": "text", "text": line, "marks": [{"type": "code"}]})
        return out
    if node["type"] in ("blockquote", "panel", "paragraph"):
        inline: list[Node] = []
        for child in node["content"]:
            if inline and child.get("content"):
                inline.append({"type": "hardBreak"})
            inline.extend(_as_inline(child) if child["type"] != "text" else [child])
        return inline
    if node["type"] in _FLATTENED:
        return [n for child in node.get("content", []) for n in _as_inline(child)]
    return [] if node["type"] == "rule" else [node]


_FLATTENED = frozenset(
    {"bulletList", "orderedList", "listItem", "heading", "table", "tableRow", "tableHeader",
     "tableCell"}
)  # fmt: skip


def _escaped(match: re.Match[str]) -> str:
    char = match.group(2)
    return match.group(1) + (char if char in "{}[]" else f"&#{ord(char)};")


def _language(params: str | None) -> str | None:
    if not params:
        return None
    for raw in params.split("|"):
        part = raw.strip()
        if part and "=" not in part:
            return None if part.lower() == "none" else part
    return None


_QUOTE_CONTENT = frozenset({"paragraph", "bulletList", "orderedList", "codeBlock"})
_ITEM_CONTENT = _QUOTE_CONTENT
_PANEL = frozenset({"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "rule"})


def _fit(blocks: list[Node], allowed: frozenset[str]) -> list[Node]:
    """What ADF does not allow in a container, as paragraphs (text kept), never empty."""
    fitted: list[Node] = []
    for block in blocks:
        if block["type"] in allowed:
            fitted.append(block)
        elif block["type"] == "heading":
            fitted.append({"type": "paragraph", "content": block["content"]})
        elif block["type"] == "table":
            for row in block["content"]:
                for cell in row["content"]:
                    fitted.extend(cell["content"])
        elif block["type"] in ("blockquote", "panel"):
            fitted.extend(_fit(block["content"], allowed))
    return fitted or [{"type": "paragraph", "content": []}]


def _list_item(blocks: list[Node]) -> Node:
    return {"type": "listItem", "content": _fit(blocks, _ITEM_CONTENT) if blocks else []}


def _fix_items(node: Node) -> None:
    """ADF wants every list item to open with a paragraph."""
    for item in node.get("content", []):
        if item.get("type") != "listItem":
            continue
        content = item["content"]
        if not content or content[0]["type"] != "paragraph":
            content.insert(0, {"type": "paragraph", "content": []})
        for child in content:
            if child["type"] in ("bulletList", "orderedList"):
                _fix_items(child)


def _is_word(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] == "L" or category == "Nd"


def _is_private(char: str) -> bool:
    code = ord(char)
    return 0xE000 <= code <= 0xF8FF or code >= _TOKEN_BASE


def _decode(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith(("#x", "#X")):
            return _char(int(name[2:], 16), match.group(0))
        if name.startswith("#"):
            return _char(int(name[1:]), match.group(0))
        return html5.get(name + ";", match.group(0))

    return _ENTITY.sub(replace, text)


def _char(code: int, fallback: str) -> str:
    return chr(code) if 0 < code <= 0x10FFFF else fallback


def _link_mark(href: str) -> Node:
    return {"type": "link", "attrs": {"href": href}}


_ADF_MARK: dict[str, Node] = {
    "strong": {"type": "strong"},
    "em": {"type": "em"},
    "cite": {"type": "em"},
    "strike": {"type": "strike"},
    "underline": {"type": "underline"},
    "code": {"type": "code"},
    "sup": {"type": "subsup", "attrs": {"type": "sup"}},
    "sub": {"type": "subsup", "attrs": {"type": "sub"}},
}
_MARK_RANK = {"link": 0, "em": 1, "strong": 2, "strike": 3, "underline": 4, "subsup": 5, "code": 6}


def _text(text: str, marks: list[str]) -> Node:
    node: Node = {"type": "text", "text": text}
    adf = _marks([_ADF_MARK[m] for m in marks])
    if adf:
        node["marks"] = adf
    return node


def _marks(marks: list[Node]) -> list[Node]:
    seen: dict[str, Node] = {}
    for mark in marks:
        seen.setdefault(mark["type"], mark)
    if "code" in seen:  # ADF's code mark combines with link only
        seen = {k: v for k, v in seen.items() if k in ("code", "link")}
    return sorted(seen.values(), key=lambda m: _MARK_RANK.get(m["type"], 9))


def _with_mark(node: Node, mark: Node) -> Node:
    if node.get("type") != "text":
        return node
    return {**node, "marks": _marks([*node.get("marks", []), mark])}


def _with_marks(node: Node, marks: list[str]) -> Node:
    if node.get("type") != "text" or not marks:
        return node
    return {**node, "marks": _marks([*node.get("marks", []), *(_ADF_MARK[m] for m in marks)])}


def _merge(nodes: list[Node]) -> list[Node]:
    merged: list[Node] = []
    for node in nodes:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and node.get("type") == "text"
            and previous.get("type") == "text"
            and previous.get("marks") == node.get("marks")
        ):
            merged[-1] = {**previous, "text": previous["text"] + node["text"]}
        else:
            merged.append(node)
    return merged
