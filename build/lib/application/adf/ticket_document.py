"""A ticket as Jira will receive it (summary, ADF description, attachment) and its pre-export check.

Counting rule. Jira's limits are Java `String.length()` values: UTF-16 code units. The
description limit applies to the ADF JSON, which we measure compactly serialised
without ASCII escaping, `json.dumps(adf, ensure_ascii=False, separators=(",", ":"))`,
so the count is of the document itself, not of indentation or ASCII escapes.
For text in the Basic Multilingual Plane this equals `len()` of that string; a
character outside it (an emoji) counts twice, as it does in Jira, so the check is
never laxer than Jira.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from application.adf.convert import markdown_to_adf
from application.adf.validate import validate_adf

Node = dict[str, Any]

JIRA_SUMMARY_LIMIT = 255
JIRA_DESCRIPTION_LIMIT = 32_767
# Jira Cloud's default maximum attachment size (administrators can lower it).
JIRA_ATTACHMENT_LIMIT_BYTES = 10 * 1024 * 1024

_SECTIONS = ("User story", "Analysis", "Verification")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_FILENAME_STEM = 200
_ELLIPSIS = " …"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    media_type: str = "text/markdown"


@dataclass(frozen=True)
class TicketDocument:
    summary: str
    adf: dict[str, Any]
    attachment: Attachment | None


@dataclass(frozen=True)
class AdfCheck:
    """The pre-export verdict on one ticket (the seeds' AdfTestResult without ids).

    `adf_size_bytes` is the UTF-8 size of the description's compact ADF JSON as it
    will be sent. `character_reduction` is `1 - markdown_chars / adf_chars` for the
    full description (both counted as Jira counts): the share of the ADF's length
    that the Markdown saves, e.g. 0.6 when the Markdown is 40 % of the ADF's length.
    It is negative when the ADF is the shorter one.
    """

    status: Literal["passed", "failed"]
    adf_size_bytes: int | None
    character_reduction: float | None
    error_message: str | None
    suggested_fix: str | None
    attachment_upload_tested: bool
    attachment_upload_status: str | None


def jira_length(text: str) -> int:
    """Length as Jira counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def adf_json(adf: Node) -> str:
    """The compact JSON text whose length Jira holds against the description limit."""
    return json.dumps(adf, ensure_ascii=False, separators=(",", ":"))


def description_length(adf: Node) -> int:
    return jira_length(adf_json(adf))


def ticket_markdown(user_story: str, analysis: str, verification: str) -> str:
    """The ticket's description in Markdown, one `##` section per field."""
    bodies = (user_story, analysis, verification)
    return (
        "\n\n".join(
            f"## {name}\n\n{body.strip()}" for name, body in zip(_SECTIONS, bodies, strict=True)
        )
        + "\n"
    )


def attachment_filename(config_name: str) -> str:
    """`<config_name>-description.md` with only characters every file system accepts."""
    stem = _UNSAFE_FILENAME.sub("_", config_name).strip("._-")[:_MAX_FILENAME_STEM]
    return f"{stem or 'ticket'}-description.md"


def build_ticket_document(
    config_name: str, title: str, user_story: str, analysis: str, verification: str
) -> TicketDocument:
    """The summary, ADF description and, for an over-long description, its attachment."""
    return _compose(config_name, title, user_story, analysis, verification).document


def check_ticket(
    config_name: str, title: str, user_story: str, analysis: str, verification: str
) -> AdfCheck:
    """Check a ticket against the ADF schema and Jira's limits, with fixes for each problem."""
    composed = _compose(config_name, title, user_story, analysis, verification)
    document = composed.document
    problems = _summary_problems(document.summary)

    errors = validate_adf(document.adf)
    if errors:
        problems.append(
            (
                "ADF schema violation: " + "; ".join(errors[:3]),
                "Rewrite the Markdown around the reported position as plain paragraphs or "
                "lists, and report the converter defect: valid Markdown should always convert.",
            )
        )

    upload_status = "skipped"
    if document.attachment is not None:
        attachment_issue = attachment_problem(document.attachment)
        upload_status = "failed" if attachment_issue else "passed"
        if attachment_issue:
            problems.append(attachment_issue)

    markdown_chars = jira_length(composed.markdown)
    return AdfCheck(
        status="failed" if problems else "passed",
        adf_size_bytes=len(adf_json(document.adf).encode("utf-8", "surrogatepass")),
        character_reduction=round(1 - markdown_chars / composed.full_length, 4),
        error_message="\n".join(message for message, _ in problems) or None,
        suggested_fix="\n".join(fix for _, fix in problems) or None,
        attachment_upload_tested=document.attachment is not None,
        attachment_upload_status=upload_status,
    )


def attachment_problem(attachment: Attachment) -> tuple[str, str] | None:
    """Why Jira would refuse the attachment (message, suggested fix), or None."""
    try:
        attachment.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"Attachment {attachment.filename} is not valid UTF-8 (byte {exc.start}).",
            "Remove the invalid characters (e.g. unpaired surrogates) from the ticket text.",
        )
    size = len(attachment.content)
    if size > JIRA_ATTACHMENT_LIMIT_BYTES:
        return (
            f"Attachment {attachment.filename} is {size:,} bytes; Jira accepts at most "
            f"{JIRA_ATTACHMENT_LIMIT_BYTES:,} bytes (10 MB).",
            f"Shorten the analysis or verification by at least "
            f"{size - JIRA_ATTACHMENT_LIMIT_BYTES:,} bytes, or split the ticket.",
        )
    return None


def _summary_problems(summary: str) -> list[tuple[str, str]]:
    if not summary:
        return [
            (
                "Summary is empty.",
                f"Give the ticket a one-line title of at most {JIRA_SUMMARY_LIMIT} characters.",
            )
        ]
    problems: list[tuple[str, str]] = []
    lines = summary.splitlines()
    if len(lines) > 1:
        one_line = " ".join(summary.split())
        problems.append(
            (
                f"Summary spans {len(lines)} lines; a Jira summary must be a single line.",
                f"Join the title into one line, e.g. {one_line[:80]!r}.",
            )
        )
    controls = sorted({f"U+{ord(c):04X}" for c in summary if _is_control(c) and c not in "\r\n"})
    if controls:
        problems.append(
            (
                f"Summary contains control characters ({', '.join(controls)}), which Jira refuses.",
                "Retype the title without invisible characters (often pasted from another tool).",
            )
        )
    length = jira_length(summary)
    if length > JIRA_SUMMARY_LIMIT:
        problems.append(
            (
                f"Summary is {length} characters; Jira allows at most {JIRA_SUMMARY_LIMIT}.",
                f"Shorten the title by at least {length - JIRA_SUMMARY_LIMIT} characters; "
                "move the detail into the user story.",
            )
        )
    return problems


def _is_control(char: str) -> bool:
    return ord(char) < 32 or 127 <= ord(char) < 160


@dataclass(frozen=True)
class _Composed:
    document: TicketDocument
    markdown: str
    full_length: int


def _compose(
    config_name: str, title: str, user_story: str, analysis: str, verification: str
) -> _Composed:
    markdown = ticket_markdown(user_story, analysis, verification)
    # The same stripped bodies as the Markdown, so attachment and description agree.
    full = _sections_adf((user_story.strip(), analysis.strip(), verification.strip()))
    full_length = description_length(full)
    summary = title.strip()
    if full_length <= JIRA_DESCRIPTION_LIMIT:
        return _Composed(TicketDocument(summary, full, None), markdown, full_length)
    filename = attachment_filename(config_name)
    # surrogatepass: unpaired surrogates reach the UTF-8 check instead of crashing here.
    attachment = Attachment(filename, markdown.encode("utf-8", "surrogatepass"))
    short = _pointer_document(user_story, filename, full_length)
    return _Composed(TicketDocument(summary, short, attachment), markdown, full_length)


def _sections_adf(bodies: tuple[str, ...]) -> Node:
    # Each section is converted on its own so an unclosed code fence in one field
    # cannot swallow the headings and text of the next.
    content: list[Node] = []
    for name, body in zip(_SECTIONS, bodies, strict=True):
        content.append(_heading(name))
        content.extend(markdown_to_adf(body)["content"])
    return {"version": 1, "type": "doc", "content": content}


def _heading(text: str) -> Node:
    return {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": text}]}


def _pointer_document(user_story: str, filename: str, full_length: int) -> Node:
    """User story plus a pointer to the attachment, shortening the story only if it must."""

    def document(story: str, truncated: bool) -> Node:
        note = (
            f"The full description ({full_length:,} characters) exceeds Jira's "
            f"{JIRA_DESCRIPTION_LIMIT:,}-character limit and is attached as {filename}"
            + (" (the user story above is shortened)." if truncated else ".")
        )
        content = [_heading("User story"), *markdown_to_adf(story)["content"]]
        content.append({"type": "paragraph", "content": [{"type": "text", "text": note}]})
        return {"version": 1, "type": "doc", "content": content}

    def fits(doc: Node) -> bool:
        return description_length(doc) <= JIRA_DESCRIPTION_LIMIT

    whole = document(user_story, truncated=False)
    if fits(whole):
        return whole
    # Binary search for the longest prefix that fits. A prefix much longer than the
    # limit never fits in practice, so the search starts below twice the limit.
    low, high = 0, min(len(user_story), 2 * JIRA_DESCRIPTION_LIMIT)
    best = document(_truncate(user_story, 0), truncated=True)
    while low < high:
        middle = (low + high + 1) // 2
        candidate = document(_truncate(user_story, middle), truncated=True)
        if fits(candidate):
            low, best = middle, candidate
        else:
            high = middle - 1
    return best


def _truncate(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, cut at a paragraph or word boundary."""
    cut = text[:limit]
    for boundary in ("\n\n", "\n", " "):
        index = cut.rfind(boundary)
        if index >= limit // 2:
            cut = cut[:index]
            break
    return cut.rstrip() + _ELLIPSIS
