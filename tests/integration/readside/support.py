"""Sessions with a realistic history, written through the application (no worker needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from application.progress import Progress
from application.users import User
from domain.export import Export
from interfaces.bootstrap import Container

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
ALICE = User("alice")
BOB = User("bob")


def inventory(site: str = "small-site") -> list[UploadedFile]:
    folder = SAMPLES / site / "inventory"
    return [UploadedFile(p.name, p.read_bytes()) for p in sorted(folder.glob("*.csv"))]


def generated_session(container: Container, user: User = ALICE, site: str = "small-site") -> UUID:
    """A session whose offline generation ran to completion (in this thread)."""
    app = container.app
    created = app.create_session(
        name=f"{site} for {user.name}",
        site={"site_name": site},
        jira_project_key="TF",
        issue_type="Task",
        user=user,
        default_labels=["tf"],
    )
    session_id = created.session_id
    app.upload_inventory(session_id, parse_inventory(inventory(site)), user)
    task_id, _, _ = app.request_generation(session_id, "offline", user)

    def ignore(_: Progress) -> None:
        pass

    container.generation.run(session_id, task_id, ignore, lambda: True)
    return session_id


def reviewed_session(container: Container, user: User = ALICE) -> UUID:
    """Generated, then edited, reordered, re-linked, marked ready and validated."""
    app = container.app
    session_id = generated_session(container, user)
    session = app.load_session(session_id)
    tickets = session.tickets_in_export_order()
    first, second, third = tickets[0], tickets[1], tickets[2]
    app.edit_ticket(session_id, first.id, {"title": "Edited title", "labels": ["a", "b"]}, 1, user)
    app.edit_ticket(session_id, second.id, {"assignee": "bob@example.com"}, None, user)
    order = [t.id for t in tickets]
    order[0], order[1] = order[1], order[0]
    app.reorder_tickets(session_id, order, user)
    app.add_dependency(session_id, third.id, second.id, user)
    if second.id in app.load_session(session_id).tickets[third.id].depends_on:
        app.remove_dependency(session_id, third.id, second.id, user)
    app.mark_ready(session_id, None, True, user)
    app.validate_tickets(session_id, None, user)
    return session_id


def failed_export(container: Container, session_id: UUID, user: User = ALICE) -> UUID:
    """An Export aggregate with a few issues, a link, a manual fix, a failure and a retry."""
    app = container.app
    session = app.load_session(session_id)
    tickets = session.tickets_in_export_order()
    plan: list[dict[str, Any]] = [
        {"ticket_id": str(t.id), "order": i, "depends_on": [str(d) for d in t.depends_on]}
        for i, t in enumerate(tickets, 1)
    ]
    task_id = uuid4()
    export = Export(
        session_id=session_id,
        task_id=task_id,
        project_key="TF",
        issue_type="Task",
        content_version=session.content_version,
        plan=plan,
        carried={},
        actor=user.name,
    )
    export.start(attempt=1, run=1, worker="w1", actor="worker")
    for n, ticket in enumerate(tickets[:3], 1):
        export.record_issue(ticket.id, f"TF-{n}", f"https://jira/browse/TF-{n}", str(n), "worker")
    export.record_attachment(tickets[0].id, "TF-1", "analysis.md", "worker")
    export.record_link(tickets[1].id, tickets[0].id, "worker")
    export.record_manual_fix(tickets[1].id, "assignee", "unknown user", "Assign by hand", "worker")
    export.fail("temporary", "Jira went away", tickets[3].id, 4, ["Retry"], "worker")
    export.retry(uuid4(), user.name)
    app.save(export)
    return export.id
