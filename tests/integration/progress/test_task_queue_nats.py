"""What only the JetStream work queue does, on a real nats-server: duplicates are counted,
a worker cut off from the server gives its task up in time, retries back off, and the
tasks NATS lost with its store are handed out again. What every task queue does (leases,
redelivery, kinds) is `tests/integration/contracts/test_task_queue_contract.py`."""

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


def test_a_server_that_may_have_lost_its_last_tasks_gets_them_again_on_start(
    nats_server: NatsServerProcess,
) -> None:
    """Our embedded server syncs its store periodically: after an OS crash the stream is
    there but its last messages may not be. On start, a process that runs it hands every
    unfinished task out again (one lease later): the lost one comes back, the kept one is
    dropped as a duplicate, so each is delivered once."""
    from application.tasks import ClaimedTask as Task

    before = NatsTaskQueue(lambda: nats_server.url, lease_s=LEASE_S, poll_s=0.2, name="q-old")
    before.start()
    try:
        assert before.wait_connected(10)
        before.dispatch("t-kept", "export", "s-7", {"export_id": "e-7"})  # the stream exists
    finally:
        before.close()

    kept = Task("t-kept", "export", "s-7", {"export_id": "e-7"}, 0)
    lost = Task("t-lost", "export", "s-8", {"export_id": "e-8"}, 0)  # never reached the disk
    queue = NatsTaskQueue(lambda: nats_server.url, lease_s=LEASE_S, poll_s=0.2, name="q-new")
    queue.redispatch_on_start = True
    queue.open_tasks = lambda: [kept, lost]
    queue.start()
    try:
        assert queue.wait_connected(10)
        # Each is finished as soon as it is claimed: held past its (short) lease, it
        # would be delivered again, which is JetStream's redelivery, not ours.
        got = []
        for within in (5, LEASE_S + 10):
            task = claim_within(queue, within)
            queue.release(task.task_id, "w", done=True)
            got.append(task.task_id)
        assert sorted(got) == ["t-kept", "t-lost"]
        deadline = time.monotonic() + 5  # counted just after each publish was acknowledged
        while queue.redispatched < 2:
            assert time.monotonic() < deadline, "the open tasks were not handed out again"
            time.sleep(0.01)
        assert queue.duplicates >= 1  # the kept one
        nothing_within(queue, LEASE_S * 1.5)
    finally:
        queue.close()
