"""The read-model store port (`projections.store.ReadModelStore`), one suite for every
implementation: the SQL store on SQLite and on PostgreSQL.

What the projections rely on: a batch's rows and its position commit together or not
at all, a batch reads its own writes, one batch per projection at a time, side effects
run just before the commit (and never in a rebuild), a rebuild's copy stays out of
sight until it is swapped in, and documents come back exactly as they went in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infrastructure.sql.readmodels import SqlReadModelStore
from projections.store import PositionMovedError, ReadModelStore, ViewTransaction, shadow_name
from tests.integration.contracts.conftest import OpenDatabase

NAME = "contract"
TABLE = "contract_docs"
OTHER = "contract_other"

# Text that breaks naive encodings: COPY's escapes, JSON's, SQL's quotes, non-BMP.
HOSTILE = ["tab\there", "new\nline", "cr\rlf", "back\\slash", "\\N", 'quote\'s "q"', "é 中 🎫", ""]


class ReadModelStoreContract:
    """What every read-model store does; subclasses provide `store` on their backend."""

    @pytest.fixture
    def store(self) -> ReadModelStore:
        raise NotImplementedError

    # --- a projector's batch ---------------------------------------------------------

    def test_a_batch_commits_its_rows_with_its_position(self, store: ReadModelStore) -> None:
        with store.transaction(NAME) as tx:
            tx.put(TABLE, "k1", {"n": 1}, partition="p", owner="o", sort=2)
            tx.position = 7

        assert store.get(TABLE, "k1") == {"n": 1}
        assert store.position(NAME) == 7
        (tracked,) = [p for p in store.positions() if p.name == NAME]
        assert tracked.position == 7
        assert tracked.updated_at is not None

    def test_a_failed_batch_leaves_rows_and_position_as_they_were(
        self, store: ReadModelStore
    ) -> None:
        with store.transaction(NAME) as tx:
            tx.put(TABLE, "kept", {"v": 1})
            tx.position = 1

        with pytest.raises(RuntimeError), store.transaction(NAME) as tx:
            tx.put(TABLE, "kept", {"v": 2})
            tx.put(TABLE, "new", {"v": 2})
            tx.delete(TABLE, "kept")
            tx.position = 2
            raise RuntimeError("the projection broke")

        assert store.get(TABLE, "kept") == {"v": 1}
        assert store.get(TABLE, "new") is None
        assert store.position(NAME) == 1

    def test_a_batch_reads_its_own_writes(self, store: ReadModelStore) -> None:
        with store.transaction(NAME) as tx:
            tx.put(TABLE, "stored", {"v": "old"}, partition="p", sort=1)
            tx.put(TABLE, "gone", {"v": "x"}, partition="p", sort=2)
            tx.position = 1

        with store.transaction(NAME) as tx:
            assert tx.get(TABLE, "stored") == {"v": "old"}
            tx.put(TABLE, "stored", {"v": "new"}, partition="p", sort=1)
            tx.put(TABLE, "added", {"v": "y"}, partition="p", sort=0)
            tx.put(TABLE, "elsewhere", {"v": "z"}, partition="q")
            tx.delete(TABLE, "gone")

            assert tx.get(TABLE, "stored") == {"v": "new"}
            assert tx.get(TABLE, "gone") is None
            assert sorted(d["v"] for d in tx.partition(TABLE, "p")) == ["new", "y"]
            got = tx.get(TABLE, "added")
            assert got is not None
            got["v"] = "changed by the caller"  # a copy: the batch's document is untouched
            assert tx.get(TABLE, "added") == {"v": "y"}
            tx.position = 2

        assert store.get(TABLE, "gone") is None
        assert store.list(TABLE, partition="p") == [{"v": "y"}, {"v": "new"}]

    def test_a_batch_that_changes_nothing_keeps_the_position(self, store: ReadModelStore) -> None:
        with store.transaction(NAME) as tx:
            tx.position = 3
        with store.transaction(NAME) as tx:
            assert tx.position == 3

        assert store.position(NAME) == 3

    def test_side_effects_run_in_order_just_before_the_commit(self, store: ReadModelStore) -> None:
        ran: list[str] = []
        with store.transaction(NAME) as tx:
            tx.before_commit(lambda: ran.append("first"))
            tx.before_commit(lambda: ran.append("second"))
            tx.put(TABLE, "k", {"v": 1})
            tx.position = 1
            assert ran == []

        assert ran == ["first", "second"]
        assert store.position(NAME) == 1

    def test_a_failing_side_effect_rolls_the_batch_back(self, store: ReadModelStore) -> None:
        def publish() -> None:
            raise ConnectionError("the bus is away")

        with pytest.raises(ConnectionError), store.transaction(NAME) as tx:
            tx.put(TABLE, "k", {"v": 1})
            tx.before_commit(publish)
            tx.position = 1

        assert store.get(TABLE, "k") is None
        assert store.position(NAME) == 0

    def test_one_batch_per_projection_at_a_time(self, store: ReadModelStore) -> None:
        inside = threading.Event()
        release = threading.Event()
        events: list[str] = []

        def first() -> None:
            with store.transaction(NAME) as tx:
                inside.set()
                release.wait(10)
                tx.position = tx.position + 1
                events.append("first commits")

        def second() -> None:
            inside.wait(10)
            with store.transaction(NAME) as tx:
                events.append(f"second starts at {tx.position}")
                tx.position = tx.position + 1

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        assert inside.wait(10)
        time.sleep(0.3)  # the second batch has had time to start, were it allowed to
        release.set()
        for thread in threads:
            thread.join(30)

        assert events == ["first commits", "second starts at 1"]
        assert store.position(NAME) == 2

    # --- queries ---------------------------------------------------------------------

    def test_list_orders_by_sort_then_key_and_filters(self, store: ReadModelStore) -> None:
        with store.transaction(NAME) as tx:
            tx.put(TABLE, "b", {"id": "b"}, partition="p", owner="alice", sort=1)
            tx.put(TABLE, "a", {"id": "a"}, partition="p", owner="bob", sort=1)
            tx.put(TABLE, "c", {"id": "c"}, partition="p", owner="alice", sort=0)
            tx.put(TABLE, "d", {"id": "d"}, partition="q", owner="alice", sort=0)
            tx.put(OTHER, "a", {"id": "other"})
            tx.position = 1

        def ids(**filters: Any) -> list[str]:
            return [d["id"] for d in store.list(TABLE, **filters)]

        assert ids() == ["c", "d", "a", "b"]
        assert ids(partition="p") == ["c", "a", "b"]
        assert ids(owner="alice") == ["c", "d", "b"]
        assert ids(partition="p", owner="alice") == ["c", "b"]
        assert ids(limit=2) == ["c", "d"]
        assert ids(limit=2, offset=3) == ["b"]
        assert store.count(TABLE) == 4
        assert store.count(TABLE, partition="p", owner="alice") == 2
        assert store.count(TABLE, partition="nowhere") == 0
        assert store.get(OTHER, "a") == {"id": "other"}
        assert store.get(TABLE, "nowhere") is None

    @pytest.mark.parametrize("rows", [3, 450], ids=["few", "many"])
    def test_documents_come_back_as_they_went_in(self, store: ReadModelStore, rows: int) -> None:
        """A few rows (a live batch) and many (a catch-up: other statements, COPY)."""
        doc = {
            "text": HOSTILE,
            "nested": {"list": [1, 2.5, None, True], "empty": {}},
            "big": 2**53 + 1,
            "joined": "".join(HOSTILE),
        }
        docs = {f"{HOSTILE[i % len(HOSTILE)]}#{i}": {**doc, "i": i} for i in range(rows)}
        with store.transaction(NAME) as tx:
            for i, (key, value) in enumerate(docs.items()):
                tx.put(TABLE, key, value, partition=HOSTILE[i % len(HOSTILE)], owner="ö\t", sort=i)
            tx.position = 1

        assert store.list(TABLE) == list(docs.values())
        assert all(store.get(TABLE, key) == value for key, value in list(docs.items())[:20])
        assert store.list(TABLE, partition="\\N", owner="ö\t") == [
            value for i, value in enumerate(docs.values()) if HOSTILE[i % len(HOSTILE)] == "\\N"
        ]

    def test_a_dropped_projection_has_no_rows_and_starts_from_0(
        self, store: ReadModelStore
    ) -> None:
        with store.transaction(NAME) as tx:
            tx.put(TABLE, "k", {"v": 1})
            tx.put(OTHER, "k", {"v": 1})
            tx.position = 5

        store.drop_projection(NAME, [TABLE])

        assert store.position(NAME) == 0
        assert store.list(TABLE) == []
        assert store.get(OTHER, "k") == {"v": 1}  # a table it was not given stays

    # --- a rebuild ---------------------------------------------------------------------

    def test_a_rebuilt_copy_is_out_of_sight_until_it_is_swapped_in(
        self, store: ReadModelStore
    ) -> None:
        with store.transaction(NAME) as tx:
            tx.put(TABLE, "old", {"v": "live"})
            tx.put(TABLE, "both", {"v": "live"})
            tx.position = 10
        ran: list[str] = []
        with store.transaction(NAME, shadow=True) as tx:
            assert tx.get(TABLE, "both") is None  # the copy's own rows, not the live ones
            tx.put(TABLE, "both", {"v": "rebuilt"})
            tx.before_commit(lambda: ran.append("published"))  # a rebuild announces nothing
            tx.position = 8

        assert ran == []
        assert store.get(TABLE, "both") == {"v": "live"}
        assert store.position(NAME) == 10
        assert store.position(shadow_name(NAME)) == 8

        def catch_up(tx: ViewTransaction) -> None:
            assert tx.position == 8
            assert tx.get(TABLE, "both") == {"v": "rebuilt"}
            tx.put(TABLE, "late", {"v": "caught up"})
            tx.position = 11

        assert store.swap_in(NAME, [TABLE], catch_up) == 11

        assert store.list(TABLE) == [{"v": "rebuilt"}, {"v": "caught up"}]
        assert store.get(TABLE, "old") is None
        assert store.position(NAME) == 11
        assert store.position(shadow_name(NAME)) == 0
        with store.transaction(NAME) as tx:  # the live table, wherever its rows are now
            assert tx.get(TABLE, "late") == {"v": "caught up"}
            tx.put(TABLE, "after", {"v": "live again"})
            tx.position = 12
        assert store.count(TABLE) == 3

    def test_a_rebuild_writer_commits_its_batches_in_order(self, store: ReadModelStore) -> None:
        with store.shadow_writer(NAME) as writer:
            for i in range(1, 6):
                with writer.batch() as tx:
                    if i > 1:  # what an earlier batch wrote, committed or not yet
                        assert tx.get(TABLE, f"k{i - 1}") == {"i": i - 1}
                        assert len(tx.partition(TABLE, "p")) == i - 1
                    tx.put(TABLE, f"k{i}", {"i": i}, partition="p", sort=i)
                    tx.position = i * 10

        assert store.position(shadow_name(NAME)) == 50
        assert store.list(TABLE) == []
        store.swap_in(NAME, [TABLE], lambda tx: None)
        assert [d["i"] for d in store.list(TABLE, partition="p")] == [1, 2, 3, 4, 5]

    def test_a_second_rebuild_writing_the_same_copy_is_refused(self, store: ReadModelStore) -> None:
        with pytest.raises(PositionMovedError), store.shadow_writer(NAME) as writer:
            with writer.batch() as tx:
                tx.put(TABLE, "k", {"v": 1})
                tx.position = 1
            with store.transaction(NAME, shadow=True) as other:  # another rebuild
                other.position = 5
            for _ in range(3):  # the failed commit shows in a later batch or on leaving
                with writer.batch() as tx:
                    tx.position += 1


class TestSqlReadModelStoreOnSQLite(ReadModelStoreContract):
    @pytest.fixture
    def store(self, sqlite_database: OpenDatabase) -> Iterator[ReadModelStore]:
        store = SqlReadModelStore(sqlite_database())
        store.create_tables()
        yield store
        store.close()


@pytest.mark.postgres
class TestSqlReadModelStoreOnPostgres(ReadModelStoreContract):
    @pytest.fixture
    def store(self, postgres_database: OpenDatabase) -> Iterator[ReadModelStore]:
        store = SqlReadModelStore(postgres_database())
        store.create_tables()
        yield store
        store.close()
