"""Checking a Jira project up front, with the reasons an export to it would fail."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from uuid import UUID

from application.export.epics import groups_of
from application.export.port import JiraGateway
from application.export.preflight import Preflight, run_preflight
from application.export.schedule import ExportEstimate, estimate_export
from application.sessions import TicketForge
from application.users import User
from domain.session import EPIC_PER_GROUP


def check_project(
    jira: Callable[[], JiraGateway],
    project_key: str,
    issue_type: str,
    *,
    assignees: Iterable[str] = (),
    sprints: Iterable[str] = (),
) -> Preflight:
    """The export's own pre-flight checks, run alone (nothing is created in Jira).

    Auth and network errors propagate as `JiraError`; every other reason is in the
    answer's `problems` (the export would not start) or `warnings` (it would fall back).
    """
    gateway = jira()
    try:
        return run_preflight(gateway, project_key, issue_type, assignees=assignees, sprints=sprints)
    finally:
        gateway.close()


def check_session_export(
    app: TicketForge, jira: Callable[[], JiraGateway], session_id: UUID, user: User
) -> tuple[Preflight, ExportEstimate]:
    """The pre-flight for exporting this session now (its project, issue type, and what
    its tickets use), and the export's estimate under Jira's limits: the requests it
    would make and how long they take at the round trip the pre-flight measured."""
    session = app.load_session(session_id, user)
    tickets = session.tickets_in_export_order()
    gateway = jira()
    try:
        preflight = run_preflight(
            gateway,
            session.jira_project_key,
            session.issue_type,
            assignees=[t.assignee or "" for t in tickets],
            sprints=[t.sprint or "" for t in tickets],
            priorities=[t.priority or "" for t in tickets],
            links=any(t.depends_on for t in tickets),
            epic_mode=session.epic_mode,
        )
    finally:
        gateway.close()
    per_sprint: dict[str, int] = {}
    for ticket in tickets:
        if ticket.sprint and ticket.sprint in preflight.sprints:
            per_sprint[ticket.sprint] = per_sprint.get(ticket.sprint, 0) + 1
    ids = {t.id for t in tickets}
    epics = (
        len(groups_of(tickets))
        if session.epic_mode == EPIC_PER_GROUP and not preflight.epic_problem
        else 0
    )
    estimate = estimate_export(
        issues=len(tickets) + epics,  # the groups' epics are created first
        attachments=(),  # known once the descriptions are built, at export time
        sprint_issues=list(per_sprint.values()),
        links=[
            (str(dep), str(t.id))
            for t in tickets
            for dep in sorted(t.depends_on)
            if dep in ids and preflight.blocks_link_type
        ],
        latency_s=preflight.latency_s,
    )
    return preflight, estimate
