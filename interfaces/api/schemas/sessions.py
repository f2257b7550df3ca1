"""Answers about sessions: the session, its inventory, its ticket generation."""

from __future__ import annotations

from pydantic import Field

from interfaces.api.schemas.common import Answer, Id, Timestamp


class SiteOut(Answer):
    site_name: str
    description: str = ""
    audience: str = ""


class InventoryFile(Answer):
    file_name: str
    kind: str = Field(description="The kind of entity the file lists (bundles, fields, ...)")
    rows: int


class SessionCounts(Answer):
    entities: int
    by_group: dict[str, int]
    by_kind: dict[str, int]
    tickets: int
    ready: int = Field(description="Ready tickets among those that go to Jira (not obsolete)")
    obsolete: int = 0
    source_changed: int = 0
    conflict: int = Field(0, description="Issues a person edited in Jira (latest export)")


class ValidationRun(Answer):
    status: str
    content_version: int
    tickets_tested: int
    passed: int
    failed: int
    at: Timestamp
    by: str


class SessionValidation(Answer):
    state: str = Field(description="missing | passed | failed | stale")
    content_version: int
    failed_tickets: int
    last_run: ValidationRun | None


class GenerationError(Answer):
    config_name: str
    error: str
    category: str


class GenerationRun(Answer):
    task_id: Id
    generator: str
    attempt: int
    status: str
    total: int
    generated: int
    failed: int
    errors: list[GenerationError]
    requested_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


class SessionOut(Answer):
    id: Id
    name: str
    owner: str
    site: SiteOut
    jira_project_key: str
    issue_type: str
    default_labels: list[str]
    epic_key: str | None
    epic_mode: str = Field(
        "none", description="none | per_group (one epic per ticket group) | existing (epic_key)"
    )
    stage: str
    files: dict[str, InventoryFile] = Field(description="The latest file of each kind")
    warnings: list[str]
    counts: SessionCounts
    content_version: int
    failed_tickets: dict[str, str | None] = Field(
        description="Ticket id -> why its last validation failed"
    )
    last_validation: ValidationRun | None
    generation: GenerationRun | None
    generation_retries: int
    tokens: dict[str, int]
    created_at: Timestamp
    updated_at: Timestamp
    updated_by: str
    version: int
    entities_by_kind: dict[str, dict[str, int]]
    export_id: Id | None
    validation: SessionValidation
    export_ready: bool
    export_blockers: list[str]
    revisions: int = Field(0, description="How many revisions the inventory has had")
    flags: dict[str, list[Id]] = Field(
        default_factory=dict,
        description="Flag (source_changed, obsolete) -> the ids of the tickets flagged so",
    )


class SessionList(Answer):
    sessions: list[SessionOut]
    total: int


class UploadRevision(Answer):
    recorded: bool = Field(description="False: the upload changed nothing and recorded nothing")
    number: int = Field(description="The revision recorded, or (nothing recorded) the latest")
    added: int
    changed: int
    removed: int
    detail: str


class UploadOut(Answer):
    session_id: Id
    files: list[InventoryFile]
    entities: int
    warnings: list[str]
    revision: UploadRevision
    session: SessionOut


class EntityOut(Answer):
    session_id: Id
    config_name: str
    kind: str
    group: str
    label: str
    attributes: dict[str, str]
    depends_on: list[str]
    source_file: str
    source_row: int


class EntityList(Answer):
    entities: list[EntityOut]
    total: int


class ProcessStatus(Answer):
    """Before any run only `stage`, `task_id` (null), `status` and `percentage`."""

    stage: str
    task_id: Id | None
    status: str = Field(description="not_started | requested | running | completed | ...")
    percentage: float
    generator: str | None = None
    attempt: int | None = None
    retries_left: int | None = None
    total: int | None = None
    generated: int | None = None
    failed: int | None = None
    errors: list[GenerationError] | None = None
    tokens: dict[str, int] | None = None
    requested_at: Timestamp | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None


class ProcessStarted(Answer):
    task_id: Id
    already_running: bool
    generator: str
    status_url: str
    status: ProcessStatus
