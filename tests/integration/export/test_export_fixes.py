"""Fallbacks that become manual fixes (assignee, sprint, priority, link type) and the
over-long description that goes to a Markdown attachment, checked in Jira itself."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from application.adf.ticket_document import JIRA_DESCRIPTION_LIMIT, attachment_filename
from domain.export import Export
from domain.session import Session, Stage
from interfaces.bootstrap import Container
from projections import exports as exports_view
from tests.integration.export.support import (
    ALICE,
    Edits,
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    exported_events,
    prepare_session,
    start_export,
    wait_export,
)
from tests.support.sandbox_fixtures import BOTH_FLAVORS

SPRINT_FIELD = "customfield_10020"


def first_tickets(session: Session, count: int) -> list[UUID]:
    return [t.id for t in session.tickets_in_export_order()[:count]]


def fixes_by_ticket(export: Export) -> dict[UUID | None, list[str]]:
    found: dict[UUID | None, list[str]] = {}
    for fix in export.fixes.values():
        found.setdefault(fix.ticket_id, []).append(fix.kind)
    return found


@BOTH_FLAVORS
def test_field_fallbacks_are_applied_and_recorded_as_manual_fixes(
    container: Container, sandbox: Sandbox
) -> None:
    chosen: list[UUID] = []

    def edits(session: Session) -> Edits:
        chosen.extend(first_tickets(session, 6))
        return {
            chosen[0]: {"assignee": "dave@example.com"},  # a real user, not assignable in DEMO
            chosen[1]: {"assignee": "carol@example.com"},  # assignable in DEMO
            chosen[2]: {"sprint": "Sprint 99"},  # no such sprint
            chosen[3]: {"sprint": "DEMO Sprint 1"},  # the active sprint of DEMO's board
            chosen[4]: {"priority": "Urgent"},  # not one of Jira's priorities
            chosen[5]: {"priority": "High"},
        }

    session_id = prepare_session(container, edits=edits)
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)

    def fields(index: int) -> dict[str, Any]:
        return sandbox.issue(issues[chosen[index]].key, "assignee", "priority", SPRINT_FIELD)

    assert fields(0)["assignee"] is None
    assert fields(1)["assignee"]["emailAddress"] == "carol@example.com"
    assert fields(2)[SPRINT_FIELD] is None  # backlog
    assert [s["name"] for s in fields(3)[SPRINT_FIELD]] == ["DEMO Sprint 1"]
    assert fields(4)["priority"]["name"] == "Medium"  # the site's default
    assert fields(5)["priority"]["name"] == "High"

    assert fixes_by_ticket(export) == {
        chosen[0]: ["assignee"],
        chosen[2]: ["sprint"],
        chosen[4]: ["priority"],
    }
    for fix in export.fixes.values():
        assert fix.issue_key == issues[fix.ticket_id].key
        assert fix.detail and fix.recommended_action and not fix.resolved
    assert "dave@example.com" in next(
        f.detail for f in export.fixes.values() if f.kind == "assignee"
    )
    events = exported_events(container, export.id, Export.ManualFixRecorded)
    assert len(events) == 3

    # resolving one is recorded and shown, once
    fix_id = next(iter(export.fixes))
    container.app.resolve_manual_fix(session_id, fix_id, "assigned by hand", ALICE)
    container.app.resolve_manual_fix(session_id, fix_id, "again", ALICE)
    resolved = container.app.load_export(export.id).fixes[fix_id]
    assert resolved.resolved and resolved.resolution_note == "assigned by hand"
    assert len(exported_events(container, export.id, Export.ManualFixResolved)) == 1
    assert container.settle()
    doc = container.store.get(exports_view.TABLE, str(export.id))
    assert doc is not None and doc["fixes"][str(fix_id)]["resolved"] is True
    assert exports_view.status_view(doc)["manual_fixes_needed"] == 2


def test_missing_blocks_link_type_records_one_fix_per_dependency(
    container: Container, sandbox: Sandbox
) -> None:
    session_id = prepare_session(container)
    sandbox.faults(missing_link_types=["Blocks"])
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    assert container.app.load_session(session_id).stage == Stage.COMPLETED

    issues = assert_no_duplicates(sandbox, export)
    edges = [
        (UUID(str(p["ticket_id"])), UUID(str(d))) for p in export.plan for d in p["depends_on"]
    ]
    assert len(edges) == 17
    link_fixes = [f for f in export.fixes.values() if f.kind == "link"]
    assert len(link_fixes) == len(export.fixes) == 17
    assert {f.ticket_id for f in link_fixes} == {dependent for dependent, _ in edges}
    for dependent, dependency in edges:
        blocker, blocked = issues[dependency].key, issues[dependent].key
        assert any(f.detail.startswith(f"{blocker} blocks {blocked}:") for f in link_fixes)
    assert not export.links
    stats = sandbox.stats()
    assert stats["links_created"] == 0
    assert stats["requests"].get("POST /rest/api/3/issueLink", 0) == 0
    assert all(not issue.fields.get("issuelinks") for issue in issues.values())


def long_analysis(chars: int = 40_000) -> str:
    lines = []
    i = 0
    while sum(len(line) + 1 for line in lines) < chars:
        i += 1
        lines.append(f"- Step {i}: configure field_{i} on the content type and check its display.")
    return "\n".join(lines)


@BOTH_FLAVORS
def test_over_long_description_goes_to_a_markdown_attachment(
    container: Container, sandbox: Sandbox
) -> None:
    chosen: list[UUID] = []
    analysis = long_analysis()
    assert len(analysis) >= 40_000

    def edits(session: Session) -> Edits:
        chosen.extend(first_tickets(session, 1))
        return {chosen[0]: {"analysis": analysis}}

    session_id = prepare_session(container, edits=edits)
    ticket = container.app.load_session(session_id).tickets[chosen[0]]
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    issues = assert_no_duplicates(sandbox, export)
    key = issues[chosen[0]].key

    filename = attachment_filename(ticket.config_name)
    uploaded = exported_events(container, export.id, Export.AttachmentUploaded)
    assert [(e.ticket_id, e.key, e.filename) for e in uploaded] == [(chosen[0], key, filename)]
    assert export.attachments == {chosen[0]: [filename]}
    assert not export.fixes

    fields = sandbox.issue(key, "description", "attachment")
    held = fields["description"]  # wiki text on Data Center, an ADF document on Cloud
    description = (
        held
        if isinstance(held, str)
        else json.dumps(held, ensure_ascii=False, separators=(",", ":"))
    )
    assert len(description) <= JIRA_DESCRIPTION_LIMIT
    assert filename in description  # the short description points to the attachment
    assert "Step 500:" not in description
    attachments = fields["attachment"]
    assert [a["filename"] for a in attachments] == [filename]
    content = sandbox.download(attachments[0]["content"]).decode("utf-8")
    assert "- Step 500: configure field_500 on the content type" in content
    assert content.startswith("## User story")
    assert sandbox.stats()["attachments_uploaded"] == 1
