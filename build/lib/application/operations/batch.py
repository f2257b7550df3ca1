"""Stored events as they are stored, a batch at a time, column by column.

A backup moves millions of rows; held as columns (ids and versions as machine
integers, originator ids as one run of 16-byte values, states as one run of bytes
with their lengths), a batch goes between a database and a file with a few C-level
calls per batch instead of several Python objects per row. `rows()` gives the rows
where one is wanted per event (an insert's parameters, a check).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from uuid import UUID

# notification id (0 for a snapshot), originator id (16 bytes), version, topic, state
EventRow = tuple[int, bytes, int, str, bytes]
# name, SHA-256 of the bearer token, admin, created at (epoch seconds)
UserRow = tuple[str, str, bool, float]

ID_BYTES = 16

_INT64 = "q"
_UINT32 = "I" if array("I").itemsize == 4 else "L"
if array(_INT64).itemsize != 8 or array(_UINT32).itemsize != 4:  # pragma: no cover
    raise ImportError("this platform has no 8-byte and 4-byte array types")


def big_endian(values: array[int]) -> bytes:
    """The integers as big-endian bytes (the file's and PostgreSQL's order)."""
    if sys.byteorder == "little":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def from_big_endian(data: bytes, typecode: str) -> array[int]:
    values = array(typecode)
    values.frombytes(data)
    if sys.byteorder == "little":
        values.byteswap()
    return values


@dataclass(frozen=True)
class EventBatch:
    """Stored events (or snapshots, whose ids are 0), in the order they were read."""

    ids: array[int]  # int64
    originators: bytes  # 16 bytes each
    versions: array[int]  # int64
    topics: list[str]
    lengths: array[int]  # uint32: each state's size
    states: bytes  # the states, one after the other, as stored

    def __len__(self) -> int:
        return len(self.versions)

    @classmethod
    def from_rows(cls, rows: Sequence[EventRow]) -> EventBatch:
        if not rows:
            return EMPTY
        ids, originators, versions, topics, states = zip(*rows, strict=True)
        return cls(
            ids=array(_INT64, ids),
            originators=b"".join(originators),
            versions=array(_INT64, versions),
            topics=list(topics),
            lengths=array(_UINT32, map(len, states)),
            states=b"".join(states),
        )

    @classmethod
    def from_hex_ids(
        cls,
        ids: Iterable[int],
        originators_hex: Sequence[str],
        versions: Iterable[int],
        topics: Iterable[str],
        states: Sequence[bytes],
    ) -> EventBatch:
        """From columns whose originator ids are 32 hex digits each (SQLite's storage)."""
        return cls(
            ids=array(_INT64, ids),
            originators=bytes.fromhex("".join(originators_hex)),
            versions=array(_INT64, versions),
            topics=list(topics),
            lengths=array(_UINT32, map(len, states)),
            states=b"".join(states),
        )

    def check_shape(self) -> None:
        """Raise ValueError unless every column has one value per event."""
        n = len(self.versions)
        if not (
            len(self.ids) == len(self.topics) == len(self.lengths) == n
            and len(self.originators) == ID_BYTES * n
            and sum(self.lengths) == len(self.states)
        ):
            raise ValueError("columns of different lengths")

    def originator_list(self) -> list[bytes]:
        data = self.originators
        return [data[i : i + ID_BYTES] for i in range(0, len(data), ID_BYTES)]

    def originator_hex(self) -> list[str]:
        text = self.originators.hex()
        step = 2 * ID_BYTES
        return [text[i : i + step] for i in range(0, len(text), step)]

    def state_list(self) -> list[bytes]:
        data = self.states
        ends = list(accumulate(self.lengths))
        return [data[start:end] for start, end in zip([0, *ends], ends, strict=False)]

    def rows(self) -> list[EventRow]:
        return list(
            zip(
                self.ids,
                self.originator_list(),
                self.versions,
                self.topics,
                self.state_list(),
                strict=True,
            )
        )

    def uuid_rows(self) -> list[tuple[int, UUID, int, str, bytes]]:
        """The rows with their originator ids as UUIDs (what the library's mapper takes)."""
        return [
            (i, UUID(bytes=o), v, t, s)
            for i, o, v, t, s in zip(
                self.ids,
                self.originator_list(),
                self.versions,
                self.topics,
                self.state_list(),
                strict=True,
            )
        ]


EMPTY = EventBatch(array(_INT64), b"", array(_INT64), [], array(_UINT32), b"")


def int64s(values: Iterable[int] = ()) -> array[int]:
    return array(_INT64, values)


def uint32s(values: Iterable[int] = ()) -> array[int]:
    return array(_UINT32, values)


UINT32 = _UINT32
INT64 = _INT64
