"""The Drupal config export side of the inventory import, on small inline YAML files."""

from __future__ import annotations

import pytest

from application.inventory import (
    InventoryProblem,
    InventoryRejected,
    ParsedInventory,
    UploadedFile,
    parse_inventory,
)
from domain.inventory import InventoryEntity, Kind

NODE_TYPE = """\
uuid: 1
langcode: en
status: true
dependencies:
  module:
    - menu_ui
name: 'Basic page'
type: page
description: 'Use <em>basic pages</em>   for
  static content. '
"""
VOCABULARY = """\
dependencies: {  }
name: Tags
vid: tags
description: ''
"""
FIELD = """\
dependencies:
  config:
    - field.storage.node.field_tags
    - node.type.page
    - taxonomy.vocabulary.tags
id: node.page.field_tags
field_name: field_tags
entity_type: node
bundle: page
label: Tags
description: ''
required: true
settings:
  handler: 'default:taxonomy_term'
  handler_settings:
    target_bundles:
      tags: tags
field_type: entity_reference
"""
STORAGE = """\
id: node.field_tags
field_name: field_tags
entity_type: node
type: entity_reference
settings:
  target_type: taxonomy_term
cardinality: -1
"""
VIEW = """\
dependencies:
  config:
    - node.type.page
    - field.storage.node.field_tags
  module:
    - node
id: archive
label: Archive
description: 'All content, by month.'
base_table: node_field_data
display:
  default:
    display_plugin: default
    id: default
    position: 0
    display_options:
      path: ''
  page_1:
    display_plugin: page
    id: page_1
    position: 2
    display_options:
      path: archive
  block_1:
    display_plugin: block
    id: block_1
    position: 1
"""
IMAGE_STYLE = """\
name: crop_thumbnail
label: 'Crop thumbnail'
effects:
  bbb:
    id: image_scale_and_crop
    weight: 2
    data:
      width: 400
      height: null
  aaa:
    id: crop_crop
    weight: 1
    data:
      crop_type: thumb
"""
WORKFLOW = """\
dependencies:
  config:
    - node.type.page
id: editorial
label: Editorial
type: content_moderation
type_settings:
  states:
    draft:
      label: Draft
      weight: -5
    published:
      label: Published
      weight: 0
  transitions:
    publish:
      label: Publish
      to: published
      from:
        - draft
        - published
  entity_types:
    node:
      - page
"""
ROLE = """\
id: editor
label: Editor
is_admin: false
permissions:
  - 'access content'
  - 'edit any page content'
"""
MENU = """\
id: footer
label: Footer
description: 'Site information links'
"""


def yml(name: str, text: str, folder: str = "config/sync") -> UploadedFile:
    return UploadedFile(f"{folder}/{name}.yml", text.encode("utf-8"))


def export(*extra: UploadedFile) -> list[UploadedFile]:
    return [
        yml("node.type.page", NODE_TYPE),
        yml("taxonomy.vocabulary.tags", VOCABULARY),
        yml("field.field.node.page.field_tags", FIELD),
        yml("field.storage.node.field_tags", STORAGE),
        yml("views.view.archive", VIEW),
        yml("image.style.crop_thumbnail", IMAGE_STYLE),
        yml("workflows.workflow.editorial", WORKFLOW),
        yml("user.role.editor", ROLE),
        yml("system.menu.footer", MENU),
        yml("block.block.olivero_branding", "id: olivero_branding\n"),
        UploadedFile("config/sync/README.txt", b"This directory holds config.\n"),
        *extra,
    ]


def entities(result: ParsedInventory) -> dict[str, InventoryEntity]:
    return {e.config_name: e for e in result.entities}


def problems_of(files: list[UploadedFile]) -> list[InventoryProblem]:
    with pytest.raises(InventoryRejected) as caught:
        parse_inventory(files)
    return caught.value.problems


def test_each_inventory_kind_is_read_from_its_config_files() -> None:
    result = parse_inventory(export())
    found = entities(result)

    assert {name: e.kind for name, e in found.items()} == {
        "node.type.page": Kind.BUNDLES,
        "taxonomy.vocabulary.tags": Kind.BUNDLES,
        "field.field.node.page.field_tags": Kind.FIELDS,
        "views.view.archive": Kind.VIEWS,
        "image.style.crop_thumbnail": Kind.IMAGE_STYLES,
        "workflows.workflow.editorial": Kind.WORKFLOWS,
        "user.role.editor": Kind.ROLES,
        "system.menu.footer": Kind.MENUS,
    }
    assert result.files[0] == {"file_name": "config/sync", "kind": "bundles", "rows": 2}
    assert {f["kind"] for f in result.files} == {k.value for k in Kind}
    page = found["node.type.page"]
    assert page.source_file == "config/sync/node.type.page.yml"
    assert page.label == "Basic page"


def test_columns_are_derived_as_the_inventory_csvs_have_them() -> None:
    found = entities(parse_inventory(export()))

    assert found["node.type.page"].attributes == {
        "entity_type": "node",
        "machine_name": "page",
        "label": "Basic page",
        "description": "Use <em>basic pages</em> for static content.",
    }
    assert found["taxonomy.vocabulary.tags"].attributes["entity_type"] == "taxonomy_term"
    assert found["field.field.node.page.field_tags"].attributes == {
        "entity_type": "node",
        "bundle": "page",
        "field_name": "field_tags",
        "label": "Tags",
        "field_type": "entity_reference",
        "required": "true",
        "cardinality": "unlimited",
        "target": "taxonomy_term:tags",
        "description": "",
    }
    assert found["views.view.archive"].attributes["displays"] == (
        "default(default); page_1(page: /archive); block_1(block)"
    )
    assert found["image.style.crop_thumbnail"].attributes["effects"] == (
        "crop_crop; image_scale_and_crop 400x"
    )
    workflow = found["workflows.workflow.editorial"].attributes
    assert workflow["states"] == "Draft; Published"
    assert workflow["transitions"] == "Publish: draft,published->published"
    assert workflow["applies_to"] == "node:page"
    assert found["user.role.editor"].attributes == {
        "machine_name": "editor",
        "label": "Editor",
        "is_admin": "false",
        "permissions": "access content; edit any page content",
    }
    assert found["system.menu.footer"].attributes["description"] == "Site information links"


def test_depends_on_keeps_only_the_config_that_is_in_the_inventory() -> None:
    result = parse_inventory(export())
    found = entities(result)

    # Field storages and modules are not rows: no "unknown dependency" warnings either.
    assert not [w for w in result.warnings if "not in the inventory" in w]

    assert found["field.field.node.page.field_tags"].depends_on == (
        "node.type.page",
        "taxonomy.vocabulary.tags",
    )
    assert found["views.view.archive"].depends_on == ("node.type.page",)
    assert found["workflows.workflow.editorial"].depends_on == ("node.type.page",)
    assert found["node.type.page"].depends_on == ()


def test_files_of_other_config_and_translations_are_skipped() -> None:
    translated = yml(
        "node.type.page", "name: 'Page de base'\ntype: page\n", "config/sync/language/fr"
    )
    result = parse_inventory(export(translated))

    assert len(result.entities) == 8
    assert entities(result)["node.type.page"].label == "Basic page"
    assert any("README.txt" in w for w in result.warnings)


def test_a_field_without_its_storage_is_kept_with_a_warning() -> None:
    files = [f for f in export() if "field.storage" not in f.name]
    result = parse_inventory(files)
    field = entities(result)["field.field.node.page.field_tags"]

    assert field.attributes["cardinality"] == ""
    assert field.attributes["target"] == ""
    assert any("field.storage.node.field_tags" in w for w in result.warnings)


def test_a_negated_target_bundle_list_says_so() -> None:
    negated = FIELD.replace("    target_bundles:", "    negate: 1\n    target_bundles:")
    files = [f for f in export() if "field.field" not in f.name]
    files.append(yml("field.field.node.page.field_tags", negated))
    found = entities(parse_inventory(files))

    assert found["field.field.node.page.field_tags"].attributes["target"] == (
        "taxonomy_term:all except tags"
    )


def test_a_yaml_file_that_does_not_parse_is_a_problem_naming_the_file_and_line() -> None:
    broken = "id: footer\nlabel: 'Footer\ndescription: x\n"
    files = [f for f in export() if "system.menu" not in f.name]
    files.append(yml("system.menu.footer", broken))
    (problem,) = problems_of(files)

    assert problem.file == "config/sync/system.menu.footer.yml"
    assert problem.row is not None
    assert "does not parse" in problem.message


def test_a_stray_yaml_file_that_does_not_parse_is_a_problem_too() -> None:
    (problem,) = problems_of(export(yml("broken", "a: [1, 2\n")))

    assert problem.file == "config/sync/broken.yml"
    assert "does not parse" in problem.message


def test_a_config_file_that_is_not_a_mapping_is_a_problem() -> None:
    (problem,) = problems_of(export(yml("system.menu.admin", "- just\n- a list\n")))

    assert problem.file == "config/sync/system.menu.admin.yml"
    assert "mapping" in problem.message


def test_an_export_without_any_inventory_config_is_refused() -> None:
    (problem,) = problems_of([yml("block.block.x", "id: x\n"), yml("system.site", "name: S\n")])

    assert "no inventory" in problem.message


def test_a_config_export_and_a_csv_of_the_same_kind_clash() -> None:
    menus = UploadedFile(
        "menus.csv", b"config_name,machine_name,label\nsystem.menu.footer,footer,Footer\n"
    )
    (problem,) = problems_of([*export(), menus])

    assert "Two sources of menus" in problem.message
    assert "config/sync" in problem.message and "menus.csv" in problem.message


def test_loose_yaml_files_without_a_folder_form_one_export_named_config_export() -> None:
    menu = UploadedFile("system.menu.footer.yml", MENU.encode())
    role = UploadedFile("user.role.editor.yml", ROLE.encode())
    result = parse_inventory([menu, role])

    assert {f["file_name"] for f in result.files} == {"config export"}
    assert [e.config_name for e in result.entities] == ["user.role.editor", "system.menu.footer"]
