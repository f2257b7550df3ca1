"""The drafter port: anything that turns one inventory entity into a ticket draft."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from domain.inventory import InventoryEntity


@dataclass(frozen=True)
class DraftRequest:
    """What a drafter knows about one entity.

    `related` holds the entities this one depends on and, for a bundle, its fields
    (the entities that depend on it and are fields), so a ticket can name them.
    """

    site: dict[str, str]
    entity: InventoryEntity
    related: tuple[InventoryEntity, ...] = ()


@dataclass(frozen=True)
class Draft:
    title: str
    user_story: str
    analysis: str
    verification: str
    generator: str
    usage: dict[str, int] = field(default_factory=dict)

    def as_fields(self) -> dict[str, str]:
        return {
            "title": self.title,
            "user_story": self.user_story,
            "analysis": self.analysis,
            "verification": self.verification,
        }


class DraftError(Exception):
    """The drafter could not produce a valid draft for this entity.

    `category` is `temporary` (worth retrying later: rate limit, timeout, server down)
    or `invalid_response` (the model answered, but not with a valid ticket).
    """

    def __init__(self, message: str, category: str = "temporary") -> None:
        super().__init__(message)
        self.category = category


class DrafterUnavailable(Exception):
    """The drafter's backend cannot be reached at all (health check failed)."""


class TicketDrafter(Protocol):
    """Turns an entity into a draft. Implementations must be safe to call from threads."""

    @property
    def name(self) -> str:
        """Which generator this is, recorded on every ticket (e.g. `offline`, `openai:gpt-4o`)."""
        ...

    def check_health(self) -> None:
        """Raise DrafterUnavailable when drafting cannot work at all."""
        ...

    def draft(self, request: DraftRequest) -> Draft:
        """Draft one ticket, or raise DraftError."""
        ...
