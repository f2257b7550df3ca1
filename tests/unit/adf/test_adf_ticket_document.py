"""The ticket's Jira document: sections, the 32,767 limit, the attachment, and check_ticket."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from application.adf import (
    JIRA_ATTACHMENT_LIMIT_BYTES,
    JIRA_DESCRIPTION_LIMIT,
    JIRA_SUMMARY_LIMIT,
    Attachment,
    attachment_filename,
    attachment_problem,
    build_ticket_document,
    check_ticket,
    description_length,
    markdown_to_adf,
    ticket_markdown,
    validate_adf,
)

Doc = dict[str, Any]
STORY = "As an **editor** I want an *Article* type so that I can publish news."
ANALYSIS = (
    "- Create `node.type.article`\n  - add `field_tags`\n\n"
    "| Field | Type |\n|---|---|\n| body | text |"
)
VERIFICATION = "1. Create an article.\n2. See it on [the site](https://example.com)."


def texts(document: Doc) -> str:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                found.append(node["text"])
            for child in node.get("content", []):
                walk(child)

    walk(document)
    return "".join(found)


def padding_for(length: int, user_story: str = STORY) -> str:
    """An analysis of plain letters making the full description exactly `length` long."""
    base = description_length(build_ticket_document("x", "t", user_story, "a", "v").adf)
    return "a" * (length - base + 1)


def test_ticket_markdown_has_the_three_sections_in_order() -> None:
    markdown = ticket_markdown("  story \n", "analysis", "verification")
    assert markdown == (
        "## User story\n\nstory\n\n## Analysis\n\nanalysis\n\n## Verification\n\nverification\n"
    )


def test_a_typical_ticket_keeps_its_description_inline(
    assert_official: Callable[[Doc], None],
) -> None:
    ticket = build_ticket_document(
        "node.type.article", "  Create Article  ", STORY, ANALYSIS, VERIFICATION
    )
    assert ticket.summary == "Create Article"
    assert ticket.attachment is None
    assert_official(ticket.adf)
    headings = [n for n in ticket.adf["content"] if n["type"] == "heading"]
    assert [texts(h) for h in headings] == ["User story", "Analysis", "Verification"]
    assert {h["attrs"]["level"] for h in headings} == {2}
    assert (
        ticket.adf["content"]
        == markdown_to_adf(ticket_markdown(STORY, ANALYSIS, VERIFICATION))["content"]
    )


def test_an_unclosed_fence_in_one_field_does_not_swallow_the_next() -> None:
    ticket = build_ticket_document("x", "t", STORY, "```\nunclosed code", VERIFICATION)
    headings = [texts(n) for n in ticket.adf["content"] if n["type"] == "heading"]
    assert headings == ["User story", "Analysis", "Verification"]


def test_a_description_at_the_limit_stays_inline() -> None:
    analysis = padding_for(JIRA_DESCRIPTION_LIMIT)
    ticket = build_ticket_document("x", "t", STORY, analysis, "v")
    assert ticket.attachment is None
    assert description_length(ticket.adf) == JIRA_DESCRIPTION_LIMIT


def test_one_character_over_the_limit_moves_to_an_attachment(
    assert_official: Callable[[Doc], None],
) -> None:
    analysis = padding_for(JIRA_DESCRIPTION_LIMIT + 1)
    ticket = build_ticket_document("node.type.article", "t", STORY, analysis, VERIFICATION)
    assert ticket.attachment == Attachment(
        filename="node.type.article-description.md",
        content=ticket_markdown(STORY, analysis, VERIFICATION).encode("utf-8"),
        media_type="text/markdown",
    )
    assert_official(ticket.adf)
    assert description_length(ticket.adf) < 1_000
    body = texts(ticket.adf)
    assert "As an editor I want an Article type" in body
    assert "attached as node.type.article-description.md" in body
    assert "shortened" not in body


def test_the_limit_is_counted_in_utf16_units_as_jira_does() -> None:
    # 😀 is one Python character but two UTF-16 units, as Java's String.length() counts.
    analysis = "😀" + padding_for(JIRA_DESCRIPTION_LIMIT)[1:]
    full = markdown_to_adf(ticket_markdown(STORY, analysis, "v"))
    assert (
        len(json.dumps(full, ensure_ascii=False, separators=(",", ":"))) == JIRA_DESCRIPTION_LIMIT
    )
    assert description_length(full) == JIRA_DESCRIPTION_LIMIT + 1
    assert build_ticket_document("x", "t", STORY, analysis, "v").attachment is not None


def test_an_over_long_user_story_is_shortened_at_a_boundary(
    assert_official: Callable[[Doc], None],
) -> None:
    story = "\n\n".join(f"Paragraph {i} " + "lorem ipsum dolor " * 40 for i in range(80))
    ticket = build_ticket_document("views.view.content", "t", story, ANALYSIS, VERIFICATION)
    assert ticket.attachment is not None
    assert ticket.attachment.content.decode("utf-8") == ticket_markdown(
        story, ANALYSIS, VERIFICATION
    )
    assert_official(ticket.adf)
    length = description_length(ticket.adf)
    assert JIRA_DESCRIPTION_LIMIT - 2_000 < length <= JIRA_DESCRIPTION_LIMIT
    paragraphs = [texts(n) for n in ticket.adf["content"] if n["type"] == "paragraph"]
    assert paragraphs[0].startswith("Paragraph 0 lorem ipsum")
    assert paragraphs[-2].endswith(" …")  # cut at a paragraph break, marked
    assert paragraphs[-2].removesuffix(" …") in [p.strip() for p in story.split("\n\n")]
    assert "the user story above is shortened" in paragraphs[-1]


@pytest.mark.parametrize(
    ("config_name", "filename"),
    [
        ("node.type.article", "node.type.article-description.md"),
        ("field.storage.node.field_tags", "field.storage.node.field_tags-description.md"),
        ("../../etc/passwd", "etc_passwd-description.md"),
        ('a b/c\\d:e*?"<>|\x00', "a_b_c_d_e-description.md"),
        ("", "ticket-description.md"),
        ("...", "ticket-description.md"),
        ("x" * 500, "x" * 200 + "-description.md"),
    ],
)
def test_attachment_file_names_are_safe(config_name: str, filename: str) -> None:
    assert attachment_filename(config_name) == filename


def test_a_typical_ticket_passes_the_check() -> None:
    check = check_ticket("node.type.article", "Create Article", STORY, ANALYSIS, VERIFICATION)
    adf = build_ticket_document(
        "node.type.article", "Create Article", STORY, ANALYSIS, VERIFICATION
    ).adf
    compact = json.dumps(adf, ensure_ascii=False, separators=(",", ":"))
    markdown = ticket_markdown(STORY, ANALYSIS, VERIFICATION)
    assert check.status == "passed"
    assert check.error_message is None and check.suggested_fix is None
    assert check.adf_size_bytes == len(compact.encode("utf-8"))
    assert check.character_reduction == round(1 - len(markdown) / len(compact), 4)
    assert 0 < check.character_reduction < 1  # the Markdown is the shorter text
    assert check.attachment_upload_tested is False
    assert check.attachment_upload_status == "skipped"


@pytest.mark.parametrize(
    ("title", "message", "fix"),
    [
        ("", "Summary is empty.", "one-line title"),
        ("   \n ", "Summary is empty.", "one-line title"),
        ("Create\nArticle", "a Jira summary must be a single line", "'Create Article'"),
        ("Create\r\nthe\u2028Article", "spans 3 lines", "'Create the Article'"),
        ("x" * (JIRA_SUMMARY_LIMIT + 1), "Summary is 256 characters", "by at least 1 characters"),
        ("😀" * 128, "Summary is 256 characters", "by at least 1 characters"),
    ],
)
def test_summary_problems_fail_with_a_fix(title: str, message: str, fix: str) -> None:
    check = check_ticket("x", title, STORY, ANALYSIS, VERIFICATION)
    assert check.status == "failed"
    assert check.error_message is not None and message in check.error_message
    assert check.suggested_fix is not None and fix in check.suggested_fix


def test_every_summary_problem_is_reported_at_once() -> None:
    check = check_ticket("x", "line one\n" + "y" * 300, STORY, ANALYSIS, VERIFICATION)
    assert check.status == "failed"
    assert check.error_message is not None and check.suggested_fix is not None
    assert len(check.error_message.splitlines()) == 2
    assert len(check.suggested_fix.splitlines()) == 2


def test_a_summary_of_exactly_255_characters_passes() -> None:
    assert (
        check_ticket("x", "x" * JIRA_SUMMARY_LIMIT, STORY, ANALYSIS, VERIFICATION).status
        == "passed"
    )


def test_a_moved_description_passes_with_the_attachment_tested() -> None:
    analysis = padding_for(JIRA_DESCRIPTION_LIMIT + 1)
    check = check_ticket("node.type.article", "Article", STORY, analysis, VERIFICATION)
    assert check.status == "passed"
    assert check.attachment_upload_tested is True
    assert check.attachment_upload_status == "passed"
    assert check.adf_size_bytes is not None and check.adf_size_bytes < 1_000


def test_an_attachment_over_10_mb_fails_the_check() -> None:
    big = "```\n" + ("x" * 99 + "\n") * 106_000 + "```\n"  # ~10.6 MB, cheap to parse
    check = check_ticket("node.type.article", "Article", STORY, big, VERIFICATION)
    assert check.status == "failed"
    assert check.attachment_upload_tested is True
    assert check.attachment_upload_status == "failed"
    assert (
        check.error_message is not None
        and "Jira accepts at most 10,485,760 bytes" in check.error_message
    )
    assert (
        check.suggested_fix is not None
        and "Shorten the analysis or verification" in check.suggested_fix
    )


def test_attachment_problems_at_the_boundaries() -> None:
    at_limit = Attachment("a.md", b"x" * JIRA_ATTACHMENT_LIMIT_BYTES)
    over = Attachment("a.md", b"x" * (JIRA_ATTACHMENT_LIMIT_BYTES + 1))
    assert attachment_problem(at_limit) is None
    problem = attachment_problem(over)
    assert problem is not None and "10,485,761 bytes" in problem[0]
    broken = attachment_problem(Attachment("a.md", b"ok \xff\xfe"))
    assert broken is not None and "not valid UTF-8 (byte 3)" in broken[0]


def test_unpaired_surrogates_in_a_moved_description_fail_the_upload_check() -> None:
    analysis = padding_for(JIRA_DESCRIPTION_LIMIT + 1) + "\ud800"
    check = check_ticket("x", "t", STORY, analysis, VERIFICATION)
    assert check.status == "failed"
    assert check.attachment_upload_status == "failed"
    assert check.suggested_fix is not None and "unpaired surrogates" in check.suggested_fix


def test_five_hundred_typical_tickets_all_pass() -> None:
    tickets = [
        (
            f"node.type.t{i}",
            f"Create type {i}",
            f"{STORY} ({i})",
            f"{ANALYSIS}\n\n- item {i}",
            VERIFICATION,
        )
        for i in range(500)
    ]
    checks = [check_ticket(*ticket) for ticket in tickets]
    assert all(check.status == "passed" for check in checks)


def test_validate_adf_accepts_every_built_document() -> None:
    for analysis in (ANALYSIS, padding_for(JIRA_DESCRIPTION_LIMIT + 5)):
        ticket = build_ticket_document("x", "t", STORY, analysis, VERIFICATION)
        assert validate_adf(ticket.adf) == []
