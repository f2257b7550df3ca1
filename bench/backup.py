"""Backup and restore of the stored history (issue 19): events/s each way, file size.

On SQLite and on a throwaway PostgreSQL cluster (started here, as in the tests), a store
is filled with N events (default 1,000,000: NestWatch sessions of 2,000 events, a ticket
drafted per entity then edits, as `bench.projections` writes them), then:

1. `ticketforge backup`'s path (`take_backup` into a backup file) is timed;
2. its restore into a new, empty store of the same kind (`restore_backup`: the whole
   file checked first, then written in batches in one transaction) is timed; the read
   models' rebuild that `ticketforge restore` runs afterwards is `bench.projections`'s;
3. the file's size is held against the store's own events table (its data, without
   its indexes: SQLite's `dbstat`, PostgreSQL's `pg_table_size`).

Baseline, on the first `--baseline-events` events: what the library offers for the
same job, its notification log read in batches (`select_notifications`) into JSON
lines, and those written back with its recorder's `insert_events` (which, unlike a
restore, cannot keep the notification ids). Goal: >= 50,000 events/s each way and a
file no larger than the table.

    .venv/bin/python -m bench.backup [--events 1000000] [--backends sqlite postgres]
"""

from __future__ import annotations

import argparse
import base64
import json
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from application.operations.backup import restore_backup, take_backup
from application.sessions import TicketForge
from bench.projections import fill
from bench.report import Figure, compare
from infrastructure.backup.file import BackupFileReader, BackupFileWriter
from infrastructure.backup.operations import decoder, history_for
from interfaces.settings import Settings
from tests.support.postgres import ThrowawayPostgres

GOAL_PER_S = 50_000


@dataclass(frozen=True)
class Options:
    events: int = 1_000_000
    baseline_events: int = 100_000
    backends: tuple[str, ...] = ("sqlite", "postgres")


@dataclass(frozen=True)
class Measured:
    backend: str
    events: int
    backup_s: float
    restore_s: float
    file_bytes: int
    table_bytes: int
    baseline_events: int
    baseline_backup_s: float
    baseline_restore_s: float
    baseline_bytes: int

    @property
    def backup_per_s(self) -> float:
        return self.events / self.backup_s

    @property
    def restore_per_s(self) -> float:
        return self.events / self.restore_s

    @property
    def baseline_backup_per_s(self) -> float:
        return self.baseline_events / self.baseline_backup_s

    @property
    def baseline_restore_per_s(self) -> float:
        return self.baseline_events / self.baseline_restore_s


def log(message: str) -> None:
    print(message, flush=True)


class Store:
    """One store of a backend: its settings, its application, its table's size."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = TicketForge(env=settings.eventsourcing_env())

    @property
    def conninfo(self) -> str | None:
        return self.settings.postgres_conninfo() if self.settings.uses_postgres else None

    def history(self) -> Any:
        return history_for(self.app, self.settings.data_dir / "readmodels.db", self.conninfo)

    def table_bytes(self) -> int:
        """The events table's own data (no index), as the database counts it."""
        if self.conninfo is not None:
            import psycopg

            with psycopg.connect(self.conninfo) as conn:
                row = conn.execute("SELECT pg_table_size('ticketforge_events')").fetchone()
            return int(row[0]) if row else 0
        with sqlite3.connect(self.settings.data_dir / "events.db") as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = conn.execute(
                "SELECT SUM(pgsize) FROM dbstat WHERE name = 'stored_events'"
            ).fetchone()
        return int(row[0] or 0)

    def close(self) -> None:
        self.app.close()


@contextmanager
def stores(backend: str, root: Path) -> Iterator[tuple[Store, Store, Store]]:
    """The source store, the one restored into, and the baseline's target."""
    if backend == "sqlite":
        made = [
            Store(Settings(TICKETFORGE_DATA_DIR=str(root / name)))
            for name in ("source", "restored", "baseline")
        ]
        try:
            yield made[0], made[1], made[2]
        finally:
            for store in made:
                store.close()
        return
    cluster = ThrowawayPostgres().start()
    made = []
    try:
        for name in ("source", "restored", "baseline"):
            made.append(
                Store(
                    Settings(
                        TICKETFORGE_DATA_DIR=str(root / name),
                        PERSISTENCE_MODULE="postgres",
                        POSTGRES_DBNAME=cluster.create_database(),
                        POSTGRES_HOST="127.0.0.1",
                        POSTGRES_PORT=cluster.port,
                        POSTGRES_USER=cluster.user,
                    )
                )
            )
        yield made[0], made[1], made[2]
    finally:
        for store in made:
            store.close()
        cluster.stop()


def baseline(source: Store, target: Store, events: int, root: Path) -> tuple[float, float, int]:
    """The library's way: its notification log to JSON lines, then `insert_events` back."""
    lines = root / "baseline.jsonl"
    started = time.perf_counter()
    with open(lines, "w") as out:
        position = 0
        while position < events:
            batch = source.app.recorder.select_notifications(
                position, min(5000, events - position), inclusive_of_start=False
            )
            if not batch:
                break
            for n in batch:
                record = [str(n.originator_id), n.originator_version, n.topic]
                out.write(json.dumps([*record, base64.b64encode(n.state).decode()]) + "\n")
            position = batch[-1].id
    backup_s = time.perf_counter() - started
    started = time.perf_counter()
    with open(lines) as source_lines:
        pending: list[StoredEvent] = []
        for line in source_lines:
            originator, version, topic, state = json.loads(line)
            pending.append(StoredEvent(originator, version, topic, base64.b64decode(state)))
            if len(pending) == 500:  # the size of a large save; larger stalls the driver
                target.app.recorder.insert_events(pending)
                pending = []
        if pending:
            target.app.recorder.insert_events(pending)
    return backup_s, time.perf_counter() - started, lines.stat().st_size


def measure(options: Options) -> Iterator[Measured]:
    for backend in options.backends:
        with tempfile.TemporaryDirectory(prefix="tf-bench-backup-") as tmp:
            root = Path(tmp)
            with stores(backend, root) as (source, restored, base):
                log(f"{backend}: writing {options.events:,} events ...")
                fill(source.settings.eventsourcing_env(), options.events)
                file = root / "history.tfb"
                log(f"{backend}: backup ...")
                started = time.perf_counter()
                sink = BackupFileWriter(file)
                manifest = take_backup(source.history(), sink, cipher_key_id=None)
                backup_s = time.perf_counter() - started
                log(f"{backend}: restore ...")
                started = time.perf_counter()
                restore_backup(
                    restored.history(),
                    lambda file=file: BackupFileReader(file),  # type: ignore[misc]
                    cipher_key_id=None,
                    decode=decoder(restored.app.mapper),
                )
                restore_s = time.perf_counter() - started
                assert restored.app.recorder.max_notification_id() == manifest.position
                baseline_events = min(options.baseline_events, manifest.events)
                log(f"{backend}: baseline on {baseline_events:,} events ...")
                base_backup_s, base_restore_s, base_bytes = baseline(
                    source, base, baseline_events, root
                )
                yield Measured(
                    backend="SQLite" if backend == "sqlite" else "PostgreSQL",
                    events=manifest.events,
                    backup_s=backup_s,
                    restore_s=restore_s,
                    file_bytes=file.stat().st_size,
                    table_bytes=source.table_bytes(),
                    baseline_events=baseline_events,
                    baseline_backup_s=base_backup_s,
                    baseline_restore_s=base_restore_s,
                    baseline_bytes=base_bytes,
                )


def results(quick: bool = False) -> list[Figure]:
    """For `bench/run`. Quick: 50,000 events (baseline on 20,000); full: 1,000,000."""
    options = Options(events=50_000, baseline_events=20_000) if quick else Options()
    figures: list[Figure] = []
    for m in measure(options):
        note = (
            f"baseline: the library's notification log to JSON lines and its insert_events "
            f"back, on {m.baseline_events:,} events"
        )
        figures.append(
            compare(
                f"{m.backend}: backup of {m.events:,} events",
                m.backup_per_s,
                "events/s",
                m.baseline_backup_per_s,
                min_value=GOAL_PER_S,
                notes=f"{m.backup_s:.1f} s; {note}",
            )
        )
        figures.append(
            compare(
                f"{m.backend}: restore of {m.events:,} events (checked, then written)",
                m.restore_per_s,
                "events/s",
                m.baseline_restore_per_s,
                min_value=GOAL_PER_S,
                notes=f"{m.restore_s:.1f} s, read models not included; {note}",
            )
        )
        figures.append(
            compare(
                f"{m.backend}: backup file vs the events table",
                m.file_bytes / 1e6,
                "MB",
                m.table_bytes / 1e6,
                lower_is_better=True,
                min_ratio=1,
                goal="no larger than the table",
                notes="baseline: the table's own data, without its indexes",
            )
        )
    return figures


def main() -> None:
    defaults = Options()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--baseline-events", type=int, default=defaults.baseline_events)
    parser.add_argument("--backends", nargs="+", default=list(defaults.backends))
    args = parser.parse_args()
    options = Options(args.events, args.baseline_events, tuple(args.backends))
    rows = [("backend", "events", "backup", "restore", "file", "events table", "baseline")]
    for m in measure(options):
        rows.append(
            (
                m.backend,
                f"{m.events:,}",
                f"{m.backup_per_s:,.0f} ev/s ({m.backup_s:.1f} s)",
                f"{m.restore_per_s:,.0f} ev/s ({m.restore_s:.1f} s)",
                f"{m.file_bytes / 1e6:,.1f} MB",
                f"{m.table_bytes / 1e6:,.1f} MB",
                f"library: {m.baseline_backup_per_s:,.0f} / {m.baseline_restore_per_s:,.0f} "
                f"ev/s, {m.baseline_bytes / 1e6 * m.events / m.baseline_events:,.1f} MB",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"goal: >= {GOAL_PER_S:,} events/s each way; a file no larger than the table")
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
