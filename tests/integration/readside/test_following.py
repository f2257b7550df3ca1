"""Following the store: LISTEN/NOTIFY on PostgreSQL, lag in events and seconds, leaders."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interfaces.bootstrap import Container, bootstrap
from tests.conftest import make_settings
from tests.integration.readside.support import ALICE


def create(container: Container) -> int:
    result = container.app.create_session(
        name="s", site={"site_name": "x"}, jira_project_key="TF", issue_type="Task", user=ALICE
    )
    assert result.position is not None
    return result.position


@pytest.fixture
def pg_container(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Container]:
    container = bootstrap(make_settings("postgres", tmp_path, request))
    try:
        yield container
    finally:
        container.close()


@pytest.mark.postgres
def test_postgres_wakes_the_projector_by_listen_notify(pg_container: Container) -> None:
    container = pg_container
    assert container.waker is not None
    container.projector.start(poll_interval=60.0)  # polling alone would take a minute
    container.waker.start()
    time.sleep(0.5)  # the first round and the LISTEN are done
    latencies = []
    for _ in range(5):
        written = time.monotonic()
        position = create(container)  # through the app only: no in-process nudge
        while container.store.position("sessions") < position:
            assert time.monotonic() - written < 5.0, "the NOTIFY did not wake the projector"
            time.sleep(0.002)
        latencies.append(time.monotonic() - written)
    assert max(latencies) < 2.0, latencies


def test_status_reports_lag_in_events_and_seconds(container: Container) -> None:
    create(container)
    container.settle()
    quiet = {s.name: s for s in container.projector.status()}
    assert all(s.lag_events == 0 and s.lag_seconds == 0.0 for s in quiet.values())

    first = create(container)
    create(container)
    time.sleep(0.3)
    behind = {s.name: s for s in container.projector.status()}
    for status in behind.values():
        assert status.head == first + 1
        assert status.position == first - 1
        assert status.lag_events == 2
        assert 0.3 <= status.lag_seconds < 30


def test_the_leader_is_reported(container: Container) -> None:
    container.projector.start(poll_interval=0.05)
    try:
        deadline = time.monotonic() + 10
        while len(container.projector.status()) != sum(
            1 for s in container.projector.status() if s.leading_here and s.leader
        ):
            assert time.monotonic() < deadline, container.projector.status()
            time.sleep(0.05)
        assert container.leases is not None
        assert set(container.leases.leaders()) == set(container.projector.projections)
    finally:
        container.projector.stop()
    assert container.leases.leaders() == {}


def test_waiting_for_a_position_past_the_head_never_moves_past_the_head(
    container: Container,
) -> None:
    position = create(container)
    assert container.projector.wait_for(position + 1000, timeout=0.2) is False
    assert container.store.position("sessions") == position
    later = create(container)  # the next event is still seen
    assert container.projector.wait_for(later, timeout=5)
    assert container.store.count("sessions") == 2


def test_a_failing_projection_does_not_hold_back_the_others_in_its_follower(
    container: Container,
) -> None:
    """The live follower runs live progress and the work hand-off together: with the
    bus half-broken for one of them, the other still moves on."""
    from infrastructure.eventstore import ApplicationEventSource
    from projections.base import Projection, ProjectionRunner
    from projections.progress import ProgressFollower, ProgressUnavailable
    from projections.sessions import SessionsProjection
    from projections.store import ViewTransaction

    class Broken(Projection):
        name = "broken"
        tables = ("broken_rows",)

        def process(self, event: object, tx: ViewTransaction) -> None:
            raise ProgressUnavailable("the bus refuses this one")

    class Sessions(SessionsProjection):
        name = "sessions_copy"
        tables = ("sessions_copy",)

    runner = ProjectionRunner(
        ApplicationEventSource(container.app), container.store, [Broken(), Sessions()]
    )
    position = create(container)
    with pytest.raises(ProgressUnavailable, match="refuses"):
        ProgressFollower(runner).catch_up()
    assert container.store.position("sessions_copy") >= position
    assert container.store.position("broken") == 0


@pytest.mark.postgres
def test_the_stored_function_insert_stays_off_whatever_the_environment_says(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Projections need notification ids to commit in order (the library's table lock);
    its stored-function insert skips that lock, so an operator's environment cannot
    turn it on."""
    monkeypatch.setenv("POSTGRES_ENABLE_DB_FUNCTIONS", "y")
    container = bootstrap(make_settings("postgres", tmp_path, request))
    try:
        assert container.app.recorder.datastore.enable_db_functions is False  # type: ignore[attr-defined]
    finally:
        container.close()
