"""Issue 14 end to end: NestWatch v1 (2 tickets edited by a person) is exported; a revised
inventory (5 entities added, 10 changed — the entities of those 2 tickets among them —
3 removed) is uploaded and processed; the plan shows create 5, update 8, 2 flagged,
obsolete 3 and the link changes; a person edits one of the 8 issues in Jira; the
re-export, whose worker is SIGKILLed mid-run and resumed by another, brings exactly
those changes to Jira: the Jira-edited issue untouched with a conflict listed, the
flagged ones untouched, no duplicate issue, link or comment. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from uuid import UUID

import pytest

from application.export.plan import dry_run, fingerprint
from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from domain.export import OBSOLETE_LABEL, Export
from domain.session import Session, Stage
from interfaces.bootstrap import Container
from tests.e2e.test_api_revisions import CHANGED, EDITED, REMOVED, revised_nestwatch
from tests.integration.export.support import (
    ALICE,
    LEASE_S,
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    exported_events,
    prepare_session,
    start_export,
    wait_export,
    wait_until,
)
from tests.support.workers import WorkerProcesses, worker_env

EDITED_IN_JIRA = "node.type.capture"  # one of the 8 redrafted: a person rewords its issue


def by_name(session: Session) -> dict[str, UUID]:
    return {t.config_name: t.id for t in session.tickets.values()}


def person_edits(session: Session) -> dict[UUID, dict[str, str]]:
    names = by_name(session)
    return {names[n]: {"analysis": f"A person's analysis of {n}."} for n in EDITED}


def run_by_worker(container: Container, export_id: UUID, workers: WorkerProcesses) -> Export:
    workers.spawn()
    export = wait_export(container, export_id, timeout=60)
    assert export.status == "completed", (export.failure, workers.output())
    return export


@pytest.mark.slow  # worker processes, 240 tickets at 30 ms per request
def test_revise_plan_and_reexport_through_a_sigkill(
    queue_only_container: Container, slow_sandbox: Sandbox, tmp_path: Path
) -> None:
    container, sandbox, app = queue_only_container, slow_sandbox, queue_only_container.app
    workers = WorkerProcesses(
        worker_env(container.settings, sandbox.server, None, LEASE_S), tmp_path
    )
    try:
        container.start()  # projector only: it hands the tasks to the queue
        workers.spawn()
        session_id = prepare_session(container, "nestwatch", by_worker=True, edits=person_edits)
        first = run_by_worker(container, start_export(container, session_id).export_id, workers)
        assert sandbox.stats()["issues_created"] == 235
        workers.stop_all()

        # the revision, processed by a worker: 5 drafted, 8 redrafted, 2 flagged
        folder = revised_nestwatch(tmp_path / "v2")
        files = [UploadedFile(p.name, p.read_bytes()) for p in sorted(folder.glob("*.csv"))]
        session = app.load_session(session_id)
        app.upload_inventory(session_id, parse_inventory(files, set(session.entities)), ALICE)
        _, _, result = app.request_generation(session_id, "offline", ALICE)
        container.wrote(result.position)
        workers.spawn()
        wait_until(lambda: app.load_session(session_id).stage == Stage.REVIEW, 60, "the redrafts")
        workers.stop_all()
        app.mark_ready(session_id, None, True, ALICE)
        assert app.validate_tickets(session_id, None, ALICE).all_passed
        session = app.load_session(session_id)
        names = by_name(session)
        assert {n for n in names if session.tickets[names[n]].source_changed} == set(EDITED)

        plan = dry_run(session, first, container.jira)
        summary = {k: plan[k]["count"] for k in ("create", "update", "obsolete", "conflicts")}
        assert summary == {"create": 5, "update": 8, "obsolete": 3, "conflicts": 0}
        assert {i["key"] for i in plan["obsolete"]["items"]} == {
            first.issues[names[n]].key for n in REMOVED
        }
        updated_names = set(CHANGED) - set(EDITED)
        assert {i["ticket_id"] for i in plan["update"]["items"]} == {
            str(names[n]) for n in updated_names
        }
        assert plan["link"]["count"] > 0 and plan["unlink"]["count"] > 0
        (tmp_path / "plan.json").write_text(json.dumps(plan, indent=2))

        # a person rewords one of the 8 issues in Jira
        contested = first.issues[names[EDITED_IN_JIRA]].key
        sandbox.work(contested, summary="Captures, as the banding team calls them")
        before = {
            n: sandbox.issue(first.issues[names[n]].key, "summary", "description") for n in EDITED
        }

        # the re-export: its worker killed once Jira has some of its writes
        started = start_export(container, session_id)
        victim = workers.spawn()
        wait_until(
            lambda: sandbox.stats()["issues_created"] > 235 or victim.poll() is not None,
            60,
            "the re-export's first writes",
        )
        assert victim.poll() is None, workers.output()
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=10) == -signal.SIGKILL
        second = run_by_worker(container, started.export_id, workers)
    finally:
        workers.stop_all()

    stats = sandbox.stats()
    assert second.runs >= 2 and second.previous_export_id == first.id
    assert stats["issues_created"] == 235 + 5, "an issue was created twice"
    issues = assert_no_duplicates(sandbox, second)
    assert len(issues) == 240 - 3
    assert_links_once(issues, second)  # added links there, removed ones gone
    assert set(second.conflicts) == {names[EDITED_IN_JIRA]}
    assert sandbox.issue(contested, "summary")["summary"] == (
        "Captures, as the banding team calls them"
    )
    assert [f.kind for f in second.fixes.values() if f.ticket_id == names[EDITED_IN_JIRA]] == [
        "conflict"
    ]
    assert set(second.updated) == {names[n] for n in updated_names - {EDITED_IN_JIRA}}
    for name in updated_names - {EDITED_IN_JIRA}:
        fields = sandbox.issue(first.issues[names[name]].key, "summary", "description")
        assert (
            fingerprint(fields["summary"], fields["description"])
            == (second.sent[names[name]]["jira"])
        )
    for name in EDITED:  # flagged: the person's text here was what went out; untouched
        key = first.issues[names[name]].key
        assert sandbox.issue(key, "summary", "description") == before[name]
    for name in REMOVED:
        key = first.issues[names[name]].key
        assert OBSOLETE_LABEL in sandbox.issue(key, "labels")["labels"]
        comments = sandbox.jira.get_comments(key)
        assert len(comments) == 1, (key, comments)  # never twice, whatever the kill hit
        assert sandbox.blocks_links(key) == []
    assert len(exported_events(container, second.id, Export.IssueMarkedObsolete)) == 3
    assert stats["comments_added"] == 3 and stats["links_deleted"] == plan["unlink"]["count"]
    kinds = ("create", "update", "link", "unlink", "obsolete", "conflicts")
    shown = {k: plan[k]["count"] for k in kinds}
    shown |= {"requests": plan["requests"], "estimated_seconds": plan["estimated_seconds"]}
    print("plan:", json.dumps(shown))
    sandbox_counts = ("issues_created", "issues_updated", "links_created", "links_deleted")
    print("sandbox:", {k: stats.get(k) for k in (*sandbox_counts, "comments_added")})
