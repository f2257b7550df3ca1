"""A living backlog: after a completed export, the session changes (tickets edited here,
dependencies added and removed) and a person edits an issue in Jira; the next export
brings Jira in step without a duplicate, and never overwrites the person's work.
Against the sandbox over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from application.export.plan import dry_run, fingerprint
from domain.export import Export
from domain.session import Session
from interfaces.bootstrap import Container
from tests.integration.export.support import (
    ALICE,
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    exported_events,
    plan_edges,
    prepare_session,
    start_export,
    wait_export,
)


def export_now(container: Container, session_id: UUID) -> Export:
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    return export


def revalidate(container: Container, session_id: UUID) -> None:
    container.app.mark_ready(container.app.load_session(session_id).id, None, True, ALICE)
    report = container.app.validate_tickets(session_id, None, ALICE)
    assert report.all_passed


def counts(plan: dict[str, Any]) -> dict[str, int]:
    return {
        name: plan[name]["count"] for name in ("create", "update", "link", "unlink", "conflicts")
    }


def independent_pair(session: Session) -> tuple[UUID, UUID]:
    """Two tickets with no path between them (a new dependency cannot close a cycle)."""
    ordered = session.tickets_in_export_order()
    edges = session.dependency_edges()

    def reaches(start: UUID, goal: UUID) -> bool:
        stack, seen = [start], set()
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(edges.get(node, ()))
        return False

    for later in reversed(ordered):
        for earlier in ordered:
            a, b = later.id, earlier.id
            if a != b and b not in edges.get(a, set()) and not reaches(b, a):
                return a, b
    raise AssertionError("no independent pair of tickets")


def test_a_reexport_updates_links_unlinks_and_leaves_a_persons_edit_alone(
    container: Container, sandbox: Sandbox
) -> None:
    app = container.app
    session_id = prepare_session(container)
    container.start()
    first = export_now(container, session_id)
    created = sandbox.stats()["issues_created"]
    assert created == 49

    # nothing changed: the plan is empty, and so is a re-export
    session = app.load_session(session_id)
    empty = dry_run(session, first, container.jira)
    assert counts(empty) == {"create": 0, "update": 0, "link": 0, "unlink": 0, "conflicts": 0}

    # changes here: two tickets edited, one dependency removed, one added ...
    tickets = session.tickets_in_export_order()
    edited, contested = tickets[3], tickets[7]
    app.edit_ticket(session_id, edited.id, {"title": "Revised: " + edited.title}, None, ALICE)
    app.edit_ticket(session_id, contested.id, {"analysis": "A new analysis."}, None, ALICE)
    dependent, dependency = plan_edges(first)[0]
    app.remove_dependency(session_id, dependent, dependency, ALICE)
    a, b = independent_pair(app.load_session(session_id))
    app.add_dependency(session_id, a, b, ALICE)
    revalidate(container, session_id)
    # ... and a person's edit in Jira of one of the changed issues
    contested_key = first.issues[contested.id].key
    sandbox.work(contested_key, summary="Reworded by a person in Jira")

    plan = dry_run(app.load_session(session_id), first, container.jira)
    assert counts(plan) == {"create": 0, "update": 1, "link": 1, "unlink": 1, "conflicts": 1}
    update = plan["update"]["items"][0]
    assert update["key"] == first.issues[edited.id].key
    assert update["fields"]["summary"][1].startswith("Revised: ")
    assert plan["conflicts"]["items"][0]["key"] == contested_key

    second = export_now(container, session_id)
    assert second.previous_export_id == first.id
    assert sandbox.stats()["issues_created"] == created  # not one new issue
    issues = assert_no_duplicates(sandbox, second)
    assert_links_once(issues, second)  # the removed link is gone, the new one there
    assert sandbox.issue(first.issues[edited.id].key, "summary")["summary"].startswith("Revised: ")
    assert sandbox.issue(contested_key, "summary")["summary"] == "Reworded by a person in Jira"
    assert set(second.updated) == {edited.id} and set(second.conflicts) == {contested.id}
    conflict = next(f for f in second.fixes.values() if f.kind == "conflict")
    assert conflict.ticket_id == contested.id
    assert len(exported_events(container, second.id, Export.IssueLinkRemoved)) == 1
    assert len(exported_events(container, second.id, Export.TicketExported)) == 0

    # the person chooses ours: the next export overwrites Jira's text, and only that
    app.resolve_manual_fix(session_id, conflict.fix_id, "ours is right", ALICE, "overwrite")
    second = app.load_export(second.id)
    plan = dry_run(app.load_session(session_id), second, container.jira)
    assert counts(plan) == {"create": 0, "update": 1, "link": 0, "unlink": 0, "conflicts": 0}
    third = export_now(container, session_id)
    assert set(third.updated) == {contested.id}
    fields = sandbox.issue(contested_key, "summary", "description")
    assert fields["summary"] == contested.title
    assert "A new analysis." in str(fields["description"])
    assert fingerprint(fields["summary"], fields["description"]) == third.sent[contested.id]["jira"]
    assert sandbox.stats()["issues_created"] == created
    assert counts(dry_run(app.load_session(session_id), third, container.jira)) == {
        "create": 0,
        "update": 0,
        "link": 0,
        "unlink": 0,
        "conflicts": 0,
    }


def test_an_update_whose_answer_was_lost_and_a_cut_short_run_write_each_issue_once(
    container: Container, sandbox: Sandbox
) -> None:
    """The first update is stored but answered 502 (retried: an update is idempotent);
    the run lets go after its first batch (a lost lease) and another resumes: each
    changed issue gets its text once, nothing is created or linked twice."""
    app = container.app
    session_id = prepare_session(container)
    first_id = start_export(container, session_id).export_id
    assert container.exports.run(first_id, "w0") == "completed"
    first = app.load_export(first_id)
    session = app.load_session(session_id)
    changed = session.tickets_in_export_order()[:5]
    for ticket in changed:
        app.edit_ticket(session_id, ticket.id, {"title": "v2 " + ticket.title}, None, ALICE)
    revalidate(container, session_id)
    sandbox.faults(fail_write_next=1)
    export_id = start_export(container, session_id).export_id
    checks = iter([True, False])
    assert container.exports.run(export_id, "w1", None, lambda: next(checks, False)) == (
        "interrupted"
    )
    assert container.exports.run(export_id, "w2") == "completed"
    second = app.load_export(export_id)
    assert second.runs == 2
    stats = sandbox.stats()
    assert stats["faults_injected"].get("write_5xx_after_commit") == 1
    puts = stats["requests"].get("PUT /rest/api/3/issue/{issueIdOrKey}", 0)
    assert puts == len(changed) + 1  # one retry after the lost answer, no rewrite
    assert set(second.updated) == {t.id for t in changed} and not second.conflicts
    assert stats["issues_created"] == 49
    assert len(exported_events(container, export_id, Export.TicketIssueUpdated)) == 5
    for ticket in changed:
        summary = sandbox.issue(first.issues[ticket.id].key, "summary")["summary"]
        assert summary.startswith("v2 ")
    issues = assert_no_duplicates(sandbox, second)
    assert_links_once(issues, second)
