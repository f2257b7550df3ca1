"""Where each projection stands: position, lag, leader, rebuild (the admin's view).

Not a read model of its own: the runner's bookkeeping (tracked positions, leases,
rebuilds) answers it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from projections.base import ProjectionRunner, ProjectionStatus, RebuildStatus


def _moment(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def rebuild_view(rebuild: RebuildStatus | None) -> dict[str, Any] | None:
    if rebuild is None:
        return None
    return {
        "state": rebuild.state,
        "started_at": _moment(rebuild.started_at),
        "finished_at": _moment(rebuild.finished_at) if rebuild.finished_at is not None else None,
        "position": rebuild.position,
        "events_per_s": round(rebuild.events_per_s, 1) if rebuild.events_per_s else None,
        "error": rebuild.error,
    }


def projection_view(s: ProjectionStatus) -> dict[str, Any]:
    return {
        "name": s.name,
        "position": s.position,
        "head": s.head,
        "lag_events": s.lag_events,
        "lag_seconds": s.lag_seconds,
        "leader": s.leader,
        "leading_here": s.leading_here,
        "rebuildable": s.rebuildable,
        "rebuild": rebuild_view(s.rebuild),
    }


class ProjectionsView:
    """Each projection's position, the event store's head, and the lag between them."""

    def __init__(
        self,
        runner: ProjectionRunner,
        head: Callable[[], int],
        publishing: ProjectionRunner | None = None,
    ) -> None:
        self.runner = runner
        self.head = head
        # The runner of the projections that publish (live progress, task dispatch):
        # listed too, with their lag, though they cannot be rebuilt.
        self.publishing = publishing

    def runner_of(self, name: str) -> ProjectionRunner | None:
        for runner in (self.runner, self.publishing):
            if runner is not None and name in runner.projections:
                return runner
        return None

    def names(self) -> list[str]:
        names = list(self.runner.projections)
        if self.publishing is not None:
            names += [n for n in self.publishing.projections if n not in names]
        return sorted(names)

    def overview(self) -> dict[str, Any]:
        head = self.head()  # one head for all: the lags are comparable
        statuses = self.runner.status(head)
        if self.publishing is not None:
            known = {s.name for s in statuses}
            statuses += [s for s in self.publishing.status(head) if s.name not in known]
        return {
            "head": head,
            "projections": [projection_view(s) for s in statuses],
        }

    @staticmethod
    def rebuild(rebuild: RebuildStatus | None) -> dict[str, Any] | None:
        return rebuild_view(rebuild)
