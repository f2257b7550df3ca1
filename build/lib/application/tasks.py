"""The worker side of the durable hand-off: claim, renew and release queued tasks.

Two adapters: NATS JetStream (`infrastructure/nats/tasks.py`) whenever NATS is
configured, the production hand-off between processes; and, for a single process
without NATS (`serve` with embedded NATS off, most tests), the `rm_tasks` read model
(`infrastructure/sql/tasks.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ClaimedTask:
    task_id: str
    kind: str
    session_id: str
    payload: dict[str, Any]
    attempts: int


class TaskQueue(Protocol):
    # True when `claim` itself waits (a while) for work to come; False when it
    # answers at once and the worker waits between looks.
    waits_for_work: bool

    def claim(self, worker: str, kinds: Sequence[str], lease_s: float) -> ClaimedTask | None: ...

    def renew(self, task_id: str, worker: str, lease_s: float) -> bool:
        """Extend the lease; False when another worker took the task over."""
        ...

    def release(self, task_id: str, worker: str, done: bool = True) -> None:
        """Give the task back: `done` when its run ended, else it is to run again."""
        ...

    def state(self, task_id: str) -> str | None: ...
