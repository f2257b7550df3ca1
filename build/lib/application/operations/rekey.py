"""Key rotation: every stored event and snapshot re-encrypted from one AES key to another
(or encrypted for the first time, when the store had no key).

It runs with the API, workers and projectors stopped (it refuses to start when it can
tell they are not: connections to the database, live leases) and keeps the store to
itself meanwhile where the database allows. Each batch is rewritten in a transaction
of its own, so an interrupted rotation leaves every row whole, under one key or the
other; run again, it tells them apart (AES-GCM authenticates: the wrong key fails, it
does not produce garbage), re-encrypts what is left and skips the rest. At the end
every row is decoded with the new key alone, as the application will.

A state is taken apart and put together the way each side's mapper does it: decrypt
then decompress, compress then encrypt (with a key, events are compressed too;
snapshots always are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from eventsourcing.persistence import Mapper

from application.operations.backup import Decoder
from application.operations.batch import EventBatch
from application.operations.port import ProgressReport, StoredHistory, no_progress

BATCH = 2000
Kind = Literal["events", "snapshots"]
KINDS: tuple[Kind, ...] = ("events", "snapshots")


class StoreInUseError(Exception):
    def __init__(self, found: Sequence[str]) -> None:
        super().__init__(
            "Other processes are using the event store; stop the API, the workers and the "
            "projectors (and any `serve`) first. Found: " + "; ".join(found)
        )
        self.found = list(found)


class KeyRotationError(Exception):
    pass


@dataclass
class RotationReport:
    rotated: dict[str, int] = field(default_factory=dict)  # re-encrypted by this run
    already: dict[str, int] = field(default_factory=dict)  # found under the new key
    verified: dict[str, int] = field(default_factory=dict)  # decoded with the new key


@dataclass(frozen=True)
class Side:
    """How one key stores a kind of row (its mapper), and how to decode a batch so."""

    mapper: Mapper[Any]
    decode: Decoder

    def opens(self, state: bytes) -> bytes | None:
        """The transcoded state, or None if this side's key does not open it."""
        if self.mapper.cipher is not None:
            try:
                state = self.mapper.cipher.decrypt(state)
            except ValueError:
                return None
        if self.mapper.compressor is not None:
            try:
                state = self.mapper.compressor.decompress(state)
            except Exception:  # not compressed as this side would have: not its state
                return None
        return state

    def seal(self, plain: bytes) -> bytes:
        if self.mapper.compressor is not None:
            plain = self.mapper.compressor.compress(plain)
        if self.mapper.cipher is not None:
            plain = self.mapper.cipher.encrypt(plain)
        return plain


def rotate_key(
    history: StoredHistory,
    old: dict[Kind, Side],
    new: dict[Kind, Side],
    *,
    progress: ProgressReport = no_progress,
    batch_size: int = BATCH,
) -> RotationReport:
    """Re-encrypt every row from `old` to `new` (whose mappers have a cipher), then decode
    everything with `new`. Resumable: run it again after an interruption."""
    if any(side.mapper.cipher is None for side in new.values()):
        raise KeyRotationError("the new key is missing: rotate-key only encrypts")
    found = history.in_use()
    if found:
        raise StoreInUseError(found)
    report = RotationReport()
    with history.exclusive():
        for kind in KINDS:
            rows = history.rows(kind)
            total, done = rows.count(), 0
            report.rotated[kind] = report.already[kind] = 0
            progress(f"re-encrypting {kind}", 0, total)
            for batch in rows.batches(batch_size):
                states = _rotated(batch, kind, old[kind], new[kind])
                changed = sum(s is not None for s in states)
                if changed:
                    rows.replace(batch, states)
                report.rotated[kind] += changed
                report.already[kind] += len(batch) - changed
                done += len(batch)
                progress(f"re-encrypting {kind}", done, total)
        for kind in KINDS:
            rows = history.rows(kind)
            total, done = rows.count(), 0
            progress(f"verifying {kind}", 0, total)
            for batch in rows.batches(batch_size):
                try:
                    new[kind].decode(batch)
                except Exception as exc:
                    raise KeyRotationError(
                        f"after re-encryption, a batch of {kind} does not decode with the new "
                        f"key: {exc}"
                    ) from exc
                done += len(batch)
                progress(f"verifying {kind}", done, total)
            report.verified[kind] = done
    return report


def _rotated(batch: EventBatch, kind: Kind, old: Side, new: Side) -> list[bytes | None]:
    """Each row's state under the new key, or None where it is under it already."""
    states: list[bytes | None] = []
    unkeyed: list[int] = []  # rows read without a key: checked below, not authenticated
    for i, (nid, originator, version, _, stored) in enumerate(batch.rows()):
        if new.opens(stored) is not None:
            states.append(None)
            continue
        plain = old.opens(stored)
        if plain is None:
            where = f"event {nid}" if kind == "events" else "the snapshot"
            raise KeyRotationError(
                f"{where} of {UUID(bytes=originator)} v{version} opens with neither CIPHER_KEY "
                "nor CIPHER_KEY_NEW: is CIPHER_KEY the store's key?"
            )
        if old.mapper.cipher is None:
            unkeyed.append(i)
        states.append(new.seal(plain))
    if unkeyed:
        try:  # without a key, nothing proves a state was plain: decode them as they are
            old.decode(EventBatch.from_rows([batch.rows()[i] for i in unkeyed]))
        except Exception as exc:
            raise KeyRotationError(
                f"CIPHER_KEY is not set, but stored {kind} do not read without a key ({exc}): "
                "set CIPHER_KEY to the store's key"
            ) from exc
    return states
