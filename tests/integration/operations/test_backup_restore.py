"""Backup on one backend, restore on either: the API answers the same afterwards, field by
field, and an export retried after the restore creates nothing twice in Jira."""

from __future__ import annotations

from pathlib import Path

import pytest

from application.operations import backup as backup_module
from application.users import User
from interfaces.bootstrap import Container, operations, rebuild_after_restore
from tests.integration.export.support import (
    ALICE,
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    wait_export,
)
from tests.integration.operations.support import (
    api_answers,
    container_on,
    differences,
    fill_history,
)

TARGETS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def stored_rows(container: Container) -> list[tuple[int, str, int, str]]:
    """Every stored event as (notification id, originator, version, topic)."""
    rows = []
    position = 0
    while batch := container.app.recorder.select_notifications(
        position, 1000, inclusive_of_start=False
    ):
        rows += [(n.id, str(n.originator_id), n.originator_version, n.topic) for n in batch]
        position = batch[-1].id
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_restored_on_either_backend_the_api_answers_the_same_and_a_retry_duplicates_nothing(
    backend: str, target: str, tmp_path: Path, request: pytest.FixtureRequest, sandbox: Sandbox
) -> None:
    file = tmp_path / "history.tfb"
    with container_on(backend, tmp_path / "source", request, sandbox) as source:
        ids = fill_history(source, sandbox)
        _, token = source.users.create("alice", True)
        manifest, size = operations(source).backup(file)
        source_rows = stored_rows(source)
        assert manifest.position == source_rows[-1][0] == source.app.head_position()
        before = api_answers(
            source, token, ids, manifest.position
        )  # its admin views record events: after
        assert manifest.events == len(source_rows) and manifest.users == 1
        assert size == file.stat().st_size
    created_before = sandbox.stats()["issues_created"]
    assert created_before == 2 * 49

    with container_on(target, tmp_path / "target", request, sandbox) as restored:
        assert operations(restored).restore(file) == manifest
        rebuilt: list[str] = []
        rebuild_after_restore(restored, lambda name, _: rebuilt.append(name))
        assert "sessions" in rebuilt and "audit" in rebuilt
        # Positions and versions exactly as they were.
        assert stored_rows(restored) == source_rows
        assert restored.app.head_position() == manifest.position
        # The same bearer token works (its hash was restored).
        after = api_answers(restored, token, ids, manifest.position)
        assert differences(before, after) == []

        # The failed export, retried after the restore: nothing twice in Jira.
        restored.start()
        _, result = restored.app.retry_export(ids["failed"], ALICE)
        assert result.position is not None and result.position > manifest.position
        restored.wrote(result.position)
        export = wait_export(restored, ids["failed_export"], 30, ended=("completed",))
        issues = assert_no_duplicates(sandbox, export)
        assert_links_once(issues, export)
        assert sandbox.stats()["issues_created"] == created_before


def test_a_backup_is_consistent_to_its_position_while_the_system_writes(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events (and a snapshot) written while the backup reads are after its position, and
    none of them is in the file."""
    from tests.integration.export.support import prepare_session

    monkeypatch.setattr(backup_module, "EVENT_BATCH", 20)
    file = tmp_path / "live.tfb"
    with container_on(backend, tmp_path / "source", request, sandbox) as source:
        session_id = prepare_session(source)
        head = source.app.head_position()
        ticket = next(iter(source.app.load_session(session_id).tickets))
        writes: list[int] = []

        def write_meanwhile(stage: str, done: int, total: int | None) -> None:
            if stage == "events" and done and not writes:
                session = source.app.load_session(session_id)
                while session.version < 210:  # past 200: a snapshot is taken too
                    session.edit_ticket(ticket, {"title": f"Title {session.version}"}, None, "bob")
                source.app.save(session)
                writes.append(source.app.head_position())

        manifest, _ = operations(source).backup(file, progress=write_meanwhile)
        assert writes and writes[0] > head
        assert manifest.position == head
        snapshots = source.app.snapshots
        assert snapshots is not None and list(snapshots.get(session_id))  # taken meanwhile
        assert manifest.snapshots == 0
        expected = [r for r in stored_rows(source) if r[0] <= head]
    with container_on(backend, tmp_path / "target", request, sandbox) as restored:
        operations(restored).restore(file)
        assert stored_rows(restored) == expected
        report = operations(restored).verify_file(file)
        assert report.ok, report.findings
        versions = [r[2] for r in expected if r[1] == str(session_id)]
        assert restored.app.load_session(session_id).version == versions[-1] < 200


def test_users_and_snapshots_come_back_and_new_events_follow_the_restored_ids(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, sandbox: Sandbox
) -> None:
    """A session past its snapshot interval: the snapshot is restored and used, the next
    command's event takes the id after the restored ones."""
    from tests.integration.export.support import prepare_session

    file = tmp_path / "snap.tfb"
    with container_on(backend, tmp_path / "source", request, sandbox) as source:
        session_id = prepare_session(source, "nestwatch", validate=False)
        assert source.app.snapshots is not None and list(source.app.snapshots.get(session_id))
        source.users.create("carol", False)
        _, token = source.users.create("dave", True)
        expected = source.app.load_session(session_id)
        manifest, _ = operations(source).backup(file)
        assert manifest.snapshots >= 1 and manifest.users == 2
    with container_on(backend, tmp_path / "target", request, sandbox) as restored:
        operations(restored).restore(file)
        assert restored.users.authenticate(token) == User("dave", True)
        snapshots = restored.app.snapshots
        assert snapshots is not None and len(list(snapshots.get(session_id))) == manifest.snapshots
        session = restored.app.load_session(session_id)
        assert session.version == expected.version and session.tickets == expected.tickets
        result = restored.app.create_session(
            name="after",
            site={"site_name": "x"},
            jira_project_key="NW",
            issue_type="Task",
            user=ALICE,
        )
        assert result.position == manifest.position + 1
