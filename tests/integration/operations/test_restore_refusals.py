"""A restore writes nothing unless the file is whole and the store empty; verify says what
is wrong with a file or with the live store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.cipher import AESCipher
from typer.testing import CliRunner

from application.operations import backup as backup_module
from application.operations.backup import KeyMismatchError
from application.operations.port import BackupFileError, Counts, Manifest, StoreNotEmptyError
from interfaces.bootstrap import Container, operations
from interfaces.cli.main import app as cli
from interfaces.settings import Settings
from projections.sessions import TABLE as SESSIONS
from tests.integration.export.support import Sandbox, prepare_session
from tests.integration.operations.support import container_on

KEY = AESCipher.create_key(32)
OTHER_KEY = AESCipher.create_key(32)


def nothing_in(container: Container) -> None:
    assert operations(container).history.counts() == Counts(0, 0, 0)
    assert container.app.head_position() == 0


@pytest.fixture
def backup_file(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, Manifest]:
    """A backup of a reviewed session, in frames of 20 events (many frames to damage)."""
    monkeypatch.setattr(backup_module, "EVENT_BATCH", 20)
    file = tmp_path / "history.tfb"
    with container_on(backend, tmp_path / "source", request, sandbox) as source:
        prepare_session(source)
        source.users.create("alice", True)
        manifest, _ = operations(source).backup(file)
    assert manifest.events > 50
    return file, manifest


def test_restore_into_a_store_that_is_not_empty_is_refused_and_writes_nothing(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    sandbox: Sandbox,
    backup_file: tuple[Path, Manifest],
) -> None:
    file, manifest = backup_file
    with container_on(backend, tmp_path / "full", request, sandbox) as target:
        operations(target).restore(file)
        before = operations(target).history.counts()
        with pytest.raises(StoreNotEmptyError, match="not empty"):
            operations(target).restore(file)
        assert operations(target).history.counts() == before
        assert target.app.head_position() == manifest.position
    with container_on(backend, tmp_path / "a-user", request, sandbox) as target:
        target.users.create("early", False)  # no event, but not empty either
        with pytest.raises(StoreNotEmptyError):
            operations(target).restore(file)
        assert operations(target).history.counts() == Counts(0, 0, 1)


def _flip(data: bytearray, at: int) -> None:
    data[at] ^= 0x10


DAMAGES = {
    "a byte flipped in the middle": lambda d: _flip(d, len(d) // 2),
    "a byte flipped in the first frame's header": lambda d: _flip(d, 30),
    "a byte flipped in the manifest": lambda d: _flip(d, len(d) - 20),
    "truncated in the middle": lambda d: d.__delitem__(slice(len(d) // 2, None)),
    "truncated before the manifest": lambda d: d.__delitem__(slice(len(d) - 200, None)),
    "bytes after the manifest": lambda d: d.extend(b"\0" * 8),
    "not a backup": lambda d: d.__setitem__(slice(0, 5), b"HELLO"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_or_truncated_file_is_refused_and_nothing_is_written(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    sandbox: Sandbox,
    backup_file: tuple[Path, Manifest],
    damage: str,
) -> None:
    file, _ = backup_file
    data = bytearray(file.read_bytes())
    DAMAGES[damage](data)
    broken = tmp_path / "broken.tfb"
    broken.write_bytes(bytes(data))
    expected = (
        "truncated"
        if "truncated" in damage
        else "not a ticketforge"
        if "not" in damage
        else "damaged"
    )
    with container_on(backend, tmp_path / "target", request, sandbox) as target:
        with pytest.raises(BackupFileError, match=expected):
            operations(target).restore(broken)
        nothing_in(target)
        report = operations(target).verify_file(broken)
        assert not report.ok
        assert expected in report.findings[0].detail


def test_the_cli_says_why_and_exits_1(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    sandbox: Sandbox,
    backup_file: tuple[Path, Manifest],
) -> None:
    file, manifest = backup_file
    broken = tmp_path / "cut.tfb"
    broken.write_bytes(file.read_bytes()[:-100])
    with container_on(backend, tmp_path / "target", request, sandbox) as target:
        env = environment(target.settings)
        runner = CliRunner()
        result = runner.invoke(cli, ["restore", str(broken)], env=env)
        assert result.exit_code == 1, result.output
        assert "Nothing was restored" in result.output and "truncated" in result.output
        nothing_in(target)
        result = runner.invoke(cli, ["verify", str(file)], env=env)
        assert result.exit_code == 0, result.output
        result = runner.invoke(cli, ["restore", str(file)], env=env)
        assert result.exit_code == 0, result.output
        assert "Read models rebuilt" in result.output
        assert target.app.head_position() == manifest.position
        result = runner.invoke(cli, ["verify"], env=env)
        assert result.exit_code == 0, result.output
        result = runner.invoke(cli, ["restore", str(file)], env=env)
        assert result.exit_code == 1 and "not empty" in result.output


def environment(settings: Settings) -> dict[str, str]:
    """The environment variables that give these settings (for the CLI)."""
    env = {
        "TICKETFORGE_DATA_DIR": str(settings.data_dir),
        "TICKETFORGE_EMBEDDED_NATS": "false",
        "PERSISTENCE_MODULE": settings.persistence_module,
        "POSTGRES_DBNAME": settings.postgres_dbname,
        "POSTGRES_HOST": settings.postgres_host,
        "POSTGRES_PORT": str(settings.postgres_port),
        "POSTGRES_USER": settings.postgres_user,
        "CIPHER_KEY": settings.cipher_key.get_secret_value() if settings.cipher_key else "",
    }
    return env


def test_a_backup_stays_encrypted_and_needs_its_own_key(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, sandbox: Sandbox
) -> None:
    file = tmp_path / "secret.tfb"
    with container_on(backend, tmp_path / "source", request, sandbox, CIPHER_KEY=KEY) as source:
        session_id = prepare_session(source)
        title = next(iter(source.app.load_session(session_id).tickets.values())).title
        manifest, _ = operations(source).backup(file)
    assert manifest.encrypted and manifest.key_id
    assert title.encode() not in file.read_bytes()  # as stored: encrypted
    for root, key in (("other", OTHER_KEY), ("none", "")):
        with container_on(backend, tmp_path / root, request, sandbox, CIPHER_KEY=key) as target:
            with pytest.raises(KeyMismatchError, match="CIPHER_KEY"):
                operations(target).restore(file)
            nothing_in(target)
            report = operations(target).verify_file(file)
            assert report.ok  # intact, only not decodable here
            assert any(f.level == "warning" and f.check == "decoding" for f in report.findings)
    with container_on(backend, tmp_path / "same", request, sandbox, CIPHER_KEY=KEY) as target:
        operations(target).restore(file)
        restored = target.app.load_session(session_id)
        assert next(iter(restored.tickets.values())).title == title
        report = operations(target).verify_file(file)
        assert report.ok and any(f.check == "decoding" and f.level == "ok" for f in report.findings)


# --- verify of the live store --------------------------------------------------------


def run_sql(container: Container, statement: str) -> None:
    """Change the event store behind the application's back."""
    settings = container.settings
    if settings.uses_postgres:
        with psycopg.connect(settings.postgres_conninfo(), autocommit=True) as conn:
            conn.execute(statement.replace("stored_", "ticketforge_"))  # type: ignore[arg-type]
        return
    with sqlite3.connect(settings.data_dir / "events.db") as conn:
        conn.execute(statement.replace("notification_id", "rowid"))


def findings(container: Container) -> dict[str, Any]:
    report = operations(container).verify_store()
    return {f.check: (f.level, f.detail) for f in report.findings}


def test_verify_of_the_live_store_finds_a_lost_event_a_broken_state_and_a_wrong_read_model(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, sandbox: Sandbox
) -> None:
    with container_on(backend, tmp_path / "store", request, sandbox) as store:
        session_id = prepare_session(store)
        assert store.settle()
        found = findings(store)
        assert {level for level, _ in found.values()} == {"ok"}, found
        assert found["read model sessions"][0] == "ok"

        with store.store.transaction("sessions") as tx:  # a read model gone wrong
            doc = tx.get(SESSIONS, str(session_id))
            assert doc is not None
            tx.put(SESSIONS, str(session_id), {**doc, "name": "tampered"})
        found = findings(store)
        assert found["read model sessions"][0] == "error"
        assert "differ" in found["read model sessions"][1]

        run_sql(
            store, "UPDATE stored_events SET state = substr(state, 1, 1) WHERE notification_id = 5"
        )
        run_sql(store, "DELETE FROM stored_events WHERE notification_id = 7")
        found = findings(store)
        assert found["decoding"][0] == "error" and "event 5" in found["decoding"][1]
        assert found["versions"][0] == "error"
        assert found["ids"][0] == "error" and "7..7" in found["ids"][1]
