"""The durable task queue: leases keep a task with one worker; expiry and release free it."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

from application.tasks import ClaimedTask
from domain.session import Session
from interfaces.bootstrap import Container
from projections.work_requests import GENERATION
from tests.integration.storage.conftest import (
    ALICE,
    TINY_INVENTORY,
    create_session,
    request_generation,
    upload,
)


def queued_task(container: Container, name: str = "Queue test") -> tuple[UUID, UUID]:
    """A session whose generation was requested and handed to the queue (not run)."""
    session_id = create_session(container, name)
    upload(container, session_id, TINY_INVENTORY)
    task_id = request_generation(container, session_id)
    assert container.settle()
    return session_id, task_id


def claim_within(
    claim: Callable[[], ClaimedTask | None], timeout: float = 5.0
) -> ClaimedTask | None:
    """Poll a claim until it succeeds (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = claim()
        if found is not None:
            return found
        time.sleep(0.01)
    return None


def test_a_claimed_task_is_not_claimable_while_its_lease_lives(
    container: Container, open_container: Callable[..., Container]
) -> None:
    session_id, task_id = queued_task(container)
    other = open_container()  # another worker process on the same database

    task = container.queue.claim("worker-a", [GENERATION], 30.0)

    assert task is not None
    assert task.task_id == str(task_id)
    assert task.session_id == str(session_id)
    assert task.kind == GENERATION
    assert task.payload == {"generator": "offline", "attempt": 0}
    assert task.attempts == 1
    assert other.queue.claim("worker-b", [GENERATION], 30.0) is None
    assert container.queue.claim("worker-c", [GENERATION], 30.0) is None
    assert container.queue.renew(task.task_id, "worker-a", 30.0) is True
    assert container.queue.state(task.task_id) == "pending"


def test_an_expired_lease_lets_another_worker_take_over(
    container: Container, open_container: Callable[..., Container]
) -> None:
    _, task_id = queued_task(container)
    other = open_container()
    first = container.queue.claim("worker-a", [GENERATION], 0.2)
    assert first is not None

    assert other.queue.claim("worker-b", [GENERATION], 30.0) is None
    second = claim_within(lambda: other.queue.claim("worker-b", [GENERATION], 30.0))

    assert second is not None
    assert second.task_id == str(task_id)
    assert second.attempts == 2
    # The first worker learns it lost the task and cannot take it back or free it.
    assert container.queue.renew(str(task_id), "worker-a", 30.0) is False
    container.queue.release(str(task_id), "worker-a")
    assert container.queue.claim("worker-c", [GENERATION], 30.0) is None


def test_release_makes_the_task_claimable_at_once(
    container: Container, open_container: Callable[..., Container]
) -> None:
    _, task_id = queued_task(container)
    other = open_container()
    first = container.queue.claim("worker-a", [GENERATION], 300.0)
    assert first is not None

    container.queue.release(first.task_id, "worker-a")
    again = other.queue.claim("worker-b", [GENERATION], 300.0)

    assert again is not None
    assert again.task_id == str(task_id)
    assert again.attempts == 2


def test_only_the_requested_kinds_are_claimed(container: Container) -> None:
    queued_task(container)

    assert container.queue.claim("worker-a", ["export"], 30.0) is None
    assert container.queue.claim("worker-a", [GENERATION], 30.0) is not None


def test_tasks_of_different_sessions_go_to_different_workers(container: Container) -> None:
    _, first_task = queued_task(container, "First")
    _, second_task = queued_task(container, "Second")

    a = container.queue.claim("worker-a", [GENERATION], 30.0)
    b = container.queue.claim("worker-b", [GENERATION], 30.0)

    assert a is not None and b is not None
    assert {a.task_id, b.task_id} == {str(first_task), str(second_task)}
    assert a.task_id == str(first_task)  # oldest first
    assert container.queue.claim("worker-c", [GENERATION], 30.0) is None


def test_a_finished_task_leaves_the_queue(container: Container) -> None:
    session_id, task_id = queued_task(container)
    assert container.worker.run_once() is True

    assert container.settle()

    assert container.queue.state(str(task_id)) == "completed"
    assert container.queue.claim("worker-a", [GENERATION], 30.0) is None
    assert container.app.load_session(session_id).stage == "review"


def test_a_cancelled_task_is_never_claimed(container: Container) -> None:
    session_id, task_id = queued_task(container)
    container.app.cancel_generation(session_id, ALICE)

    assert container.settle()

    assert container.queue.state(str(task_id)) == "cancelled"
    assert container.queue.claim("worker-a", [GENERATION], 30.0) is None


def test_a_task_let_go_mid_run_is_finished_by_another_worker_exactly_once(
    container: Container, open_container: Callable[..., Container]
) -> None:
    """A worker that dies (or loses its lease) mid-run leaves the task queued; the
    next worker resumes it, drafting only what is missing."""
    session_id, task_id = queued_task(container)
    dying = container.queue.claim("worker-dying", [GENERATION], 0.2)
    assert dying is not None
    container.generation.concurrency = 1
    checks = iter(range(1_000))

    status = container.generation.run(session_id, task_id, keep_going=lambda: next(checks) < 2)

    assert status == "interrupted"
    partial = container.app.load_session(session_id)
    assert partial.stage == "processing"
    assert 0 < len(partial.tickets) < 5
    other = open_container()
    assert other.settle()
    assert other.queue.state(str(task_id)) == "pending"

    deadline = time.monotonic() + 10
    while not other.worker.run_once():
        assert time.monotonic() < deadline, "the task was never taken over"
        time.sleep(0.02)
    assert other.settle()

    done = other.app.load_session(session_id)
    assert done.stage == "review"
    assert done.generation is not None
    assert (done.generation.status, done.generation.generated, done.generation.failed) == (
        "completed",
        5,
        0,
    )
    assert len(done.tickets) == 5
    events = list(other.app.events.get(session_id))
    drafted = [e.config_name for e in events if isinstance(e, Session.TicketGenerated)]
    assert sorted(drafted) == sorted(set(drafted))
    assert other.queue.state(str(task_id)) == "completed"
    doc = other.store.get("sessions", str(session_id))
    assert doc is not None
    assert doc["generation"]["generated"] == 5
