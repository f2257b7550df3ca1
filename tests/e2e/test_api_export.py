"""The export API end to end: the real FastAPI app on a started container (embedded worker,
projector) on each backend, exporting to a real Jira sandbox over HTTP on loopback.

Covers POST /export (409 stale or missing validation, 422 not ready, 202, already running),
GET /export/status and /export/summary, manual fixes and their resolution, retry (409
while running, 422 `admin_required` after three), POST /jira/validate-project, and sync
back (POST /export/sync, incremental by `updated`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from application.export.epics import GROUP_TITLES
from infrastructure.jira_sandbox import SandboxServer
from tests.e2e.conftest import Api, assert_error
from tests.integration.export.support import Sandbox, jira_env
from tests.support.sandbox_fixtures import BOTH_FLAVORS

EXPORT_TIMEOUT_S = 30.0
STATUS_FIELDS = {
    "session_id",
    "task_id",
    "status",
    "progress_percentage",
    "tickets_completed",
    "total_tickets",
    "retry_available",
    "retry_attempts_used",
    "error_category",
    "failed_at_ticket_order",
    "recovery_actions",
}


def url(session_id: str, rest: str = "") -> str:
    return f"/api/sessions/{session_id}{rest}"


@pytest.fixture
def xapi(api_with: Callable[..., Api], sandbox_server: SandboxServer) -> Api:
    """The API of a container whose Jira is the sandbox (JIRA_* settings)."""
    return api_with(**jira_env(sandbox_server))


def processed_session(api: Api) -> tuple[str, list[dict[str, Any]]]:
    """small-site (49 tickets, 17 dependencies) generated, in review, for project DEMO."""
    session_id = api.create_session(jira_project_key="DEMO")["id"]
    api.upload(session_id)
    api.process(session_id)
    return session_id, api.tickets(session_id)


def mark_ready(api: Api, session_id: str, **body: Any) -> None:
    response = api.post(url(session_id, "/tickets/ready"), json=body)
    assert response.status_code == 200, response.text


def validate(api: Api, session_id: str) -> None:
    response = api.post(url(session_id, "/adf-validation"), json={})
    assert response.status_code == 200, response.text
    assert response.json()["all_passed"] is True


def ready_session(api: Api, edits: dict[int, dict[str, Any]] | None = None) -> tuple[str, list]:
    session_id, tickets = processed_session(api)
    for index, changes in (edits or {}).items():
        ticket = tickets[index]
        response = api.patch(
            url(session_id, f"/tickets/{ticket['id']}"),
            json={**changes, "version": ticket["version"]},
        )
        assert response.status_code == 200, response.text
    mark_ready(api, session_id)
    validate(api, session_id)
    return session_id, tickets


def start(api: Api, session_id: str) -> dict[str, Any]:
    response = api.post(url(session_id, "/export"))
    assert response.status_code == 202, response.text
    return dict(response.json())


def status(api: Api, session_id: str) -> dict[str, Any]:
    response = api.get(url(session_id, "/export/status"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def session_stage(api: Api, session_id: str, expected: str) -> str:
    """The session's stage, once its read model has followed the export's (one write
    updates both, through two projections): waits up to 10 s for `expected`."""
    deadline = time.monotonic() + 10
    while (stage := api.session(session_id)["stage"]) != expected:
        if time.monotonic() > deadline:
            return str(stage)
        time.sleep(0.05)
    return expected


def wait_export(api: Api, session_id: str, task_id: str | None = None) -> dict[str, Any]:
    """Poll GET /export/status (bounded, short polls) until this task's run has ended."""
    deadline = time.monotonic() + EXPORT_TIMEOUT_S
    while True:
        current = status(api, session_id)
        mine = task_id is None or current["task_id"] == task_id
        if mine and current["status"] in ("completed", "failed"):
            return current
        assert time.monotonic() < deadline, f"export still {current} after {EXPORT_TIMEOUT_S}s"
        time.sleep(0.05)


def test_export_refused_when_validation_is_missing_or_stale_or_tickets_not_ready(
    xapi: Api,
) -> None:
    session_id, tickets = processed_session(xapi)
    mark_ready(xapi, session_id)

    # never validated
    assert_error(xapi.post(url(session_id, "/export")), 409, "Re-validation required")

    # validated, then edited: stale
    validate(xapi, session_id)
    edit = xapi.patch(
        url(session_id, f"/tickets/{tickets[3]['id']}"),
        json={
            "analysis": tickets[3]["analysis"] + "\n\nOne more note.",
            "version": tickets[3]["version"],
        },
    )
    assert edit.status_code == 200, edit.text
    body = assert_error(xapi.post(url(session_id, "/export")), 409, "Re-validation required")
    assert body["error_category"] == "user_fixable"
    assert body["recovery_actions"]

    # validated, but a ticket is not ready
    validate(xapi, session_id)
    mark_ready(xapi, session_id, ready=False, ticket_ids=[tickets[0]["id"]])
    body = assert_error(xapi.post(url(session_id, "/export")), 422, "not ready")
    assert "1 ticket(s) are not marked ready" in body["detail"]

    # nothing was exported, nothing started
    assert xapi.get(url(session_id, "/export/status")).status_code == 404
    assert xapi.session(session_id)["stage"] == "review"


@BOTH_FLAVORS
def test_export_runs_once_reports_status_and_summary(xapi: Api, sandbox: Sandbox) -> None:
    session_id, tickets = ready_session(xapi)
    sandbox.faults(latency_ms=60)  # slow enough to be seen running

    first = start(xapi, session_id)
    assert first["already_running"] is False
    assert first["total_tickets"] == 49
    assert first["total_dependencies"] == 17
    assert first["project_key"] == "DEMO"
    assert first["estimated_duration_seconds"] > 0
    assert first["task_id"] and first["status_url"] == url(session_id, "/export/status")

    second = start(xapi, session_id)  # while it runs: the same export
    assert second["already_running"] is True
    assert (second["task_id"], second["export_id"]) == (first["task_id"], first["export_id"])

    running = status(xapi, session_id)
    assert set(running) >= STATUS_FIELDS
    assert running["status"] in ("requested", "running")
    assert running["total_tickets"] == 49
    assert 0 <= running["progress_percentage"] < 100
    assert xapi.session(session_id)["stage"] == "exporting"
    body = assert_error(xapi.post(url(session_id, "/export/retry")), 409, "still running")
    assert body["recovery_actions"]

    done = wait_export(xapi, session_id, first["task_id"])
    assert done["status"] == "completed", done
    assert done["progress_percentage"] == 100.0
    assert done["tickets_completed"] == done["total_tickets"] == 49
    assert done["dependencies_created"] == 17
    assert done["retry_available"] is False
    assert done["error_category"] is None
    assert session_stage(xapi, session_id, "completed") == "completed"
    assert sandbox.stats()["issues_created"] == 49

    response = xapi.get(url(session_id, "/export/summary"))
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["status"] == "completed"
    titles = {t["id"]: t["title"] for t in tickets}
    rows = summary["jira_tickets"]
    assert len(rows) == 49 and len({r["jira_key"] for r in rows}) == 49
    for row in rows:
        assert row["jira_url"] == f"{sandbox.base_url}/browse/{row['jira_key']}"
        assert row["title"] == titles[row["ticket_id"]]
    assert len(summary["dependencies"]) == 17
    assert summary["manual_fixes"] == []

    fixes = xapi.get(url(session_id, "/export/manual-fixes"))
    assert fixes.status_code == 200, fixes.text
    assert fixes.json()["fixes"] == [] and fixes.json()["total"] == 0

    # a completed export cannot be retried
    assert_error(xapi.post(url(session_id, "/export/retry")), 409)


def test_three_failed_retries_then_the_fourth_is_refused_admin_required(
    xapi: Api, sandbox: Sandbox
) -> None:
    session_id, _ = ready_session(xapi)
    sandbox.faults(unauthorized_from_request=1)  # Jira rejects the credentials from now on

    first = start(xapi, session_id)
    failed = wait_export(xapi, session_id, first["task_id"])
    assert failed["status"] == "failed"
    assert failed["error_category"] == "admin_required"
    assert failed["retry_available"] is True and failed["retry_attempts_used"] == 0
    assert failed["recovery_actions"]
    assert session_stage(xapi, session_id, "export_failed") == "export_failed"

    for attempt in (1, 2, 3):
        response = xapi.post(url(session_id, "/export/retry"))
        assert response.status_code == 202, response.text
        assert response.json()["retry"] == attempt
        ended = wait_export(xapi, session_id, response.json()["task_id"])
        assert ended["status"] == "failed", ended
        assert ended["retry_attempts_used"] == attempt
        assert ended["retry_available"] is (attempt < 3)

    body = assert_error(xapi.post(url(session_id, "/export/retry")), 422, "3 times")
    assert body["error_category"] == "admin_required"
    assert sandbox.stats()["issues_created"] == 0


def test_manual_fixes_are_listed_and_resolved(xapi: Api, sandbox: Sandbox) -> None:
    session_id, tickets = ready_session(
        xapi,
        {
            0: {"assignee": "dave@example.com"},  # not assignable in DEMO
            1: {"assignee": "alice@example.com"},  # assignable: set on the issue
            2: {"priority": "Urgent"},  # no such priority
        },
    )
    done = wait_export(xapi, session_id, start(xapi, session_id)["task_id"])
    assert done["status"] == "completed", done
    assert done["manual_fixes_needed"] == 2

    response = xapi.get(url(session_id, "/export/manual-fixes"))
    assert response.status_code == 200, response.text
    listing = response.json()
    assert listing["total"] == listing["open"] == 2
    by_kind = {f["kind"]: f for f in listing["fixes"]}
    assert set(by_kind) == {"assignee", "priority"}
    assert by_kind["assignee"]["ticket_id"] == tickets[0]["id"]
    assert by_kind["priority"]["ticket_id"] == tickets[2]["id"]
    summary = xapi.get(url(session_id, "/export/summary")).json()
    keys = {r["ticket_id"]: r["jira_key"] for r in summary["jira_tickets"]}
    assert by_kind["assignee"]["issue_key"] == keys[tickets[0]["id"]]
    assert sandbox.issue(keys[tickets[0]["id"]], "assignee")["assignee"] is None
    alice = sandbox.issue(keys[tickets[1]["id"]], "assignee")["assignee"]
    assert alice["emailAddress"] == "alice@example.com"

    fix_id = by_kind["assignee"]["fix_id"]
    resolved = xapi.post(
        url(session_id, f"/export/manual-fixes/{fix_id}/resolve"), json={"note": "done by hand"}
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolved"] is True
    assert resolved.json()["resolution_note"] == "done by hand"
    listing = xapi.get(url(session_id, "/export/manual-fixes")).json()
    assert listing["open"] == 1 and listing["total"] == 2
    assert status(xapi, session_id)["manual_fixes_needed"] == 1

    unknown = "00000000-0000-0000-0000-000000000000"
    assert_error(xapi.post(url(session_id, f"/export/manual-fixes/{unknown}/resolve")), 404)
    # another user's session is not found
    other = xapi.post(url(session_id, f"/export/manual-fixes/{fix_id}/resolve"), user="bob")
    assert_error(other, 404)


def test_validate_project(xapi: Api) -> None:
    ok = xapi.post("/api/jira/validate-project", json={"project_key": "DEMO"})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["ok"] is True and body["problems"] == []
    assert body["blocks_link_type"] is True
    assert body["issue_type_id"]

    unknown = xapi.post("/api/jira/validate-project", json={"project_key": "NOPE"})
    assert 400 <= unknown.status_code < 500, unknown.text
    assert_error(unknown, unknown.status_code)
    assert unknown.json()["error_category"] == "admin_required"


def sync(api: Api, session_id: str) -> dict[str, Any]:
    response = api.post(url(session_id, "/export/sync"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_sync_back_reads_dates_in_the_jira_users_time_zone(xapi: Api, sandbox: Sandbox) -> None:
    """Jira reads `updated >= "..."` in the searching user's zone. Written in UTC for a
    user eight hours behind it, the second sync would look eight hours ahead: nothing."""
    sandbox.faults(user_time_zone="America/Los_Angeles")
    session_id, _ = ready_session(xapi)
    done = wait_export(xapi, session_id, start(xapi, session_id)["task_id"])
    assert done["status"] == "completed", done
    keys = [
        r["jira_key"] for r in xapi.get(url(session_id, "/export/summary")).json()["jira_tickets"]
    ]
    assert sync(xapi, session_id)["updated"] == 49

    sandbox.work(keys[5], status="In Progress")
    second = sync(xapi, session_id)
    assert [i["key"] for i in second["issues"]] == [keys[5]]
    assert second["fetched"] >= 1


def test_the_sandbox_refuses_an_unknown_time_zone(sandbox: Sandbox) -> None:
    response = sandbox.http.post("/_sandbox/faults", json={"user_time_zone": "Mars/Olympus"})
    assert response.status_code == 400 and "IANA" in response.text  # Jira-style 400


@BOTH_FLAVORS
def test_sync_back_shows_jira_status_and_fetches_only_updated_issues(
    xapi: Api, sandbox: Sandbox
) -> None:
    session_id, _ = ready_session(xapi)
    assert_error(xapi.post(url(session_id, "/export/sync")), 404)  # nothing exported yet
    done = wait_export(xapi, session_id, start(xapi, session_id)["task_id"])
    assert done["status"] == "completed", done
    rows = xapi.get(url(session_id, "/export/summary")).json()["jira_tickets"]
    keys = [r["jira_key"] for r in rows]

    first = sync(xapi, session_id)
    assert first["updated"] == 49
    assert {i["status"] for i in first["issues"]} == {"To Do"}

    sandbox.work(keys[0], status="In Progress", assignee=None)
    sandbox.work(keys[1], status="Done")
    second = sync(xapi, session_id)
    assert sorted(i["key"] for i in second["issues"]) == sorted(keys[:2])
    assert second["updated"] == 2

    summary = xapi.get(url(session_id, "/export/summary")).json()
    jira = {r["jira_key"]: r["jira"] for r in summary["jira_tickets"]}
    assert jira[keys[0]]["status"] == "In Progress"
    assert jira[keys[1]]["status"] == "Done" and jira[keys[1]]["resolution"] == "Done"
    assert jira[keys[2]]["status"] == "To Do"

    third = sync(xapi, session_id)  # nothing changed since
    assert third["updated"] == 0 and third["issues"] == []


def test_the_first_sync_back_sees_every_issue_while_the_search_index_lags(
    xapi: Api, sandbox: Sandbox
) -> None:
    """Right after an export, Jira's index may not show the new issues yet: the first sync
    asks for them by key with their ids as `reconcileIssues` (read-after-write), 50 at a
    time, and gets all 49 though the search lags 5 minutes."""
    session_id, _ = ready_session(xapi)
    sandbox.faults(search_lag_ms=300_000)
    done = wait_export(xapi, session_id, start(xapi, session_id)["task_id"])
    assert done["status"] == "completed", done
    first = sync(xapi, session_id)
    assert first["updated"] == 49 and first["fetched"] == 49
    requests = sandbox.stats()["requests"]
    assert requests["POST /rest/api/3/search/jql"] >= 1


def test_the_estimate_before_and_during_an_export_and_the_phases_after(
    xapi: Api, sandbox: Sandbox
) -> None:
    """validate-project for a session answers the requests its export would make and how
    long they take; the status carries the run's own estimate (and an ETA while it runs),
    then the seconds each phase took."""
    session_id, tickets = ready_session(xapi)
    dependencies = sum(len(t["depends_on"]) for t in tickets)
    checked = xapi.post("/api/jira/validate-project", json={"session_id": session_id})
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["ok"] and body["project_key"] == "DEMO" and body["latency_ms"] >= 0
    requests = body["estimate"]["requests"]
    assert requests["bulk_creates"] == 1 and requests["links"] == dependencies
    assert requests["total"] == 1 + dependencies + requests["attachments"]
    assert body["estimate"]["duration_s"] > 0
    assert any(s.startswith("sprints:") for s in body["skipped"])

    started = start(xapi, session_id)
    assert started["estimated_duration_seconds"] > 0
    done = wait_export(xapi, session_id, started["task_id"])
    assert done["status"] == "completed", done
    assert done["estimate"]["requests"]["links"] == dependencies
    assert done["eta_seconds"] is None  # only while it runs
    assert set(done["phases"]) >= {"preflight", "create", "link"}
    assert all(seconds >= 0 for seconds in done["phases"].values())

    missing = xapi.post("/api/jira/validate-project", json={"issue_type": "Task"})
    assert_error(missing, 422)
    stranger = xapi.post(
        "/api/jira/validate-project", json={"session_id": "00000000-0000-0000-0000-000000000001"}
    )
    assert_error(stranger, 404)


def test_a_running_export_shows_its_eta(xapi: Api, sandbox: Sandbox) -> None:
    """At 150 ms per request the export runs for seconds: once its estimate is recorded,
    the status shows an ETA no larger than the estimate, counting down."""
    session_id, _ = ready_session(xapi)
    sandbox.faults(latency_ms=150)
    started = start(xapi, session_id)
    deadline = time.monotonic() + EXPORT_TIMEOUT_S
    seen: list[float] = []
    while time.monotonic() < deadline:
        current = status(xapi, session_id)
        if current["status"] != "running":
            if current["status"] in ("completed", "failed"):
                break
        elif current.get("eta_seconds") is not None:
            assert current["eta_seconds"] <= current["estimate"]["duration_s"]
            seen.append(current["eta_seconds"])
        time.sleep(0.05)
    sandbox.faults(latency_ms=0)
    assert wait_export(xapi, session_id, started["task_id"])["status"] == "completed"
    assert seen, "the run never showed an ETA"
    assert seen == sorted(seen, reverse=True)


@BOTH_FLAVORS
def test_a_reexport_through_the_api_plan_conflict_flag_and_its_resolution(
    xapi: Api, sandbox: Sandbox
) -> None:
    """GET /export/plan, a re-export with POST /export, the conflict a person's edit in
    Jira causes (a manual fix, the ticket flagged `conflict`, the session's flags), and
    its resolution (a choice is required; keep_jira clears the flag)."""
    session_id, tickets = ready_session(xapi)
    plan = xapi.get(url(session_id, "/export/plan"))
    assert plan.status_code == 200, plan.text
    assert plan.json()["create"]["count"] == 49 and plan.json()["previous_export_id"] is None
    first = wait_export(xapi, session_id, start(xapi, session_id)["task_id"])
    assert first["status"] == "completed", first
    rows = xapi.get(url(session_id, "/export/summary")).json()["jira_tickets"]
    key = next(r["jira_key"] for r in rows if r["ticket_id"] == tickets[5]["id"])

    ticket = xapi.get(url(session_id, f"/tickets/{tickets[5]['id']}")).json()
    edited = xapi.patch(
        url(session_id, f"/tickets/{ticket['id']}"),
        json={"title": "A better title", "version": ticket["version"]},
    )
    assert edited.status_code == 200, edited.text
    sandbox.work(key, summary="A person's own title")
    mark_ready(xapi, session_id)
    validate(xapi, session_id)
    plan = xapi.get(url(session_id, "/export/plan")).json()
    assert plan["create"]["count"] == 0 and plan["update"]["count"] == 0
    assert [c["key"] for c in plan["conflicts"]["items"]] == [key]
    assert plan["conflicts"]["items"][0]["fields"]["summary"] == [
        "A person's own title",
        "A better title",
    ]

    second = wait_export(xapi, session_id, start(xapi, session_id)["task_id"])
    assert second["status"] == "completed", second
    assert second["conflicts"] == 1 and second["issues_carried"] == 49
    assert second["jira_tickets_created"] == 0
    assert sandbox.issue(key, "summary")["summary"] == "A person's own title"
    flagged = xapi.get(url(session_id, "/tickets?flag=conflict")).json()["tickets"]
    assert [t["id"] for t in flagged] == [tickets[5]["id"]]
    session = xapi.get(url(session_id)).json()
    assert session["flags"]["conflict"] == [tickets[5]["id"]]
    assert session["counts"]["conflict"] == 1
    fixes = xapi.get(url(session_id, "/export/manual-fixes")).json()
    fix = next(f for f in fixes["fixes"] if f["kind"] == "conflict")
    resolve = url(session_id, f"/export/manual-fixes/{fix['fix_id']}/resolve")
    assert_error(xapi.post(resolve, json={"note": "?"}), 422, "keep_jira")
    done = xapi.post(resolve, json={"choice": "keep_jira"})
    assert done.status_code == 200, done.text
    assert done.json()["choice"] == "keep_jira"
    assert xapi.get(url(session_id, "/tickets?flag=conflict")).json()["tickets"] == []
    plan = xapi.get(url(session_id, "/export/plan")).json()
    assert plan["update"]["count"] == 0 and plan["conflicts"]["count"] == 0


@BOTH_FLAVORS
def test_epics_per_group_through_the_api_plan_export_summary_and_patch_refused_after(
    xapi: Api, sandbox: Sandbox
) -> None:
    """generation -> validation -> plan (epics to create) -> export with epics and links ->
    the summary lists the epics -> epic_mode is fixed once exported (409)."""
    session_id = xapi.create_session(jira_project_key="DEMO", epic_mode="per_group")["id"]
    xapi.upload(session_id)
    xapi.process(session_id)
    mark_ready(xapi, session_id)
    validate(xapi, session_id)
    assert xapi.session(session_id)["epic_mode"] == "per_group"

    plan = xapi.get(url(session_id, "/export/plan"))
    assert plan.status_code == 200, plan.text
    to_create = plan.json()["epics"]
    assert to_create["count"] >= 3
    assert sum(e["children"] for e in to_create["items"]) == plan.json()["create"]["count"] == 49

    # The project check for the session looks at what its epics need, before any export.
    def epic_warnings() -> list[str]:
        checked = xapi.post("/api/jira/validate-project", json={"session_id": session_id})
        assert checked.status_code == 200, checked.text
        return [w for w in checked.json()["warnings"] if "epic" in w.lower()]

    assert epic_warnings() == []
    sandbox.faults(missing_issue_types=["Epic"])
    (warning,) = epic_warnings()
    assert "no Epic issue type" in warning and "falls back to none" in warning
    sandbox.faults(missing_issue_types=[])

    done = wait_export(xapi, session_id, start(xapi, session_id)["task_id"])
    assert done["status"] == "completed", done
    summary = xapi.get(url(session_id, "/export/summary")).json()
    epics = summary["epics"]
    assert {e["group"] for e in epics} == {e["group"] for e in to_create["items"]}
    assert sum(e["children"] for e in epics) == 49
    assert len(summary["dependencies"]) == 17 and summary["manual_fixes"] == []
    assert sandbox.stats()["issues_created"] == 49 + len(epics)
    for epic in epics:
        assert epic["jira_url"] == f"{sandbox.base_url}/browse/{epic['jira_key']}"
        assert epic["name"].endswith(f": {GROUP_TITLES[epic['group']]}")

    assert xapi.get(url(session_id, "/export/plan")).json()["epics"]["count"] == 0
    body = assert_error(xapi.patch(url(session_id), json={"epic_mode": "none"}), 409, "epic_mode")
    assert body["recovery_actions"]
    assert xapi.session(session_id)["epic_mode"] == "per_group"
