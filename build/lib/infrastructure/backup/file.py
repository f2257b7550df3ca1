"""The backup file: the stored history in frames, each one link of a hash chain.

    file   := MAGIC frame* manifest-frame
    frame  := kind (1 byte) | size (4 bytes, big-endian) | link (32 bytes) | body (size bytes)
    link   := SHA-256(previous link | kind | payload), the first one after SHA-256(MAGIC)
    body   := zlib(payload)

Kinds: `E` a batch of events, `S` a batch of snapshots, `U` the users (JSON), `M` the
manifest (JSON; last, as only then are the counts known). An events or snapshots
payload holds its batch column by column (big-endian integers): count and the size
of a JSON list of the batch's distinct topics, that list, then the notification ids
(int64), the originator ids (16 bytes each), the versions (int64), each row's topic
as an index into the list (uint32), each state's size (uint32) and the states as
they are stored (encrypted when `CIPHER_KEY` is set).

The chain runs over the payloads, not the compressed bodies: any changed byte of any
event changes its frame's link and every link after it, and the manifest's `chain`
is the last link before the manifest. A reader recomputes each link as it goes, so
a damaged frame is named where it is; a file that ends before its manifest is
truncated. The file is written under a temporary name and renamed once complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Literal

from application.operations.batch import (
    ID_BYTES,
    INT64,
    UINT32,
    EventBatch,
    UserRow,
    big_endian,
    from_big_endian,
    uint32s,
)
from application.operations.port import BackupFileError, Manifest, Section

MAGIC = b"TICKETFORGE BACKUP 1\n"
_FRAME = struct.Struct(">cI32s")
_COUNTS = struct.Struct(">II")
EVENTS, SNAPSHOTS, USERS, MANIFEST = b"E", b"S", b"U", b"M"
_NAMES = {EVENTS: "events", SNAPSHOTS: "snapshots", USERS: "users", MANIFEST: "manifest"}
# zlib's fastest level: JSON states shrink three to six times at a few hundred MB/s;
# encrypted ones do not shrink at all, and level 1 wastes the least time finding out.
LEVEL = 1


def encode_batch(batch: EventBatch) -> bytes:
    topics = list(dict.fromkeys(batch.topics))
    index = {topic: i for i, topic in enumerate(topics)}
    head = json.dumps(topics).encode()
    return b"".join(
        (
            _COUNTS.pack(len(batch), len(head)),
            head,
            big_endian(batch.ids),
            batch.originators,
            big_endian(batch.versions),
            big_endian(uint32s([index[t] for t in batch.topics])),
            big_endian(batch.lengths),
            batch.states,
        )
    )


def decode_batch(payload: bytes) -> EventBatch:
    """The batch in a payload; ValueError if its parts do not add up."""
    count, head_size = _COUNTS.unpack_from(payload, 0)
    at = _COUNTS.size
    topics = json.loads(payload[at : at + head_size])
    at += head_size

    def take(size: int) -> bytes:
        nonlocal at
        part = payload[at : at + size]
        if len(part) != size:
            raise ValueError("payload shorter than its counts")
        at += size
        return part

    ids = from_big_endian(take(8 * count), INT64)
    originators = take(ID_BYTES * count)
    versions = from_big_endian(take(8 * count), INT64)
    topic_index = from_big_endian(take(4 * count), UINT32)
    lengths = from_big_endian(take(4 * count), UINT32)
    states = payload[at:]
    batch = EventBatch(
        ids=ids,
        originators=originators,
        versions=versions,
        topics=[topics[i] for i in topic_index],
        lengths=lengths,
        states=states,
    )
    batch.check_shape()
    return batch


class BackupFileWriter:
    """Writes a backup to `<path>.partial`, renamed to `path` by `finish`.

    Compressing and writing run in a thread of their own (zlib and file writes let go
    of the GIL), so the next batch is read from the database meanwhile."""

    def __init__(self, path: Path, *, overwrite: bool = False) -> None:
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; choose another name (or --force)")
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self._file: IO[bytes] = open(self.partial, "wb")  # noqa: SIM115 - closed by finish/abandon
        self._file.write(MAGIC)
        self._link = hashlib.sha256(MAGIC).digest()
        self._size = len(MAGIC)
        self._queue: queue.Queue[tuple[bytes, bytes, bytes] | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_frames, name="backup-writer")
        self._thread.start()

    @property
    def size(self) -> int:
        return self._size

    def _write_frames(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the producer learns of the error at its next frame
            kind, link, payload = item
            try:
                body = zlib.compress(payload, LEVEL)
                self._file.write(_FRAME.pack(kind, len(body), link))
                self._file.write(body)
                self._size += _FRAME.size + len(body)
            except BaseException as exc:
                self._error = exc

    def _frame(self, kind: bytes, payload: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._link = hashlib.sha256(self._link + kind + payload).digest()
        self._queue.put((kind, self._link, payload))

    def events(self, batch: EventBatch) -> None:
        if len(batch):
            self._frame(EVENTS, encode_batch(batch))

    def snapshots(self, batch: EventBatch) -> None:
        if len(batch):
            self._frame(SNAPSHOTS, encode_batch(batch))

    def users(self, rows: Sequence[UserRow]) -> None:
        self._frame(USERS, json.dumps([list(r) for r in rows]).encode())

    def _drain(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def finish(self, manifest: Manifest) -> Manifest:
        from dataclasses import replace

        manifest = replace(manifest, chain=self._link.hex())
        self._frame(MANIFEST, manifest.to_json())
        self._drain()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.path)
        return manifest

    def abandon(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._file.close()
        self.partial.unlink(missing_ok=True)


class BackupFileReader:
    """Reads a backup, checking every frame's link; `BackupFileError` on damage."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise BackupFileError(f"{path}: no such file")
        self.path = path
        self._manifest: Manifest | None = None
        self._chain = ""
        self._offset = 0

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @property
    def offset(self) -> int:
        return self._offset

    def _damaged(self, what: str) -> BackupFileError:
        return BackupFileError(f"{self.path} is damaged: {what}")

    def _truncated(self, offset: int, frames: int) -> BackupFileError:
        return BackupFileError(
            f"{self.path} is truncated: it ends at byte {offset:,}, after {frames:,} "
            "frame(s) and before its manifest (an interrupted copy or a full disk?)"
        )

    def _frames(self) -> Iterator[tuple[bytes, bytes, int]]:
        """(kind, payload, offset) of every frame, the manifest's last."""
        with open(self.path, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                raise BackupFileError(f"{self.path} is not a ticketforge backup (format 1)")
            link = hashlib.sha256(MAGIC).digest()
            offset, number = len(MAGIC), 0
            while True:
                head = f.read(_FRAME.size)
                if len(head) < _FRAME.size:
                    raise self._truncated(offset + len(head), number)
                kind, size, stored = _FRAME.unpack(head)
                if kind not in _NAMES:
                    raise self._damaged(f"frame {number + 1} at byte {offset:,} has no known kind")
                body = f.read(size)
                if len(body) < size:
                    raise self._truncated(offset + _FRAME.size + len(body), number)
                try:
                    payload = zlib.decompress(body)
                except zlib.error as exc:
                    raise self._damaged(
                        f"frame {number + 1} ({_NAMES[kind]}) at byte {offset:,} does not "
                        f"decompress ({exc})"
                    ) from None
                link = hashlib.sha256(link + kind + payload).digest()
                if link != stored:
                    raise self._damaged(
                        f"frame {number + 1} ({_NAMES[kind]}) at byte {offset:,} does not "
                        "match its link in the hash chain"
                    )
                number += 1
                offset += _FRAME.size + size
                self._offset = offset
                yield kind, payload, offset
                if kind == MANIFEST:
                    rest = len(f.read())
                    if rest:
                        raise self._damaged(f"{rest:,} byte(s) after the manifest")
                    return
                self._chain = link.hex()

    def sections(
        self,
    ) -> Iterator[Section | tuple[Literal["users"], list[UserRow]]]:
        self._manifest = None
        for kind, payload, offset in self._frames():
            try:
                if kind == MANIFEST:
                    manifest = Manifest.from_json(payload)
                    if manifest.chain != self._chain:
                        raise ValueError("its chain is not the file's")
                    self._manifest = manifest
                elif kind == USERS:
                    rows: list[UserRow] = [
                        (str(n), str(h), bool(a), float(c)) for n, h, a, c in json.loads(payload)
                    ]
                    yield "users", rows
                elif kind == EVENTS:
                    yield "events", decode_batch(payload)
                else:
                    yield "snapshots", decode_batch(payload)
            except (ValueError, TypeError, KeyError, IndexError, struct.error) as exc:
                raise self._damaged(
                    f"the {_NAMES[kind]} frame ending at byte {offset:,} is malformed ({exc})"
                ) from None

    def manifest(self) -> Manifest:
        if self._manifest is None:
            raise BackupFileError(f"{self.path}: read to the end first")
        return self._manifest
