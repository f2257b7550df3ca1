"""The Jira issue to create for a ticket, and the manual fixes its fallbacks imply."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from application.adf import build_ticket_document
from application.adf.ticket_document import TicketDocument
from application.export.descriptions import issue_text
from application.export.jira_types import CLOUD, DATACENTER, NewIssue
from application.export.preflight import Preflight
from domain.export import export_label
from domain.session import Ticket

PROPERTY_KEY = "ticketforge"

Fix = tuple[str, str, str]  # (kind, detail, recommended action)


def session_label(session_id: UUID) -> str:
    """A label on every issue of a session, for sync back (`labels = ... AND updated >= ...`)."""
    return f"tf-s-{session_id.hex[:16]}"


@dataclass(frozen=True)
class Prepared:
    ticket: Ticket
    order: int
    issue: NewIssue
    attachment: tuple[str, bytes, str] | None  # (filename, content, media type)
    fallbacks: list[Fix]


def ticket_document(ticket: Ticket) -> TicketDocument:
    """The ticket as Jira receives it: summary, ADF description, attachment if too long."""
    return build_ticket_document(
        ticket.config_name,
        ticket.title,
        ticket.user_story,
        ticket.analysis,
        ticket.verification,
    )


def prepare_issue(
    ticket: Ticket,
    order: int,
    *,
    session_id: UUID,
    epic_key: str | None,
    project_key: str,
    issue_type: str,
    preflight: Preflight,
    flavor: str = CLOUD,
) -> Prepared:
    """Build the issue (the ADF conversion is the costly part) and drop, as manual fixes,
    what the pre-flight found Jira will not take: an unknown assignee, priority, sprint.
    `epic_key`: the epic to put the issue under (Cloud: `parent`; Data Center: the Epic
    Link field the pre-flight found, else none)."""
    document = issue_text(
        flavor,
        ticket.config_name,
        ticket.title,
        ticket.user_story,
        ticket.analysis,
        ticket.verification,
    )
    fallbacks: list[Fix] = []
    account_id = None
    if ticket.assignee:
        account_id = preflight.assignees.get(ticket.assignee)
        if account_id is None:
            fallbacks.append(
                (
                    "assignee",
                    f"'{ticket.assignee}' is not an assignable user; left unassigned",
                    "Assign the issue by hand to the right person",
                )
            )
    priority = ticket.priority
    if priority and priority not in preflight.priorities:
        fallbacks.append(
            (
                "priority",
                f"Priority '{priority}' is not available; Jira's default was used",
                "Set the priority by hand (available: "
                + (", ".join(sorted(preflight.priorities)) or "none could be read")
                + ")",
            )
        )
        priority = None
    if ticket.sprint and ticket.sprint not in preflight.sprints:
        fallbacks.append(
            (
                "sprint",
                f"Sprint '{ticket.sprint}' was not found; the issue is in the backlog",
                "Move the issue to the right sprint by hand",
            )
        )
    labels = [*ticket.labels, export_label(ticket.id), session_label(session_id)]
    parent_key = epic_key if flavor != DATACENTER else None
    extra = (
        {preflight.epic_link_field: epic_key}
        if epic_key and flavor == DATACENTER and preflight.epic_link_field
        else {}
    )
    issue = NewIssue(
        project_key=project_key,
        summary=document.summary,
        issue_type=issue_type,
        issue_type_id=preflight.issue_type_id,
        description=document.description,
        labels=tuple(dict.fromkeys(labels)),
        assignee_account_id=account_id,
        priority=priority,
        parent_key=parent_key,
        extra_fields=extra,
        properties={PROPERTY_KEY: {"ticket_id": str(ticket.id), "session_id": str(session_id)}},
    )
    attachment = None
    if document.attachment is not None:
        a = document.attachment
        attachment = (a.filename, a.content, a.media_type)
    return Prepared(ticket, order, issue, attachment, fallbacks)
