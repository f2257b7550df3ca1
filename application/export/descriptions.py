"""The description an issue gets, in the format its Jira takes: an ADF document on Cloud,
Jira wiki markup on Data Center (REST v2), both from the ticket's same Markdown.

Both keep Jira's 32,767-character limit the same way: a description over it becomes the
user story plus a note, and the whole Markdown is attached (`TicketDocument.attachment`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from application.adf import build_ticket_document
from application.adf.ticket_document import (
    JIRA_DESCRIPTION_LIMIT,
    Attachment,
    attachment_filename,
    jira_length,
    ticket_markdown,
)
from application.export.jira_types import DATACENTER

_SECTIONS = ("User story", "Analysis", "Verification")
_ELLIPSIS = " …"


@dataclass(frozen=True)
class IssueText:
    """Summary, description (ADF document or wiki text) and the attachment, if too long."""

    summary: str
    description: dict[str, Any] | str
    attachment: Attachment | None


def issue_text(
    flavor: str, config_name: str, title: str, user_story: str, analysis: str, verification: str
) -> IssueText:
    if flavor == DATACENTER:
        return wiki_document(config_name, title, user_story, analysis, verification)
    document = build_ticket_document(config_name, title, user_story, analysis, verification)
    return IssueText(document.summary, document.adf, document.attachment)


def to_wiki(markdown: str) -> str:
    """Markdown -> Jira wiki markup: the one place the converter is called."""
    return _interim_markdown_to_wiki(markdown)


def wiki_document(
    config_name: str, title: str, user_story: str, analysis: str, verification: str
) -> IssueText:
    bodies = (user_story.strip(), analysis.strip(), verification.strip())
    # Each section on its own, so an unclosed code fence cannot swallow the next one.
    full = "\n\n".join(
        f"h2. {name}\n\n{to_wiki(body)}" for name, body in zip(_SECTIONS, bodies, strict=True)
    )
    summary = title.strip()
    if jira_length(full) <= JIRA_DESCRIPTION_LIMIT:
        return IssueText(summary, full, None)
    filename = attachment_filename(config_name)
    markdown = ticket_markdown(user_story, analysis, verification)
    attachment = Attachment(filename, markdown.encode("utf-8", "surrogatepass"))
    note = (
        f"The full description ({jira_length(full):,} characters) exceeds Jira's "
        f"{JIRA_DESCRIPTION_LIMIT:,}-character limit and is attached as {filename}"
    )

    def pointer(story: str, truncated: bool) -> str:
        end = " (the user story above is shortened)." if truncated else "."
        return f"h2. User story\n\n{to_wiki(story)}\n\n{note}{end}"

    whole = pointer(user_story.strip(), truncated=False)
    if jira_length(whole) <= JIRA_DESCRIPTION_LIMIT:
        return IssueText(summary, whole, attachment)
    low, high = 0, min(len(user_story), 2 * JIRA_DESCRIPTION_LIMIT)
    best = pointer(_ELLIPSIS.strip(), truncated=True)
    while low < high:
        middle = (low + high + 1) // 2
        candidate = pointer(user_story[:middle].rstrip() + _ELLIPSIS, truncated=True)
        if jira_length(candidate) <= JIRA_DESCRIPTION_LIMIT:
            low, best = middle, candidate
        else:
            high = middle - 1
    return IssueText(summary, best, attachment)


# --- until `application.adf.wiki.markdown_to_wiki` lands: the common constructs ----------

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    text = _CODE.sub(lambda m: "{{" + m.group(1) + "}}", text)
    text = _BOLD.sub(r"*\1*", text)
    return _LINK.sub(r"[\1|\2]", text)


def _interim_markdown_to_wiki(markdown: str) -> str:
    out: list[str] = []
    fence = False
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            language = stripped[3:].strip()
            out.append("{code}" if fence or not language else "{code:" + language + "}")
            fence = not fence
            continue
        if fence:
            out.append(line)
            continue
        heading = re.match(r"(#{1,6})\s+(.*)", stripped)
        bullet = re.match(r"(\s*)[-*+]\s+(.*)", line)
        number = re.match(r"(\s*)\d+[.)]\s+(.*)", line)
        if heading:
            out.append(f"h{len(heading.group(1))}. {_inline(heading.group(2))}")
        elif bullet:
            out.append("*" * (len(bullet.group(1)) // 2 + 1) + " " + _inline(bullet.group(2)))
        elif number:
            out.append("#" * (len(number.group(1)) // 2 + 1) + " " + _inline(number.group(2)))
        else:
            out.append(_inline(line))
    if fence:
        out.append("{code}")
    return "\n".join(out).strip()
