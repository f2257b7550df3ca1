"""What `ticketforge verify` checks, in a backup file or in the live store.

- the file: every frame matches the hash chain, the manifest matches what it holds;
- notification ids rise; ids never used are counted (PostgreSQL skips the id of a write
  that conflicted and rolled back, so unused ids are not by themselves lost events);
- every aggregate's versions run 1, 2, 3... in notification order, without a hole;
- every event and snapshot decodes with the configured key, as the application
  would load it;
- the store only: each read model equals one rebuilt from the events.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from application.operations.backup import Decoder, read_backup
from application.operations.batch import EventBatch
from application.operations.port import (
    BackupFileError,
    BackupSource,
    Manifest,
    ProgressReport,
    StoredHistory,
    no_progress,
)

EXAMPLES = 3
BATCH = 5000

Level = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str
    detail: str


@dataclass
class Report:
    subject: str
    findings: list[Finding] = field(default_factory=list)
    manifest: Manifest | None = None

    @property
    def ok(self) -> bool:
        return all(f.level != "error" for f in self.findings)

    def add(self, level: Level, check: str, detail: str) -> None:
        self.findings.append(Finding(level, check, detail))


def _examples(values: list[str], count: int) -> str:
    shown = ", ".join(values[:EXAMPLES])
    return shown + (f" and {count - EXAMPLES:,} more" if count > EXAMPLES else "")


class HistoryCheck:
    """Follows the events (and snapshots) batch by batch; `report` says what it found."""

    def __init__(self, decode: Decoder | None, decode_snapshots: Decoder | None) -> None:
        self.decode = decode
        self.decode_snapshots = decode_snapshots
        self.events = 0
        self.snapshots = 0
        self.last_id = 0
        self.unused = 0
        self.unused_examples: list[str] = []
        self.disorder: list[str] = []
        self.versions: dict[bytes, int] = {}
        self.version_errors: list[str] = []
        self.version_error_count = 0
        self.undecodable: list[str] = []
        self.undecodable_count = 0
        self.snapshot_errors: list[str] = []

    def check_events(self, batch: EventBatch) -> None:
        last = self.last_id
        versions = self.versions
        for nid, originator, version in zip(
            batch.ids, batch.originator_list(), batch.versions, strict=True
        ):
            if nid <= last:
                self.disorder.append(f"{nid} after {last}")
            elif nid != last + 1:
                self.unused += nid - last - 1
                if len(self.unused_examples) < EXAMPLES:
                    self.unused_examples.append(f"{last + 1}..{nid - 1}")
            last = nid
            before = versions.get(originator, 0)
            if version != before + 1:
                self.version_error_count += 1
                if len(self.version_errors) < EXAMPLES:
                    self.version_errors.append(
                        f"{UUID(bytes=originator)} has version {version} after {before} "
                        f"(event {nid})"
                    )
            versions[originator] = max(before, version)
        self.last_id = last
        self.events += len(batch)
        if self.decode is not None:
            self._decode(batch, self.decode, "event")

    def check_snapshots(self, batch: EventBatch) -> None:
        self.snapshots += len(batch)
        for originator, version in zip(batch.originator_list(), batch.versions, strict=True):
            if version > self.versions.get(originator, 0):
                self.snapshot_errors.append(
                    f"{UUID(bytes=originator)} at version {version}, beyond its events"
                )
        if self.decode_snapshots is not None:
            self._decode(batch, self.decode_snapshots, "snapshot")

    def _decode(self, batch: EventBatch, decode: Decoder, what: str) -> None:
        with contextlib.suppress(Exception):  # else find which ones, one at a time
            decode(batch)
            return
        for row in batch.rows():
            try:
                decode(EventBatch.from_rows([row]))
            except Exception as exc:
                self.undecodable_count += 1
                if len(self.undecodable) < EXAMPLES:
                    where = f"event {row[0]}" if what == "event" else "snapshot"
                    self.undecodable.append(
                        f"{where} of {UUID(bytes=row[1])} v{row[2]} ({row[3]}): {exc}"
                    )

    def report_to(self, report: Report) -> None:
        if self.disorder:
            report.add(
                "error",
                "order",
                "notification ids out of order: " + ", ".join(self.disorder[:EXAMPLES]),
            )
        if self.unused:
            report.add(
                "warning" if not self.version_error_count else "error",
                "ids",
                f"{self.unused:,} notification id(s) below {self.last_id:,} hold no event "
                f"({_examples(self.unused_examples, len(self.unused_examples))}); PostgreSQL "
                "skips the id of a write that conflicted and rolled back"
                + ("" if self.version_error_count else ", and no aggregate misses a version"),
            )
        else:
            report.add("ok", "ids", f"notification ids 1..{self.last_id:,} without a gap")
        if self.version_error_count:
            report.add(
                "error",
                "versions",
                f"{self.version_error_count:,} version(s) out of sequence: "
                + _examples(self.version_errors, self.version_error_count),
            )
        else:
            report.add(
                "ok",
                "versions",
                f"{len(self.versions):,} aggregates, each with versions 1..n in order",
            )
        if self.snapshot_errors:
            report.add(
                "error",
                "snapshots",
                f"{len(self.snapshot_errors):,} snapshot(s) beyond their aggregate's events: "
                + _examples(self.snapshot_errors, len(self.snapshot_errors)),
            )
        if self.decode is None:
            return
        if self.undecodable_count:
            report.add(
                "error",
                "decoding",
                f"{self.undecodable_count:,} cannot be decoded: "
                + _examples(self.undecodable, self.undecodable_count),
            )
        else:
            report.add(
                "ok",
                "decoding",
                f"{self.events:,} events and {self.snapshots:,} snapshots decode with the "
                "configured key",
            )


def verify_backup(
    source: BackupSource,
    *,
    name: str,
    decode: Decoder | None,
    decode_snapshots: Decoder | None,
    cipher_key_id: str | None,
    decode_error: str | None = None,
    progress: ProgressReport = no_progress,
) -> Report:
    """Check a backup file, decoding with `decode`s unless they are None (the caller
    found its first event does not decode: `decode_error`)."""
    report = Report(subject=name)
    check = HistoryCheck(decode, decode_snapshots)
    try:
        manifest, _ = read_backup(
            source,
            on_events=check.check_events,
            on_snapshots=check.check_snapshots,
            progress=progress,
        )
    except BackupFileError as exc:
        report.add("error", "file", str(exc))
        return report
    report.manifest = manifest
    report.add(
        "ok",
        "file",
        f"intact: every frame matches the hash chain and the manifest ({source.size:,} bytes)",
    )
    report.add(
        "ok",
        "contents",
        f"{manifest.events:,} events of {manifest.aggregates:,} aggregates up to position "
        f"{manifest.position:,}, {manifest.snapshots:,} snapshots, {manifest.users:,} users; "
        f"taken {manifest.created_at} from {manifest.source}"
        + (f", encrypted (key {manifest.key_id})" if manifest.encrypted else ", not encrypted"),
    )
    check.report_to(report)
    if decode is None and manifest.key_id != cipher_key_id:
        report.add(
            "warning",
            "decoding",
            f"not decoded: the file's key ({manifest.key_id or 'none'}) is not CIPHER_KEY's "
            f"({cipher_key_id or 'none'})",
        )
    elif decode is None:
        report.add("error", "decoding", f"its first event does not decode: {decode_error}")
    return report


def verify_store(
    history: StoredHistory,
    *,
    decode: Decoder,
    decode_snapshots: Decoder,
    read_models: Callable[[], list[Finding]],
    progress: ProgressReport = no_progress,
) -> Report:
    """Check the live store as of one position, then its read models."""
    report = Report(subject=f"the {history.backend} event store")
    check = HistoryCheck(decode, decode_snapshots)
    with history.image() as image:
        counts = image.counts()
        for batch in image.events(BATCH):
            check.check_events(batch)
            progress("events", check.events, counts.events)
        for batch in image.snapshots(BATCH // 100):
            check.check_snapshots(batch)
            progress("snapshots", check.snapshots, counts.snapshots)
        report.add(
            "ok",
            "contents",
            f"{counts.events:,} events up to position {image.position:,}, "
            f"{counts.snapshots:,} snapshots, {counts.users:,} users",
        )
    check.report_to(report)
    progress("read models", 0, None)
    report.findings.extend(read_models())
    return report
