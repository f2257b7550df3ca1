"""Answers of the liveness and readiness probes."""

from __future__ import annotations

from pydantic import ConfigDict

from interfaces.api.schemas.common import Answer


class Health(Answer):
    status: str


class Check(Answer):
    ok: bool
    error: str | None = None


class EventStoreCheck(Check):
    head: int | None = None


class ProjectionsCheck(Check):
    lag: dict[str, int] | None = None


class NatsCheck(Check):
    """Reported, never required; the other fields describe the connection and its lag."""

    model_config = ConfigDict(extra="allow")

    required: bool
    configured: bool | None = None


class ReadinessChecks(Answer):
    event_store: EventStoreCheck
    projections: ProjectionsCheck
    nats: NatsCheck


class Readiness(Answer):
    ready: bool
    checks: ReadinessChecks
