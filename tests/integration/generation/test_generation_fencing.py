"""Generation runs are fenced like export runs: a worker that lost its task (paused past
its lease) and comes back records nothing more and pays the LLM for no entity again."""

from __future__ import annotations

import re
import threading
from collections import Counter
from pathlib import Path

import pytest

from application.generation.run import GenerationRunner
from application.progress import Progress
from domain.session import Session
from infrastructure.llm.openai_stub import StubServer, StubState
from interfaces.bootstrap import bootstrap
from tests.conftest import make_settings
from tests.integration.generation.test_generation_runs import ALICE, generated_events, new_session

CONFIG_NAME = re.compile(r"^config_name:\s*(\S+)", re.MULTILINE)


def test_a_paused_worker_whose_task_was_taken_over_calls_the_llm_for_no_entity_again(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with StubServer(StubState(latency_s=0.01)) as stub:
        settings = make_settings(
            backend,
            tmp_path,
            request,
            OPENAI_BASE_URL=stub.base_url,
            OPENAI_API_KEY="test",
            TICKETFORGE_EMBEDDED_WORKERS=0,  # the test runs the two workers' runs itself
        )
        container = bootstrap(settings)
        # Worker A stops dead after its fifth ticket (as a process stopped by the
        # kernel, or a long GC pause, would), past its lease.
        paused, resume = threading.Event(), threading.Event()
        try:
            session_id = new_session(container)
            task_id, _, _ = container.app.request_generation(session_id, "openai:m", ALICE)
            entities = [
                e.config_name for e in container.app.load_session(session_id).entities_in_order()
            ]

            def stall(progress: Progress) -> None:
                if progress.completed == 5:
                    paused.set()
                    resume.wait(60)

            first = GenerationRunner(container.app, container.drafter_for, concurrency=1)
            outcome: list[str] = []
            worker_a = threading.Thread(
                target=lambda: outcome.append(first.run(session_id, task_id, stall))
            )
            worker_a.start()
            assert paused.wait(30)

            # Worker B is handed the task and finishes it.
            second = GenerationRunner(container.app, container.drafter_for, concurrency=4)
            assert second.run(session_id, task_id) == "completed"

            resume.set()  # A wakes up
            worker_a.join(30)
            assert outcome == ["superseded"]

            calls = Counter(
                found.group(1)
                for r in stub.state.chat_requests
                if (found := CONFIG_NAME.search(r.prompt)) is not None
            )
            assert len(stub.state.chat_requests) == len(entities) == 49
            assert calls == Counter(entities)  # one call per entity
            recorded = generated_events(container, session_id, task_id)
            assert sorted(recorded) == sorted(entities)  # one ticket per entity
            runs = [
                (type(e).__name__, e.run)
                for e in container.app.events.get(session_id)
                if isinstance(e, Session.GenerationStarted | Session.GenerationResumed)
            ]
            assert runs == [("GenerationStarted", 1), ("GenerationResumed", 2)]
            session = container.app.load_session(session_id)
            assert session.generation is not None
            assert (session.generation.status, session.generation.runs) == ("completed", 2)
        finally:
            resume.set()
            container.close()


def test_a_superseded_run_records_nothing_even_when_its_draft_was_already_paid(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The one call that can be paid twice is one already sent when the takeover
    happens; its answer is dropped, not recorded over the new run's ticket."""
    with StubServer(StubState(latency_s=0.01)) as stub:
        settings = make_settings(
            backend,
            tmp_path,
            request,
            OPENAI_BASE_URL=stub.base_url,
            OPENAI_API_KEY="test",
            TICKETFORGE_EMBEDDED_WORKERS=0,
        )
        container = bootstrap(settings)
        in_call, resume = threading.Event(), threading.Event()
        try:
            session_id = new_session(container)
            task_id, _, _ = container.app.request_generation(session_id, "openai:m", ALICE)
            base = container.drafter_for

            class SlowAnswer:
                """Worker A's drafter: its third answer comes back only after the takeover."""

                def __init__(self) -> None:
                    self.inner = base("openai:m")
                    self.calls = 0
                    self.name = self.inner.name

                def check_health(self) -> None:
                    self.inner.check_health()

                def draft(self, request: object) -> object:
                    self.calls += 1
                    answer = self.inner.draft(request)  # type: ignore[arg-type]
                    if self.calls == 3:
                        in_call.set()
                        resume.wait(60)
                    return answer

            slow = SlowAnswer()
            first = GenerationRunner(container.app, lambda _: slow, concurrency=1)  # type: ignore[arg-type,return-value]
            outcome: list[str] = []
            worker_a = threading.Thread(
                target=lambda: outcome.append(first.run(session_id, task_id))
            )
            worker_a.start()
            assert in_call.wait(30)
            second = GenerationRunner(container.app, container.drafter_for, concurrency=4)
            assert second.run(session_id, task_id) == "completed"
            before = container.app.load_session(session_id).version
            resume.set()
            worker_a.join(30)
            assert outcome == ["superseded"]
            assert container.app.load_session(session_id).version == before  # nothing recorded
            assert len(stub.state.chat_requests) == 50  # 49 entities, the third one twice
        finally:
            resume.set()
            container.close()
