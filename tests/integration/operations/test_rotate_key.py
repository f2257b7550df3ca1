"""`ticketforge rotate-key`: killed halfway and run again, every event and snapshot ends
readable with the new key only; it will not start while the system runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.utils import Environment
from pydantic import SecretStr

from application.operations.port import StoredHistory
from application.operations.rekey import KeyRotationError, StoreInUseError
from application.sessions import TicketForge
from bench.projections import inventory_entities, write_session
from infrastructure.backup.postgres import PostgresHistory
from infrastructure.backup.sqlite import SqliteHistory
from interfaces.bootstrap import bootstrap, operations, rotate_key
from interfaces.settings import Settings
from tests.conftest import make_settings
from tests.integration.operations.test_restore_refusals import environment

OLD, NEW = AESCipher.create_key(32), AESCipher.create_key(32)
VENV_BIN = Path(sys.executable).parent


def cipher(key: str) -> AESCipher:
    return AESCipher(Environment(env={"CIPHER_KEY": key}))


def history(settings: Settings) -> StoredHistory:
    if settings.uses_postgres:
        return PostgresHistory(
            settings.postgres_conninfo(),
            schema="public",
            events_table="ticketforge_events",
            snapshots_table="ticketforge_snapshots",
        )
    return SqliteHistory(settings.data_dir / "events.db", settings.data_dir / "readmodels.db")


def opens_with(settings: Settings) -> dict[str, dict[str, int]]:
    """For events and snapshots: how many states each key decrypts."""
    keys = {"old": cipher(OLD), "new": cipher(NEW)}
    counts = {kind: {"old": 0, "new": 0} for kind in ("events", "snapshots")}
    with history(settings).image() as image:
        for kind, batches in (("events", image.events(1000)), ("snapshots", image.snapshots(50))):
            for batch in batches:
                for state in batch.state_list():
                    for name, key in keys.items():
                        try:
                            key.decrypt(state)
                        except ValueError:
                            continue
                        counts[kind][name] += 1
    return counts


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """A store encrypted with OLD: three sessions of 1,500 events, snapshots every 200."""
    settings = make_settings(backend, tmp_path, request, CIPHER_KEY=OLD)
    app = TicketForge(env=settings.eventsourcing_env())
    parsed = inventory_entities()
    for _ in range(3):
        write_session(app, 1500, parsed)
    app.close()
    return settings


def run_cli(settings: Settings, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **environment(settings), "CIPHER_KEY_NEW": NEW}
    return subprocess.Popen(
        [str(VENV_BIN / "ticketforge"), "rotate-key", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_killed_halfway_and_run_again_every_event_is_readable_with_the_new_key_only(
    settings: Settings,
) -> None:
    before = opens_with(settings)
    assert before["events"] == {"old": 4500, "new": 0}
    assert before["snapshots"]["old"] >= 3 and before["snapshots"]["new"] == 0

    process = run_cli(settings, "--batch-size", "50")
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("re-encrypting events: ") and not line.startswith(
            "re-encrypting events: 0/"
        ):
            break
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert process.returncode == -signal.SIGKILL, "".join(lines)

    halfway = opens_with(settings)["events"]
    assert halfway["new"] > 0 and halfway["old"] > 0, halfway  # really interrupted
    assert halfway["new"] + halfway["old"] == 4500  # every row whole, under one key

    again = run_cli(settings)
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output
    assert "Set CIPHER_KEY to that key" in output

    after = opens_with(settings)
    assert after["events"] == {"old": 0, "new": 4500}
    assert after["snapshots"] == {"old": 0, "new": before["snapshots"]["old"]}

    # The application reads everything with the new key, and verify agrees.
    container = bootstrap(Settings(**{**environment(settings), "CIPHER_KEY": NEW}))  # type: ignore[arg-type]
    try:
        report = operations(container).verify_store()
        decoding = [f for f in report.findings if f.check == "decoding"]
        assert decoding and decoding[0].level == "ok", report.findings
        assert all(f.level != "error" for f in report.findings if f.check in ("ids", "versions"))
    finally:
        container.close()


def test_it_refuses_to_start_while_the_system_runs(settings: Settings) -> None:
    running = bootstrap(settings.model_copy(update={"embedded_workers": 0}), start=True)
    try:
        assert running.leases is not None
        deadline = time.monotonic() + 10
        while not running.leases.leaders() and time.monotonic() < deadline:
            time.sleep(0.05)
        with_new = settings.model_copy(update={"cipher_key_new": SecretStr(NEW)})
        with pytest.raises(StoreInUseError, match="Other processes are using the event store"):
            rotate_key(with_new, lambda *_: None)
    finally:
        running.close()
    assert opens_with(settings)["events"] == {"old": 4500, "new": 0}


def test_a_store_without_a_key_is_encrypted_and_one_whose_key_is_missing_is_left_alone(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    plain = make_settings(backend, tmp_path / "plain", request)
    app = TicketForge(env=plain.eventsourcing_env())
    session_id = write_session(app, 450, inventory_entities())  # a snapshot at 200 and 400
    expected = app.load_session(session_id)
    app.close()

    # A store that is encrypted, rotated without its key: refused, nothing changed.
    encrypted = make_settings(backend, tmp_path / "encrypted", request, CIPHER_KEY=OLD)
    app = TicketForge(env=encrypted.eventsourcing_env())
    write_session(app, 50, inventory_entities())
    app.close()
    keyless = encrypted.model_copy(update={"cipher_key": None, "cipher_key_new": SecretStr(NEW)})
    with pytest.raises(KeyRotationError, match="CIPHER_KEY is not set"):
        rotate_key(keyless, lambda *_: None)
    assert opens_with(encrypted)["events"] == {"old": 50, "new": 0}

    # The plain store: encrypted with the new key, readable with it alone.
    report = rotate_key(plain.model_copy(update={"cipher_key_new": SecretStr(NEW)}), print)
    assert report.rotated == {"events": 450, "snapshots": 2}
    assert opens_with(plain) == {
        "events": {"old": 0, "new": 450},
        "snapshots": {"old": 0, "new": 2},
    }
    reader = TicketForge(
        env=plain.model_copy(update={"cipher_key": SecretStr(NEW)}).eventsourcing_env()
    )
    try:
        loaded = reader.load_session(session_id)
        assert loaded.version == expected.version and loaded.tickets == expected.tickets
    finally:
        reader.close()
