"""Epics (epic_mode per_group) against a real Jira sandbox, Cloud and Data Center: one epic
per ticket group, made first, marked, found again after a lost answer, never twice; each
ticket under its group's epic (Cloud: `parent`; Data Center: the Epic Link field); a
project without an Epic type exports without epics and says so in a manual fix."""

from __future__ import annotations

from application.export.preflight import run_preflight
from domain.export import Export, epic_id, export_label
from infrastructure.jira import NewIssue
from interfaces.bootstrap import Container
from projections import exports as exports_view
from tests.integration.export.support import (
    PROJECT,
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    exported_events,
    prepare_session,
    retry_export,
    start_export,
    wait_export,
)
from tests.support.sandbox_fixtures import BOTH_FLAVORS

EPIC_LINK = "customfield_10100"  # the Data Center sandbox's Epic Link field


def epic_of(sandbox: Sandbox, key: str) -> str | None:
    """The epic an issue is under, as this Jira says it."""
    if sandbox.flavor == "datacenter":
        value = sandbox.issue(key, EPIC_LINK).get(EPIC_LINK)
        return str(value) if value else None
    parent = sandbox.issue(key, "parent").get("parent")
    return str(parent["key"]) if parent else None


def issues_with_label(sandbox: Sandbox, label: str) -> list[str]:
    with sandbox.index_caught_up():
        found = sandbox.jira.search(f'project = {PROJECT} AND labels = "{label}"', ("labels",))
    return [i.key for i in found]


def check_epics(container: Container, sandbox: Sandbox, export: Export) -> None:
    session = container.app.load_session(export.session_id)
    groups = {t.group for t in session.tickets.values()}
    assert set(export.epics) == groups and len(groups) >= 3
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)
    for group, epic in export.epics.items():
        # exactly one issue in Jira carries each epic's mark: never made twice
        assert issues_with_label(sandbox, export_label(epic_id(session.id, group))) == [epic.key]
        fields = sandbox.issue(epic.key, "issuetype", "summary")
        assert fields["issuetype"]["name"] == "Epic"
        assert fields["summary"] == f"small-site: {epic.name.split(': ', 1)[1]}"
    for ticket_id, issue in issues.items():
        group = session.tickets[ticket_id].group
        assert epic_of(sandbox, issue.key) == export.epics[group].key
    assert sum(e.children for e in export.epics.values()) == len(export.plan)


@BOTH_FLAVORS
def test_one_epic_per_group_made_first_and_every_ticket_under_its_groups_epic(
    container: Container, sandbox: Sandbox
) -> None:
    session_id = prepare_session(container, epic_mode="per_group")
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    check_epics(container, sandbox, export)
    # the epics' keys come before every ticket's: they were made first
    epic_numbers = [int(e.key.split("-")[1]) for e in export.epics.values()]
    issue_numbers = [int(i.key.split("-")[1]) for i in export.issues.values()]
    assert max(epic_numbers) < min(issue_numbers)
    assert not export.fixes
    # the summary lists each epic: key, group, children
    assert container.settle()
    doc = container.store.get(exports_view.TABLE, str(export.id))
    assert doc is not None
    listed = {e["group"]: e for e in exports_view.summary_view(doc)["epics"]}
    assert {g: (e["jira_key"], e["children"]) for g, e in listed.items()} == {
        g: (e.key, e.children) for g, e in export.epics.items()
    }


@BOTH_FLAVORS
def test_a_lost_answer_to_the_epics_create_finds_them_by_their_marks(
    container: Container, sandbox: Sandbox
) -> None:
    """The epics' bulk create is stored by Jira but answered 500: the run looks for their
    marks (keys after the watermark, then the search) and creates none of them again."""
    session_id = prepare_session(container, epic_mode="per_group")
    container.start()
    sandbox.faults(fail_create_next=1)  # the first create of the run is the epics'
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    assert all(e.found_by_search for e in export.epics.values())
    check_epics(container, sandbox, export)
    created = sandbox.stats()["issues_created"]
    assert created == len(export.plan) + len(export.epics)
    assert len(exported_events(container, export.id, Export.EpicExported)) == len(export.epics)


@BOTH_FLAVORS
def test_a_project_without_an_epic_type_exports_without_epics_and_says_so(
    container: Container, sandbox: Sandbox
) -> None:
    session_id = prepare_session(container, epic_mode="per_group")
    sandbox.faults(missing_issue_types=["Epic"])
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    assert export.epics == {}
    issues = assert_no_duplicates(sandbox, export)
    assert all(epic_of(sandbox, i.key) is None for i in list(issues.values())[:5])
    (fix,) = export.fixes.values()
    assert fix.kind == "epic" and fix.ticket_id is None
    assert "no Epic issue type" in fix.detail and "fell back to none" in fix.detail


@BOTH_FLAVORS
def test_epic_mode_existing_puts_every_ticket_under_the_sessions_epic(
    container: Container, sandbox: Sandbox
) -> None:
    """Cloud by `parent`, Data Center by the Epic Link field found in `/field`."""
    extra = {"customfield_10102": "Existing"} if sandbox.flavor == "datacenter" else {}
    epic = sandbox.jira.create_issue(
        NewIssue(PROJECT, "Existing epic", issue_type="Epic", extra_fields=extra)
    )
    session_id = prepare_session(container, epic_key=epic.key)
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    assert export.epics == {} and not export.fixes
    keys = [i.key for i in export.issues.values()]
    assert {epic_of(sandbox, k) for k in keys[:5]} == {epic.key}


@BOTH_FLAVORS
def test_epics_made_by_a_run_that_died_unrecorded_are_found_by_the_retry(
    container: Container, sandbox: Sandbox
) -> None:
    """Jira stored the epics, the answer was lost and the look for their marks failed too
    (401): the export failed with no epic recorded. The retry finds them, makes none."""
    session_id = prepare_session(container, epic_mode="per_group")
    container.start()
    before = sandbox.stats()["total_requests"]
    assert run_preflight(sandbox.jira, PROJECT, "Task", epic_mode="per_group").ok
    preflight = sandbox.stats()["total_requests"] - before
    # pre-flight, the watermark search, the epics' bulk create (stored, answered 500),
    # then 401 from the first look for their marks on
    sandbox.faults(fail_create_next=1, unauthorized_from_request=preflight + 3)
    started = start_export(container, session_id)
    failed = wait_export(container, started.export_id)
    assert failed.status == "failed", failed.status
    assert failed.epics == {} and failed.issues == {}
    made = sandbox.stats()["issues_created"]
    assert made >= 3  # the epics exist in Jira, unrecorded

    sandbox.clear_faults()
    retry_export(container, session_id)
    export = wait_export(container, started.export_id, ended=("completed",))
    assert all(e.found_by_search for e in export.epics.values())
    check_epics(container, sandbox, export)
    assert (
        sandbox.stats()["issues_created"]
        == len(export.plan) + len(export.epics)
        == (made + len(export.plan))
    )
