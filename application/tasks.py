"""The worker side of the durable hand-off: claim, renew and release queued tasks."""

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
    def claim(self, worker: str, kinds: Sequence[str], lease_s: float) -> ClaimedTask | None: ...

    def renew(self, task_id: str, worker: str, lease_s: float) -> bool:
        """Extend the lease; False when another worker took the task over."""
        ...

    def release(self, task_id: str, worker: str) -> None: ...

    def state(self, task_id: str) -> str | None: ...
