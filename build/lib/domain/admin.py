"""`AdminActivity`: what one administrator did, as events (itself part of the audit trail)."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class AdminActivity(Aggregate):
    """One aggregate per admin user; every admin request appends `ActionPerformed`."""

    class Started(Aggregate.Created):
        admin: str

    @event(Started)
    def __init__(self, *, admin: str) -> None:
        self.admin = admin
        self.actions = 0

    @staticmethod
    def create_id(admin: str) -> UUID:
        return activity_id(admin)

    class ActionPerformed(Aggregate.Event):
        action: str
        target: str
        parameters: dict[str, Any]
        actor: str

    @event(ActionPerformed)
    def record(self, action: str, target: str, parameters: dict[str, Any], actor: str) -> None:
        self.actions += 1


def activity_id(admin: str) -> UUID:
    """The activity aggregate of an admin is named by the admin, so it is found, not searched."""
    return uuid5(NAMESPACE_URL, f"ticketforge:admin-activity:{admin}")
