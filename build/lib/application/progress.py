"""What a long-running task reports as it goes (generation and export alike)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Progress:
    session_id: UUID
    task_id: UUID
    percentage: float
    stage: str
    completed: int
    failed: int
    total: int
    eta_seconds: float | None


ProgressCallback = Callable[[Progress], None]
