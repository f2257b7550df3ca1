"""SQLite: one connection per thread, closed when its thread ends (the API's idle
worker threads and a rebuild's threads come and go; their connections must not pile up)."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

from infrastructure.sql.database import SQLiteDatabase


def test_a_threads_connection_is_closed_when_the_thread_ends(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "rm.db")
    with db.transaction() as cur:
        cur.execute("CREATE TABLE t (x INTEGER)")
    assert db.open_connections == 1

    def work(n: int) -> None:
        with db.transaction() as cur:
            cur.execute("INSERT INTO t VALUES (?)", (n,))

    for n in range(20):
        thread = threading.Thread(target=work, args=(n,))
        thread.start()
        thread.join()
    gc.collect()
    assert db.open_connections == 1  # only this thread's
    with db.read() as cur:
        cur.execute("SELECT COUNT(*) FROM t")
        assert cur.fetchone()[0] == 20
    db.close()
    assert db.open_connections == 0
