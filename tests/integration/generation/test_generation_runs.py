"""Generation runs end to end: worker, queue, drafter (offline and a real OpenAI-compatible
server on loopback), progress, cancellation, retry, and hand-off across a restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

import pytest

from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from application.progress import Progress
from application.users import User
from domain.session import Session
from infrastructure.llm.openai_stub import StubServer, StubState
from interfaces.bootstrap import Container, bootstrap
from tests.conftest import make_settings

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
ALICE = User("alice")


def inventory(site: str) -> list[UploadedFile]:
    folder = SAMPLES / site / "inventory"
    return [UploadedFile(p.name, p.read_bytes()) for p in sorted(folder.glob("*.csv"))]


def new_session(container: Container, site: str = "small-site") -> UUID:
    result = container.app.create_session(
        name="gen", site={"site_name": site}, jira_project_key="TF", issue_type="Task", user=ALICE
    )
    container.app.upload_inventory(result.session_id, parse_inventory(inventory(site)), ALICE)
    return result.session_id


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def run_status(container: Container, session_id: UUID) -> str:
    run = container.app.load_session(session_id).generation
    return run.status if run else "none"


def generated_events(container: Container, session_id: UUID, task_id: UUID) -> list[str]:
    events = container.app.events.get(session_id)
    return [
        e.config_name
        for e in events
        if isinstance(e, Session.TicketGenerated) and e.task_id == task_id
    ]


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer(StubState(latency_s=0.01)) as server:
        yield server


@pytest.fixture
def llm_container(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, stub: StubServer
) -> Iterator[Container]:
    settings = make_settings(
        backend,
        tmp_path,
        request,
        TICKETFORGE_GENERATOR="openai",
        OPENAI_BASE_URL=stub.base_url,
        OPENAI_API_KEY="test",
        OPENAI_MODEL="stub-model",
    )
    container = bootstrap(settings, start=True)
    yield container
    container.close()


def test_offline_generation_of_nestwatch_reaches_100_percent(container: Container) -> None:
    container.start()
    session_id = new_session(container, "nestwatch")
    seen: list[Progress] = []
    container.progress_listeners.append(seen.append)
    task_id, already, result = container.app.request_generation(session_id, "offline", ALICE)
    assert not already
    container.wrote(result.position)
    wait_until(lambda: run_status(container, session_id) == "completed")
    session = container.app.load_session(session_id)
    assert len(session.tickets) == 235
    assert {t.generator for t in session.tickets.values()} == {"offline"}
    assert seen and seen[-1].percentage == 100.0
    assert [p.percentage for p in seen] == sorted(p.percentage for p in seen)
    assert len(generated_events(container, session_id, task_id)) == 235
    container.settle()
    doc = container.store.get("sessions", str(session_id))
    assert doc is not None and doc["stage"] == "review"
    assert doc["generation"]["generated"] == 235


def test_second_request_while_running_returns_the_running_task(container: Container) -> None:
    session_id = new_session(container)
    first, already1, _ = container.app.request_generation(session_id, "offline", ALICE)
    second, already2, _ = container.app.request_generation(session_id, "offline", ALICE)
    assert (already1, already2) == (False, True)
    assert first == second


def test_llm_generation_records_usage_and_generator(
    llm_container: Container, stub: StubServer
) -> None:
    session_id = new_session(llm_container)
    _, _, result = llm_container.app.request_generation(session_id, "openai:stub-model", ALICE)
    llm_container.wrote(result.position)
    wait_until(lambda: run_status(llm_container, session_id) == "completed")
    session = llm_container.app.load_session(session_id)
    assert len(session.tickets) == 49
    assert {t.generator for t in session.tickets.values()} == {"openai:stub-model"}
    assert all(t.usage.get("total_tokens", 0) > 0 for t in session.tickets.values())
    llm_container.settle()
    doc = llm_container.store.get("sessions", str(session_id))
    assert doc is not None
    assert doc["tokens"]["total_tokens"] == sum(
        t.usage["total_tokens"] for t in session.tickets.values()
    )
    assert len(stub.state.chat_requests) >= 49


def test_an_entity_that_keeps_failing_is_recorded_and_the_run_goes_on(
    llm_container: Container, stub: StubServer
) -> None:
    stub.state.add_fault("missing_field", match="system.menu.footer", times=10)
    session_id = new_session(llm_container)
    _, _, result = llm_container.app.request_generation(session_id, "openai:stub-model", ALICE)
    llm_container.wrote(result.position)
    wait_until(lambda: run_status(llm_container, session_id) == "completed")
    run = llm_container.app.load_session(session_id).generation
    assert run is not None
    assert run.generated == 48 and run.failed == 1
    assert run.errors[0]["config_name"] == "system.menu.footer"
    assert run.errors[0]["category"] == "invalid_response"


def test_cancel_stops_between_entities(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with StubServer(StubState(latency_s=0.2)) as slow:
        settings = make_settings(
            backend,
            tmp_path,
            request,
            OPENAI_BASE_URL=slow.base_url,
            OPENAI_API_KEY="test",
            TICKETFORGE_GENERATION_CONCURRENCY=2,
        )
        container = bootstrap(settings, start=True)
        try:
            session_id = new_session(container, "nestwatch")
            _, _, result = container.app.request_generation(session_id, "openai:m", ALICE)
            container.wrote(result.position)
            wait_until(lambda: len(container.app.load_session(session_id).tickets) >= 3)
            container.app.cancel_generation(session_id, ALICE)
            assert run_status(container, session_id) == "cancelled"
            time.sleep(1.0)  # in-flight drafts finish; none may be recorded after the cancel
            count = len(container.app.load_session(session_id).tickets)
            assert 3 <= count < 235
            time.sleep(0.5)
            assert len(container.app.load_session(session_id).tickets) == count
        finally:
            container.close()


def test_retry_discards_the_failed_runs_tickets_and_is_limited(
    llm_container: Container, stub: StubServer
) -> None:
    stub.state.add_fault("missing_field", times=10_000)
    session_id = new_session(llm_container)
    _, _, result = llm_container.app.request_generation(session_id, "openai:stub-model", ALICE)
    llm_container.wrote(result.position)
    wait_until(lambda: run_status(llm_container, session_id) == "failed")
    assert llm_container.app.load_session(session_id).stage == "processing_failed"

    stub.state.clear_faults()
    retry_id, _, result = llm_container.app.request_generation(
        session_id, "openai:stub-model", ALICE, retry=True
    )
    llm_container.wrote(result.position)
    wait_until(lambda: run_status(llm_container, session_id) == "completed")
    session = llm_container.app.load_session(session_id)
    assert len(session.tickets) == 49
    assert len(generated_events(llm_container, session_id, retry_id)) == 49


def test_accepted_work_survives_a_restart_and_resumes_without_duplicates(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with StubServer(StubState(latency_s=0.05)) as slow:
        settings = make_settings(
            backend,
            tmp_path,
            request,
            OPENAI_BASE_URL=slow.base_url,
            OPENAI_API_KEY="test",
            TICKETFORGE_GENERATION_CONCURRENCY=2,
            TICKETFORGE_TASK_LEASE_S=1.0,
        )
        first = bootstrap(settings, start=True)
        session_id = new_session(first)
        task_id, _, result = first.app.request_generation(session_id, "openai:m", ALICE)
        first.wrote(result.position)
        wait_until(lambda: len(first.app.load_session(session_id).tickets) >= 5)
        first.close()  # the process goes away mid-run, holding a lease

        second = bootstrap(settings, start=True)
        try:
            assert run_status(second, session_id) == "running"
            wait_until(lambda: run_status(second, session_id) == "completed")
            names = generated_events(second, session_id, task_id)
            assert len(names) == 49
            assert len(set(names)) == 49
        finally:
            second.close()
