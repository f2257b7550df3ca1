"""ADF validation and its staleness: any later content change requires re-validation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import Api, assert_error

Reviewed = tuple[str, list[Any]]
STALE_BLOCKER = "validation is stale: re-validation required"


def url(session_id: str, rest: str = "") -> str:
    return f"/api/sessions/{session_id}{rest}"


def validate(api: Api, session_id: str, ticket_ids: list[str] | None = None) -> dict[str, Any]:
    body = {} if ticket_ids is None else {"ticket_ids": ticket_ids}
    response = api.post(url(session_id, "/adf-validation"), json=body)
    assert response.status_code == 200, response.text
    assert "X-Event-Position" in response.headers
    return dict(response.json())


def make_export_ready(api: Api, session_id: str) -> dict[str, Any]:
    assert api.post(url(session_id, "/tickets/ready"), json={}).status_code == 200
    report = validate(api, session_id)
    assert report["all_passed"] is True, [r for r in report["results"] if r["status"] != "passed"]
    assert report["export_ready"] == {"ready": True, "blockers": []}
    session = api.session(session_id)
    assert session["validation"]["state"] == "passed"
    assert session["export_ready"] is True
    assert session["export_blockers"] == []
    return session


def assert_stale(api: Api, session_id: str) -> None:
    session = api.session(session_id)
    assert session["validation"]["state"] == "stale", session["validation"]
    assert session["export_ready"] is False
    assert STALE_BLOCKER in session["export_blockers"]
    assert any("re-validation required" in b for b in session["export_blockers"])


def test_validation_report_for_every_ticket(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed

    report = validate(api, session_id)

    assert report["session_id"] == session_id
    assert report["tickets_tested"] == report["passed"] == 49
    assert report["failed"] == 0
    assert report["all_passed"] is True
    assert {r["ticket_id"] for r in report["results"]} == {t["id"] for t in tickets}
    for result in report["results"]:
        assert result["status"] == "passed"
        assert result["adf_size_bytes"] > 0
        assert result["error_message"] is None
    # Not ready yet, so not exportable even though validation passed.
    assert report["export_ready"]["ready"] is False
    assert report["export_ready"]["blockers"] == ["49 ticket(s) are not marked ready"]
    assert {t["validation"]["state"] for t in api.tickets(session_id)} == {"passed"}


def test_an_edit_after_validation_makes_it_stale_until_revalidated(
    api: Api, reviewed: Reviewed
) -> None:
    """The key acceptance test: validation passes for the exact content it saw."""
    session_id, tickets = reviewed
    make_export_ready(api, session_id)
    ticket = tickets[5]

    edit = api.patch(
        url(session_id, f"/tickets/{ticket['id']}"),
        json={"analysis": ticket["analysis"] + "\n\nOne more note."},
        headers={"If-Match": '"1"'},
    )
    assert edit.status_code == 200, edit.text
    assert edit.json()["validation"]["state"] == "stale"

    assert_stale(api, session_id)
    states = {t["id"]: t["validation"]["state"] for t in api.tickets(session_id)}
    assert set(states.values()) == {"stale"}

    report = validate(api, session_id)

    assert report["all_passed"] is True
    assert report["export_ready"] == {"ready": True, "blockers": []}
    session = api.session(session_id)
    assert session["validation"]["state"] == "passed"
    assert session["export_ready"] is True


def test_a_reorder_after_validation_makes_it_stale(api: Api, reviewed: Reviewed) -> None:
    session_id, _ = reviewed
    make_export_ready(api, session_id)
    ids = [t["id"] for t in api.tickets(session_id, order="user")]

    response = api.put(url(session_id, "/ticket-order"), json={"ticket_ids": ids[::-1]})

    assert response.status_code == 200, response.text
    assert_stale(api, session_id)
    validate(api, session_id)
    assert api.session(session_id)["export_ready"] is True


@pytest.mark.parametrize("change", ["add", "remove"])
def test_a_dependency_change_after_validation_makes_it_stale(
    api: Api, reviewed: Reviewed, change: str
) -> None:
    session_id, tickets = reviewed
    dependent = next(t for t in tickets if t["depends_on"])
    independent = [t for t in tickets if not t["depends_on"]]
    target = next(t for t in independent if t["id"] not in dependent["depends_on"])
    make_export_ready(api, session_id)
    base = url(session_id, f"/tickets/{target['id']}/dependencies")

    if change == "add":
        response = api.post(base, json={"depends_on": dependent["id"]})
        assert response.status_code == 201, response.text
    else:
        dep = dependent["depends_on"][0]
        response = api.delete(url(session_id, f"/tickets/{dependent['id']}/dependencies/{dep}"))
        assert response.status_code == 200, response.text

    assert_stale(api, session_id)
    validate(api, session_id)
    assert api.session(session_id)["export_ready"] is True


def test_refused_changes_do_not_make_validation_stale(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    make_export_ready(api, session_id)
    dependent = next(t for t in tickets if t["depends_on"])
    path = url(session_id, f"/tickets/{tickets[0]['id']}")

    assert api.patch(path, json={"title": "x"}, headers={"If-Match": '"7"'}).status_code == 409
    assert (
        api.patch(path, json={"title": tickets[0]["title"]}, headers={"If-Match": '"1"'}).json()[
            "version"
        ]
        == 1
    )
    cycle = api.post(
        url(session_id, f"/tickets/{dependent['depends_on'][0]}/dependencies"),
        json={"depends_on": dependent["id"]},
    )
    assert cycle.status_code == 422
    assert api.put(url(session_id, "/ticket-order"), json={"ticket_ids": []}).status_code == 422
    # Readiness is not content: toggling it does not invalidate either.
    one = [tickets[1]["id"]]
    api.post(url(session_id, "/tickets/ready"), json={"ready": False, "ticket_ids": one})
    api.post(url(session_id, "/tickets/ready"), json={"ready": True, "ticket_ids": one})

    session = api.session(session_id)
    assert session["validation"]["state"] == "passed"
    assert session["export_ready"] is True


def test_validating_a_subset_does_not_make_the_session_valid(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    api.post(url(session_id, "/tickets/ready"), json={})
    subset = [t["id"] for t in tickets[:5]]

    report = validate(api, session_id, subset)

    assert report["tickets_tested"] == 5
    assert {r["ticket_id"] for r in report["results"]} == set(subset)
    assert report["export_ready"]["ready"] is False
    session = api.session(session_id)
    assert session["validation"]["state"] != "passed"
    assert session["export_ready"] is False
    assert any("re-validation required" in b for b in session["export_blockers"])
    states = {t["id"]: t["validation"]["state"] for t in api.tickets(session_id)}
    assert {states[i] for i in subset} == {"passed"}
    assert {s for i, s in states.items() if i not in subset} == {"missing"}


def test_revalidating_only_the_edited_ticket_is_not_enough(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    make_export_ready(api, session_id)
    ticket = tickets[2]
    api.patch(
        url(session_id, f"/tickets/{ticket['id']}"),
        json={"sprint": "Sprint 9", "title": "Retitled"},
        headers={"If-Match": '"1"'},
    )

    validate(api, session_id, [ticket["id"]])

    assert_stale(api, session_id)
    validate(api, session_id)
    assert api.session(session_id)["export_ready"] is True


def test_an_empty_subset_validates_nothing(api: Api, reviewed: Reviewed) -> None:
    session_id, _ = reviewed
    api.post(url(session_id, "/tickets/ready"), json={})

    report = validate(api, session_id, [])

    assert report["tickets_tested"] == 0
    assert api.session(session_id)["export_ready"] is False


def test_a_failing_ticket_fails_validation_with_a_fix_until_corrected(
    api: Api, reviewed: Reviewed
) -> None:
    session_id, tickets = reviewed
    api.post(url(session_id, "/tickets/ready"), json={})
    ticket = tickets[0]
    path = url(session_id, f"/tickets/{ticket['id']}")
    bad = api.patch(path, json={"title": "First line\nsecond line"}, headers={"If-Match": '"1"'})
    assert bad.status_code == 200, bad.text

    report = validate(api, session_id)

    assert report["all_passed"] is False
    assert report["failed"] == 1
    assert report["passed"] == 48
    failure = next(r for r in report["results"] if r["status"] != "passed")
    assert failure["ticket_id"] == ticket["id"]
    assert "single line" in failure["error_message"]
    assert failure["suggested_fix"]
    session = api.session(session_id)
    assert session["validation"]["state"] == "failed"
    assert session["validation"]["failed_tickets"] == 1
    assert session["export_ready"] is False
    assert "validation is failed: re-validation required" in session["export_blockers"]
    assert api.get(path).json()["validation"]["state"] == "failed"

    fixed = api.patch(path, json={"title": "First line"}, headers={"If-Match": '"2"'})
    assert fixed.status_code == 200, fixed.text
    assert api.session(session_id)["validation"]["state"] == "failed"  # until re-validated
    assert validate(api, session_id)["all_passed"] is True
    assert api.session(session_id)["export_ready"] is True


def test_validation_needs_tickets(api: Api) -> None:
    session_id = api.create_session()["id"]
    api.upload(session_id)

    response = api.post(url(session_id, "/adf-validation"), json={})

    assert_error(response, 409, "validate", "uploaded")


def test_validation_of_an_unknown_ticket_is_404_and_records_nothing(
    api: Api, reviewed: Reviewed
) -> None:
    session_id, tickets = reviewed
    unknown = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    head = api.container.app.head_position()

    response = api.post(
        url(session_id, "/adf-validation"), json={"ticket_ids": [tickets[0]["id"], unknown]}
    )

    assert_error(response, 404, unknown)
    assert api.container.app.head_position() == head


def test_staleness_seen_through_a_second_api_instance(
    api_with: Callable[..., Api],
) -> None:
    """Two API processes on one database: a change made through one is seen by the other."""
    first = api_with()
    second = api_with(like=first)
    session_id, tickets = first.reviewed_session()
    make_export_ready(first, session_id)

    edit = first.patch(
        url(session_id, f"/tickets/{tickets[0]['id']}"),
        json={"priority": "Low", "title": "Changed through the first instance"},
        headers={"If-Match": '"1"'},
    )
    position = edit.headers["X-Event-Position"]

    shown = second.get(url(session_id) + f"?min_position={position}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["validation"]["state"] == "stale"
    assert shown.json()["export_ready"] is False
    validate(second, session_id)
    assert first.session(session_id)["export_ready"] is True


def race_validation_and_edit(api: Api, session_id: str, path: str) -> dict[str, Any]:
    """Validate the session and break one ticket's title at the same moment."""
    barrier = threading.Barrier(2)
    answers: dict[str, Any] = {}

    def run_validation() -> None:
        barrier.wait()
        answers["validation"] = api.post(url(session_id, "/adf-validation"), json={})

    def run_edit() -> None:
        barrier.wait()
        answers["edit"] = api.patch(
            path, json={"title": "Broken\ntitle"}, headers={"If-Match": '"1"'}
        )

    threads = [threading.Thread(target=run_validation), threading.Thread(target=run_edit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_a_validation_racing_an_edit_never_passes_content_it_did_not_see(
    api: Api, reviewed: Reviewed
) -> None:
    """The edit makes the ticket invalid. Whichever command commits first, the session must
    end failed (validation saw the edit) or stale (the edit came after): never passed."""
    session_id, tickets = reviewed
    api.post(url(session_id, "/tickets/ready"), json={})
    for ticket in tickets[:2]:
        path = url(session_id, f"/tickets/{ticket['id']}")

        answers = race_validation_and_edit(api, session_id, path)

        assert answers["edit"].status_code == 200, answers["edit"].text
        assert answers["validation"].status_code == 200, answers["validation"].text
        session = api.session(session_id)
        assert session["validation"]["state"] in ("failed", "stale"), session["validation"]
        assert session["export_ready"] is False
        fixed = api.patch(path, json={"title": ticket["title"]}, headers={"If-Match": '"2"'})
        assert fixed.status_code == 200, fixed.text
        assert validate(api, session_id)["all_passed"] is True
