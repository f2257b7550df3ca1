"""The description an issue gets, in the format its Jira takes: an ADF document on Cloud,
Jira wiki markup on Data Center (REST v2), both from the ticket's same Markdown.

Both keep Jira's 32,767-character limit the same way: a description over it becomes the
user story plus a note, and the whole Markdown is attached (`TicketDocument.attachment`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from application.adf import build_ticket_document, markdown_to_wiki, plain_to_wiki
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
    return markdown_to_wiki(markdown)


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
        return f"h2. User story\n\n{to_wiki(story)}\n\n{plain_to_wiki(note + end)}"

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
