"""`ticketforge backup`, `restore`, `verify` and `rotate-key`: the stored history itself."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from application.operations.backup import KeyMismatchError
from application.operations.port import (
    BackupFileError,
    Manifest,
    ProgressReport,
    StoreNotEmptyError,
)
from application.operations.rekey import BATCH as REKEY_BATCH
from application.operations.rekey import KeyRotationError, StoreInUseError
from application.operations.verify import Report
from interfaces.bootstrap import bootstrap, operations, rebuild_after_restore, rotate_key
from interfaces.settings import Settings

console = Console()


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        console.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]", soft_wrap=True)
    return typer.Exit(1)


@contextmanager
def _progress() -> Iterator[ProgressReport]:
    """A bar per stage on a terminal; elsewhere lines (logs, CI)."""
    if console.is_terminal:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            tasks: dict[str, object] = {}

            def show(stage: str, done: int, total: int | None) -> None:
                task = tasks.get(stage)
                if task is None:
                    task = tasks[stage] = bar.add_task(stage, total=total)
                bar.update(task, completed=done, total=total)  # type: ignore[arg-type]

            yield show
        return
    printed: dict[str, tuple[float, int]] = {}

    def log(stage: str, done: int, total: int | None) -> None:
        """A line when a stage starts, ends, every second and every tenth of the way."""
        now = time.monotonic()
        tenth = 10 * done // total if total else 0
        if stage in printed and done != total:
            when, step = printed[stage]
            if now - when < 1.0 and tenth == step:
                return
        printed[stage] = (now, tenth)
        print(f"{stage}: {done:,}" + (f"/{total:,}" if total is not None else ""), flush=True)

    yield log


def _manifest_table(title: str, manifest: Manifest, size: int | None = None) -> Table:
    table = Table(title=title)
    table.add_column("")
    table.add_column("", justify="right", overflow="fold")
    rows = [
        ("position", f"{manifest.position:,}"),
        ("events", f"{manifest.events:,}"),
        ("aggregates", f"{manifest.aggregates:,}"),
        ("snapshots", f"{manifest.snapshots:,}"),
        ("users", f"{manifest.users:,}"),
        ("encrypted", f"yes (key {manifest.key_id})" if manifest.encrypted else "no"),
        ("taken", f"{manifest.created_at} from {manifest.source}"),
        ("hash chain", manifest.chain),
    ]
    if size is not None:
        rows.append(("file size", f"{size:,} bytes"))
    for label, value in rows:
        table.add_row(label, value)
    return table


def backup(
    path: Annotated[Path, typer.Argument(help="The backup file to write")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
    snapshots: Annotated[
        bool, typer.Option("--snapshots/--no-snapshots", help="Include the snapshots")
    ] = True,
) -> None:
    """Write every event, snapshot and user to one file, consistent to one position.

    Safe while the system runs: what is written meanwhile is after the position in the
    manifest. Encrypted events stay encrypted (keep CIPHER_KEY apart from the file).
    """
    container = bootstrap(_settings())
    try:
        started = time.perf_counter()
        with _progress() as report:
            manifest, size = operations(container).backup(
                path, overwrite=force, snapshots=snapshots, progress=report
            )
        elapsed = time.perf_counter() - started
    except FileExistsError as exc:
        raise _fail(str(exc)) from exc
    finally:
        container.close()
    console.print(_manifest_table(f"Backup written to {path}", manifest, size))
    console.print(f"{manifest.events:,} events in {elapsed:.1f} s")


def restore(
    path: Annotated[Path, typer.Argument(help="The backup file to restore")],
) -> None:
    """Restore a backup into the configured (empty) event store, then rebuild every read
    model. The file is checked through first; nothing is written unless it is intact."""
    container = bootstrap(_settings())
    try:
        started = time.perf_counter()
        try:
            with _progress() as report:
                manifest = operations(container).restore(path, progress=report)
        except (BackupFileError, StoreNotEmptyError, KeyMismatchError) as exc:
            raise _fail(f"Nothing was restored. {exc}") from exc
        console.print(_manifest_table(f"Restored {path}", manifest))
        table = Table(title="Read models rebuilt")
        table.add_column("projection")
        table.add_column("position", justify="right")
        rebuild_after_restore(container, lambda name, at: table.add_row(name, f"{at:,}"))
        console.print(table)
        console.print(f"Done in {time.perf_counter() - started:.1f} s.")
    finally:
        container.close()


def _report(report: Report) -> None:
    table = Table(title=f"Verified {report.subject}")
    for column in ("", "check", "found"):
        table.add_column(column, overflow="fold")
    marks = {"ok": "[green]ok[/green]", "warning": "[yellow]warning[/yellow]"}
    for finding in report.findings:
        table.add_row(marks.get(finding.level, "[red]ERROR[/red]"), finding.check, finding.detail)
    console.print(table)


def verify(
    path: Annotated[
        Path | None, typer.Argument(help="A backup file (default: the live event store)")
    ] = None,
) -> None:
    """Check a backup file, or the live store: ids, versions, decoding, read models.

    Exits 1 when something is wrong; warnings (such as ids never used) do not fail it.
    """
    container = bootstrap(_settings())
    try:
        ops = operations(container)
        with _progress() as report:
            found = (
                ops.verify_file(path, progress=report)
                if path
                else ops.verify_store(progress=report)
            )
    except BackupFileError as exc:
        raise _fail(str(exc)) from exc
    finally:
        container.close()
    _report(found)
    if not found.ok:
        raise typer.Exit(1)


def rotate_key_command(
    batch_size: Annotated[
        int, typer.Option(help="Rows re-encrypted per transaction", min=1)
    ] = REKEY_BATCH,
) -> None:
    """Re-encrypt every stored event and snapshot from CIPHER_KEY to CIPHER_KEY_NEW (without
    CIPHER_KEY: encrypt a store that was not).

    Run it with the API, workers and projectors stopped (it refuses to start when it
    finds them). If it is interrupted, run it again: it carries on. Then set CIPHER_KEY
    to the new key and unset CIPHER_KEY_NEW before starting them again.
    """
    settings = _settings()
    old, new = settings.cipher_key, settings.cipher_key_new
    if new is None:
        raise _fail(
            "Set CIPHER_KEY_NEW to the new key (and CIPHER_KEY to the key now, if the store "
            "is encrypted already)."
        )
    if old is not None and old.get_secret_value() == new.get_secret_value():
        raise _fail("CIPHER_KEY_NEW is CIPHER_KEY: nothing to do.")
    if old is None:
        console.print("CIPHER_KEY is not set: encrypting the store for the first time.")
    started = time.perf_counter()
    try:
        with _progress() as report:
            result = rotate_key(settings, report, batch_size)
    except (StoreInUseError, KeyRotationError) as exc:
        raise _fail(str(exc)) from exc
    except ValueError as exc:  # a key that is not a base64 AES key
        raise _fail(f"Not an AES key: {exc}") from exc
    table = Table(title=f"Key rotated in {time.perf_counter() - started:.1f} s")
    for column in ("", "re-encrypted now", "already under the new key", "verified"):
        table.add_column(column, justify="right")
    for kind in ("events", "snapshots"):
        table.add_row(
            kind,
            f"{result.rotated[kind]:,}",
            f"{result.already[kind]:,}",
            f"{result.verified[kind]:,}",
        )
    console.print(table)
    console.print(
        "Every event and snapshot is now readable with CIPHER_KEY_NEW only. Set CIPHER_KEY "
        "to that key, unset CIPHER_KEY_NEW, then start the processes again.",
        soft_wrap=True,
    )
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command()(backup)
    app.command()(restore)
    app.command()(verify)
    app.command("rotate-key")(rotate_key_command)
