"""Epics (a session's `epic_mode` per_group): one epic per ticket group, named from the
group and the site, created before the tickets, each marked like every issue we make."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from application.export.descriptions import to_wiki
from application.export.issues import PROPERTY_KEY, session_label
from application.export.jira_types import DATACENTER, NewIssue
from application.export.preflight import Preflight
from domain.export import epic_id, export_label
from domain.inventory import Group
from domain.session import Session, Ticket

# What each group's work is called in a backlog (content model, views, roles, ...).
GROUP_TITLES = {
    Group.CONTENT.value: "Content model",
    Group.TAXONOMY.value: "Taxonomy",
    Group.MEDIA.value: "Media",
    Group.ACCESS.value: "Roles and permissions",
    Group.VIEWS.value: "Views",
    Group.WORKFLOW.value: "Editorial workflow",
    Group.NAVIGATION.value: "Navigation",
}


def group_order(group: str) -> int:
    try:
        return Group(group).rank
    except ValueError:
        return len(Group)


def groups_of(tickets: Iterable[Ticket]) -> dict[str, int]:
    """The groups of these tickets, in processing order, with how many tickets each."""
    counts: dict[str, int] = {}
    for ticket in tickets:
        counts[ticket.group] = counts.get(ticket.group, 0) + 1
    return {g: counts[g] for g in sorted(counts, key=lambda g: (group_order(g), g))}


def epic_name(session: Session, group: str) -> str:
    site = str(session.site.get("site_name") or session.name).strip()
    return f"{site}: {GROUP_TITLES.get(group, group)}"[:255]


def epic_issue(
    session: Session, group: str, project_key: str, preflight: Preflight, flavor: str
) -> NewIssue:
    """The epic to create for a group: marked (label and property), in the Epic type,
    with Data Center's Epic Name where the project asks for it."""
    name = epic_name(session, group)
    identity = epic_id(session.id, group)
    text = (
        f"The {GROUP_TITLES.get(group, group).lower()} work of "
        f"{session.site.get('site_name') or session.name}: its tickets are the issues "
        "in this epic, exported by ticketforge in dependency order."
    )
    description: dict[str, object] | str
    if flavor == DATACENTER:
        description = to_wiki(text)
    else:
        description = {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": text}]}]}  # fmt: skip
    extra = {preflight.epic_name_field: name} if preflight.epic_name_field else {}
    return NewIssue(
        project_key=project_key,
        summary=name,
        issue_type="Epic",
        issue_type_id=preflight.epic_type_id,
        description=description,
        labels=(export_label(identity), session_label(session.id)),
        extra_fields=extra,
        properties={PROPERTY_KEY: {"epic_group": group, "session_id": str(session.id)}},
    )


def epic_marks(session_id: UUID, groups: Iterable[str]) -> dict[str, tuple[str, UUID]]:
    """label -> (group, epic id), to look for the epics by their marks."""
    return {export_label(epic_id(session_id, g)): (g, epic_id(session_id, g)) for g in groups}
