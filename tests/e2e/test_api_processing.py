"""Ticket generation over the API: start, poll, already-running, cancel and retry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import NESTWATCH_CSV, SMALL_SITE_CSV, Api, assert_error


def test_processing_the_nestwatch_inventory_drafts_235_tickets(api: Api) -> None:
    session_id = api.create_session()["id"]
    api.upload(session_id, NESTWATCH_CSV)

    first = api.post(f"/api/sessions/{session_id}/process")
    second = api.post(f"/api/sessions/{session_id}/process")

    assert first.status_code == 202, first.text
    started = first.json()
    assert started["already_running"] is False
    assert started["generator"] == "offline"
    assert started["status_url"] == f"/api/sessions/{session_id}/process/status"
    assert started["status"]["task_id"] == started["task_id"]
    assert "X-Event-Position" in first.headers
    if second.status_code == 202:  # still running: the same task comes back
        assert second.json()["already_running"] is True
        assert second.json()["task_id"] == started["task_id"]
    else:  # the run already finished: the session is in review now
        assert_error(second, 409, "review")

    status = api.wait_processed(session_id)

    assert status["status"] == "completed", status
    assert status["stage"] == "review"
    assert status["task_id"] == started["task_id"]
    assert status["percentage"] == 100.0
    assert status["total"] == 235
    assert status["generated"] == 235
    assert status["failed"] == 0
    assert status["errors"] == []
    assert status["generator"] == "offline"
    assert status["attempt"] == 0
    assert status["retries_left"] == 3
    assert set(status["tokens"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert all(isinstance(v, int) for v in status["tokens"].values())
    assert status["started_at"] and status["finished_at"]
    tickets = api.tickets(session_id)
    assert len(tickets) == 235
    assert {t["generator"] for t in tickets} == {"offline"}
    session = api.session(session_id)
    assert session["stage"] == "review"
    assert session["counts"]["tickets"] == 235
    assert session["validation"]["state"] == "missing"


def test_processing_twice_while_running_returns_the_running_task(
    api_with: Callable[..., Api],
) -> None:
    api = api_with(TICKETFORGE_EMBEDDED_WORKERS=0)  # nobody picks the task up: it stays queued
    session_id = api.create_session()["id"]
    api.upload(session_id)

    first = api.post(f"/api/sessions/{session_id}/process")
    second = api.post(f"/api/sessions/{session_id}/process")

    assert first.status_code == second.status_code == 202
    assert second.json()["already_running"] is True
    assert second.json()["task_id"] == first.json()["task_id"]
    status = api.get(f"/api/sessions/{session_id}/process/status").json()
    assert status["status"] == "requested"
    assert status["stage"] == "processing"
    assert status["percentage"] == 0.0


def test_concurrent_process_requests_start_one_run(api_with: Callable[..., Api]) -> None:
    api = api_with(TICKETFORGE_EMBEDDED_WORKERS=0)
    session_id = api.create_session()["id"]
    api.upload(session_id)
    barrier = threading.Barrier(4)
    answers: list[Any] = []

    def start() -> None:
        barrier.wait()
        answers.append(api.post(f"/api/sessions/{session_id}/process"))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
    assert len({a.json()["task_id"] for a in answers}) == 1
    assert sorted(a.json()["already_running"] for a in answers) == [False, True, True, True]
    task_id = answers[0].json()["task_id"]
    assert api.container.queue.state(task_id) == "pending"
    claimed = api.container.queue.claim("probe", ["generation"], 1.0)
    assert claimed is not None and claimed.task_id == task_id
    assert api.container.queue.claim("probe-2", ["generation"], 1.0) is None


def test_process_status_before_any_run(api: Api) -> None:
    session_id = api.create_session()["id"]

    response = api.get(f"/api/sessions/{session_id}/process/status")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "stage": "setup",
        "task_id": None,
        "status": "not_started",
        "percentage": 0.0,
    }


def test_processing_without_an_inventory_is_409(api: Api) -> None:
    session_id = api.create_session()["id"]

    response = api.post(f"/api/sessions/{session_id}/process")

    assert_error(response, 409, "setup")
    assert api.session(session_id)["stage"] == "setup"


@pytest.mark.parametrize(
    ("generator", "text"), [("gpt-5", "Unknown generator"), ("openai", "No LLM is configured")]
)
def test_an_unusable_generator_is_422(api: Api, generator: str, text: str) -> None:
    session_id = api.create_session()["id"]
    api.upload(session_id)

    response = api.post(f"/api/sessions/{session_id}/process", json={"generator": generator})

    assert_error(response, 422, text)
    assert api.session(session_id)["stage"] == "uploaded"


def test_cancel_after_the_run_completed_is_409(api: Api, reviewed: tuple[str, list[Any]]) -> None:
    session_id, _ = reviewed
    before = api.session(session_id)

    response = api.post(f"/api/sessions/{session_id}/process/cancel")

    assert_error(response, 409, "cancel", "review")
    assert api.session(session_id) == before


def test_retry_of_a_run_that_did_not_fail_is_409(api: Api, reviewed: tuple[str, list[Any]]) -> None:
    session_id, tickets = reviewed
    before = api.session(session_id)

    retry = api.post(f"/api/sessions/{session_id}/process/retry")
    again = api.post(f"/api/sessions/{session_id}/process")

    assert_error(retry, 409, "retry", "review")
    assert_error(again, 409, "review")
    assert api.session(session_id) == before
    assert len(api.tickets(session_id)) == len(tickets)


def test_retry_before_any_run_is_409(api: Api) -> None:
    session_id = api.create_session()["id"]
    api.upload(session_id)

    assert_error(api.post(f"/api/sessions/{session_id}/process/retry"), 409, "uploaded")


def test_cancel_a_queued_run_then_retry_until_admin_is_required(
    api_with: Callable[..., Api],
) -> None:
    """With no worker running, a run stays queued, so cancel and retry are observable."""
    api = api_with(TICKETFORGE_EMBEDDED_WORKERS=0)
    session_id = api.create_session()["id"]
    api.upload(session_id)
    started = api.post(f"/api/sessions/{session_id}/process").json()

    cancelled = api.post(f"/api/sessions/{session_id}/process/cancel")

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["task_id"] == started["task_id"]
    assert cancelled.json()["stage"] == "cancelled"
    assert_error(api.post(f"/api/sessions/{session_id}/process/cancel"), 409, "cancelled")

    task_ids = {started["task_id"]}
    for attempt in (1, 2, 3):
        retried = api.post(f"/api/sessions/{session_id}/process/retry")
        assert retried.status_code == 202, retried.text
        assert retried.json()["already_running"] is False
        assert retried.json()["status"]["attempt"] == attempt
        assert retried.json()["status"]["retries_left"] == 3 - attempt
        task_ids.add(retried.json()["task_id"])
        assert api.post(f"/api/sessions/{session_id}/process/cancel").status_code == 200
    assert len(task_ids) == 4

    refused = api.post(f"/api/sessions/{session_id}/process/retry")

    body = assert_error(refused, 422, "retried 3 times")
    assert body["error_category"] == "admin_required"
    assert api.session(session_id)["stage"] == "cancelled"


def test_a_cancelled_run_can_be_requested_again_and_completes(
    api_with: Callable[..., Api],
) -> None:
    api = api_with(TICKETFORGE_EMBEDDED_WORKERS=0)
    container = api.container
    session_id = api.create_session()["id"]
    api.upload(session_id)
    api.post(f"/api/sessions/{session_id}/process")
    api.post(f"/api/sessions/{session_id}/process/cancel")
    again = api.post(f"/api/sessions/{session_id}/process")
    assert again.status_code == 202, again.text

    # A worker (here: one run in this thread) picks up only the live task.
    assert container.worker.run_once() is True
    status = api.wait_processed(session_id)

    assert status["status"] == "completed"
    assert status["task_id"] == again.json()["task_id"]
    assert status["generated"] == 49
    assert len(api.tickets(session_id)) == 49
    # The task's row is another read model (the work queue's), which may follow the
    # run's end a moment after the session's: read it once the read models are settled.
    task_id = again.json()["task_id"]
    assert container.settle()
    assert container.queue.state(task_id) == "completed"


def test_completed_status_implies_the_tickets_are_listed(api_with: Callable[..., Api]) -> None:
    """The session view may run ahead of the ticket view (one projector pumps them in turn,
    or separate projector processes run them). Here the ticket projector is simply later:
    a query must still not show "completed" beside an empty ticket list."""
    api = api_with(TICKETFORGE_EMBEDDED_WORKERS=0, start=False)
    container = api.container
    session_id = api.create_session()["id"]
    api.upload(session_id, SMALL_SITE_CSV)
    assert api.post(f"/api/sessions/{session_id}/process").status_code == 202
    assert container.worker.run_once() is True  # the run, in this thread
    container.projector.pump("sessions")  # the session view is ahead of the ticket view

    status = api.get(f"/api/sessions/{session_id}/process/status").json()
    assert status["status"] == "completed"
    assert status["generated"] == 49

    assert len(api.tickets(session_id)) == 49


def test_processing_status_is_polled_without_long_sleeps(api: Api) -> None:
    """The small site is drafted quickly: the status reaches 100 % within a bounded loop."""
    session_id = api.create_session()["id"]
    api.upload(session_id)
    started = time.monotonic()

    status = api.process(session_id)

    assert status["percentage"] == 100.0
    assert status["generated"] == 49
    assert time.monotonic() - started < 30
