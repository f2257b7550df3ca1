"""The ports the operations use: the stored history's tables, and a backup file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from application.operations.batch import EventBatch, UserRow

FORMAT = 1

# (what is being done, how many of it are done, how many there are in all or None)
ProgressReport = Callable[[str, int, int | None], None]


def no_progress(stage: str, done: int, total: int | None) -> None:
    """A `ProgressReport` that shows nothing."""


@dataclass(frozen=True)
class Counts:
    events: int
    snapshots: int
    users: int

    @property
    def empty(self) -> bool:
        return not (self.events or self.snapshots or self.users)

    def describe(self) -> str:
        return f"{self.events:,} events, {self.snapshots:,} snapshots, {self.users:,} users"


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, written last; the file's hash chain ends at `chain`."""

    position: int  # the notification id the backup is consistent to
    events: int
    aggregates: int
    snapshots: int
    users: int
    first_id: int  # notification ids of the first and last event (0: none)
    last_id: int
    encrypted: bool  # the states are as stored: encrypted with the source's CIPHER_KEY
    key_id: str | None  # which key (a one-way fingerprint), when encrypted
    source: str  # the backend it was taken from
    created_at: str
    chain: str = ""
    format: int = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        values = json.loads(data)
        if not isinstance(values, dict):
            raise ValueError("the manifest is not an object")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


class HistoryImage(Protocol):
    """The stored history as of one position, read while the system may be writing."""

    position: int

    def counts(self) -> Counts: ...

    def events(self, batch_size: int) -> Iterator[EventBatch]:
        """Every event up to `position`, in notification order."""
        ...

    def snapshots(self, batch_size: int) -> Iterator[EventBatch]: ...

    def users(self) -> list[UserRow]: ...


class HistoryWriter(Protocol):
    """One restore into an empty store: everything it wrote commits when it ends
    without an error, nothing otherwise."""

    def events(self, batch: EventBatch) -> None: ...

    def snapshots(self, batch: EventBatch) -> None: ...

    def users(self, rows: Sequence[UserRow]) -> None: ...

    def finish(self, position: int) -> None:
        """Everything is written: the next event gets the id after `position`."""
        ...


class StoreNotEmptyError(Exception):
    def __init__(self, counts: Counts) -> None:
        super().__init__(
            f"The configured event store is not empty ({counts.describe()}): a restore "
            "only goes into an empty store. Point the settings at a new database (or "
            "data directory), then run the restore again."
        )
        self.counts = counts


class KeyedRows(Protocol):
    """Where key rotation reads and rewrites states, a batch at a time."""

    def count(self) -> int: ...

    def batches(self, size: int) -> Iterator[EventBatch]:
        """Every row in key order; each batch's keys are in its ids (events) or in its
        originators and versions (snapshots)."""
        ...

    def replace(self, batch: EventBatch, states: Sequence[bytes | None]) -> None:
        """Write the new states of the batch's rows (None: leave that row), in one
        transaction."""
        ...


class StoredHistory(Protocol):
    """The event store's own tables (events, snapshots) and the users."""

    backend: str

    def counts(self) -> Counts: ...

    def image(self) -> AbstractContextManager[HistoryImage]: ...

    def restoring(self) -> AbstractContextManager[HistoryWriter]:
        """Raises `StoreNotEmptyError` (having written nothing) unless the store is empty."""
        ...

    def in_use(self) -> list[str]:
        """What shows that other processes use the store now (empty: nothing does)."""
        ...

    def exclusive(self) -> AbstractContextManager[None]:
        """Keep other processes from writing while inside, where the database can."""
        ...

    def rows(self, kind: Literal["events", "snapshots"]) -> KeyedRows: ...


class BackupFileError(Exception):
    """The file is not a complete, intact backup (truncated, damaged, or not one)."""


class BackupSink(Protocol):
    """A backup file being written; it exists under its name only once `finish`ed."""

    def events(self, batch: EventBatch) -> None: ...

    def snapshots(self, batch: EventBatch) -> None: ...

    def users(self, rows: Sequence[UserRow]) -> None: ...

    def finish(self, manifest: Manifest) -> Manifest:
        """Write the manifest (with the chain filled in) and put the file in place."""
        ...

    def abandon(self) -> None: ...

    @property
    def size(self) -> int: ...


Section = tuple[Literal["events"], EventBatch] | tuple[Literal["snapshots"], EventBatch]


class BackupSource(Protocol):
    """A backup file being read; every section is checked against the hash chain."""

    @property
    def size(self) -> int: ...

    @property
    def offset(self) -> int:
        """How far into the file `sections()` has read."""
        ...

    def sections(self) -> Iterator[Section | tuple[Literal["users"], list[UserRow]]]:
        """Events, snapshots, users in file order; raises BackupFileError on damage."""
        ...

    def manifest(self) -> Manifest:
        """The manifest, once `sections()` has been read to its end."""
        ...
