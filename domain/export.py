"""The `Export` aggregate: one export run of a session to Jira, with its attempts.

Every created issue is recorded the moment Jira answers, so a retry resumes after
the last recorded ticket; an issue whose creation outcome is unknown is looked up by
its mark before it is ever created again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import ConflictError, NotFoundError

MAX_EXPORT_RETRIES = 3


def export_label(ticket_id: UUID) -> str:
    """The mark put on every issue we create, searchable by JQL (`labels = ...`)."""
    return f"tf-{ticket_id.hex[:20]}"


@dataclass
class ExportedIssue:
    ticket_id: UUID
    order: int
    key: str
    url: str
    jira_id: str
    found_by_search: bool = False


@dataclass
class ManualFix:
    fix_id: UUID
    ticket_id: UUID | None
    issue_key: str | None
    kind: str
    detail: str
    recommended_action: str
    resolved: bool = False
    resolution_note: str | None = None


@dataclass
class Failure:
    category: str
    message: str
    failed_ticket_id: UUID | None
    failed_ticket_order: int | None
    recovery_actions: list[str] = field(default_factory=list)


class Export(Aggregate):
    # v1 snapshots (before estimates, key watermarks and phase timings) still load.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.setdefault("estimate", None)
        state.setdefault("key_watermark", None)
        state.setdefault("phases", {})

    class ExportRequested(Aggregate.Created):
        session_id: UUID
        task_id: UUID
        project_key: str
        issue_type: str
        content_version: int
        plan: list[dict[str, Any]]
        actor: str

    @event(ExportRequested)
    def __init__(
        self,
        *,
        session_id: UUID,
        task_id: UUID,
        project_key: str,
        issue_type: str,
        content_version: int,
        plan: list[dict[str, Any]],
        actor: str,
    ) -> None:
        self.session_id = session_id
        self.task_id = task_id
        self.project_key = project_key
        self.issue_type = issue_type
        self.content_version = content_version
        # plan: [{"ticket_id", "order", "depends_on": [ticket ids]}] in export order
        self.plan = [dict(p) for p in plan]
        self.order_index = {UUID(str(p["ticket_id"])): int(p["order"]) for p in plan}
        self.status = "requested"
        self.attempt = 0
        self.retries = 0
        self.runs = 0
        self.issues: dict[UUID, ExportedIssue] = {}
        self.attachments: dict[UUID, list[str]] = {}
        self.links: set[tuple[UUID, UUID]] = set()
        self.fixes: dict[UUID, ManualFix] = {}
        self.failure: Failure | None = None
        self.started_at: Any = None
        self.finished_at: Any = None
        self.sync: dict[str, dict[str, Any]] = {}
        self.synced_up_to: str | None = None
        self.estimate: dict[str, Any] | None = None
        self.key_watermark: int | None = None
        self.phases: dict[str, float] = {}

    @staticmethod
    def create_id(session_id: UUID, task_id: UUID) -> UUID:
        """One export run per request; its id follows from the session and the task."""
        return uuid5(session_id, f"export:{task_id}")

    class ExportStarted(Aggregate.Event):
        attempt: int
        run: int
        worker: str
        actor: str

    class TicketExported(Aggregate.Event):
        ticket_id: UUID
        order: int
        key: str
        url: str
        jira_id: str
        found_by_search: bool
        actor: str

    class AttachmentUploaded(Aggregate.Event):
        ticket_id: UUID
        key: str
        filename: str
        actor: str

    class DependencyLinked(Aggregate.Event):
        ticket_id: UUID
        depends_on: UUID
        blocker_key: str
        blocked_key: str
        actor: str

    class ManualFixRecorded(Aggregate.Event):
        fix_id: UUID
        ticket_id: UUID | None
        issue_key: str | None
        kind: str
        detail: str
        recommended_action: str
        actor: str

    class ManualFixResolved(Aggregate.Event):
        fix_id: UUID
        note: str | None
        actor: str

    class ExportFailed(Aggregate.Event):
        task_id: UUID
        category: str
        message: str
        failed_ticket_id: UUID | None
        failed_ticket_order: int | None
        recovery_actions: list[str]
        actor: str

    class ExportRetried(Aggregate.Event):
        task_id: UUID
        attempt: int
        actor: str

    class ExportEstimated(Aggregate.Event):
        """The requests the run will make and how long they take under Jira's limits."""

        estimate: dict[str, Any]
        actor: str

    class KeyWatermarkNoted(Aggregate.Event):
        """The highest issue key number in the project before this export created any:
        every issue it makes has a higher one (see `application.export.recovery`)."""

        number: int
        actor: str

    class ExportCompleted(Aggregate.Event):
        task_id: UUID
        created: int
        links: int
        manual_fixes: int
        phases: dict[str, float]
        actor: str

        # v1 (before phase timings) had no phases; stored v1 events still load.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("phases", {})

    class IssuesSynced(Aggregate.Event):
        issues: list[dict[str, Any]]
        up_to: str | None
        actor: str

    # --- commands ------------------------------------------------------------

    def check_running(self) -> None:
        if self.status not in ("requested", "running"):
            raise ConflictError(f"Export {self.id} is {self.status}, not running")

    @event(ExportStarted)
    def start(self, attempt: int, run: int, worker: str, actor: str) -> None:
        self.status = "running"
        self.attempt = attempt
        self.runs = run
        self.failure = None

    def record_issue(
        self,
        ticket_id: UUID,
        key: str,
        url: str,
        jira_id: str,
        actor: str,
        *,
        found_by_search: bool = False,
    ) -> None:
        self.check_running()
        if ticket_id in self.issues:
            return
        order = self.order_of(ticket_id)
        self._ticket_exported(
            ticket_id=ticket_id,
            order=order,
            key=key,
            url=url,
            jira_id=jira_id,
            found_by_search=found_by_search,
            actor=actor,
        )

    @event(TicketExported)
    def _ticket_exported(
        self,
        ticket_id: UUID,
        order: int,
        key: str,
        url: str,
        jira_id: str,
        found_by_search: bool,
        actor: str,
    ) -> None:
        self.issues[ticket_id] = ExportedIssue(ticket_id, order, key, url, jira_id, found_by_search)

    @event(AttachmentUploaded)
    def record_attachment(self, ticket_id: UUID, key: str, filename: str, actor: str) -> None:
        self.attachments.setdefault(ticket_id, []).append(filename)

    def record_link(self, ticket_id: UUID, depends_on: UUID, actor: str) -> None:
        if (ticket_id, depends_on) in self.links:
            return
        blocker, blocked = self.issues[depends_on].key, self.issues[ticket_id].key
        self._dependency_linked(
            ticket_id=ticket_id,
            depends_on=depends_on,
            blocker_key=blocker,
            blocked_key=blocked,
            actor=actor,
        )

    @event(DependencyLinked)
    def _dependency_linked(
        self, ticket_id: UUID, depends_on: UUID, blocker_key: str, blocked_key: str, actor: str
    ) -> None:
        self.links.add((ticket_id, depends_on))

    def record_manual_fix(
        self,
        ticket_id: UUID | None,
        kind: str,
        detail: str,
        recommended_action: str,
        actor: str,
    ) -> None:
        """Record a fallback that a person must follow up; the same fix is never recorded twice."""
        fix_id = uuid5(self.id, f"{ticket_id}:{kind}:{detail}")
        if fix_id in self.fixes:
            return
        issue = self.issues.get(ticket_id) if ticket_id else None
        self._manual_fix_recorded(
            fix_id=fix_id,
            ticket_id=ticket_id,
            issue_key=issue.key if issue else None,
            kind=kind,
            detail=detail,
            recommended_action=recommended_action,
            actor=actor,
        )

    @event(ManualFixRecorded)
    def _manual_fix_recorded(
        self,
        fix_id: UUID,
        ticket_id: UUID | None,
        issue_key: str | None,
        kind: str,
        detail: str,
        recommended_action: str,
        actor: str,
    ) -> None:
        self.fixes[fix_id] = ManualFix(
            fix_id, ticket_id, issue_key, kind, detail, recommended_action
        )

    def resolve_manual_fix(self, fix_id: UUID, note: str | None, actor: str) -> None:
        fix = self.fixes.get(fix_id)
        if fix is None:
            raise NotFoundError(f"Manual fix {fix_id} not found in this export")
        if fix.resolved:
            return
        self._manual_fix_resolved(fix_id=fix_id, note=note, actor=actor)

    @event(ManualFixResolved)
    def _manual_fix_resolved(self, fix_id: UUID, note: str | None, actor: str) -> None:
        self.fixes[fix_id].resolved = True
        self.fixes[fix_id].resolution_note = note

    def fail(
        self,
        category: str,
        message: str,
        failed_ticket_id: UUID | None,
        failed_ticket_order: int | None,
        recovery_actions: list[str],
        actor: str,
    ) -> None:
        self._failed(
            task_id=self.task_id,
            category=category,
            message=message,
            failed_ticket_id=failed_ticket_id,
            failed_ticket_order=failed_ticket_order,
            recovery_actions=recovery_actions,
            actor=actor,
        )

    @event(ExportFailed)
    def _failed(
        self,
        task_id: UUID,
        category: str,
        message: str,
        failed_ticket_id: UUID | None,
        failed_ticket_order: int | None,
        recovery_actions: list[str],
        actor: str,
    ) -> None:
        self.status = "failed"
        self.failure = Failure(
            category, message, failed_ticket_id, failed_ticket_order, list(recovery_actions)
        )

    def retry(self, task_id: UUID, actor: str) -> None:
        if self.status in ("requested", "running"):
            raise ConflictError(
                "The export is still running", ["Wait for it to finish or fail, then retry"]
            )
        if self.status != "failed":
            raise ConflictError(f"Only a failed export can be retried; this one is {self.status}")
        if self.retries >= MAX_EXPORT_RETRIES:
            error = ConflictError(
                f"The export was already retried {MAX_EXPORT_RETRIES} times",
                ["Ask a Jira administrator to look at the failure, then start a new export"],
            )
            error.error_category = "admin_required"
            raise error
        self._retried(task_id=task_id, attempt=self.retries + 1, actor=actor)

    @event(ExportRetried)
    def _retried(self, task_id: UUID, attempt: int, actor: str) -> None:
        self.task_id = task_id
        self.retries = attempt
        self.status = "requested"

    @event(ExportEstimated)
    def record_estimate(self, estimate: dict[str, Any], actor: str) -> None:
        self.estimate = dict(estimate)

    def note_key_watermark(self, number: int, actor: str) -> None:
        """Once per export, before its first create; a later run keeps the first."""
        if self.key_watermark is None and not self.issues:
            self._key_watermark_noted(number=number, actor=actor)

    @event(KeyWatermarkNoted)
    def _key_watermark_noted(self, number: int, actor: str) -> None:
        self.key_watermark = number

    def complete(self, actor: str, phases: Mapping[str, float] | None = None) -> None:
        self.check_running()
        missing = [p["order"] for p in self.plan if UUID(str(p["ticket_id"])) not in self.issues]
        if missing:
            raise ConflictError(f"Tickets not exported yet: orders {missing[:10]}")
        self._completed(
            task_id=self.task_id,
            created=len(self.issues),
            links=len(self.links),
            manual_fixes=len(self.fixes),
            phases={name: round(seconds, 3) for name, seconds in (phases or {}).items()},
            actor=actor,
        )

    @event(ExportCompleted)
    def _completed(
        self,
        task_id: UUID,
        created: int,
        links: int,
        manual_fixes: int,
        phases: dict[str, float],
        actor: str,
    ) -> None:
        self.status = "completed"
        self.phases = dict(phases)

    @event(IssuesSynced)
    def record_sync(self, issues: list[dict[str, Any]], up_to: str | None, actor: str) -> None:
        for issue in issues:
            self.sync[str(issue["key"])] = dict(issue)
        if up_to:
            self.synced_up_to = up_to

    # --- queries on the aggregate (for the runner) ---------------------------

    def order_of(self, ticket_id: UUID) -> int:
        try:
            return self.order_index[ticket_id]
        except KeyError:
            raise NotFoundError(f"Ticket {ticket_id} is not part of this export") from None

    def pending_tickets(self) -> list[dict[str, Any]]:
        return [p for p in self.plan if UUID(str(p["ticket_id"])) not in self.issues]

    def pending_links(self) -> list[tuple[UUID, UUID]]:
        wanted = [
            (UUID(str(p["ticket_id"])), UUID(str(d))) for p in self.plan for d in p["depends_on"]
        ]
        return [w for w in wanted if w not in self.links]
