"""The CSV side of the inventory import, on small inline files."""

from __future__ import annotations

import pytest

from application.inventory import (
    MAX_FILE_BYTES,
    InventoryProblem,
    InventoryRejected,
    ParsedInventory,
    UploadedFile,
    parse_inventory,
)
from application.inventory.csv_files import kinds_from_file_name
from domain.errors import InvalidCommandError
from domain.inventory import Group, InventoryEntity, Kind, sort_key

BUNDLES = (
    "config_name,entity_type,machine_name,label,description,depends_on\n"
    "node.type.article,node,article,Article,News,\n"
    "media.type.image,media,image,Image,Pictures,\n"
    "taxonomy.vocabulary.tags,taxonomy_term,tags,Tags,,\n"
)
FIELDS = (
    "config_name,entity_type,bundle,field_name,label,field_type,required,cardinality,"
    "target,description,depends_on\n"
    "field.field.node.article.field_tags,node,article,field_tags,Tags,entity_reference,"
    "false,unlimited,taxonomy_term:tags,,node.type.article; taxonomy.vocabulary.tags\n"
)
MENUS = "config_name,machine_name,label,description,depends_on\nsystem.menu.main,main,Main,,\n"


def csv_file(name: str, text: str, *, bom: bool = False) -> UploadedFile:
    return UploadedFile(name, (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))


def parse(*files: UploadedFile) -> ParsedInventory:
    return parse_inventory(list(files))


def problems_of(*files: UploadedFile) -> list[InventoryProblem]:
    with pytest.raises(InventoryRejected) as caught:
        parse_inventory(list(files))
    return caught.value.problems


def only(problems: list[InventoryProblem]) -> InventoryProblem:
    assert len(problems) == 1, problems
    return problems[0]


def only_entity(result: ParsedInventory) -> InventoryEntity:
    assert len(result.entities) == 1, result.entities
    return result.entities[0]


# --- a valid upload -------------------------------------------------------------------


def test_a_valid_upload_gives_entities_with_their_columns_and_sources() -> None:
    result = parse(csv_file("bundles.csv", BUNDLES), csv_file("fields.csv", FIELDS))

    by_name = {e.config_name: e for e in result.entities}
    article = by_name["node.type.article"]
    assert article.kind is Kind.BUNDLES
    assert article.label == "Article"
    assert article.attributes == {
        "entity_type": "node",
        "machine_name": "article",
        "label": "Article",
        "description": "News",
    }
    assert (article.source_file, article.source_row) == ("bundles.csv", 2)
    field = by_name["field.field.node.article.field_tags"]
    assert field.depends_on == ("node.type.article", "taxonomy.vocabulary.tags")
    assert field.attributes["cardinality"] == "unlimited"
    assert field.source_row == 2
    assert by_name["media.type.image"].group is Group.MEDIA
    assert by_name["taxonomy.vocabulary.tags"].group is Group.TAXONOMY
    assert result.files == [
        {"file_name": "bundles.csv", "kind": "bundles", "rows": 3},
        {"file_name": "fields.csv", "kind": "fields", "rows": 1},
    ]
    assert result.warnings == []


def test_entities_come_sorted_by_group_then_kind_then_name() -> None:
    result = parse(csv_file("menus.csv", MENUS), csv_file("bundles.csv", BUNDLES))

    assert result.entities == sorted(result.entities, key=sort_key)
    assert [e.config_name for e in result.entities] == [
        "node.type.article",
        "taxonomy.vocabulary.tags",
        "media.type.image",
        "system.menu.main",
    ]


def test_a_byte_order_mark_is_not_part_of_the_first_column() -> None:
    result = parse(csv_file("bundles.csv", BUNDLES, bom=True))

    assert len(result.entities) == 3
    assert "node.type.article" in {e.config_name for e in result.entities}


def test_crlf_line_ends_and_quoted_line_breaks_keep_row_numbers_right() -> None:
    text = (
        "config_name,machine_name,label,description,depends_on\r\n"
        'system.menu.main,main,Main,"two\r\nlines",\r\n'
        "system.menu.footer,footer,Footer,,\r\n"
    )
    result = parse(csv_file("menus.csv", text))

    by_name = {e.config_name: e for e in result.entities}
    assert by_name["system.menu.main"].attributes["description"] == "two\r\nlines"
    assert by_name["system.menu.main"].source_row == 2
    assert by_name["system.menu.footer"].source_row == 4


@pytest.mark.parametrize(
    "value", ["=SUM(A1:A3)", "+44 20 1234", "-5", "@admin", '=HYPERLINK("http://x","y")']
)
def test_formula_looking_cells_are_kept_verbatim_as_text(value: str) -> None:
    quoted = '"' + value.replace('"', '""') + '"'
    text = (
        "config_name,machine_name,label,description,depends_on\n"
        f"system.menu.main,main,{quoted},{quoted},\n"
    )
    entity = only_entity(parse(csv_file("menus.csv", text)))

    assert entity.label == value
    assert entity.attributes["label"] == value
    assert entity.attributes["description"] == value


def test_label_falls_back_to_the_machine_name() -> None:
    text = "config_name,machine_name,label,description,depends_on\nsystem.menu.main,main,,,\n"
    entity = only_entity(parse(csv_file("menus.csv", text)))

    assert entity.label == "main"


def test_depends_on_is_split_on_semicolons_and_unknown_names_become_warnings() -> None:
    text = (
        "config_name,machine_name,label,description,depends_on\n"
        "system.menu.main,main,Main,,system.menu.footer;node.type.gone ; system.menu.footer\n"
        "system.menu.footer,footer,Footer,,\n"
    )
    result = parse(csv_file("menus.csv", text))

    main = next(e for e in result.entities if e.config_name == "system.menu.main")
    assert main.depends_on == ("system.menu.footer",)
    assert len(result.warnings) == 1
    assert "node.type.gone" in result.warnings[0]
    assert "menus.csv row 2" in result.warnings[0]


def test_blank_lines_and_empty_spreadsheet_rows_are_skipped() -> None:
    text = (
        "config_name,machine_name,label,description,depends_on\n"
        "\n"
        ",,,,\n"
        "system.menu.main,main,Main,,\n"
    )
    entity = only_entity(parse(csv_file("menus.csv", text)))

    assert entity.source_row == 4


# --- kinds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("bundles.csv", Kind.BUNDLES),
        ("UWEC_Bundles.csv", Kind.BUNDLES),
        ("site-fields.csv", Kind.FIELDS),
        ("image_styles.csv", Kind.IMAGE_STYLES),
        ("image-styles.csv", Kind.IMAGE_STYLES),
        ("Image Styles.csv", Kind.IMAGE_STYLES),
        ("nestwatch/inventory/views.csv", Kind.VIEWS),
        ("workflows.csv", Kind.WORKFLOWS),
        ("roles.csv", Kind.ROLES),
        ("menus.csv", Kind.MENUS),
        ("SiteFields.csv", Kind.FIELDS),
    ],
)
def test_the_kind_comes_from_the_keyword_in_the_file_name(name: str, kind: Kind) -> None:
    assert kinds_from_file_name(name) == [kind]


def test_without_a_keyword_the_kind_comes_from_the_header() -> None:
    result = parse(csv_file("export-1.csv", FIELDS), csv_file("export-2.csv", BUNDLES))

    assert {e.kind for e in result.entities} == {Kind.FIELDS, Kind.BUNDLES}
    assert result.files[0] == {"file_name": "export-1.csv", "kind": "fields", "rows": 1}


def test_a_header_that_fits_two_kinds_is_settled_by_the_config_names() -> None:
    result = parse(csv_file("export.csv", MENUS))

    assert result.files == [{"file_name": "export.csv", "kind": "menus", "rows": 1}]


def test_unknown_kind_is_a_problem_naming_the_file() -> None:
    text = "machine_name,label,description\nmain,Main,\n"
    problem = only(problems_of(csv_file("export.csv", text)))

    assert problem.file == "export.csv"
    assert "Unknown kind" in problem.message
    assert "bundles" in problem.message and "menus" in problem.message
    assert "Rename the file" in problem.fix


def test_a_header_of_no_kind_and_a_name_without_keyword_is_an_unknown_kind() -> None:
    text = "config_name,label,depends_on\nx.y,Z,\n"
    problem = only(problems_of(csv_file("stuff.csv", text)))

    assert problem.file == "stuff.csv"
    assert "Unknown kind" in problem.message


# --- the legacy shape -----------------------------------------------------------------


def test_the_legacy_uwec_bundles_file_imports_with_derived_config_names() -> None:
    text = (
        "machine_name,label,description\n"
        "article,Article,Use articles for news\n"
        "landing_page,Landing page,\n"
    )
    result = parse(csv_file("UWEC_Bundles.csv", text))

    by_name = {e.config_name: e for e in result.entities}
    assert set(by_name) == {"node.type.article", "node.type.landing_page"}
    article = by_name["node.type.article"]
    assert article.kind is Kind.BUNDLES
    assert article.attributes["entity_type"] == "node"
    assert article.group is Group.CONTENT
    assert article.depends_on == ()
    assert article.source_row == 2
    assert result.files == [{"file_name": "UWEC_Bundles.csv", "kind": "bundles", "rows": 2}]


@pytest.mark.parametrize(
    ("name", "text", "config_name"),
    [
        (
            "bundles.csv",
            "entity_type,machine_name,label\nparagraph,slide,Slide\n",
            "paragraphs.paragraphs_type.slide",
        ),
        (
            "fields.csv",
            "entity_type,bundle,field_name,label\nnode,page,field_hero,Hero\n",
            "field.field.node.page.field_hero",
        ),
        ("image_styles.csv", "machine_name,label\nlarge,Large\n", "image.style.large"),
        ("views.csv", "machine_name,label\nfrontpage,Frontpage\n", "views.view.frontpage"),
        (
            "workflows.csv",
            "machine_name,label\neditorial,Editorial\n",
            "workflows.workflow.editorial",
        ),
        ("roles.csv", "machine_name,label\neditor,Editor\n", "user.role.editor"),
        ("menus.csv", "machine_name,label\nfooter,Footer\n", "system.menu.footer"),
    ],
)
def test_a_missing_config_name_is_derived_the_drupal_way(
    name: str, text: str, config_name: str
) -> None:
    entity = only_entity(parse(csv_file(name, text)))

    assert entity.config_name == config_name


# --- bad input: every problem names its file, row and column ---------------------------


def test_a_file_that_is_not_utf8_is_refused_with_the_line_of_the_bad_byte() -> None:
    content = (
        b"config_name,machine_name,label,description,depends_on\n"
        b"system.menu.main,main,Main,,\n"
        b"system.menu.cafe,cafe,Caf\xe9,,\n"
    )
    problem = only(problems_of(UploadedFile("menus.csv", content)))

    assert problem.file == "menus.csv"
    assert problem.row == 3
    assert "not UTF-8" in problem.message
    assert "UTF-8" in problem.fix


def test_a_utf16_file_is_refused_as_not_utf8() -> None:
    content = MENUS.encode("utf-16")
    problem = only(problems_of(UploadedFile("menus.csv", content)))

    assert problem.file == "menus.csv"
    assert "UTF-16" in problem.message


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n  \r\n"])
def test_an_empty_file_is_refused(content: bytes) -> None:
    problem = only(problems_of(UploadedFile("bundles.csv", content)))

    assert problem.file == "bundles.csv"
    assert "empty" in problem.message


def test_a_file_without_header_row_is_refused() -> None:
    text = "node.type.article,node,article,Article,News,\n"
    problem = only(problems_of(csv_file("bundles.csv", text)))

    assert problem.file == "bundles.csv"
    assert problem.row == 1
    assert "No header row" in problem.message
    assert "config_name,entity_type,machine_name,label,description,depends_on" in problem.fix


def test_a_missing_required_column_is_named_with_the_expected_columns() -> None:
    text = "config_name,entity_type,label,description,depends_on\nnode.type.a,node,A,,\n"
    problem = only(problems_of(csv_file("bundles.csv", text)))

    assert problem.file == "bundles.csv"
    assert problem.row == 1
    assert problem.column == "machine_name"
    assert "machine_name" in problem.message
    assert "config_name, entity_type, machine_name, label, description, depends_on" in (problem.fix)


def test_an_empty_required_cell_is_named_by_row_and_column() -> None:
    text = "config_name,machine_name,label,description,depends_on\nsystem.menu.x,,X,,\n"
    problem = only(problems_of(csv_file("menus.csv", text)))

    assert (problem.file, problem.row, problem.column) == ("menus.csv", 2, "machine_name")


def test_a_duplicate_config_name_in_one_file_names_both_rows() -> None:
    text = MENUS + "system.menu.footer,footer,Footer,,\nsystem.menu.main,main,Main again,,\n"
    problem = only(problems_of(csv_file("menus.csv", text)))

    assert (problem.file, problem.row, problem.column) == ("menus.csv", 4, "config_name")
    assert "system.menu.main" in problem.message
    assert "menus.csv row 2" in problem.message


def test_a_duplicate_config_name_across_files_names_both_places() -> None:
    views = (
        "config_name,machine_name,label,description,base_table,displays,depends_on\n"
        "system.menu.main,main,Oops,,node_field_data,default(default),\n"
    )
    problem = only(problems_of(csv_file("menus.csv", MENUS), csv_file("views.csv", views)))

    assert (problem.file, problem.row, problem.column) == ("views.csv", 2, "config_name")
    assert "menus.csv row 2" in problem.message


def test_a_row_with_more_cells_than_the_header_is_refused_with_its_row() -> None:
    text = MENUS + "system.menu.footer,footer,Footer,Links, legal and more,\n"
    problem = only(problems_of(csv_file("menus.csv", text)))

    assert (problem.file, problem.row) == ("menus.csv", 3)
    assert "6 cells" in problem.message and "5 columns" in problem.message


def test_badly_quoted_csv_is_refused_with_its_line() -> None:
    text = MENUS + 'system.menu.footer,footer,"Footer,,\n'
    problem = only(problems_of(csv_file("menus.csv", text)))

    assert (problem.file, problem.row) == ("menus.csv", 3)
    assert "not valid CSV" in problem.message


def test_a_header_with_a_column_twice_is_refused() -> None:
    text = "config_name,machine_name,label,label\nsystem.menu.main,main,Main,M\n"
    problem = only(problems_of(csv_file("menus.csv", text)))

    assert (problem.file, problem.row, problem.column) == ("menus.csv", 1, "label")


def test_a_file_over_the_size_limit_is_refused_unread() -> None:
    big = MENUS.encode() + b"x" * MAX_FILE_BYTES
    problem = only(problems_of(UploadedFile("menus.csv", big)))

    assert problem.file == "menus.csv"
    assert f"{MAX_FILE_BYTES:,}" in problem.message


def test_two_files_of_one_kind_in_one_upload_are_refused_naming_both() -> None:
    legacy = "machine_name,label,description\npage,Page,\n"
    problem = only(
        problems_of(csv_file("bundles.csv", BUNDLES), csv_file("UWEC_Bundles.csv", legacy))
    )

    assert problem.file == "UWEC_Bundles.csv"
    assert "bundles.csv" in problem.message and "UWEC_Bundles.csv" in problem.message


def test_a_file_of_another_type_is_refused() -> None:
    problem = only(problems_of(UploadedFile("bundles.xlsx", b"PK\x03\x04")))

    assert problem.file == "bundles.xlsx"
    assert ".csv" in problem.fix


def test_an_empty_upload_is_refused() -> None:
    problem = only(problems_of())

    assert "No file" in problem.message


def test_every_problem_of_every_file_is_reported_and_nothing_is_imported() -> None:
    bad_rows = MENUS + "system.menu.x,,X,,\nsystem.menu.y,y,Y,,,extra\n"
    with pytest.raises(InventoryRejected) as caught:
        parse(
            csv_file("bundles.csv", BUNDLES),
            csv_file("menus.csv", bad_rows),
            UploadedFile("roles.csv", b""),
            UploadedFile("views.csv", b"config_name,label\n\xff\n"),
        )
    error = caught.value
    located = {(p.file, p.row, p.column) for p in error.problems}

    assert located == {
        ("menus.csv", 3, "machine_name"),
        ("menus.csv", 4, None),
        ("roles.csv", None, None),
        ("views.csv", 2, None),
    }
    assert isinstance(error, InvalidCommandError)
    assert error.detail.startswith("Inventory rejected")
    assert "\n" not in error.detail
    assert "menus.csv, row 3, column machine_name" in error.detail
    assert "(and 2 more)" in error.detail
    assert len(error.recovery_actions) == len({p.fix for p in error.problems})
    assert error.problems[0].to_dict() == {
        "file": "menus.csv",
        "row": 3,
        "column": "machine_name",
        "message": "The machine_name cell is empty",
        "fix": "Fill in machine_name for this row, or delete the row",
    }


# --- scale ----------------------------------------------------------------------------


def test_a_generated_inventory_of_5000_rows_parses() -> None:
    lines = [
        "config_name,entity_type,bundle,field_name,label,field_type,required,cardinality,"
        "target,description,depends_on"
    ]
    bundles = ["config_name,entity_type,machine_name,label,description,depends_on"]
    for b in range(50):
        bundles.append(f"node.type.b{b},node,b{b},Bundle {b},,")
        for f in range(99):
            lines.append(
                f"field.field.node.b{b}.field_{f},node,b{b},field_{f},Field {f},string,"
                f"false,1,,,node.type.b{b}"
            )
    result = parse(
        csv_file("fields.csv", "\n".join(lines) + "\n"),
        csv_file("bundles.csv", "\n".join(bundles) + "\n"),
    )

    assert len(result.entities) == 5000
    assert result.warnings == []
    last = next(e for e in result.entities if e.config_name == "field.field.node.b49.field_98")
    assert last.source_row == 4951
    assert last.depends_on == ("node.type.b49",)
