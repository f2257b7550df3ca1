"""The JetStream work queue on a real nats-server: dispatch is idempotent by task id, a
task goes to one worker at a time, a silent worker's task is redelivered after the ack
wait, a worker that keeps saying "in progress" keeps it, and an interrupted task comes
back while an ended one does not."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from application.tasks import ClaimedTask
from infrastructure.nats.embedded import NatsServerProcess
from infrastructure.nats.tasks import RETRY_DELAY_S, NatsTaskQueue

pytestmark = [pytest.mark.nats, pytest.mark.timeout(60)]

LEASE_S = 1.0
KINDS = ["generation", "export"]


@pytest.fixture
def queues(nats_server: NatsServerProcess) -> Iterator[list[NatsTaskQueue]]:
    """Two workers' queues (as two processes would have) on one server."""
    made = [
        NatsTaskQueue(lambda: nats_server.url, lease_s=LEASE_S, poll_s=0.2, name=f"q{i}")
        for i in range(2)
    ]
    for queue in made:
        queue.start()
        assert queue.wait_connected(10)
    try:
        yield made
    finally:
        for queue in made:
            queue.close()


def claim_within(queue: NatsTaskQueue, seconds: float, kinds: list[str] = KINDS) -> ClaimedTask:
    deadline = time.monotonic() + seconds
    while True:
        task = queue.claim("w", kinds, LEASE_S)
        if task is not None:
            return task
        assert time.monotonic() < deadline, "no task came"


def nothing_within(queue: NatsTaskQueue, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        task = queue.claim("w", KINDS, LEASE_S)
        assert task is None, f"unexpected delivery of {task}"


def test_a_task_dispatched_twice_is_delivered_once_with_its_fields(
    queues: list[NatsTaskQueue],
) -> None:
    first, second = queues
    first.dispatch("t-1", "export", "s-1", {"export_id": "e-1"})
    first.dispatch("t-1", "export", "s-1", {"export_id": "e-1"})  # a retried batch
    task = claim_within(second, 5)
    assert (task.task_id, task.kind, task.session_id, task.payload, task.attempts) == (
        "t-1",
        "export",
        "s-1",
        {"export_id": "e-1"},
        1,
    )
    assert first.status()["duplicates_dropped"] == 1
    second.release(task.task_id, "w", done=True)
    nothing_within(first, LEASE_S * 2)
    nothing_within(second, 0.5)


def test_a_silent_workers_task_goes_to_another_after_the_ack_wait(
    queues: list[NatsTaskQueue],
) -> None:
    first, second = queues
    first.dispatch("t-2", "generation", "s-2", {})
    claimed = claim_within(first, 5)
    assert claimed.task_id == "t-2"
    # `first` dies: no in-progress, no ack. Nobody gets it before the ack wait ...
    nothing_within(second, LEASE_S * 0.6)
    # ... then `second` does, as a redelivery.
    again = claim_within(second, LEASE_S * 3)
    assert (again.task_id, again.attempts) == ("t-2", 2)
    second.release(again.task_id, "w", done=True)


def test_a_worker_saying_in_progress_keeps_its_task(queues: list[NatsTaskQueue]) -> None:
    first, second = queues
    first.dispatch("t-3", "export", "s-3", {"export_id": "e-3"})
    claimed = claim_within(first, 5)
    deadline = time.monotonic() + LEASE_S * 3
    while time.monotonic() < deadline:  # three ack waits, renewed every third of one
        assert first.renew(claimed.task_id, "w", LEASE_S)
        assert second.claim("w", KINDS, LEASE_S) is None  # waits up to poll_s
    first.release(claimed.task_id, "w", done=True)
    nothing_within(second, LEASE_S * 1.5)


def test_an_interrupted_task_comes_back_and_an_unknown_kind_is_left_to_others(
    queues: list[NatsTaskQueue],
) -> None:
    first, second = queues
    first.dispatch("t-4", "export", "s-4", {"export_id": "e-4"})
    # A worker that does not run exports hands it back at once ...
    assert first.claim("w", ["generation"], LEASE_S) is None
    # ... and one that does gets it; it stops (interrupted): the task comes back.
    claimed = claim_within(second, RETRY_DELAY_S + 3, ["export"])
    second.release(claimed.task_id, "w", done=False)
    again = claim_within(first, RETRY_DELAY_S + 3)
    assert again.task_id == "t-4" and again.attempts >= 2
    first.release(again.task_id, "w", done=True)
    nothing_within(second, LEASE_S * 1.5)
