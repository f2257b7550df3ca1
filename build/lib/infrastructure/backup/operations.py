"""The operations wired to the configured store: which tables, which key, which file."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Mapper

from application.operations.backup import (
    Decoder,
    key_id,
    restore_backup,
    take_backup,
)
from application.operations.batch import EventBatch
from application.operations.port import (
    BackupFileError,
    Manifest,
    ProgressReport,
    StoredHistory,
    no_progress,
)
from application.operations.rekey import BATCH as REKEY_BATCH
from application.operations.rekey import Kind, RotationReport, Side, rotate_key
from application.operations.verify import Report, verify_backup, verify_store
from application.sessions import TicketForge
from infrastructure.backup.file import BackupFileReader, BackupFileWriter
from infrastructure.backup.readmodels import ReadModelComparison
from infrastructure.eventstore import ApplicationEventSource, StoredEventDecoder
from infrastructure.sql.readmodels import SqlReadModelStore
from projections.base import Projection


def history_for(app: TicketForge, readmodels_db: Path, conninfo: str | None) -> StoredHistory:
    """The tables the application's recorders use, read and written by our own SQL."""
    recorder: Any = app.recorder
    snapshots: Any = app.snapshots.recorder if app.snapshots is not None else None
    datastore = recorder.datastore
    if getattr(datastore, "originator_id_type", "uuid") != "uuid":
        raise ValueError("backups need the library's UUID originator ids")
    snapshots_table = snapshots.events_table_name if snapshots is not None else None
    if type(recorder).__module__.startswith("eventsourcing.sqlite"):
        from infrastructure.backup.sqlite import SqliteHistory

        return SqliteHistory(
            Path(datastore.pool.db_name),
            readmodels_db,
            events_table=recorder.events_table_name,
            snapshots_table=snapshots_table or "stored_snapshots",
        )
    if type(recorder).__module__.startswith("eventsourcing.postgres") and conninfo:
        from infrastructure.backup.postgres import PostgresHistory

        return PostgresHistory(
            conninfo,
            schema=datastore.schema,
            events_table=recorder.events_table_name,
            snapshots_table=snapshots_table or f"{app.name.lower()}_snapshots",
        )
    raise ValueError(f"no backup support for {type(recorder).__name__}")


def decoder(mapper: Mapper[Any]) -> Decoder:
    """Decodes a batch as the application loads events: decrypt, decompress, upcast."""
    decode = StoredEventDecoder(mapper)

    def run(batch: EventBatch) -> None:
        decode.events(batch.uuid_rows())

    return run


def _snapshot_mapper(app: TicketForge) -> Mapper[Any]:
    return app.snapshots.mapper if app.snapshots is not None else app.mapper


class Operations:
    """Backup, restore and verify of one container's store."""

    def __init__(
        self,
        app: TicketForge,
        store: SqlReadModelStore,
        projections: Callable[[], Sequence[Projection]],
        *,
        cipher_key: str | None,
        readmodels_db: Path,
        conninfo: str | None,
    ) -> None:
        self.history = history_for(app, readmodels_db, conninfo)
        self.key_id = key_id(cipher_key)
        self.decode = decoder(app.mapper)
        self.decode_snapshots = decoder(_snapshot_mapper(app))
        self.read_models = ReadModelComparison(ApplicationEventSource(app), store, projections)

    def backup(
        self,
        path: Path,
        *,
        overwrite: bool = False,
        snapshots: bool = True,
        progress: ProgressReport = no_progress,
    ) -> tuple[Manifest, int]:
        """Write the backup; return its manifest and the file's size."""
        sink = BackupFileWriter(path, overwrite=overwrite)
        manifest = take_backup(
            self.history,
            sink,
            cipher_key_id=self.key_id,
            snapshots=snapshots,
            progress=progress,
        )
        return manifest, sink.size

    def restore(self, path: Path, *, progress: ProgressReport = no_progress) -> Manifest:
        return restore_backup(
            self.history,
            lambda: BackupFileReader(path),
            cipher_key_id=self.key_id,
            decode=self.decode,
            progress=progress,
        )

    def verify_file(self, path: Path, *, progress: ProgressReport = no_progress) -> Report:
        # Decoding needs the file's key, which its manifest (at the end) names: its first
        # event is tried first, and the rest decoded only if that one decodes.
        probe_error: str | None = None
        sections = iter(BackupFileReader(path).sections())
        with contextlib.suppress(BackupFileError):  # the check below reports it
            kind, data = next(sections, ("users", []))
            if kind == "events" and isinstance(data, EventBatch):
                try:
                    self.decode(EventBatch.from_rows(data.rows()[:1]))
                except Exception as exc:
                    probe_error = str(exc) or type(exc).__name__
        if isinstance(sections, Generator):
            sections.close()
        return verify_backup(
            BackupFileReader(path),
            name=str(path),
            decode=self.decode if probe_error is None else None,
            decode_snapshots=self.decode_snapshots if probe_error is None else None,
            cipher_key_id=self.key_id,
            decode_error=probe_error,
            progress=progress,
        )

    def verify_store(self, *, progress: ProgressReport = no_progress) -> Report:
        return verify_store(
            self.history,
            decode=self.decode,
            decode_snapshots=self.decode_snapshots,
            read_models=self.read_models,
            progress=progress,
        )


def rotate_store_key(
    env: dict[str, str],
    new_env: dict[str, str],
    *,
    readmodels_db: Path,
    conninfo: str | None,
    progress: ProgressReport = no_progress,
    batch_size: int = REKEY_BATCH,
) -> RotationReport:
    """Re-encrypt the store `env` configures (with its CIPHER_KEY, or none) with
    `new_env`'s CIPHER_KEY."""
    app = TicketForge(env=env)  # the tables' names (created if missing), the old mappers
    try:
        history = history_for(app, readmodels_db, conninfo)
    finally:
        app.close()  # none of our connections may stay open: others are looked for
    # The new key's mappers, on an in-memory store: only their encoding is used.
    checker = TicketForge(env={**new_env, "PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        return rotate_key(
            history,
            _sides(app),
            _sides(checker),
            progress=progress,
            batch_size=batch_size,
        )
    finally:
        checker.close()


def _sides(app: TicketForge) -> dict[Kind, Side]:
    snapshots = _snapshot_mapper(app)
    return {
        "events": Side(app.mapper, decoder(app.mapper)),
        "snapshots": Side(snapshots, decoder(snapshots)),
    }
