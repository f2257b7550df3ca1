"""Faults the sandbox injects on purpose, set at start-up or at run time.

| field                          | effect                                                      |
|--------------------------------|-------------------------------------------------------------|
| `latency_ms`                   | every API request is answered this much later               |
| `fail_create_every`            | every Nth create (single or bulk) answers 5xx AFTER storing |
| `fail_create_next`             | the next N creates answer 5xx AFTER storing                 |
| `fail_create_status`           | the status of those answers (default 500)                   |
| `fail_write_next`              | the next N edits, link removals and comments answer 5xx     |
|                                | AFTER storing (the status: `fail_create_status`)            |
| `timeout_next`                 | the next N API requests are answered `timeout_seconds` late |
|                                | (the work is done first, so a create does happen)           |
| `unauthorized_from_request`    | from the Nth API request on (counted from when it was set)  |
|                                | every request gets 401                                      |
| `rate_limit_storm_next`        | the next N API requests get 429 with `Retry-After`          |
| `rate_limit_storm_retry_after` | that `Retry-After`, in seconds                              |
| `missing_link_types`           | link types that do not exist (e.g. `["Blocks"]`)            |
| `missing_issue_types`          | issue types the projects do not have (e.g. `["Epic"]`)      |
| `search_lag_ms`                | JQL search does not see an issue until this long after its  |
|                                | creation (Jira Cloud's search index lags; GET does not)     |
| `forbidden_routes`             | routes (`GET /rest/api/3/priority/search`) answered 403, as |
|                                | for an account without the permission they need             |
| `user_time_zone`               | (a setting) the user's IANA zone; JQL dates are read in it  |

Counters restart for a fault whenever it is set again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


@dataclass(frozen=True)
class FaultConfig:
    latency_ms: float = 0.0
    fail_create_every: int = 0
    fail_create_next: int = 0
    fail_create_status: int = 500
    fail_write_next: int = 0
    timeout_next: int = 0
    timeout_seconds: float = 35.0
    unauthorized_from_request: int = 0
    rate_limit_storm_next: int = 0
    rate_limit_storm_retry_after: float = 1.0
    missing_link_types: tuple[str, ...] = ()
    missing_issue_types: tuple[str, ...] = ()
    search_lag_ms: float = 0.0
    forbidden_routes: tuple[str, ...] = ()
    # Not a fault but a setting: the API user's time zone (`/myself`'s `timeZone`), in
    # which JQL dates are read, as Jira Cloud reads them in the searching user's zone.
    user_time_zone: str = "UTC"


class FaultUpdate(BaseModel):
    """Body of `POST /_sandbox/faults`: only the faults to change."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float | None = Field(default=None, ge=0)
    fail_create_every: int | None = Field(default=None, ge=0)
    fail_create_next: int | None = Field(default=None, ge=0)
    fail_create_status: int | None = Field(default=None, ge=500, le=599)
    fail_write_next: int | None = Field(default=None, ge=0)
    timeout_next: int | None = Field(default=None, ge=0)
    timeout_seconds: float | None = Field(default=None, ge=0)
    unauthorized_from_request: int | None = Field(default=None, ge=0)
    rate_limit_storm_next: int | None = Field(default=None, ge=0)
    rate_limit_storm_retry_after: float | None = Field(default=None, ge=0)
    missing_link_types: list[str] | None = None
    missing_issue_types: list[str] | None = None
    search_lag_ms: float | None = Field(default=None, ge=0)
    forbidden_routes: list[str] | None = None
    user_time_zone: str | None = None

    @field_validator("user_time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    def changes(self) -> dict[str, Any]:
        changed = self.model_dump(exclude_none=True)
        for name in ("missing_link_types", "missing_issue_types", "forbidden_routes"):
            if name in changed:
                changed[name] = tuple(changed[name])
        return changed


class FaultInjector:
    """Decides, thread-safely, which request gets which fault."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.reset(config or FaultConfig())

    def reset(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._requests_seen = 0
            self._creates_seen = 0

    def update(self, changes: Mapping[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(FaultConfig)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown faults: {sorted(unknown)}")
        with self._lock:
            self._config = replace(self._config, **changes)
            if "unauthorized_from_request" in changes:
                self._requests_seen = 0
            if "fail_create_every" in changes:
                self._creates_seen = 0
            return self._config

    @property
    def config(self) -> FaultConfig:
        return self._config

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self._config)
        data["missing_link_types"] = list(self._config.missing_link_types)
        data["missing_issue_types"] = list(self._config.missing_issue_types)
        data["forbidden_routes"] = list(self._config.forbidden_routes)
        return data

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self._config.user_time_zone)

    def latency_seconds(self) -> float:
        return self._config.latency_ms / 1000.0

    def unauthorized(self) -> bool:
        """Count one API request; True when it falls in the 401 range."""
        with self._lock:
            self._requests_seen += 1
            start = self._config.unauthorized_from_request
            return bool(start) and self._requests_seen >= start

    def take_storm(self) -> float | None:
        """The Retry-After for this request if it is caught in a 429 storm."""
        with self._lock:
            if self._config.rate_limit_storm_next <= 0:
                return None
            self._config = replace(
                self._config, rate_limit_storm_next=self._config.rate_limit_storm_next - 1
            )
            return self._config.rate_limit_storm_retry_after

    def take_timeout(self) -> float | None:
        """How late to answer this request, if it is one of the next N to time out."""
        with self._lock:
            if self._config.timeout_next <= 0:
                return None
            self._config = replace(self._config, timeout_next=self._config.timeout_next - 1)
            return self._config.timeout_seconds

    def create_failure(self) -> int | None:
        """Count one stored create; the 5xx status to answer instead, if it must fail."""
        with self._lock:
            self._creates_seen += 1
            config = self._config
            if config.fail_create_next > 0:
                self._config = replace(config, fail_create_next=config.fail_create_next - 1)
                return config.fail_create_status
            every = config.fail_create_every
            if every and self._creates_seen % every == 0:
                return config.fail_create_status
            return None

    def write_failure(self) -> int | None:
        """For one stored edit, link removal or comment: the 5xx to answer instead, if any."""
        with self._lock:
            config = self._config
            if config.fail_write_next > 0:
                self._config = replace(config, fail_write_next=config.fail_write_next - 1)
                return config.fail_create_status
            return None

    def issue_type_missing(self, name: str) -> bool:
        return name.lower() in {n.lower() for n in self._config.missing_issue_types}

    def link_type_missing(self, name: str) -> bool:
        return name.lower() in {n.lower() for n in self._config.missing_link_types}
