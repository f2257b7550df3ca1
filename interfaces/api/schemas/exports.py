"""Answers about exports to Jira: the run, its summary and manual fixes, sync back."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from interfaces.api.schemas.common import Answer, Id, Timestamp


class ExportStarted(Answer):
    task_id: Id
    export_id: Id
    already_running: bool
    total_tickets: int
    total_dependencies: int
    estimated_duration_seconds: float
    project_key: str
    status_url: str


class ExportEstimate(Answer):
    """What the run is expected to take; open to the details the estimator adds."""

    model_config = ConfigDict(extra="allow")

    duration_s: float
    requests: int | dict[str, int] = Field(description="Jira requests, in all or by kind")


class ExportStatus(Answer):
    export_id: Id
    session_id: Id
    task_id: Id
    status: str = Field(description="requested | running | completed | failed")
    project_key: str
    progress_percentage: float
    tickets_completed: int
    total_tickets: int
    jira_tickets_created: int
    dependencies_total: int
    dependencies_created: int
    attachments_uploaded: int
    manual_fixes_needed: int
    attempt: int
    retry_attempts_used: int
    retry_available: bool
    failed_at_ticket_order: int | None
    failed_ticket_id: Id | None
    error_category: str | None
    user_message: str | None
    recovery_actions: list[str]
    total_processing_time_minutes: float | None
    requested_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    finished_at: Timestamp | None
    estimate: ExportEstimate | None = Field(
        None, description="What the run is expected to take (when known)"
    )
    eta_seconds: float | None = Field(
        None, description="While it runs: the estimate less the time since it was made"
    )
    previous_export_id: Id | None = Field(
        None, description="A re-export: the completed export it brings up to date"
    )
    issues_carried: int | None = Field(None, description="Issues earlier exports made")
    issues_to_update: int | None = Field(None, description="Changed tickets to write to Jira")
    issues_updated: int | None = None
    conflicts: int | None = Field(
        None, description="Issues a person edited in Jira: not overwritten (manual fixes)"
    )
    links_to_remove: int | None = None
    links_removed: int | None = None
    issues_to_mark_obsolete: int | None = None
    issues_marked_obsolete: int | None = None
    phases: dict[str, float] | None = Field(None, description="Seconds spent in each phase")


class ExportRetried(Answer):
    task_id: Id
    export_id: Id
    retry: int
    retries_left: int
    resumes_at_ticket: int | None
    status_url: str


class ManualFix(Answer):
    fix_id: Id
    ticket_id: Id | None
    issue_key: str | None
    kind: str
    detail: str
    recommended_action: str
    resolved: bool
    resolution_note: str | None
    recorded_at: Timestamp
    resolved_by: str | None = Field(None, description="Once resolved")
    choice: str | None = Field(None, description="A resolved conflict: keep_jira | overwrite")


class ManualFixList(Answer):
    export_id: Id
    fixes: list[ManualFix]
    open: int
    total: int


class JiraIssueState(Answer):
    """Where an exported issue stands in Jira, as sync back last read it."""

    key: str
    status: str
    status_category: str
    assignee: str | None
    assignee_email: str | None
    resolution: str | None
    updated: Timestamp | None


class ExportedIssue(Answer):
    ticket_id: Id
    order: int
    jira_key: str
    jira_url: str
    title: str
    found_by_search: bool
    jira: JiraIssueState | None


class DependencyLink(Answer):
    blocker: str
    blocked: str
    type: str


class SummaryFix(Answer):
    fix_id: Id
    ticket_id: Id | None
    jira_key: str | None
    jira_url: str | None
    title: str
    issue_type: str
    detail: str
    recommended_action: str
    resolved: bool
    resolution_note: str | None


class ExportedEpic(Answer):
    group: str
    name: str
    jira_key: str
    jira_url: str
    children: int = Field(description="How many of the export's tickets are under it")
    found_by_search: bool


class ExportSummary(ExportStatus):
    total_tickets_created: int
    epics: list[ExportedEpic] = Field(
        default_factory=list, description="The groups' epics (epic_mode per_group)"
    )
    jira_tickets: list[ExportedIssue]
    dependencies: list[DependencyLink]
    manual_fixes: list[SummaryFix]
    synced_at: Timestamp | None


class SyncOut(Answer):
    updated: int
    issues: list[JiraIssueState] = Field(description="The issues that changed since last sync")
    fetched: int


class ProjectCheckOut(Answer):
    ok: bool
    project_key: str
    issue_type: str
    issue_type_id: str | None
    problems: list[str] = Field(description="Why an export would not start")
    warnings: list[str] = Field(description="What an export would fall back on")
    blocks_link_type: bool
    priorities: list[str]
    sprints: list[str]
    assignees: dict[str, str | None] = Field(description="Email or accountId -> accountId")
    account: str | None
    skipped: list[str] = Field(description="Checks not needed by the tickets, and why")
    latency_ms: float = Field(description="A round trip to this Jira, as measured")
    estimate: ExportEstimate | None = Field(
        None, description="With session_id: the export's requests and duration"
    )


class PlanCategory(Answer):
    count: int
    items: list[dict[str, Any]] = Field(description="One entry per issue or link")


class ExportPlan(Answer):
    """What the next export would do; nothing is written to Jira to answer it."""

    create: PlanCategory = Field(description="Tickets without an issue: created")
    epics: PlanCategory = Field(
        description="epic_mode per_group: the groups' epics to create first "
        "({group, name, children})"
    )
    update: PlanCategory = Field(
        description="Issues whose ticket changed: per field, [Jira's value, ours]"
    )
    link: PlanCategory = Field(description="'Blocks' links to add")
    unlink: PlanCategory = Field(description="'Blocks' links to remove")
    obsolete: PlanCategory = Field(description="Issues of removed entities: labelled")
    conflicts: PlanCategory = Field(
        description="Issues a person edited in Jira: left as they are, a manual fix each"
    )
    requests: int = Field(description="Requests the export would make")
    estimated_seconds: float = Field(description="Under Jira's limits")
    previous_export_id: Id | None = Field(description="The completed export it brings up to date")
