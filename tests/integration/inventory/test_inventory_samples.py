"""The inventory import on the real sample sites, read from disk.

The samples live outside the repository: TICKETFORGE_SAMPLES names their folder,
else `samples/` in the repository. A missing folder
fails the tests rather than skipping them.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from application.inventory import InventoryRejected, ParsedInventory, parse_inventory
from domain.inventory import KIND_COLUMNS, Group, Kind
from infrastructure.inventory_files import read_inventory_path


def _samples() -> Path:
    candidates = [
        os.environ.get("TICKETFORGE_SAMPLES", ""),
        str(Path(__file__).resolve().parents[3] / "samples"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "nestwatch").is_dir():
            return Path(candidate)
    pytest.fail(f"No sample inventories found (looked in {candidates}); set TICKETFORGE_SAMPLES")


SAMPLES = _samples()
NESTWATCH_CSV = SAMPLES / "nestwatch" / "inventory"
NESTWATCH_CONFIG = SAMPLES / "nestwatch" / "config-sync"
SMALL_SITE_CSV = SAMPLES / "small-site" / "inventory"


def parse_path(path: Path) -> ParsedInventory:
    return parse_inventory(read_inventory_path(path))


def zip_directory(directory: Path, top: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(directory.iterdir()):
            archive.write(file, f"{top}/{file.name}")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def nestwatch_csv() -> ParsedInventory:
    return parse_path(NESTWATCH_CSV)


@pytest.fixture(scope="module")
def nestwatch_config() -> ParsedInventory:
    return parse_path(NESTWATCH_CONFIG)


def test_nestwatch_csvs_give_235_entities_in_the_documented_kinds(
    nestwatch_csv: ParsedInventory,
) -> None:
    kinds = Counter(e.kind for e in nestwatch_csv.entities)

    assert len(nestwatch_csv.entities) == 235
    assert kinds == {
        Kind.BUNDLES: 38,
        Kind.FIELDS: 147,
        Kind.VIEWS: 26,
        Kind.IMAGE_STYLES: 11,
        Kind.WORKFLOWS: 1,
        Kind.ROLES: 4,
        Kind.MENUS: 8,
    }
    assert nestwatch_csv.warnings == []
    assert sorted((f["file_name"], f["rows"]) for f in nestwatch_csv.files) == [
        ("inventory/bundles.csv", 38),
        ("inventory/fields.csv", 147),
        ("inventory/image_styles.csv", 11),
        ("inventory/menus.csv", 8),
        ("inventory/roles.csv", 4),
        ("inventory/views.csv", 26),
        ("inventory/workflows.csv", 1),
    ]


def test_nestwatch_entities_fall_in_the_expected_groups(nestwatch_csv: ParsedInventory) -> None:
    by_kind_and_group = Counter((e.kind, e.group) for e in nestwatch_csv.entities)
    by_name = {e.config_name: e for e in nestwatch_csv.entities}

    assert by_kind_and_group == {
        (Kind.BUNDLES, Group.CONTENT): 29,  # 9 node types, 19 paragraph types, 1 block type
        (Kind.BUNDLES, Group.MEDIA): 5,
        (Kind.BUNDLES, Group.TAXONOMY): 4,
        (Kind.FIELDS, Group.CONTENT): 138,
        (Kind.FIELDS, Group.MEDIA): 5,
        (Kind.FIELDS, Group.TAXONOMY): 4,
        (Kind.IMAGE_STYLES, Group.MEDIA): 11,
        (Kind.ROLES, Group.ACCESS): 4,
        (Kind.VIEWS, Group.VIEWS): 26,
        (Kind.WORKFLOWS, Group.WORKFLOW): 1,
        (Kind.MENUS, Group.NAVIGATION): 8,
    }
    assert by_name["media.type.image"].group is Group.MEDIA
    assert by_name["field.field.media.image.field_media_image"].group is Group.MEDIA
    assert by_name["taxonomy.vocabulary.aou_codes"].group is Group.TAXONOMY
    assert by_name["paragraphs.paragraphs_type.slide"].group is Group.CONTENT
    ranks = [e.group.rank for e in nestwatch_csv.entities]
    assert ranks == sorted(ranks)


def test_nestwatch_rows_keep_their_columns_and_lines(nestwatch_csv: ParsedInventory) -> None:
    by_name = {e.config_name: e for e in nestwatch_csv.entities}
    workflow = by_name["workflows.workflow.editorial"]

    assert workflow.source_file == "inventory/workflows.csv"
    assert workflow.source_row == 2
    assert workflow.depends_on == ("node.type.page",)
    assert workflow.attributes["transitions"].startswith("Archive: published->archived; ")
    assert set(workflow.attributes) == set(KIND_COLUMNS[Kind.WORKFLOWS])
    species = by_name["field.field.node.bird.field_bird_species"]
    assert species.depends_on == ("node.type.bird", "taxonomy.vocabulary.aou_codes")
    assert species.label == "Bird Species"


def test_small_site_gives_49_entities() -> None:
    result = parse_path(SMALL_SITE_CSV)

    assert len(result.entities) == 49
    assert Counter(e.kind for e in result.entities) == {
        Kind.BUNDLES: 6,
        Kind.FIELDS: 15,
        Kind.IMAGE_STYLES: 3,
        Kind.MENUS: 5,
        Kind.ROLES: 5,
        Kind.VIEWS: 15,
    }


def test_the_config_export_gives_the_same_entities_and_edges_as_the_csvs(
    nestwatch_csv: ParsedInventory, nestwatch_config: ParsedInventory
) -> None:
    from_csv = {e.config_name: e for e in nestwatch_csv.entities}
    from_config = {e.config_name: e for e in nestwatch_config.entities}

    assert len(from_config) == 235
    assert set(from_config) == set(from_csv)
    assert {n: e.kind for n, e in from_config.items()} == {n: e.kind for n, e in from_csv.items()}
    edges_csv = {(n, d) for n, e in from_csv.items() for d in e.depends_on}
    edges_config = {(n, d) for n, e in from_config.items() for d in e.depends_on}
    assert edges_config == edges_csv
    assert len(edges_csv) == 269


def test_the_config_export_gives_the_same_labels_and_columns_as_the_csvs(
    nestwatch_csv: ParsedInventory, nestwatch_config: ParsedInventory
) -> None:
    from_csv = {e.config_name: e for e in nestwatch_csv.entities}
    differences = [
        (e.config_name, column, from_csv[e.config_name].attributes[column], value)
        for e in nestwatch_config.entities
        for column, value in e.attributes.items()
        if from_csv[e.config_name].attributes[column] != value
    ]
    labels = [
        (e.config_name, from_csv[e.config_name].label, e.label)
        for e in nestwatch_config.entities
        if from_csv[e.config_name].label != e.label
    ]

    assert differences == []
    assert labels == []
    assert [e.config_name for e in nestwatch_config.entities] == [
        e.config_name for e in nestwatch_csv.entities
    ]


def test_the_config_export_names_its_files(nestwatch_config: ParsedInventory) -> None:
    by_name = {e.config_name: e for e in nestwatch_config.entities}

    assert by_name["views.view.archive"].source_file == "config-sync/views.view.archive.yml"
    assert {f["file_name"] for f in nestwatch_config.files} == {"config-sync"}
    assert nestwatch_config.warnings == [
        "config-sync: 363 YAML file(s) of other configuration (blocks, displays, "
        "translations ...) were skipped"
    ]
    assert sum(int(str(f["rows"])) for f in nestwatch_config.files) == 235


def test_a_zip_of_the_csv_directory_imports_the_same(
    nestwatch_csv: ParsedInventory, tmp_path: Path
) -> None:
    archive = tmp_path / "nestwatch-inventory.zip"
    archive.write_bytes(zip_directory(NESTWATCH_CSV, "inventory"))
    result = parse_path(archive)

    assert [e.config_name for e in result.entities] == [
        e.config_name for e in nestwatch_csv.entities
    ]
    assert [e.depends_on for e in result.entities] == [e.depends_on for e in nestwatch_csv.entities]


def test_a_zip_of_the_config_directory_imports_the_same(
    nestwatch_config: ParsedInventory, tmp_path: Path
) -> None:
    archive = tmp_path / "config.zip"
    archive.write_bytes(zip_directory(NESTWATCH_CONFIG, "config-sync"))
    result = parse_path(archive)

    assert [e.to_dict() | {"source_file": ""} for e in result.entities] == [
        e.to_dict() | {"source_file": ""} for e in nestwatch_config.entities
    ]
    assert {f["file_name"] for f in result.files} == {"config.zip"}


def test_a_site_folder_with_both_shapes_is_refused_as_two_sources_per_kind() -> None:
    with pytest.raises(InventoryRejected) as caught:
        parse_path(SAMPLES / "nestwatch")

    problems = caught.value.problems
    assert len(problems) == 7
    assert all(p.message.startswith("Two sources of ") for p in problems)


def test_a_single_csv_file_can_be_read(tmp_path: Path) -> None:
    result = parse_path(NESTWATCH_CSV / "menus.csv")

    assert [f["file_name"] for f in result.files] == ["menus.csv"]
    assert len(result.entities) == 8


def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InventoryRejected) as caught:
        read_inventory_path(missing)

    (problem,) = caught.value.problems
    assert problem.file == str(missing)
    assert "No such file or directory" in problem.message
    assert str(missing) in caught.value.detail


def test_a_directory_without_inventory_files_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(InventoryRejected) as caught:
        read_inventory_path(tmp_path)

    assert "holds no .csv" in caught.value.problems[0].message


def test_a_directory_is_read_one_level_deep_leaving_hidden_files_out(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "csv" / "deeper").mkdir(parents=True)
    (site / "csv" / "menus.csv").write_bytes((NESTWATCH_CSV / "menus.csv").read_bytes())
    (site / "roles.csv").write_bytes((NESTWATCH_CSV / "roles.csv").read_bytes())
    (site / "csv" / "deeper" / "views.csv").write_bytes(b"ignored")
    (site / ".hidden.csv").write_bytes(b"ignored")

    names = [f.name for f in read_inventory_path(site)]

    assert names == ["site/csv/menus.csv", "site/roles.csv"]
