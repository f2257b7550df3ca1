"""Domain exceptions. The interfaces map each family to an HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused because it would break an invariant."""

    error_category = "user_fixable"

    def __init__(self, detail: str, recovery_actions: list[str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.recovery_actions = recovery_actions or []


class NotFoundError(DomainError):
    """The thing named does not exist (or is not visible to the caller)."""


class ConflictError(DomainError):
    """The command does not fit the current state (stage, version, ...)."""


class InvalidCommandError(DomainError):
    """The command's own arguments are wrong."""


class StaleVersionError(ConflictError):
    """The client edited a version that is no longer current."""

    def __init__(self, detail: str, current_version: int) -> None:
        super().__init__(
            detail,
            ["Reload the ticket, re-apply your change to the current version, and send it again"],
        )
        self.current_version = current_version


class DependencyCycleError(InvalidCommandError):
    """Adding the dependency would make the ticket graph cyclic."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__(
            "Dependency refused: it would create the cycle " + " -> ".join(cycle),
            ["Remove one of the dependencies in the cycle first, or choose another ticket"],
        )
        self.cycle = cycle
