"""The generated hub-heavy site of `bench.sites`: the product's parser accepts it and
its `depends_on` edges have the shape of a large real site. No generation here (the
edges a ticket gets are the entity's `depends_on` that exist, see `Session.record_ticket`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from application.inventory.parse import parse_inventory
from bench.sites import main, university_site


def test_the_site_is_deterministic_and_parses_without_warnings() -> None:
    files = university_site()
    assert [f.content for f in files] == [f.content for f in university_site()]
    assert [f.content for f in files] != [f.content for f in university_site(seed=14)]
    parsed = parse_inventory(files)
    assert parsed.warnings == []
    assert 1100 <= len(parsed.entities) <= 1300


def test_edges_and_hubs_have_the_shape_of_a_real_site() -> None:
    entities = parse_inventory(university_site()).entities
    edges = [(e.config_name, dep) for e in entities for dep in e.depends_on]
    assert 1900 <= len(edges) <= 2100
    blocks = Counter(dep for _, dep in edges)
    hubs = {name: n for name, n in blocks.items() if n >= 40}
    assert 4 <= len(hubs) <= 10, hubs
    assert max(blocks.values()) <= 60
    assert {"user.role.site_administrator", "media.type.image", "node.type.person"} <= set(hubs)


def test_the_cli_writes_one_csv_per_kind(tmp_path: Path) -> None:
    assert main([str(tmp_path / "site")]) == 0
    names = sorted(p.name for p in (tmp_path / "site").iterdir())
    assert names == sorted(f.name for f in university_site())
    assert "bundles.csv" in names and "fields.csv" in names
