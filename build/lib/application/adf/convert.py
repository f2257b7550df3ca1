"""Markdown -> Atlassian Document Format (ADF), by walking markdown-it's token stream.

The output must satisfy the official ADF schema whatever the Markdown says, so the
walker builds the natural tree first and then fits each container's children to what
ADF allows there: a heading, rule, table or blockquote inside a list item or a
blockquote is turned into paragraphs rather than dropped or emitted invalid.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

Node = dict[str, Any]

# A mark as a hashable key: ("link", href, title) or (name, "", "").
_Mark = tuple[str, str, str]

_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])

# Only these schemes become clickable; anything else (javascript:, data:, vbscript:,
# relative paths that mean nothing inside Jira) is kept as its plain text.
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})

_MARK_ORDER = {"link": 0, "em": 1, "strong": 2, "strike": 3, "code": 4}
_INLINE_MARKS = {"em_open": "em", "strong_open": "strong", "s_open": "strike"}

# What the ADF schema accepts inside each container we produce (subset of the schema's
# lists, restricted to the node types this converter emits).
_LIST_ITEM_CONTENT = frozenset({"paragraph", "bulletList", "orderedList", "codeBlock"})
_BLOCKQUOTE_CONTENT = _LIST_ITEM_CONTENT


def markdown_to_adf(markdown: str) -> Node:
    """Convert Markdown to an ADF document that validates against the official schema."""
    return {"version": 1, "type": "doc", "content": _Walker().walk(_PARSER.parse(markdown))}


def is_safe_href(href: str) -> bool:
    """True when the link may be clickable in Jira: an absolute http(s) or mailto URL."""
    try:
        parts = urlsplit(href.strip())
    except ValueError:
        return False
    if parts.scheme.lower() not in _SAFE_SCHEMES:
        return False
    return parts.scheme.lower() == "mailto" or bool(parts.netloc)


class _Frame:
    __slots__ = ("attrs", "children", "kind")

    def __init__(self, kind: str, attrs: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self.attrs = attrs
        self.children: list[Node] = []


_OPENERS = {
    "paragraph_open": "paragraph",
    "heading_open": "heading",
    "bullet_list_open": "bulletList",
    "ordered_list_open": "orderedList",
    "list_item_open": "listItem",
    "blockquote_open": "blockquote",
    "table_open": "table",
    "tr_open": "tableRow",
    "th_open": "tableHeader",
    "td_open": "tableCell",
}


class _Walker:
    def __init__(self) -> None:
        self._stack = [_Frame("doc")]

    def walk(self, tokens: list[Token]) -> list[Node]:
        for token in tokens:
            self._block(token)
        return self._stack[0].children

    def _block(self, token: Token) -> None:
        kind = _OPENERS.get(token.type)
        if kind is not None:
            self._stack.append(_Frame(kind, _block_attrs(token, kind)))
        elif token.nesting == -1:
            if token.type in ("thead_close", "tbody_close"):
                return
            frame = self._stack.pop()
            self._stack[-1].children.append(_finish(frame))
        elif token.type == "inline":
            self._stack[-1].children.extend(_inline(token.children or []))
        elif token.type in ("fence", "code_block"):
            self._stack[-1].children.append(_code_block(token))
        elif token.type == "hr":
            self._stack[-1].children.append({"type": "rule"})
        elif token.type == "html_block":
            self._stack[-1].children.append(_plain_lines(token.content))
        # thead_open / tbody_open carry nothing ADF needs.


def _block_attrs(token: Token, kind: str) -> dict[str, Any] | None:
    if kind == "heading":
        return {"level": int(token.tag[1])}
    if kind == "orderedList":
        order = int(token.attrs.get("start", 1))
        return {"order": order} if order != 1 else None
    return None


def _finish(frame: _Frame) -> Node:
    kind = frame.kind
    children = frame.children
    if kind in ("tableHeader", "tableCell"):
        # GFM cells hold inline content only; ADF wants at least one block.
        return {"type": kind, "content": [{"type": "paragraph", "content": children}]}
    if kind == "listItem":
        content = _fit(children, _LIST_ITEM_CONTENT)
        if not content or content[0]["type"] != "paragraph":
            content.insert(0, {"type": "paragraph", "content": []})
        return {"type": kind, "content": content}
    if kind == "blockquote":
        content = _fit(children, _BLOCKQUOTE_CONTENT)
        return {"type": kind, "content": content or [{"type": "paragraph", "content": []}]}
    node: Node = {"type": kind}
    if frame.attrs:
        node["attrs"] = frame.attrs
    node["content"] = children
    return node


def _fit(children: list[Node], allowed: frozenset[str]) -> list[Node]:
    """Rewrite the children a container does not accept into ones it does."""
    fitted: list[Node] = []
    for child in children:
        kind = child["type"]
        if kind in allowed:
            fitted.append(child)
        elif kind == "heading":
            fitted.append({"type": "paragraph", "content": _emphasised(child["content"])})
        elif kind == "blockquote":
            fitted.extend(_fit(child["content"], allowed))
        elif kind == "table":
            fitted.extend(_table_as_paragraphs(child))
        else:  # rule: keep a visible separator
            fitted.append({"type": "paragraph", "content": [{"type": "text", "text": "---"}]})
    return fitted


def _emphasised(inline: list[Node]) -> list[Node]:
    """A heading demoted to a paragraph keeps its weight as strong text."""
    out: list[Node] = []
    for node in inline:
        marks = node.get("marks", [])
        kinds = {mark["type"] for mark in marks}
        if node["type"] == "text" and not kinds & {"code", "strong"}:
            out.append({**node, "marks": _sorted_marks([*marks, {"type": "strong"}])})
        else:
            out.append(node)
    return out


def _table_as_paragraphs(table: Node) -> list[Node]:
    rows: list[Node] = []
    for row in table["content"]:
        inline: list[Node] = []
        for index, cell in enumerate(row["content"]):
            if index:
                inline.append({"type": "text", "text": " | "})
            for block in cell["content"]:
                inline.extend(block.get("content", []))
        rows.append({"type": "paragraph", "content": _merge_text(inline)})
    return rows


def _code_block(token: Token) -> Node:
    text = token.content.removesuffix("\n")
    node: Node = {"type": "codeBlock"}
    words = token.info.split()
    if words:
        node["attrs"] = {"language": words[0]}
    node["content"] = [{"type": "text", "text": text}] if text else []
    return node


def _plain_lines(raw: str) -> Node:
    """Raw HTML is shown as the characters it is made of, one hardBreak per line."""
    content: list[Node] = []
    for index, line in enumerate(raw.rstrip("\n").split("\n")):
        if index:
            content.append({"type": "hardBreak"})
        if line:
            content.append({"type": "text", "text": line})
    return {"type": "paragraph", "content": content}


def _inline(tokens: list[Token]) -> list[Node]:
    """Convert the children of one markdown-it `inline` token to ADF inline nodes."""
    out: list[Node] = []
    # One entry per open em/strong/strike/link token; None for a link we refused.
    active: list[_Mark | None] = []

    def emit(text: str, *extra: _Mark) -> None:
        if text:
            out.append(_text(text, [*(m for m in active if m is not None), *extra]))

    for token in tokens:
        kind = token.type
        if kind in ("text", "text_special", "html_inline"):
            emit(token.content)
        elif kind == "code_inline":
            emit(token.content, ("code", "", ""))
        elif kind == "softbreak":
            emit(" ")
        elif kind == "hardbreak":
            out.append({"type": "hardBreak"})
        elif kind in _INLINE_MARKS:
            active.append((_INLINE_MARKS[kind], "", ""))
        elif kind == "link_open":
            active.append(_link_mark(token.attrs.get("href"), token.attrs.get("title")))
        elif token.nesting == -1:
            if active:
                active.pop()
        elif kind == "image":
            # ADF media needs an uploaded file, so an image becomes a link to its source
            # (or just its alt text inside another link or for an unsafe source).
            alt = _plain_text(token.children or [])
            image_link = _link_mark(token.attrs.get("src"), token.attrs.get("title"))
            in_link = any(m is not None and m[0] == "link" for m in active)
            if in_link or image_link is None:
                emit(alt)
            else:
                emit(alt or image_link[1], image_link)
    return _merge_text(out)


def _plain_text(tokens: list[Token]) -> str:
    """An image's alt text: its parsed label without the markup."""
    parts: list[str] = []
    for token in tokens:
        if token.type == "image":
            parts.append(_plain_text(token.children or []))
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        else:
            parts.append(token.content)
    return "".join(parts)


def _link_mark(href: object, title: object) -> _Mark | None:
    """A link mark for a safe href; None keeps the linked text plain."""
    if not isinstance(href, str) or not is_safe_href(href):
        return None
    return ("link", href, title if isinstance(title, str) else "")


def _text(text: str, marks: list[_Mark]) -> Node:
    seen: dict[str, _Mark] = {}
    for mark in marks:
        seen.setdefault(mark[0], mark)  # nested **a **b** c** is one strong mark
    if "code" in seen:
        # ADF's code mark combines with link only.
        seen = {k: v for k, v in seen.items() if k in ("code", "link")}
    node: Node = {"type": "text", "text": text}
    if seen:
        node["marks"] = [_mark_node(m) for m in sorted(seen.values(), key=_mark_rank)]
    return node


def _mark_rank(mark: _Mark) -> int:
    return _MARK_ORDER[mark[0]]


def _mark_node(mark: _Mark) -> Node:
    kind, href, title = mark
    if kind != "link":
        return {"type": kind}
    attrs = {"href": href}
    if title:
        attrs["title"] = title
    return {"type": "link", "attrs": attrs}


def _sorted_marks(marks: list[Node]) -> list[Node]:
    return sorted(marks, key=lambda mark: _MARK_ORDER[mark["type"]])


def _merge_text(nodes: list[Node]) -> list[Node]:
    """Join neighbouring text nodes that carry the same marks."""
    merged: list[Node] = []
    for node in nodes:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and node["type"] == "text"
            and previous["type"] == "text"
            and previous.get("marks") == node.get("marks")
        ):
            merged[-1] = {**previous, "text": previous["text"] + node["text"]}
        else:
            merged.append(node)
    return merged
