"""What a description looks like once rendered, for comparing Cloud (ADF) and Data Center
(wiki markup) versions of one ticket: block types and nesting, list kinds, table shape,
text, marks, link targets and code languages.

Both sides go through the same normalisation, which forgets only what a reader cannot
see or what wiki markup cannot say:

- whitespace carries no marks, whitespace at a paragraph's edges or beside a line break
  is dropped (HTML does not render it), and a newline inside text is a line break;
- empty paragraphs are dropped, except the one a list item or table cell opens with;
- an ordered list's start number and a link's title are dropped;
- a list item's further paragraph joins the one before it with two line breaks, and what
  follows a nested list in an item starts a new item (wiki list items are one line).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

Node = dict[str, Any]
Shape = Any

_LISTS = ("bulletList", "orderedList")


def structure(document: Node) -> list[Shape]:
    """The normalised structure of an ADF document, as nested tuples."""
    return _blocks(document.get("content", []))


def text_content(document: Node) -> str:
    """Every character a reader sees, in order, whitespace runs collapsed to one space."""
    return " ".join("".join(_texts(structure(document))).split())


def _texts(shape: Shape) -> Iterator[str]:
    if isinstance(shape, tuple) and shape and shape[0] == "text":
        yield shape[1]
    elif isinstance(shape, tuple) and shape and shape[0] == "code":
        yield " " + shape[2] + " "
    elif isinstance(shape, tuple) and shape and shape[0] == "br":
        yield " "
    elif isinstance(shape, (list, tuple)):
        yield " "
        for part in shape:
            if isinstance(part, (list, tuple)):
                yield from _texts(part)
        yield " "


def _blocks(nodes: list[Node]) -> list[Shape]:
    out: list[Shape] = []
    for node in nodes:
        shape = _block(node)
        if shape is not None:
            out.append(shape)
    return out


def _block(node: Node) -> Shape | None:
    kind = node.get("type")
    if kind == "paragraph":
        inline = _inline(node.get("content", []))
        return ("paragraph", inline) if inline else None
    if kind == "heading":
        return ("heading", node["attrs"]["level"], _inline(node.get("content", [])))
    if kind in _LISTS:
        items: list[Shape] = []
        for item in node.get("content", []):
            items.extend(_items(item.get("content", [])))
        return ("list", kind, items)
    if kind == "blockquote":
        return ("quote", _blocks(node.get("content", [])))
    if kind == "codeBlock":
        text = "".join(child.get("text", "") for child in node.get("content", []))
        language = (node.get("attrs") or {}).get("language")
        return ("code", language, text.strip("\n"))
    if kind == "rule":
        return ("rule",)
    if kind == "table":
        return (
            "table",
            [
                [
                    (cell["type"], _inline([n for b in cell["content"] for n in _inline_of(b)]))
                    for cell in row.get("content", [])
                ]
                for row in node.get("content", [])
            ],
        )
    return (str(kind), _blocks(node.get("content", [])))


def _inline_of(block: Node) -> list[Node]:
    return list(block.get("content", []))


def _items(children: list[Node]) -> list[Shape]:
    """One list item's children, as the items wiki markup can hold."""
    items: list[list[Shape]] = [[]]
    previous = ""
    for child in children:
        kind = child.get("type")
        if kind not in _LISTS and previous == "list":
            items.append([])  # content after a nested list: a new item
        current = items[-1]
        if kind == "paragraph" and previous == "paragraph":
            current[-1] = ("paragraph", _join(current[-1][1], _inline(child.get("content", []))))
        elif kind == "paragraph":
            current.append(("paragraph", _inline(child.get("content", []))))
        else:
            shape = _block(child)
            if shape is not None:
                current.append(shape)
        previous = "list" if kind in _LISTS else ("paragraph" if kind == "paragraph" else "other")
    shaped: list[Shape] = []
    for item in items:
        if not item or item[0][0] != "paragraph":
            item.insert(0, ("paragraph", []))
        shaped.append(("item", item))
    return shaped


def _join(first: list[Shape], second: list[Shape]) -> list[Shape]:
    """Two paragraphs of one list item, as wiki markup shows them: two breaks apart."""
    return [*first, ("br",), ("br",), *second]


def _inline(nodes: list[Node]) -> list[Shape]:
    # Characters with their marks, line breaks and other inline nodes.
    atoms: list[Shape] = []
    for node in nodes:
        kind = node.get("type")
        if kind == "hardBreak":
            atoms.append(("br",))
        elif kind == "text":
            marks = _marks(node.get("marks", []))
            for char in node.get("text", ""):
                if char == "\n":
                    atoms.append(("br",))
                else:
                    atoms.append(("char", char, frozenset() if char.isspace() else marks))
        else:
            atoms.append((str(kind), tuple(sorted((node.get("attrs") or {}).items()))))
    kept = [
        atom
        for index, atom in enumerate(atoms)
        if not (_space(atom) and _beside_break(atoms, index))
    ]
    while kept and _space(kept[0]):
        kept.pop(0)
    while kept and _space(kept[-1]):
        kept.pop()
    runs: list[Shape] = []
    for atom in kept:
        if atom[0] == "char":
            if runs and runs[-1][0] == "text" and runs[-1][2] == atom[2]:
                runs[-1] = ("text", runs[-1][1] + atom[1], atom[2])
            else:
                runs.append(("text", atom[1], atom[2]))
        else:
            runs.append(atom)
    return runs


def _space(atom: Shape) -> bool:
    return bool(atom[0] == "char" and atom[1].isspace())


def _beside_break(atoms: list[Shape], index: int) -> bool:
    """Whitespace with only whitespace between it and a line break."""
    for step in (-1, 1):
        position = index + step
        while 0 <= position < len(atoms) and _space(atoms[position]):
            position += step
        if 0 <= position < len(atoms) and atoms[position][0] == "br":
            return True
    return False


def _marks(marks: list[Node]) -> frozenset[Any]:
    out: set[Any] = set()
    for mark in marks:
        kind = mark.get("type")
        if kind == "link":
            out.add(("link", mark.get("attrs", {}).get("href")))
        elif kind == "subsup":
            out.add(("subsup", mark.get("attrs", {}).get("type")))
        else:
            out.add(kind)
    return frozenset(out)


def nestwatch_descriptions(samples: Path) -> list[tuple[str, str]]:
    """NestWatch's ticket descriptions as the product writes them, offline: for each of its
    235 tickets the whole description and each of its three sections (converted on their
    own, as `build_ticket_document` does): 940 Markdown texts, named."""
    from application.adf import ticket_markdown
    from application.generation.offline import OfflineDrafter
    from application.generation.port import DraftRequest
    from application.generation.related import RelatedIndex
    from application.inventory.model import UploadedFile
    from application.inventory.parse import parse_inventory

    folder = samples / "nestwatch" / "inventory"
    files = [UploadedFile(p.name, p.read_bytes()) for p in sorted(folder.glob("*.csv"))]
    entities = parse_inventory(files).entities
    index = RelatedIndex(entities)
    drafter = OfflineDrafter()
    site = {"site_name": "NestWatch"}
    out: list[tuple[str, str]] = []
    for entity in entities:
        draft = drafter.draft(DraftRequest(site, entity, index.for_entity(entity)))
        sections = (draft.user_story, draft.analysis, draft.verification)
        out.append((entity.config_name, ticket_markdown(*sections)))
        for name, body in zip(("user story", "analysis", "verification"), sections, strict=True):
            out.append((f"{entity.config_name} ({name})", body.strip()))
    return out
