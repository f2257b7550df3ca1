"""Backup and restore of the stored history: every event as stored (notification order,
ids and versions, encrypted states left encrypted), the snapshots, the users.

A backup reads one consistent image of the store (its position is the manifest's)
while the system goes on writing. A restore reads the whole file first and refuses
it unless every frame matches the hash chain and the manifest; it also refuses a
store that is not empty, and a file whose events the configured key cannot read.
Only then does it write, in batches, in one transaction: a failure halfway leaves
nothing behind. Notification ids and versions are written as they were, so the
positions, the audit trail and every read model rebuilt from them equal the source's.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from base64 import b64decode
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from application.operations.batch import ID_BYTES, EventBatch
from application.operations.port import (
    BackupFileError,
    BackupSink,
    BackupSource,
    Manifest,
    ProgressReport,
    StoredHistory,
    StoreNotEmptyError,
    no_progress,
)

EVENT_BATCH = 5000
SNAPSHOT_BATCH = 20  # a session's snapshot can be a megabyte

# Decodes a batch as the application would (decrypt, decompress, upcast, an object of
# the event's class), raising on the first event it cannot.
Decoder = Callable[[EventBatch], None]


def key_id(cipher_key: str | None) -> str | None:
    """Which AES key this is, without telling the key: a one-way fingerprint."""
    if not cipher_key:
        return None
    digest = hashlib.sha256(b"ticketforge cipher key\x00" + b64decode(cipher_key))
    return digest.hexdigest()[:16]


class KeyMismatchError(Exception):
    """The backup's events cannot be read with the configured key (or by this version)."""


def take_backup(
    history: StoredHistory,
    sink: BackupSink,
    *,
    cipher_key_id: str | None,
    snapshots: bool = True,
    progress: ProgressReport = no_progress,
) -> Manifest:
    """Write the store's history as of now to `sink`; return its manifest."""
    try:
        with history.image() as image:
            counts = image.counts()
            done, first, last = 0, 0, 0
            aggregates: set[bytes] = set()
            progress("events", 0, counts.events)
            for batch in image.events(EVENT_BATCH):
                sink.events(batch)
                first = first or batch.ids[0]
                last = batch.ids[-1]
                aggregates.update(batch.originator_list())
                done += len(batch)
                progress("events", done, counts.events)
            saved = 0
            if snapshots:
                progress("snapshots", 0, counts.snapshots)
                for batch in image.snapshots(SNAPSHOT_BATCH):
                    sink.snapshots(batch)
                    saved += len(batch)
                    progress("snapshots", saved, counts.snapshots)
            users = image.users()
            sink.users(users)
            manifest = Manifest(
                position=image.position,
                events=done,
                aggregates=len(aggregates),
                snapshots=saved,
                users=len(users),
                first_id=first,
                last_id=last,
                encrypted=cipher_key_id is not None,
                key_id=cipher_key_id,
                source=history.backend,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            return sink.finish(manifest)
    except BaseException:
        sink.abandon()
        raise


@dataclass
class FileContents:
    """What reading a backup through found, to hold against its manifest."""

    events: int = 0
    snapshots: int = 0
    users: int = 0
    aggregates: set[bytes] = field(default_factory=set)
    first_id: int = 0
    last_id: int = 0
    out_of_order: int = 0  # a notification id not above the one before it

    def add_events(self, batch: EventBatch) -> None:
        ids = batch.ids
        last = self.last_id
        for i in ids:
            if i <= last:
                self.out_of_order += 1
            last = i
        self.first_id = self.first_id or ids[0]
        self.last_id = last
        self.events += len(batch)
        self.aggregates.update(batch.originator_list())

    def disagreements(self, manifest: Manifest) -> list[str]:
        found = []
        for name, actual in (
            ("events", self.events),
            ("snapshots", self.snapshots),
            ("users", self.users),
            ("aggregates", len(self.aggregates)),
            ("first_id", self.first_id),
            ("last_id", self.last_id),
        ):
            if getattr(manifest, name) != actual:
                found.append(
                    f"the manifest says {name} = {getattr(manifest, name)}, the file {actual}"
                )
        if self.out_of_order:
            found.append(f"{self.out_of_order} notification id(s) out of order")
        if manifest.position < self.last_id:
            found.append(f"an event ({self.last_id}) beyond the manifest's position")
        return found


def read_backup(
    source: BackupSource,
    *,
    on_events: Callable[[EventBatch], None] | None = None,
    on_snapshots: Callable[[EventBatch], None] | None = None,
    progress: ProgressReport = no_progress,
) -> tuple[Manifest, FileContents]:
    """Read the whole file, checking the chain; raise `BackupFileError` unless the
    manifest agrees with what the file holds."""
    contents = FileContents()
    total = source.size
    for kind, data in source.sections():
        if kind == "events":
            assert isinstance(data, EventBatch)
            contents.add_events(data)
            if on_events is not None:
                on_events(data)
        elif kind == "snapshots":
            assert isinstance(data, EventBatch)
            contents.snapshots += len(data)
            if on_snapshots is not None:
                on_snapshots(data)
        else:
            assert isinstance(data, list)
            contents.users += len(data)
        progress("checking", source.offset, total)
    manifest = source.manifest()
    problems = contents.disagreements(manifest)
    if problems:
        raise BackupFileError("the file does not match its manifest: " + "; ".join(problems))
    return manifest, contents


def check_key(manifest: Manifest, configured_key_id: str | None) -> None:
    """Refuse a file whose states the configured key will not read."""
    if manifest.key_id == configured_key_id:
        return
    if manifest.key_id is None:
        raise KeyMismatchError(
            "The backup was taken without encryption, but CIPHER_KEY is set: the restored "
            "events would not be readable. Restore it without CIPHER_KEY and encrypt it "
            "then (`ticketforge rotate-key` with CIPHER_KEY_NEW), or encrypt the source "
            "that way first and take a new backup."
        )
    if configured_key_id is None:
        raise KeyMismatchError(
            f"The backup's events are encrypted (key {manifest.key_id}) and CIPHER_KEY is "
            "not set: set CIPHER_KEY to the key of the store it was taken from."
        )
    raise KeyMismatchError(
        f"The backup's events are encrypted with key {manifest.key_id}, CIPHER_KEY is key "
        f"{configured_key_id}: set CIPHER_KEY to the key of the store it was taken from."
    )


def restore_backup(
    history: StoredHistory,
    open_source: Callable[[], BackupSource],
    *,
    cipher_key_id: str | None,
    decode: Decoder,
    progress: ProgressReport = no_progress,
) -> Manifest:
    """Check the file through, then write it into the (empty) store in one transaction.

    `decode` is tried on the first event of each batch while checking: a backup whose
    events this version cannot read (another key, an unknown event class) is refused
    before anything is written."""
    failures: list[str] = []

    def try_decode(batch: EventBatch) -> None:
        if not failures:
            try:
                decode(_first(batch))
            except Exception as exc:
                failures.append(f"event {batch.ids[0]}: {exc}")

    manifest = read_backup(open_source(), on_events=try_decode, progress=progress)[0]
    check_key(manifest, cipher_key_id)
    if failures:
        raise KeyMismatchError(f"The backup's events cannot be read here ({failures[0]}).")
    counts = history.counts()
    if not counts.empty:
        raise StoreNotEmptyError(counts)
    with history.restoring() as writer:
        source = open_source()
        written = 0
        progress("restoring", 0, manifest.events)
        for kind, data in read_ahead(source.sections()):
            if kind == "events":
                assert isinstance(data, EventBatch)
                writer.events(data)
                written += len(data)
                progress("restoring", written, manifest.events)
            elif kind == "snapshots":
                assert isinstance(data, EventBatch)
                writer.snapshots(data)
            else:
                assert isinstance(data, list)
                writer.users(data)
        if source.manifest() != manifest:
            raise BackupFileError("the file changed while it was being restored")
        writer.finish(manifest.position)
    return manifest


def _first(batch: EventBatch) -> EventBatch:
    if not len(batch):
        return batch
    return EventBatch(
        ids=batch.ids[:1],
        originators=batch.originators[:ID_BYTES],
        versions=batch.versions[:1],
        topics=batch.topics[:1],
        lengths=batch.lengths[:1],
        states=batch.states[: batch.lengths[0]],
    )


T = TypeVar("T")


def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """`items`, produced by a thread of its own up to `depth` ahead: the file's next
    frames are decompressed and hashed (work that lets go of the GIL) while the
    database writes the current one."""
    ahead: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                ahead.put((True, item))
            ahead.put((False, None))
        except BaseException as exc:
            ahead.put((False, exc))

    thread = threading.Thread(target=produce, name="restore-reader", daemon=True)
    thread.start()
    try:
        while True:
            more, item = ahead.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting to put
            with contextlib.suppress(queue.Empty):
                ahead.get_nowait()
            thread.join(0.01)
