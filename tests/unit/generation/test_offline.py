"""The offline drafter, the related-entity index and the LLM prompt, on real sample data."""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path

import pytest

from application.generation.offline import (
    OfflineDrafter,
    parse_displays,
    parse_transitions,
)
from application.generation.port import Draft, DraftRequest, TicketDrafter
from application.generation.prompt import (
    TICKET_JSON_SCHEMA,
    build_messages,
    check_draft,
    parse_draft,
)
from application.generation.related import MAX_RELATED, RelatedIndex, related_entities
from domain.inventory import KIND_COLUMNS, InventoryEntity, Kind, sort_key

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
NESTWATCH = SAMPLES / "nestwatch" / "inventory"
SITE = {
    "site_name": "NestWatch",
    "description": "A Smithsonian citizen-science project that monitors bird nests.",
    "audience": "volunteer nest monitors and researchers",
}


def read_inventory(directory: Path) -> list[InventoryEntity]:
    """A tiny CSV reader, so these tests do not depend on the import code."""
    entities = []
    for path in sorted(directory.glob("*.csv")):
        kind = Kind(path.stem)
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row_number, row in enumerate(csv.DictReader(handle), start=2):
                depends = (row.get("depends_on") or "").split(";")
                entities.append(
                    InventoryEntity(
                        config_name=row["config_name"],
                        kind=kind,
                        label=row.get("label", ""),
                        attributes={c: row.get(c) or "" for c in KIND_COLUMNS[kind]},
                        depends_on=tuple(d.strip() for d in depends if d.strip()),
                        source_file=path.name,
                        source_row=row_number,
                    )
                )
    return sorted(entities, key=sort_key)


@cache
def nestwatch() -> tuple[tuple[InventoryEntity, ...], RelatedIndex]:
    entities = tuple(read_inventory(NESTWATCH))
    return entities, RelatedIndex(entities)


def request_for(config_name: str) -> DraftRequest:
    _, index = nestwatch()
    entity = index.get(config_name)
    assert entity is not None, config_name
    return DraftRequest(SITE, entity, index.for_entity(entity))


def draft(config_name: str) -> Draft:
    return OfflineDrafter().draft(request_for(config_name))


# ------------------------------------------------------------------ related


def test_nestwatch_sample_has_its_235_rows() -> None:
    entities, index = nestwatch()
    assert len(entities) == 235
    assert len(index) == 235


def test_related_of_a_bundle_are_its_fields_sorted() -> None:
    related = request_for("node.type.bird").related
    assert [e.config_name for e in related] == [
        "field.field.node.bird.field_bird_sex",
        "field.field.node.bird.field_bird_species",
        "field.field.node.bird.field_bottom_left_band",
        "field.field.node.bird.field_bottom_right_band",
        "field.field.node.bird.field_top_left_band",
        "field.field.node.bird.field_top_right_band",
    ]


def test_related_of_a_field_are_its_existing_dependencies() -> None:
    related = request_for("field.field.node.bird.field_bird_species").related
    assert [e.config_name for e in related] == [
        "node.type.bird",
        "taxonomy.vocabulary.aou_codes",
    ]


def test_related_skips_missing_dependencies_and_finds_the_bundle_anyway() -> None:
    entities, _ = nestwatch()
    by_name = {e.config_name: e for e in entities}
    orphan = InventoryEntity(
        "field.field.node.bird.field_extra",
        Kind.FIELDS,
        "Extra",
        {"entity_type": "node", "bundle": "bird", "field_name": "field_extra"},
        depends_on=("node.type.missing", "taxonomy.vocabulary.aou_codes"),
    )
    names = [e.config_name for e in related_entities(orphan, by_name)]
    assert names == ["node.type.bird", "taxonomy.vocabulary.aou_codes"]


def test_related_is_bounded_and_fast_on_5000_entities() -> None:
    bundle = InventoryEntity(
        "node.type.big", Kind.BUNDLES, "Big", {"entity_type": "node", "machine_name": "big"}
    )
    fields = [
        InventoryEntity(
            f"field.field.node.big.field_{i:04d}",
            Kind.FIELDS,
            f"F{i}",
            {"entity_type": "node", "bundle": "big", "field_name": f"field_{i:04d}"},
            depends_on=("node.type.big",),
        )
        for i in range(4999)
    ]
    index = RelatedIndex([bundle, *fields])
    related = index.for_entity(bundle)
    assert len(related) == MAX_RELATED
    assert related[0].config_name == "field.field.node.big.field_0000"
    assert all(index.for_entity(f) == (bundle,) for f in fields)


def test_bundles_of_an_older_inventory_without_entity_type_still_find_their_fields() -> None:
    bundle = InventoryEntity(
        "bundles.article", Kind.BUNDLES, "Article", {"machine_name": "article"}
    )
    field = InventoryEntity(
        "fields.body",
        Kind.FIELDS,
        "Body",
        {"bundle": "article", "field_name": "body", "field_type": "text_long"},
        depends_on=("bundles.article",),
    )
    assert RelatedIndex([bundle, field]).for_entity(bundle) == (field,)
    result = OfflineDrafter().draft(DraftRequest({}, bundle, (field,)))
    assert "`body`" in result.analysis


# ------------------------------------------------------------ offline drafts


def test_offline_drafter_is_a_ticket_drafter() -> None:
    drafter: TicketDrafter = OfflineDrafter()
    assert drafter.name == "offline"
    drafter.check_health()


def test_same_request_gives_the_same_draft() -> None:
    first = draft("node.type.landing_page")
    again = OfflineDrafter().draft(request_for("node.type.landing_page"))
    assert first == again
    assert first.generator == "offline"
    assert first.usage == {}


def test_bundle_ticket_lists_its_fields_in_a_table() -> None:
    result = draft("node.type.bird")
    assert result.title == "Build the Bird content type (node.type.bird)"
    assert result.user_story.startswith("As a site editor of NestWatch, I want a Bird content type")
    assert "volunteer nest monitors and researchers" in result.user_story
    assert "| Field | Label | Type | Required | Cardinality | Target |" in result.analysis
    assert (
        "| `field_bird_species` | Bird Species | `entity_reference` | no | 1 | "
        "`taxonomy_term:aou_codes` |"
    ) in result.analysis
    assert result.analysis.count("| `field_") == 6
    assert "Manage fields lists exactly the 6 fields" in result.verification


def test_paragraph_bundle_names_its_required_fields_in_the_checks() -> None:
    result = draft("paragraphs.paragraphs_type.slideshow")
    assert (
        result.title == "Build the Slideshow paragraph type (paragraphs.paragraphs_type.slideshow)"
    )
    assert "| `field_slide` | Slide | `entity_reference_revisions` | yes | unlimited |" in (
        result.analysis
    )
    assert "required field (`field_slide`) is refused" in result.verification


def test_field_ticket_gives_type_cardinality_required_target_and_bundle() -> None:
    result = draft("field.field.node.bird.field_bird_species")
    assert result.title.startswith("Add the Bird Species field to the Bird content type")
    for expected in (
        "| Type | `entity_reference` (Entity reference) |",
        "| Required | no |",
        "| Cardinality | 1 |",
        "| Target | `taxonomy_term:aou_codes` |",
        "`node.type.bird`",
        "- `taxonomy.vocabulary.aou_codes` — Bird Species (vocabulary)",
        "field.storage.node.field_bird_species",
    ):
        assert expected in result.analysis, expected
    assert "Only taxonomy terms of type Bird Species" in result.verification
    assert "(the field is optional)" in result.verification


def test_view_ticket_lists_displays_paths_and_base_table() -> None:
    result = draft("views.view.frontpage")
    assert result.title == "Build the Frontpage view (views.view.frontpage)"
    assert "base table `node_field_data`" in result.analysis
    assert "| `feed_1` | feed | `/rss.xml` |" in result.analysis
    assert "| `page_1` | page | `/node` |" in result.analysis
    assert "Visiting `/node` shows the listing" in result.verification
    assert "`/rss.xml` returns a valid feed" in result.verification
    assert "/node" in result.user_story


def test_view_ticket_names_its_dependencies_with_labels() -> None:
    result = draft("views.view.birds")
    assert "- `node.type.bird` — Bird (content type)" in result.analysis
    assert "- `taxonomy.vocabulary.band_colors` — Band Colors (vocabulary)" in result.analysis


def test_workflow_ticket_lists_states_and_transitions() -> None:
    result = draft("workflows.workflow.editorial")
    assert "- Archived\n- Draft\n- Published" in result.analysis
    assert "| Create New Draft | draft, published | draft |" in result.analysis
    assert "| Archive | published | archived |" in result.analysis
    assert "Basic page content type (`node.type.page`)" in result.analysis
    assert (
        "Transition **Publish** moves content from draft or published to published"
        in result.verification
    )


def test_role_ticket_lists_permissions() -> None:
    result = draft("user.role.anonymous")
    assert "## Permissions (4)" in result.analysis
    for permission in ("access content", "access site-wide contact form", "search content"):
        assert f"- `{permission}`" in result.analysis
        assert f"A user with this role can: {permission}" in result.verification
    assert "built into Drupal" in result.analysis


def test_user_fields_read_naturally() -> None:
    result = draft("field.field.user.user.field_projects")
    assert result.title == (
        "Add the Projects field to the user accounts (field.field.user.user.field_projects)"
    )
    assert "`/admin/config/people/accounts/fields`" in result.analysis


def test_admin_role_and_empty_role() -> None:
    admin = draft("user.role.administrator")
    assert "administrator role" in admin.analysis
    empty = draft("user.role.webcam_user")
    assert "It has no permissions" in empty.verification


def test_image_style_ticket_lists_effects_in_order() -> None:
    result = draft("image.style.full_width_default")
    assert "1. Manual crop (Crop API) (`crop_crop`)" in result.analysis
    assert "2. Scale and crop — 1920x640 (`image_scale_and_crop`)" in result.analysis
    assert "exactly 1920x640 pixels" in result.verification


def test_menu_ticket_states_its_purpose() -> None:
    result = draft("system.menu.footer")
    assert "## Purpose\n\nSite information links" in result.analysis
    assert "`/admin/structure/menu/manage/footer`" in result.verification


def test_every_nestwatch_entity_gets_a_complete_draft() -> None:
    entities, index = nestwatch()
    drafter = OfflineDrafter()
    titles = set()
    for entity in entities:
        result = drafter.draft(DraftRequest(SITE, entity, index.for_entity(entity)))
        fields = result.as_fields()
        assert check_draft(fields) == [], entity.config_name
        assert all(value.strip() for value in fields.values()), entity.config_name
        assert len(result.title) <= 255
        assert entity.config_name in result.title
        assert result.user_story.startswith("As a site")
        assert "## Dependencies" in result.analysis
        assert all(line.startswith("- [ ] ") for line in result.verification.splitlines())
        titles.add(result.title)
    assert len(titles) == len(entities)


def test_drafts_need_no_site_context_and_keep_long_titles_in_bounds() -> None:
    entity = InventoryEntity(
        "menus." + "m" * 300, Kind.MENUS, "L" * 400, {"machine_name": "m", "label": "L" * 400}
    )
    result = OfflineDrafter().draft(DraftRequest({}, entity))
    assert len(result.title) == 255
    assert result.user_story.startswith("As a site editor, I want the ")
    assert "site visitors" in result.user_story
    assert all(result.as_fields().values())


def test_nestwatch_through_the_real_inventory_import() -> None:
    parse = pytest.importorskip("application.inventory.parse")
    model = pytest.importorskip("application.inventory.model")
    files = [model.UploadedFile(p.name, p.read_bytes()) for p in sorted(NESTWATCH.glob("*.csv"))]
    parsed = parse.parse_inventory(files)
    index = RelatedIndex(parsed.entities)
    drafter = OfflineDrafter()
    drafts = [drafter.draft(DraftRequest(SITE, e, index.for_entity(e))) for e in parsed.entities]
    assert len(drafts) == 235
    assert all(check_draft(d.as_fields()) == [] for d in drafts)
    ours = {
        e.config_name: OfflineDrafter().draft(request_for(e.config_name)) for e in parsed.entities
    }
    assert {d.title for d in drafts} == {d.title for d in ours.values()}


# ---------------------------------------------------------- attribute parsing


def test_parse_displays() -> None:
    displays = parse_displays(
        "default(default); page_1(page: /archive); rest_export_1(rest_export: /api/x)"
    )
    assert [(d.display_id, d.display_type, d.path) for d in displays] == [
        ("default", "default", ""),
        ("page_1", "page", "/archive"),
        ("rest_export_1", "rest_export", "/api/x"),
    ]


def test_parse_transitions() -> None:
    transitions = parse_transitions(
        "Archive: published->archived; Publish: draft,published->published"
    )
    assert [(t.label, t.from_states, t.to_state) for t in transitions] == [
        ("Archive", ("published",), "archived"),
        ("Publish", ("draft", "published"), "published"),
    ]


# ------------------------------------------------------------------- prompt


def test_prompt_holds_the_rules_the_entity_and_one_line_per_related() -> None:
    request = request_for("node.type.landing_page")
    system, user = build_messages(request)
    assert system["role"] == "system"
    assert '"title"' in system["content"]
    assert "JSON" in system["content"]
    assert user["role"] == "user"
    content = user["content"]
    assert "Site: NestWatch" in content
    assert "Audience: volunteer nest monitors and researchers" in content
    assert "config_name: node.type.landing_page" in content
    assert "label: Landing Page" in content
    assert "description:" not in content  # empty attributes are left out
    assert (
        "- field.field.node.landing_page.field_teaser: Teaser (fields) "
        "[text_long, required, cardinality 1]"
    ) in content
    assert content.count("\n- field.field.node.landing_page.") == len(request.related)


def test_prompt_is_compact() -> None:
    """A bundle with nine fields costs well under a thousand prompt tokens (chars / 4)."""
    request = request_for("node.type.landing_page")
    assert len(request.related) == 9
    chars = sum(len(m["content"]) for m in build_messages(request))
    assert chars / 4 < 700
    entities, index = nestwatch()
    sizes = sorted(
        sum(len(m["content"]) for m in build_messages(DraftRequest(SITE, e, index.for_entity(e))))
        for e in entities
    )
    assert sizes[len(sizes) // 2] / 4 < 450  # the median entity
    assert sizes[-1] / 4 < 1000  # the largest one


def test_prompt_cuts_huge_attributes() -> None:
    role = InventoryEntity(
        "user.role.editor",
        Kind.ROLES,
        "Editor",
        {"machine_name": "editor", "permissions": "; ".join(f"perm {i}" for i in range(2000))},
    )
    content = build_messages(DraftRequest({}, role))[1]["content"]
    assert len(content) < 2000
    assert "more characters]" in content


def test_schema_requires_every_field() -> None:
    assert TICKET_JSON_SCHEMA["required"] == ["title", "user_story", "analysis", "verification"]
    assert TICKET_JSON_SCHEMA["additionalProperties"] is False
    assert TICKET_JSON_SCHEMA["properties"]["title"]["maxLength"] == 255


TICKET = {"title": "T", "user_story": "S", "analysis": "A", "verification": "V"}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(TICKET),
        f"```json\n{json.dumps(TICKET, indent=2)}\n```",
        f"Here is the ticket:\n\n```json\n{json.dumps(TICKET)}\n```\nHope this helps!",
        f"Sure! {json.dumps(TICKET)} That is all.",
        f"```\n{json.dumps(TICKET)}\n```",
        f"Note {{not json}} then {json.dumps(TICKET)}",
    ],
)
def test_parse_draft_finds_the_object(text: str) -> None:
    assert parse_draft(text) == TICKET


@pytest.mark.parametrize("text", ["", "no json here", "[1, 2]", '{"title": "cut off'])
def test_parse_draft_refuses_answers_without_an_object(text: str) -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_draft(text)


def test_check_draft_names_every_problem() -> None:
    assert check_draft(TICKET) == []
    assert check_draft([TICKET]) == ["the answer is not a JSON object"]
    problems = check_draft({"title": "x" * 256, "user_story": " ", "analysis": 3})
    assert problems == [
        'field "user_story" is empty',
        'field "analysis" must be a string, not int',
        'missing field "verification"',
        '"title" is 256 characters long, at most 255 allowed',
    ]
