"""Hostile inventories at the parser: every one a problem with a reason, never an
exception (a 500) or a crash (libyaml dies of deep nesting with a segfault).

The API-level corpus is tests/e2e/test_api_upload_corpus.py.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.inventory.drupal_config import parse_config_export
from application.inventory.model import InventoryRejected, UploadedFile
from application.inventory.parse import parse_inventory
from application.inventory.yaml_limits import (
    MAX_NESTING_BOUND,
    expanded_size,
    nesting_bound,
    yaml_hazard,
)

CONFIG = Path(__file__).resolve().parents[3] / "samples" / "nestwatch" / "config-sync"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def problems_of(*files: tuple[str, bytes]) -> list[str]:
    with pytest.raises(InventoryRejected) as refused:
        parse_inventory([UploadedFile(name, content) for name, content in files])
    return [f"{p.file}: {p.message}" for p in refused.value.problems]


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def test_the_nesting_bound_holds_for_every_real_config_file_with_room_to_spare() -> None:
    files = sorted(CONFIG.glob("*.yml"))
    assert len(files) > 600
    for path in files:
        text = path.read_text("utf-8")
        bound = nesting_bound(text)
        assert depth(yaml.load(text, Loader=LOADER)) <= bound <= MAX_NESTING_BOUND // 3, path
        assert yaml_hazard(text, LOADER) is None, path


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 300 + "]" * 300,
        "a: " + "{b: " * 300 + "}" * 300,
        "a:\n  " + "- " * 300 + "x",
        "".join("  " * i + f"k{i}:\n" for i in range(150)),
        "a: >\n" + "".join("  " * i + "text\n" for i in range(150)),  # only a bound
    ],
    ids=["flow-sequences", "flow-mappings", "compact-sequences", "indented-mappings", "scalar"],
)
def test_deep_nesting_is_refused_before_it_reaches_libyaml(text: str) -> None:
    assert nesting_bound(text) > MAX_NESTING_BOUND
    hazard = yaml_hazard(text, LOADER)
    assert hazard is not None and "nests too deeply" in hazard


def test_the_bound_is_at_least_the_real_depth() -> None:
    for text in ["a:\n- b:\n  - c:\n    - d", "- - - x", "a: {b: [c, {d: e}]}", "? a\n: [b]"]:
        assert nesting_bound(text) >= depth(yaml.load(text, Loader=LOADER)), text


def test_aliases_that_expand_a_little_are_fine_and_bombs_are_measured_cheaply() -> None:
    small = "base: &b {x: 1, y: 2}\none: *b\ntwo: *b\n"
    assert yaml_hazard(small, LOADER) is None
    lines = ['l0: &l0 "lol"'] + [
        f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)
    ]
    bomb = "\n".join(lines)
    assert expanded_size(bomb, LOADER, 1_000_000) > 1_000_000  # stops counting there
    assert "billion laughs" in str(yaml_hazard(bomb, LOADER))


def test_a_yaml_bomb_is_a_problem_naming_the_file() -> None:
    lines = ["m0: &m0 {a: 1}"] + [
        f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 9) + "]}" for i in range(1, 10)
    ]
    found = problems_of(("config/node.type.bomb.yml", "\n".join(lines).encode()))

    assert len(found) == 1 and "config/node.type.bomb.yml" in found[0], found
    assert "billion laughs" in found[0]


def test_a_nul_character_is_refused_in_csv_and_in_yaml() -> None:
    csv_nul = problems_of(("menus.csv", b"config_name,machine_name,label\nsystem.menu.a,a,A\x00\n"))
    yaml_nul = problems_of(("config/system.menu.a.yml", b'id: a\nlabel: "A\\0"\n'))

    assert "NUL" in csv_nul[0] and "line 2" in csv_nul[0], csv_nul
    assert "NUL" in yaml_nul[0] and "label" in yaml_nul[0], yaml_nul


def test_an_image_style_with_odd_effect_weights_imports() -> None:
    text = b"name: s\neffects:\n  a: {weight: heavy}\n  b: {weight: {x: 1}}\n  c: {weight: 1e999}\n"
    source = parse_config_export("config", [UploadedFile("config/image.style.s.yml", text)])

    assert source.problems == [] and len(source.entities) == 1


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.dates(min_value=datetime.date(1900, 1, 1)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)
KEYS = [
    "id",
    "name",
    "type",
    "label",
    "description",
    "effects",
    "weight",
    "data",
    "width",
    "height",
    "display",
    "display_plugin",
    "display_options",
    "path",
    "type_settings",
    "states",
    "transitions",
    "entity_types",
    "from",
    "to",
    "permissions",
    "is_admin",
    "dependencies",
    "config",
    "settings",
    "target_type",
    "handler_settings",
    "target_bundles",
    "negate",
    "cardinality",
    "field_name",
    "entity_type",
    "bundle",
    "field_type",
    "required",
    "vid",
    "base_table",
]
DOCUMENTS = st.recursive(
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6),
    lambda inner: st.dictionaries(st.sampled_from(KEYS), st.one_of(inner, VALUES), max_size=6),
    max_leaves=30,
)
CONFIG_NAMES = [
    "node.type.a",
    "taxonomy.vocabulary.t",
    "field.field.node.a.f",
    "field.storage.node.f",
    "image.style.s",
    "views.view.v",
    "workflows.workflow.w",
    "user.role.r",
    "system.menu.m",
    "media.type.m",
]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(st.sampled_from(CONFIG_NAMES), DOCUMENTS),
        min_size=1,
        max_size=4,
        unique_by=lambda pair: pair[0],
    )
)
def test_any_shape_of_config_object_imports_or_is_refused_never_raises(
    files: list[tuple[str, dict[str, Any]]],
) -> None:
    upload = [
        UploadedFile(f"config/{name}.yml", yaml.dump(doc, Dumper=DUMPER).encode())
        for name, doc in files
    ]
    try:
        parse_inventory(upload)
    except InventoryRejected:
        pass
