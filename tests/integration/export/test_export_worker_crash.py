"""A worker process killed with SIGKILL in the middle of an export, for real.

`ticketforge worker` runs as a subprocess on the same event store and task queue as the
test (the test's own container runs no worker). Once Jira has some of the issues, the
worker is killed; a new worker takes the task over when its lease runs out and resumes
the export. Afterwards Jira must hold exactly one issue per ticket and one "Blocks" link
per dependency, whatever moment the kill hit (even between Jira's answer and our record).
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from domain.export import Export
from domain.session import Stage
from interfaces.bootstrap import Container
from tests.integration.export.support import (
    LEASE_S,
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    exported_events,
    prepare_session,
    retry_export,
    start_export,
    wait_export,
    wait_until,
)
from tests.support.workers import WorkerProcesses, worker_env


@pytest.mark.slow  # two worker processes, 235 issues and 269 links at 30 ms per request
def test_worker_killed_mid_export_is_resumed_by_another_without_duplicates(
    queue_only_container: Container, slow_sandbox: Sandbox, tmp_path: Path
) -> None:
    container, sandbox = queue_only_container, slow_sandbox
    workers = WorkerProcesses(
        worker_env(container.settings, sandbox.server, None, LEASE_S), tmp_path
    )
    try:
        container.start()  # projector only: it hands the tasks to the queue
        first = workers.spawn()
        session_id = prepare_session(container, "nestwatch", by_worker=True)
        started = start_export(container, session_id)
        wait_until(
            lambda: sandbox.stats()["issues_created"] > 0 or first.poll() is not None,
            30,
            "the first worker to create issues",
        )
        assert first.poll() is None, workers.output()
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL

        at_kill = container.app.load_export(started.export_id)
        created_at_kill = sandbox.stats()["issues_created"]
        assert at_kill.status == "running", at_kill.failure  # it died mid-export
        assert 0 < created_at_kill < 235
        assert len(at_kill.issues) <= created_at_kill

        workers.spawn()  # takes the task over once the dead worker's lease runs out
        export = wait_export(container, started.export_id, timeout=40)
        if export.status == "failed":
            retry_export(container, session_id)
            export = wait_export(container, started.export_id, timeout=40, ended=("completed",))
        assert export.status == "completed", (export.failure, workers.output())
    finally:
        workers.stop_all()

    assert export.runs >= 2
    runners = {e.worker for e in exported_events(container, export.id, Export.ExportStarted)}
    assert len(runners) >= 2
    assert container.app.load_session(session_id).stage == Stage.COMPLETED
    issues = assert_no_duplicates(sandbox, export)
    assert len(issues) == 235
    assert_links_once(issues, export)
    stats = sandbox.stats()
    assert stats["issues_created"] == 235, "an issue was created twice"
    assert stats["links_created"] == 269
