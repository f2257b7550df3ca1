"""The backup file on its own: what goes in comes out, and any damage is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.operations.batch import EventBatch
from application.operations.port import BackupFileError, Manifest
from infrastructure.backup.file import (
    BackupFileReader,
    BackupFileWriter,
    decode_batch,
    encode_batch,
)

TOPICS = st.sampled_from(
    ["domain.session:Session.TicketEdited", "domain.export:Export.TicketExported", "é:ü"]
)
ROWS = st.lists(
    st.tuples(
        st.integers(1, 2**62),
        st.binary(min_size=16, max_size=16),
        st.integers(1, 2**40),
        TOPICS,
        st.binary(max_size=300),
    ),
    max_size=50,
)


@given(ROWS)
@settings(max_examples=200, deadline=None)
def test_a_batch_comes_back_as_it_went_in(rows: list[Any]) -> None:
    batch = EventBatch.from_rows(rows)
    assert decode_batch(encode_batch(batch)).rows() == [tuple(r) for r in rows]


def manifest(events: int, first: int, last: int, aggregates: int) -> Manifest:
    return Manifest(
        position=last,
        events=events,
        aggregates=aggregates,
        snapshots=1,
        users=1,
        first_id=first,
        last_id=last,
        encrypted=False,
        key_id=None,
        source="test",
        created_at="2026-01-01T00:00:00+00:00",
    )


def write(path: Path) -> tuple[list[Any], Manifest]:
    rows = [(i, bytes([i % 7]) * 16, i // 7 + 1, "t:T", b"{}" * i) for i in range(1, 101)]
    writer = BackupFileWriter(path)
    for start in range(0, 100, 30):
        writer.events(EventBatch.from_rows(rows[start : start + 30]))
    writer.snapshots(EventBatch.from_rows([(0, bytes(16), 3, "t:S", b"snapshot")]))
    writer.users([("alice", "ab" * 32, True, 1.5)])
    written = writer.finish(manifest(100, 1, 100, 7))
    return rows, written


def read(path: Path) -> tuple[list[Any], list[Any], Manifest]:
    reader = BackupFileReader(path)
    events, other = [], []
    for kind, data in reader.sections():
        if kind == "events":
            assert isinstance(data, EventBatch)
            events += data.rows()
        else:
            other.append((kind, data.rows() if isinstance(data, EventBatch) else data))
    return events, other, reader.manifest()


def test_a_file_comes_back_whole_with_its_chain(tmp_path: Path) -> None:
    path = tmp_path / "b.tfb"
    rows, written = write(path)
    events, other, found = read(path)
    assert events == rows
    assert other == [
        ("snapshots", [(0, bytes(16), 3, "t:S", b"snapshot")]),
        ("users", [("alice", "ab" * 32, True, 1.5)]),
    ]
    assert found == written and len(found.chain) == 64
    assert not (tmp_path / "b.tfb.partial").exists()


def test_an_existing_file_is_not_overwritten_and_an_abandoned_one_leaves_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "b.tfb"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        BackupFileWriter(path)
    other = tmp_path / "c.tfb"
    writer = BackupFileWriter(other)
    writer.events(EventBatch.from_rows([(1, bytes(16), 1, "t:T", b"{}")]))
    writer.abandon()
    assert not other.exists() and not (tmp_path / "c.tfb.partial").exists()
    assert path.read_bytes() == b"keep"


@pytest.mark.parametrize("at", [0.1, 0.3, 0.5, 0.7, 0.9, 0.999])
def test_any_flipped_byte_is_found(tmp_path: Path, at: float) -> None:
    path = tmp_path / "b.tfb"
    write(path)
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BackupFileError, match=r"damaged|truncated"):
        read(path)


@pytest.mark.parametrize("keep", [0, 10, 21, 100, -1])
def test_a_cut_off_file_is_truncated(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "b.tfb"
    write(path)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    with pytest.raises(BackupFileError, match=r"truncated|not a ticketforge"):
        read(path)
