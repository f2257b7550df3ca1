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

from domain.errors import ConflictError, InvalidCommandError, NotFoundError

MAX_EXPORT_RETRIES = 3
OBSOLETE_LABEL = "tf-obsolete"
KEEP_JIRA, OVERWRITE = "keep_jira", "overwrite"  # the choices that resolve a conflict


def export_label(ticket_id: UUID) -> str:
    """The mark put on every issue we create, searchable by JQL (`labels = ...`)."""
    return f"tf-{ticket_id.hex[:20]}"


def epic_id(session_id: UUID, group: str) -> UUID:
    """The identity of a session's epic for one ticket group: its mark is
    `export_label(epic_id(...))`, so a lost answer or a crash finds it again."""
    return uuid5(session_id, f"ticketforge:epic:{group}")


@dataclass
class ExportedEpic:
    """The epic made (or found) for one ticket group; `children`: tickets placed under it."""

    group: str
    epic_id: UUID
    name: str
    key: str
    url: str
    jira_id: str
    children: int
    found_by_search: bool = False
    carried: bool = False  # made by an earlier export of the session


@dataclass
class ExportedIssue:
    ticket_id: UUID
    order: int
    key: str
    url: str
    jira_id: str
    found_by_search: bool = False
    carried: bool = False  # made by an earlier export of the session


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
    choice: str | None = None  # for a conflict: KEEP_JIRA or OVERWRITE


@dataclass
class Failure:
    category: str
    message: str
    failed_ticket_id: UUID | None
    failed_ticket_order: int | None
    recovery_actions: list[str] = field(default_factory=list)


class Export(Aggregate):
    # Older snapshots still load: v1 before estimates, key watermarks and phase timings,
    # v2 before re-exports, v3 before epics.
    class_version = 4

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.setdefault("estimate", None)
        state.setdefault("key_watermark", None)
        state.setdefault("phases", {})

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state.setdefault("previous_export_id", None)
        state.setdefault("recover_after", None)
        state.setdefault("retired", {})
        state.setdefault("sent", {})
        state.setdefault("updated", {})
        state.setdefault("conflicts", {})
        state.setdefault("to_unlink", [])
        state.setdefault("unlinked", set())
        state.setdefault("to_mark_obsolete", [])
        state.setdefault("obsolete", set())
        state.setdefault("force", set())

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        state.setdefault("epics", {})

    class ExportRequested(Aggregate.Created):
        """`carried`: what earlier exports of the session left in Jira (see `_carry`)."""

        session_id: UUID
        task_id: UUID
        project_key: str
        issue_type: str
        content_version: int
        plan: list[dict[str, Any]]
        carried: dict[str, Any]
        actor: str

        # v1 (first exports only) had no `carried`; stored v1 events still load.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("carried", {})

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
        carried: dict[str, Any] | None = None,
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
        self._carry(carried or {})

    def _carry(self, carried: dict[str, Any]) -> None:
        """What earlier exports left in Jira: their issues (what was sent: `sent`), the
        links among them still wanted, links to remove, issues to mark obsolete."""
        previous = carried.get("previous_export_id")
        self.previous_export_id: UUID | None = UUID(str(previous)) if previous else None
        self.sent: dict[UUID, dict[str, Any]] = {}
        for raw in carried.get("issues", ()):
            ticket_id = UUID(str(raw["ticket_id"]))
            self.issues[ticket_id] = ExportedIssue(
                ticket_id,
                self.order_index[ticket_id],
                str(raw["key"]),
                str(raw["url"]),
                str(raw["jira_id"]),
                carried=True,
            )
            self.sent[ticket_id] = dict(raw.get("sent") or {})
        # issues of tickets no longer in the plan (their entity left the site)
        self.retired: dict[UUID, dict[str, Any]] = {
            UUID(str(r["ticket_id"])): dict(r) for r in carried.get("retired", ())
        }
        for ticket_id, retired in self.retired.items():
            self.sent[ticket_id] = dict(retired.get("sent") or {})
        self.links.update((UUID(str(t)), UUID(str(d))) for t, d in carried.get("links", ()))
        # [ticket id, depends on, blocker key, blocked key]
        self.to_unlink: list[list[str]] = [list(u) for u in carried.get("unlink", ())]
        self.unlinked: set[tuple[UUID, UUID]] = set()
        # {"ticket_id", "key", "url", "sent"}
        self.to_mark_obsolete: list[dict[str, Any]] = [dict(o) for o in carried.get("obsolete", ())]
        self.obsolete: set[UUID] = {UUID(str(t)) for t in carried.get("obsolete_done", ())}
        self.force: set[UUID] = {UUID(str(t)) for t in carried.get("force", ())}
        # after a failed export: the issues it may have made unrecorded are above this
        self.recover_after: int | None = carried.get("recover_after")
        if self.recover_after is not None:
            self.key_watermark = self.recover_after
        self.updated: dict[UUID, dict[str, Any]] = {}  # ticket -> what was sent
        self.conflicts: dict[UUID, dict[str, Any]] = {}
        # group -> the epic of that group (epic_mode per_group), earlier exports' included
        self.epics: dict[str, ExportedEpic] = {
            str(raw["group"]): ExportedEpic(
                str(raw["group"]),
                UUID(str(raw["epic_id"])),
                str(raw["name"]),
                str(raw["key"]),
                str(raw["url"]),
                str(raw["jira_id"]),
                int(raw.get("children", 0)),
                carried=True,
            )
            for raw in carried.get("epics", ())
        }

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
        sent: dict[str, Any]
        actor: str

        # v1 (before re-exports) did not record what was sent.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("sent", {})

    class EpicExported(Aggregate.Event):
        """The epic of a ticket group exists in Jira: created, or found by its mark."""

        group: str
        epic_id: UUID
        name: str
        key: str
        url: str
        jira_id: str
        children: int
        found_by_search: bool
        actor: str

    class TicketIssueUpdated(Aggregate.Event):
        """A changed ticket's text reached its issue (summary, description, labels)."""

        ticket_id: UUID
        key: str
        sent: dict[str, Any]
        actor: str

    class ExportConflictRecorded(Aggregate.Event):
        """A person edited the issue in Jira since we last wrote it: not overwritten."""

        ticket_id: UUID
        key: str
        ours: dict[str, Any]
        theirs: dict[str, Any]
        actor: str

    class IssueLinkRemoved(Aggregate.Event):
        ticket_id: UUID
        depends_on: UUID
        blocker_key: str
        blocked_key: str
        actor: str

    class IssueMarkedObsolete(Aggregate.Event):
        """Its entity left the site: labelled `tf-obsolete` and commented, never deleted."""

        ticket_id: UUID
        key: str
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
        choice: str | None
        actor: str

        # v1 (before conflicts) had no choice.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("choice", None)

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
        sent: dict[str, Any] | None = None,
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
            sent=dict(sent or {}),
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
        sent: dict[str, Any],
        actor: str,
    ) -> None:
        self.issues[ticket_id] = ExportedIssue(ticket_id, order, key, url, jira_id, found_by_search)
        self.sent[ticket_id] = dict(sent)

    def record_epic(
        self,
        group: str,
        epic: UUID,
        name: str,
        key: str,
        url: str,
        jira_id: str,
        children: int,
        actor: str,
        *,
        found_by_search: bool = False,
    ) -> None:
        self.check_running()
        if group in self.epics:
            return
        self._epic_exported(
            group=group,
            epic_id=epic,
            name=name,
            key=key,
            url=url,
            jira_id=jira_id,
            children=children,
            found_by_search=found_by_search,
            actor=actor,
        )

    @event(EpicExported)
    def _epic_exported(
        self,
        group: str,
        epic_id: UUID,
        name: str,
        key: str,
        url: str,
        jira_id: str,
        children: int,
        found_by_search: bool,
        actor: str,
    ) -> None:
        self.epics[group] = ExportedEpic(
            group, epic_id, name, key, url, jira_id, children, found_by_search
        )

    def record_update(self, ticket_id: UUID, sent: dict[str, Any], actor: str) -> None:
        self.check_running()
        if ticket_id in self.updated or ticket_id in self.conflicts:
            return
        self._issue_updated(
            ticket_id=ticket_id, key=self.issues[ticket_id].key, sent=dict(sent), actor=actor
        )

    @event(TicketIssueUpdated)
    def _issue_updated(self, ticket_id: UUID, key: str, sent: dict[str, Any], actor: str) -> None:
        self.updated[ticket_id] = dict(sent)
        self.sent[ticket_id] = dict(sent)

    def record_conflict(
        self,
        ticket_id: UUID,
        ours: dict[str, Any],
        theirs: dict[str, Any],
        actor: str,
    ) -> None:
        """Ours: what we would send (`source`, `summary`, `text`); theirs: what Jira has
        (`jira` fingerprint, `summary`, `text`). A manual fix asks a person to choose."""
        self.check_running()
        if ticket_id in self.updated or ticket_id in self.conflicts:
            return
        key = self.issues[ticket_id].key
        self._conflict_recorded(
            ticket_id=ticket_id, key=key, ours=dict(ours), theirs=dict(theirs), actor=actor
        )
        self.record_manual_fix(
            ticket_id,
            "conflict",
            f"{key} was edited in Jira since ticketforge last wrote it; not overwritten. "
            f"Jira's summary: {theirs.get('summary', '')!r}; ours: {ours.get('summary', '')!r}",
            "Resolve with choice 'keep_jira' (leave Jira's text) or 'overwrite' (the next "
            "export writes ours)",
            actor,
        )

    @event(ExportConflictRecorded)
    def _conflict_recorded(
        self,
        ticket_id: UUID,
        key: str,
        ours: dict[str, Any],
        theirs: dict[str, Any],
        actor: str,
    ) -> None:
        self.conflicts[ticket_id] = {"ours": dict(ours), "theirs": dict(theirs)}

    def record_unlink(self, ticket_id: UUID, depends_on: UUID, actor: str) -> None:
        self.check_running()
        if (ticket_id, depends_on) in self.unlinked:
            return
        wanted = next(
            (u for u in self.to_unlink if (UUID(u[0]), UUID(u[1])) == (ticket_id, depends_on)),
            None,
        )
        if wanted is None:
            raise NotFoundError(f"No link {depends_on} -> {ticket_id} to remove in this export")
        self._link_removed(
            ticket_id=ticket_id,
            depends_on=depends_on,
            blocker_key=wanted[2],
            blocked_key=wanted[3],
            actor=actor,
        )

    @event(IssueLinkRemoved)
    def _link_removed(
        self, ticket_id: UUID, depends_on: UUID, blocker_key: str, blocked_key: str, actor: str
    ) -> None:
        self.unlinked.add((ticket_id, depends_on))

    def record_obsolete(self, ticket_id: UUID, actor: str) -> None:
        self.check_running()
        if ticket_id in self.obsolete:
            return
        wanted = next((o for o in self.to_mark_obsolete if UUID(o["ticket_id"]) == ticket_id), None)
        if wanted is None:
            raise NotFoundError(f"Ticket {ticket_id} is not to be marked obsolete here")
        self._marked_obsolete(ticket_id=ticket_id, key=str(wanted["key"]), actor=actor)

    @event(IssueMarkedObsolete)
    def _marked_obsolete(self, ticket_id: UUID, key: str, actor: str) -> None:
        self.obsolete.add(ticket_id)

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

    def resolve_manual_fix(
        self, fix_id: UUID, note: str | None, actor: str, choice: str | None = None
    ) -> None:
        """Mark a fix done. A conflict needs a choice: KEEP_JIRA (Jira's text stays, until
        ours changes again) or OVERWRITE (the next export writes ours)."""
        fix = self.fixes.get(fix_id)
        if fix is None:
            raise NotFoundError(f"Manual fix {fix_id} not found in this export")
        if fix.kind == "conflict" and choice not in (KEEP_JIRA, OVERWRITE):
            raise InvalidCommandError(
                "A conflict is resolved with a choice: 'keep_jira' or 'overwrite'",
                ["Send {'choice': 'keep_jira'} or {'choice': 'overwrite'}"],
            )
        if fix.kind != "conflict" and choice is not None:
            raise InvalidCommandError(f"Only a conflict takes a choice; this fix is {fix.kind}")
        if fix.resolved:
            return
        self._manual_fix_resolved(fix_id=fix_id, note=note, choice=choice, actor=actor)

    @event(ManualFixResolved)
    def _manual_fix_resolved(
        self, fix_id: UUID, note: str | None, choice: str | None, actor: str
    ) -> None:
        self.fixes[fix_id].resolved = True
        self.fixes[fix_id].resolution_note = note
        self.fixes[fix_id].choice = choice

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
        """Once per export, before its first create; a later run keeps the first. (The
        issues a re-export carries from earlier exports were made before it.)"""
        if self.key_watermark is None and not self.created_here():
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

    def created_here(self) -> list[ExportedIssue]:
        """The issues this export made (not those carried from earlier exports)."""
        return [issue for issue in self.issues.values() if not issue.carried]

    def pending_updates(self) -> list[dict[str, Any]]:
        """Plan items whose issue an earlier export made and whose text changed since it
        was last sent (or a person chose to overwrite Jira's), not yet done here."""
        return [
            p
            for p in self.plan
            if (t := UUID(str(p["ticket_id"]))) in self.issues
            and self.issues[t].carried
            and t not in self.updated
            and t not in self.conflicts
            and (t in self.force or self.sent.get(t, {}).get("source") != p.get("source_hash"))
        ]

    def pending_unlinks(self) -> list[tuple[UUID, UUID, str, str]]:
        return [
            (UUID(u[0]), UUID(u[1]), u[2], u[3])
            for u in self.to_unlink
            if (UUID(u[0]), UUID(u[1])) not in self.unlinked
        ]

    def pending_obsolete(self) -> list[dict[str, Any]]:
        return [o for o in self.to_mark_obsolete if UUID(str(o["ticket_id"])) not in self.obsolete]

    def pending_links(self) -> list[tuple[UUID, UUID]]:
        wanted = [
            (UUID(str(p["ticket_id"])), UUID(str(d))) for p in self.plan for d in p["depends_on"]
        ]
        return [w for w in wanted if w not in self.links]
