"""The interfaces read through the query objects (`projections.*View`), never around them.

No module under `interfaces/` loads an aggregate to answer a question
(`load_session`, `load_export`), names a read model's table (`projections.x.TABLE`
...), or reads documents out of the read-model store (`container.store.get/list/count`).
Checked on the source (ast), so it needs nothing running.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import projections
from projections.base import Projection

REPO = Path(__file__).resolve().parents[3]
INTERFACES = REPO / "interfaces"
AGGREGATE_LOADERS = {"load_session", "load_export"}
DOCUMENT_READS = {"get", "list", "count"}


def table_constants() -> dict[str, set[str]]:
    """projections module -> its constants that name a table of some projection."""
    modules = [
        importlib.import_module(f"projections.{m.name}")
        for m in pkgutil.iter_modules(projections.__path__)
    ]
    tables: set[str] = set()
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Projection) and cls is not Projection:
                tables.update(getattr(cls, "tables", ()))
    return {
        module.__name__: {
            name
            for name, value in vars(module).items()
            if name.isupper() and isinstance(value, str) and value in tables
        }
        for module in modules
    }


TABLE_CONSTANTS = table_constants()


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of names, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = dotted(node.value)
        return None if owner is None else f"{owner}.{node.attr}"
    return None


def violations(source: str, filename: str = "<source>") -> list[str]:
    tree = ast.parse(source, filename)
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> projections module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in TABLE_CONSTANTS:
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                module = f"{node.module}.{alias.name}"
                if module in TABLE_CONSTANTS:
                    aliases[alias.asname or alias.name] = module
                if alias.name in TABLE_CONSTANTS.get(node.module, set()):
                    found.append(f"{filename}:{node.lineno}: imports the table name {alias.name}")
                if alias.name in AGGREGATE_LOADERS:
                    found.append(f"{filename}:{node.lineno}: imports {alias.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        if node.attr in AGGREGATE_LOADERS:
            found.append(f"{filename}:{node.lineno}: loads an aggregate ({node.attr})")
        owner = node.value
        named = aliases.get(dotted(owner) or "")
        if named is not None and node.attr in TABLE_CONSTANTS[named]:
            found.append(f"{filename}:{node.lineno}: names the table {named}.{node.attr}")
        if (
            node.attr in DOCUMENT_READS
            and isinstance(owner, ast.Attribute)
            and owner.attr == "store"
        ):
            found.append(f"{filename}:{node.lineno}: reads the store directly (store.{node.attr})")
    return found


def test_the_rule_knows_the_read_models_tables() -> None:
    assert "TABLE" in TABLE_CONSTANTS["projections.tickets"]
    assert "ENTITIES" in TABLE_CONSTANTS["projections.tickets"]
    assert "TABLE" in TABLE_CONSTANTS["projections.sessions"]


def test_the_rule_catches_each_way_around_the_views() -> None:
    source = (
        "from projections import tickets as tickets_view\n"
        "import projections.exports\n"
        "from projections.audit import TABLE\n"
        "from application.sessions import TicketForge\n"
        "def route(container, session_id):\n"
        "    container.app.load_session(session_id)\n"
        "    container.app.load_export(session_id)\n"
        "    container.store.get(tickets_view.TABLE, 'x')\n"
        "    container.store.list(projections.exports.TABLE)\n"
        "    container.store.count('sessions')\n"
    )
    found = violations(source)
    assert len(found) == 8, "\n".join(found)


def test_the_interfaces_read_through_the_query_objects() -> None:
    files = sorted(INTERFACES.rglob("*.py"))
    assert len(files) > 10
    found = [v for f in files for v in violations(f.read_text(), str(f.relative_to(REPO)))]
    assert not found, "\n".join(found)
