"""Answers about the review: tickets, readiness and ADF validation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from interfaces.api.schemas.common import Answer, Id, Timestamp


class TicketValidation(Answer):
    state: str = Field(description="missing | passed | failed | stale")
    content_version: int | None
    error: str | None
    suggested_fix: str | None = Field(None, description="Only for a failed validation")


class TicketOut(Answer):
    id: Id
    session_id: Id
    config_name: str
    kind: str
    group: str
    entity_label: str
    title: str
    user_story: str
    analysis: str
    verification: str
    generator: str
    user_order: int
    depends_on: list[Id]
    ready: bool
    assignee: str | None
    sprint: str | None
    priority: str | None
    labels: list[str]
    version: int = Field(description="Send it back as If-Match to edit the ticket")
    usage: dict[str, int]
    validation: TicketValidation
    flags: list[str] = Field(default_factory=list, description="source_changed | obsolete")
    source_changes: dict[str, list[str]] | None = Field(
        None,
        description="Flagged source_changed: what changed in its entity since a person "
        "edited it, attribute -> [old, new]",
    )
    redraft_pending: bool = Field(False, description="The next generation run drafts it again")
    updated_at: Timestamp
    updated_by: str


class TicketList(Answer):
    session_id: Id
    order: Literal["export", "user"]
    tickets: list[TicketOut]
    total: int


class ReadyCount(Answer):
    ready: int
    total: int


class TicketCheckOut(Answer):
    ticket_id: Id
    ticket_title: str
    status: str
    adf_size_bytes: int | None
    character_reduction: float | None
    error_message: str | None
    suggested_fix: str | None
    attachment_upload_tested: bool
    attachment_upload_status: str | None


class ExportReadiness(Answer):
    ready: bool
    blockers: list[str]


class ValidationOut(Answer):
    session_id: Id
    tickets_tested: int
    all_passed: bool
    passed: int
    failed: int
    results: list[TicketCheckOut]
    content_version: int
    position: int | None
    export_ready: ExportReadiness
