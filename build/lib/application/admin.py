"""Admin commands and history queries on the write side.

Looking into the past is a write-side concern: the aggregate as it was at version N
is the event store's answer (`repository.get(id, version=N)`), with snapshots
keeping that fast for long histories. Every admin action is itself recorded, on the
admin's own `AdminActivity` aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from application.unit_of_work import get, save_with_retry
from application.users import User
from domain.admin import AdminActivity, activity_id
from domain.errors import InvalidCommandError, NotFoundError

A = TypeVar("A", bound=Aggregate)


def record_admin_action(
    app: Application[UUID], user: User, action: str, target: str, parameters: dict[str, Any]
) -> int | None:
    """Append `ActionPerformed` to the admin's activity; return the event's position."""

    def work() -> tuple[list[AdminActivity], None]:
        try:
            activity = get(app, AdminActivity, activity_id(user.name))
        except NotFoundError:
            activity = AdminActivity(admin=user.name)
        activity.record(action=action, target=target, parameters=parameters, actor=user.name)
        return [activity], None

    _, recordings = save_with_retry(app, work, f"The admin activity of {user.name}")
    return recordings[-1].notification.id if recordings else None


@dataclass(frozen=True)
class PastState:
    """An aggregate as it was after its event number `version`, and that event."""

    aggregate: Aggregate
    version: int
    current_version: int
    event: Any


def state_at(
    app: Application[UUID], kind: type[A], aggregate_id: UUID, version: int | None
) -> PastState:
    """The aggregate `kind` with this id as of `version` (default: now)."""
    try:
        current = get(app, kind, aggregate_id)
    except NotFoundError:
        raise NotFoundError(f"No {kind.__name__} {aggregate_id}") from None
    if version is None:
        version = current.version
    if not 1 <= version <= current.version:
        raise InvalidCommandError(
            f"{kind.__name__} {aggregate_id} has versions 1 to {current.version}, not {version}",
            [f"Ask for a version between 1 and {current.version}"],
        )
    past: Aggregate = app.repository.get(aggregate_id, version=version)
    events = list(app.events.get(aggregate_id, gt=version - 1, lte=version))
    return PastState(
        aggregate=past,
        version=version,
        current_version=current.version,
        event=events[0] if events else None,
    )
