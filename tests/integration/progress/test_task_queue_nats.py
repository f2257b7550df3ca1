"""The JetStream work queue on a real nats-server: dispatch is idempotent by task id, a
task goes to one worker at a time, a silent worker's task is redelivered after the ack
wait, a worker that keeps saying "in progress" keeps it, and an interrupted task comes
back while an ended one does not."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from application.tasks import ClaimedTask
from infrastructure.nats.embedded import NatsServerProcess
from infrastructure.nats.tasks import NatsTaskQueue, retry_delay

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
    claimed = claim_within(second, retry_delay(1) + 3, ["export"])
    second.release(claimed.task_id, "w", done=False)
    again = claim_within(first, retry_delay(claimed.attempts) + 3)
    assert again.task_id == "t-4" and again.attempts >= 2
    first.release(again.task_id, "w", done=True)
    nothing_within(second, LEASE_S * 1.5)


def test_a_worker_whose_renewals_go_unanswered_gives_its_task_up_in_time(
    queues: list[NatsTaskQueue], nats_server: NatsServerProcess
) -> None:
    """A link that dies silently: the client still thinks it is connected, but the
    server answers nothing (here: the server is frozen with SIGSTOP). The worker must
    stop within about half a lease of its last confirmed renewal, not go on while
    JetStream hands its task to another worker."""
    first, _ = queues
    first.dispatch("t-5", "export", "s-5", {"export_id": "e-5"})
    claimed = claim_within(first, 5)
    assert first.renew(claimed.task_id, "w", LEASE_S)  # answered: the lease is extended
    assert nats_server.pid is not None
    os.kill(nats_server.pid, signal.SIGSTOP)
    try:
        assert first.connection.connected  # nothing tells the client the link is dead
        results = [first.renew(claimed.task_id, "w", LEASE_S) for _ in range(3)]
    finally:
        os.kill(nats_server.pid, signal.SIGCONT)
    assert results[-1] is False and True not in results[1:], results
    assert first.state(claimed.task_id) is None  # given up: no longer shown as running
    assert not first.renew(claimed.task_id, "w", LEASE_S)


def test_retry_delays_grow_with_each_delivery_up_to_a_minute() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert retry_delay(50) == 60.0


def test_tasks_nats_lost_with_its_store_are_handed_out_again(
    nats_server: NatsServerProcess,
) -> None:
    """NATS comes back without its store (a lost volume): the stream is created anew and,
    one lease later, every unfinished task the read models know of is dispatched again,
    exactly once however many times it is asked."""
    import shutil

    from application.tasks import ClaimedTask as Task

    open_now = [Task("t-6", "export", "s-6", {"export_id": "e-6"}, 0)]
    queue = NatsTaskQueue(lambda: nats_server.url, lease_s=LEASE_S, poll_s=0.2, name="q-lost")
    queue.open_tasks = lambda: open_now
    queue.start()
    try:
        assert queue.wait_connected(10)
        queue.dispatch("t-6", "export", "s-6", {"export_id": "e-6"})  # stream created
        first = claim_within(queue, 5)
        assert first.task_id == "t-6"  # a worker has it ... and NATS loses everything
        nats_server.kill()
        shutil.rmtree(nats_server.store_dir / "store")
        nats_server.start()
        assert queue.wait_connected(10)
        again = claim_within(queue, LEASE_S + 10)  # the claim re-creates the stream
        assert (again.task_id, again.payload) == ("t-6", {"export_id": "e-6"})
        deadline = time.monotonic() + 5  # counted just after the publish was acknowledged
        while queue.redispatched < 1:
            assert time.monotonic() < deadline, "the task did not come back by re-dispatch"
            time.sleep(0.01)
        queue.release(again.task_id, "w", done=True)
        nothing_within(queue, LEASE_S * 1.5)
    finally:
        queue.close()
