"""A generation run's number: a start is run 1, each worker taking over the next (issue 19)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.errors import ConflictError
from domain.session import Session
from tests.unit.domain.test_session import bundle, new_session


def test_each_start_or_resume_records_the_next_run_number() -> None:
    session = new_session()
    session.upload_inventory(
        [{"kind": "bundles", "file_name": "b.csv", "rows": 1}], [bundle("page")], [], "alice"
    )
    task = uuid4()
    session.request_generation(task, "offline", "alice")
    assert session.generation is not None and session.generation.runs == 0
    with pytest.raises(ConflictError):
        session.resume_generation(task, "worker")  # not started: nothing to resume
    session.start_generation(task, 1, "worker")
    assert session.resume_generation(task, "worker-2") == 2  # another worker takes over
    assert session.resume_generation(task, "worker-3") == 3
    runs = [
        (type(e).__name__, e.run)
        for e in session.pending_events
        if isinstance(e, Session.GenerationStarted | Session.GenerationResumed)
    ]
    assert runs == [("GenerationStarted", 1), ("GenerationResumed", 2), ("GenerationResumed", 3)]
    assert (session.generation.status, session.generation.runs) == ("running", 3)
    session.cancel_generation(task, "alice")
    with pytest.raises(ConflictError):
        session.resume_generation(task, "worker")  # ended: nothing to resume


def test_a_stored_start_from_before_run_numbers_is_run_1() -> None:
    state = {"task_id": uuid4(), "total": 3, "actor": "worker"}
    Session.GenerationStarted.upcast_v1_v2(state)
    assert state["run"] == 1
    assert Session.GenerationStarted.class_version == 2
