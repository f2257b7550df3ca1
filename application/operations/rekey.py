"""Key rotation: every stored event and snapshot re-encrypted from one AES key to another.

It runs with the API, workers and projectors stopped (it refuses to start when it can
tell they are not: connections to the database, live leases) and keeps the store to
itself meanwhile where the database allows. Each batch is rewritten in a transaction
of its own, so an interrupted rotation leaves every row whole, under one key or the
other; run again, it tells them apart (AES-GCM authenticates: the wrong key fails,
it does not produce garbage), re-encrypts what is left and skips the rest. At the end
every row is decoded with the new key alone, as the application will.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from eventsourcing.persistence import Cipher

from application.operations.backup import Decoder
from application.operations.port import ProgressReport, StoredHistory, no_progress

BATCH = 2000
KINDS: tuple[Literal["events", "snapshots"], ...] = ("events", "snapshots")


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


def rotate_key(
    history: StoredHistory,
    old: Cipher,
    new: Cipher,
    *,
    decode: dict[str, Decoder],
    progress: ProgressReport = no_progress,
    batch_size: int = BATCH,
) -> RotationReport:
    """Re-encrypt from `old` to `new`, then decode everything with `decode[kind]`, built
    on the new key. Resumable: run it again after an interruption."""
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
                states: list[bytes | None] = []
                for nid, originator, version, _, stored in batch.rows():
                    try:
                        plain = old.decrypt(stored)
                    except ValueError:
                        _check_new(new, stored, kind, nid, originator, version)
                        states.append(None)
                        continue
                    states.append(new.encrypt(plain))
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
                    decode[kind](batch)
                except Exception as exc:
                    raise KeyRotationError(
                        f"after re-encryption, a batch of {kind} does not decode with the new "
                        f"key: {exc}"
                    ) from exc
                done += len(batch)
                progress(f"verifying {kind}", done, total)
            report.verified[kind] = done
    return report


def _check_new(
    new: Cipher, state: bytes, kind: str, nid: int, originator: bytes, version: int
) -> None:
    """A state the old key does not open must be one this rotation already wrote."""
    try:
        new.decrypt(state)
    except ValueError:
        where = f"event {nid}" if kind == "events" else "the snapshot"
        raise KeyRotationError(
            f"{where} of {UUID(bytes=originator)} v{version} opens with neither CIPHER_KEY nor "
            "CIPHER_KEY_NEW: is CIPHER_KEY the store's key?"
        ) from None
