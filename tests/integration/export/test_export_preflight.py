"""The pre-flight checks what the tickets will use, and nothing more: an account that may
not read the priorities can still export tickets that set none (and those that set one
fall back to Jira's default with a manual fix). Against the sandbox over HTTP."""

from __future__ import annotations

from uuid import UUID

from application.export.preflight import run_preflight
from domain.session import Session
from interfaces.bootstrap import Container
from tests.integration.export.support import (
    PROJECT,
    Edits,
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    prepare_session,
    start_export,
    wait_export,
)

PRIORITIES = "GET /rest/api/3/priority/search"


def test_unreadable_priorities_do_not_block_an_export_that_sets_none(
    container: Container, sandbox: Sandbox
) -> None:
    sandbox.faults(forbidden_routes=[PRIORITIES])
    unused = run_preflight(sandbox.jira, PROJECT, "Task", priorities=[""], links=True)
    assert unused.ok, unused.problems
    assert any(s.startswith("priorities:") for s in unused.skipped), unused.skipped
    assert unused.latency_s > 0 and len(unused.round_trips) >= 5

    session_id = prepare_session(container)
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)
    assert sandbox.stats()["faults_injected"].get("forbidden_route", 0) == 0  # never asked
    assert not export.fixes
    assert export.estimate is not None and export.estimate["requests"]["bulk_creates"] == 1


def test_unreadable_priorities_fall_back_to_the_default_with_a_manual_fix(
    container: Container, sandbox: Sandbox
) -> None:
    wanted: list[UUID] = []

    def edits(session: Session) -> Edits:
        wanted.append(session.tickets_in_export_order()[0].id)
        return {wanted[0]: {"priority": "High"}}

    session_id = prepare_session(container, edits=edits)
    sandbox.faults(forbidden_routes=[PRIORITIES])
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    assert_no_duplicates(sandbox, export)
    assert [(f.ticket_id, f.kind) for f in export.fixes.values()] == [(wanted[0], "priority")]
    assert sandbox.stats()["faults_injected"].get("forbidden_route", 0) == 1


def test_a_checked_thing_that_is_missing_is_still_a_problem(sandbox: Sandbox) -> None:
    """Skipping is only for what is not used: a wrong issue type still stops the export."""
    result = run_preflight(sandbox.jira, PROJECT, "Saga", priorities=[], links=False)
    assert not result.ok and "Saga" in result.problems[0]
    assert any(s.startswith("link types") for s in result.skipped)
