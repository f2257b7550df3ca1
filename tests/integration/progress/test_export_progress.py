"""Export progress: a real export to the bundled Jira sandbox, and an export's failure and
retry, each message checked against the schema."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from application.users import User
from domain.export import Export
from interfaces.bootstrap import Container
from tests.integration.progress.support import (
    generation_status,
    new_session,
    progress_caught_up,
    stream_messages,
    validate,
    wait_until,
)

pytestmark = [pytest.mark.nats, pytest.mark.timeout(120)]


def generated_session(live: Container, user: User, files: tuple[str, ...] = ()) -> Any:
    session_id = new_session(live, user, files=files)
    live.worker.start(1)
    _, _, result = live.app.request_generation(session_id, "offline", user)
    live.wrote(result.position)
    wait_until(lambda: generation_status(live, session_id) == "completed")
    return session_id


def export_status(live: Container, export_id: Any) -> str | None:
    live.projector.notify()
    doc = live.store.get("exports", str(export_id))
    return str(doc["status"]) if doc else None


def export_messages(live: Container, session_id: Any) -> list[dict[str, Any]]:
    wait_until(lambda: progress_caught_up(live))
    messages = [m for _, m in stream_messages(live, session_id)]
    for message in messages:
        validate(message)
    assert [m["sequence"] for m in messages] == list(range(1, len(messages) + 1))
    return [m for m in messages if m["kind"] == "export"]


def test_an_export_to_the_sandbox_reports_each_issue_and_link_then_completes(
    live: Container,
) -> None:
    user = User("alice")
    # Bundles and their fields: tickets with dependencies, so the export links them too.
    session_id = generated_session(live, user, files=("bundles.csv", "fields.csv"))
    live.app.mark_ready(session_id, None, True, user)
    report = live.app.validate_tickets(session_id, None, user)
    assert report.all_passed
    export, _, result = live.app.request_export(session_id, user)
    live.wrote(result.position)
    wait_until(lambda: export_status(live, export.id) == "completed", timeout=90)

    messages = export_messages(live, session_id)
    done = messages[-1]
    assert done["type"] == "export_complete" and done["status"] == "completed"
    plan = live.app.load_export(export.id).plan
    links = sum(len(p["depends_on"]) for p in plan)
    assert done["tickets_created"] == len(plan) == done["total_tickets"]
    assert done["dependencies_created"] == links
    assert done["export_id"] == str(export.id) and done["task_id"] == str(export.task_id)
    assert done["current_jira_project"] == "TF"
    created = [m for m in messages if m["event"] == "Export.TicketExported"]
    assert [m["tickets_completed"] for m in created] == list(range(1, len(plan) + 1))
    assert all(m["current_stage"].startswith("Created ticket") for m in created)
    percentages = [m["progress_percentage"] for m in messages]
    assert percentages == sorted(percentages) and percentages[-1] == 100.0


def test_a_failed_export_and_its_retry_are_reported(live: Container) -> None:
    user = User("alice")
    session_id = generated_session(live, user)
    live.worker.stop()  # this export is driven by hand, not by a worker
    session = live.app.load_session(session_id)
    first, second, third = session.tickets_in_export_order()[:3]
    plan = [
        {"ticket_id": str(first.id), "order": 1, "depends_on": []},
        {"ticket_id": str(second.id), "order": 2, "depends_on": [str(first.id)]},
        {"ticket_id": str(third.id), "order": 3, "depends_on": []},
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
        actor="alice",
    )
    export.start(attempt=1, run=1, worker="test", actor="system:exporter")
    export.record_issue(first.id, "TF-1", "https://jira/browse/TF-1", "10001", "system:exporter")
    export.record_attachment(first.id, "TF-1", "details.md", "system:exporter")
    export.record_manual_fix(
        first.id, "assignee_invalid", "nobody@example.com", "Assign it by hand", "system:exporter"
    )
    export.fail(
        "temporary",
        "Network timeout connecting to Jira",
        second.id,
        2,
        ["Retry the export"],
        "system:exporter",
    )
    live.app.save(export)
    retry_task = uuid4()
    export.retry(retry_task, "alice")
    export.start(attempt=2, run=2, worker="test", actor="system:exporter")
    export.record_issue(second.id, "TF-2", "https://jira/browse/TF-2", "10002", "system:exporter")
    export.record_issue(third.id, "TF-3", "https://jira/browse/TF-3", "10003", "system:exporter")
    export.record_link(second.id, first.id, "system:exporter")
    export.complete("system:exporter")
    live.app.save(export)
    live.wrote(None)

    messages = export_messages(live, session_id)
    assert [m["type"] for m in messages] == [
        "export_progress",  # requested
        "export_progress",  # started
        "export_progress",  # TF-1
        "export_progress",  # attachment
        "export_progress",  # manual fix
        "export_failed",
        "export_progress",  # retried
        "export_progress",  # started again
        "export_progress",  # TF-2
        "export_progress",  # TF-3
        "export_progress",  # link
        "export_complete",
    ]
    failed = messages[5]
    assert failed["failed_at_ticket"] == 2 and failed["error_category"] == "temporary"
    assert failed["retry_available"] is True and failed["retry_attempts_used"] == 0
    assert failed["error_message"] == "Network timeout connecting to Jira"
    assert failed["recovery_actions"] == ["Retry the export"]
    assert (failed["tickets_completed"], failed["tickets_failed"]) == (1, 1)
    assert failed["manual_fixes_needed"] == 1
    assert messages[2]["current_stage"] == f"Created ticket 1 of 3: TF-1 {first.title}"
    assert {m["task_id"] for m in messages[:6]} == {str(task_id)}
    assert {m["task_id"] for m in messages[6:]} == {str(retry_task)}
    done = messages[-1]
    assert (done["tickets_created"], done["dependencies_created"], done["manual_fixes_needed"]) == (
        3,
        1,
        1,
    )
    assert done["tickets_failed"] == 0 and done["progress_percentage"] == 100.0
