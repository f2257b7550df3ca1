"""The export run: create the issues in dependency order, attach, link; resumable, never twice.

Idempotency rests on three habits:
- every created issue is recorded (`TicketExported`) as soon as Jira answers;
- every issue carries a mark (label `tf-<ticket id>` and an issue property) and,
  whenever the outcome of a create is unknown (timeout, 5xx, or a previous run of this
  export that ended without recording), Jira is looked at for the marks first: the
  keys after the highest one known before the create are read one by one (consistent,
  unlike the search index), then the search is asked (`application.export.recovery`);
- creation goes in batches (bulk create, <= 50) whose outcome is looked for as a whole
  when the answer is lost.

Links and attachments go through a scheduler that paces each issue's write budget
without holding up the others (`application.export.schedule`); the same scheduler,
on a simulated clock, gives the estimate recorded before anything is written.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from application.export.epics import epic_issue, epic_marks, epic_name, groups_of
from application.export.issues import PROPERTY_KEY, Prepared, prepare_issue, session_label
from application.export.jira_errors import JiraError, JiraFieldError, JiraOutcomeUnknown
from application.export.jira_types import CreatedIssue, NewIssue
from application.export.pacing import RateLimitConfig
from application.export.plan import TEXT_FIELDS, adf_text, fingerprint, sent_record
from application.export.port import JiraGateway
from application.export.preflight import Preflight, run_preflight
from application.export.recovery import IssueFinder, key_number
from application.export.schedule import (
    BULK_LIMIT,
    SENDERS,
    ExportEstimate,
    Write,
    estimate_export,
    send_all,
)
from application.progress import Progress, ProgressCallback
from application.sessions import TicketForge
from application.unit_of_work import Held, save_with_retry
from domain.errors import ConflictError
from domain.export import OBSOLETE_LABEL, Export, epic_id, export_label
from domain.session import EPIC_EXISTING, EPIC_NONE, EPIC_PER_GROUP, Session, Ticket

__all__ = [
    "EXPORTER",
    "PROPERTY_KEY",
    "ExportRunner",
    "ExportStopped",
    "Prepared",
    "session_label",
]

log = logging.getLogger(__name__)

EXPORTER = "system:exporter"


class ExportStopped(Exception):
    """This worker must let go (shutdown or lost lease); another one resumes."""


# After a lost answer, issues Jira is still making may not be readable yet: read the
# keys again after these delays before creating anything anew.
SETTLE_S = (1.0, 2.0)


class ExportRunner:
    def __init__(
        self,
        app: TicketForge,
        jira: Callable[[], JiraGateway],
        settle_s: Sequence[float] = SETTLE_S,
        limits: RateLimitConfig | None = None,
        senders: int = SENDERS,
    ) -> None:
        self.app = app
        self.jira_factory = jira
        self.settle_s = tuple(settle_s)
        self.limits = limits or RateLimitConfig()
        self.senders = senders

    # --- the run -------------------------------------------------------------

    def run(
        self,
        export_id: UUID,
        worker: str = "worker",
        progress: ProgressCallback | None = None,
        keep_going: Callable[[], bool] = lambda: True,
        task_id: UUID | None = None,
    ) -> str:
        """Run (or resume) the export; return its status. `task_id`: the task that asks;
        a task the export has moved on from (a retry made a new one) is stale: a no-op."""
        export = self.app.load_export(export_id)
        if task_id is not None and export.task_id != task_id:
            log.info("export %s: task %s is not its current task; skipped", export_id, task_id)
            return export.status
        if export.status not in ("requested", "running"):
            return export.status
        export.start(export.retries, export.runs + 1, worker, EXPORTER)
        self.app.save(export)
        session = self.app.load_session(export.session_id)
        jira = self.jira_factory()
        state = _RunState(self, export, session, jira, progress, keep_going)
        try:
            state.execute()
        except ExportStopped:
            log.info("export %s interrupted; another worker will resume it", export_id)
            return "interrupted"
        except JiraError as exc:
            state.fail(exc.category, str(exc), exc.recovery_actions)
        except ConflictError:
            log.info("export %s changed under us; leaving it", export_id)
        finally:
            jira.close()
        return self.app.load_export(export_id).status


class _RunState:
    def __init__(
        self,
        runner: ExportRunner,
        export: Export,
        session: Session,
        jira: JiraGateway,
        progress: ProgressCallback | None,
        keep_going: Callable[[], bool],
    ) -> None:
        self.app = runner.app
        self.held = Held(runner.app, export)
        self.session = session
        self.jira = jira
        self.progress = progress
        self.keep_going = keep_going
        self.limits = runner.limits
        self.senders = runner.senders
        self.settle_s = runner.settle_s
        self.finder = IssueFinder(jira, export.project_key)
        self.current: tuple[UUID, int] | None = None
        self.started = time.monotonic()
        self.deadline: float | None = None  # when the estimate says the run ends
        self.phases: dict[str, float] = {}
        self.preflight: Preflight | None = None
        # Issues this run created itself: no earlier run can have linked them.
        self.fresh: set[UUID] = set()
        self.prepared: dict[UUID, Prepared] = {}
        self.run_number = export.runs  # another run starting bumps it: we then stop

    # --- bookkeeping -----------------------------------------------------------

    def save(self, command: Callable[[Export], None]) -> None:
        """Apply to our copy and save; reload only when someone else wrote meanwhile.

        What we record is what Jira did, so it is saved even when another run has
        started meanwhile (a lease that ran out); then this run stops, and the other
        one goes on from there.
        """
        self.held.apply(command)
        if self.export.runs != self.run_number:
            log.warning(
                "export %s: run %d took over; run %d stops",
                self.export.id,
                self.export.runs,
                self.run_number,
            )
            raise ExportStopped

    @property
    def export(self) -> Export:
        return self.held.aggregate

    def record_fix(self, ticket_id: UUID | None, kind: str, detail: str, action: str) -> None:
        def record(export: Export) -> None:
            export.record_manual_fix(ticket_id, kind, detail, action, EXPORTER)

        self.save(record)

    def check_going(self) -> None:
        if not self.keep_going():
            raise ExportStopped

    def report(self, stage: str) -> None:
        if self.progress is None:
            return
        total = len(self.export.plan) + sum(len(p["depends_on"]) for p in self.export.plan)
        done = len(self.export.issues) + len(self.export.links)
        eta = None
        if self.deadline is not None:
            eta = round(max(self.deadline - time.monotonic(), 0.0), 1)
        self.progress(
            Progress(
                session_id=self.export.session_id,
                task_id=self.export.task_id,
                percentage=round(100.0 * done / max(total, 1), 1),
                stage=stage,
                completed=len(self.export.issues),
                failed=0,
                total=len(self.export.plan),
                eta_seconds=eta,
            )
        )

    def fail(self, category: str, message: str, actions: Sequence[str]) -> None:
        ticket_id, order = self.current if self.current else (None, None)
        self.held.reload()
        if self.export.status != "running" or self.export.runs != self.run_number:
            return  # ended, or another run has it now: not ours to fail
        self.export.fail(category, message, ticket_id, order, list(actions), EXPORTER)
        session = self.app.load_session(self.export.session_id)
        session.finish_export(self.export.id, "failed", EXPORTER)
        self.app.save(self.export, session)
        self.report(f"Export failed: {message}")

    def phase(self, name: str, step: Callable[[], None]) -> None:
        """Run one step of the export, its time kept for the completion event."""
        started = time.perf_counter()
        step()
        self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - started

    # --- steps -----------------------------------------------------------------

    def execute(self) -> None:
        self.report("Checking the Jira project")
        self.phase("preflight", self.check_project)
        if self.preflight is None:
            return
        if self.export.key_watermark is None and not self.export.created_here():
            number = self.finder.highest_key_number()
            self.save(lambda export: export.note_key_watermark(number, EXPORTER))
        if self.export.runs > 1 or self.export.retries > 0 or self.export.recover_after is not None:
            self.report("Looking for issues created by an earlier attempt")
            self.phase("recover", self.recover_earlier_run)
        self.phase("epics", self.create_epics)
        self.phase("create", self.create_issues)
        self.phase("update", self.update_issues)
        self.phase("attach", self.upload_attachments)
        self.phase("sprints", self.assign_sprints)
        self.phase("link", self.link_dependencies)
        self.phase("unlink", self.remove_links)
        self.phase("obsolete", self.mark_obsolete)
        self.check_going()

        self.complete()
        self.report("Export completed")

    def check_project(self) -> None:
        tickets = self.session.tickets
        plan = self.export.plan
        chosen = [tickets[UUID(str(p["ticket_id"]))] for p in plan]
        preflight = run_preflight(
            self.jira,
            self.export.project_key,
            self.export.issue_type,
            assignees=[t.assignee or "" for t in chosen],
            sprints=[t.sprint or "" for t in chosen],
            priorities=[t.priority or "" for t in chosen],
            links=any(p["depends_on"] for p in plan),
            edits=bool(self.export.pending_updates() or self.export.pending_obsolete()),
            comments=bool(self.export.pending_obsolete()),
            epic_mode=self.session.epic_mode,
        )
        if not preflight.ok:
            self.fail(
                preflight.category,
                "Jira pre-flight failed: " + "; ".join(preflight.problems),
                ["Ask a Jira administrator to fix the project configuration, then retry"],
            )
            return
        self.preflight = preflight
        estimate = self.estimate()
        self.save(lambda export: export.record_estimate(estimate.to_dict(), EXPORTER))

    def estimate(self) -> ExportEstimate:
        """What is left to do, simulated under Jira's limits; sets the deadline for ETAs."""
        assert self.preflight is not None
        export = self.export
        pending = export.pending_tickets()
        prepared = [self.prepare(item) for item in export.plan]
        attachments = [
            str(p.ticket.id)
            for p in prepared
            if p.attachment is not None
            and not export.attachments.get(p.ticket.id)
            and not self.carried(p.ticket.id)
        ]
        per_sprint: dict[str, int] = {}
        for p in prepared:
            sprint = p.ticket.sprint
            if sprint and sprint in self.preflight.sprints and not self.carried(p.ticket.id):
                per_sprint[sprint] = per_sprint.get(sprint, 0) + 1
        links = (
            [(str(dep), str(ticket_id)) for ticket_id, dep in export.pending_links()]
            if self.preflight.blocks_link_type
            else []
        )
        issues = export.issues
        estimate = estimate_export(
            issues=len(pending),
            attachments=attachments,
            sprint_issues=list(per_sprint.values()),
            links=links,
            latency_s=self.preflight.latency_s,
            limits=self.limits,
            senders=self.senders,
            edits=[(issues[UUID(str(p["ticket_id"]))].key,) for p in export.pending_updates()]
            + [(b, k) for _, _, b, k in export.pending_unlinks()],
            obsolete=[str(o["key"]) for o in export.pending_obsolete()],
        )
        self.deadline = time.monotonic() + estimate.duration_s
        return estimate

    def complete(self) -> None:
        """`ExportCompleted` and the session's `ExportFinished` in one atomic write, so no
        crash (or reader) can see a completed export whose session is still exporting."""
        attempts = itertools.count()

        def work() -> tuple[list[Aggregate], None]:
            if next(attempts):  # the last save conflicted: another writer won
                self.held.reload()
                if self.export.runs != self.run_number:
                    raise ExportStopped  # the run that took over completes it
            self.export.complete(EXPORTER, self.phases)
            session = self.app.load_session(self.export.session_id)
            session.finish_export(self.export.id, "completed", EXPORTER)
            return [self.export, session], None

        save_with_retry(self.app, work, f"Export {self.export.id}")

    # --- finding what an earlier attempt made ---------------------------------------

    def highest_key(self) -> int:
        """The highest key number known in the project: every issue created from now on
        has a higher one."""
        numbers = [key_number(i.key, self.export.project_key) for i in self.export.issues.values()]
        return max([self.export.key_watermark or 0, *(n for n in numbers if n is not None)])

    def recover_earlier_run(self) -> None:
        """A run before this one may have made issues it never recorded: read every key
        after the watermark that is not ours already, then ask the search."""
        pending = [UUID(str(p["ticket_id"])) for p in self.export.pending_tickets()]
        if not pending:
            return
        recorded = {
            n
            for i in self.export.issues.values()
            if (n := key_number(i.key, self.export.project_key)) is not None
        }
        watermark = self.export.key_watermark
        self.recover(pending, scan_after=watermark, skip=recorded, upto=max(recorded, default=0))

    def recover(
        self,
        ticket_ids: Iterable[UUID],
        fallbacks: Mapping[UUID, Sequence[tuple[str, str, str]]] | None = None,
        settle_s: Sequence[float] = (),
        *,
        scan_after: int | None,
        skip: Iterable[int] = (),
        upto: int = 0,
    ) -> None:
        """Record issues that exist in Jira (found by their mark) but not in our events,
        with the manual fixes their creation implied (`fallbacks` when the caller knows
        them, else those the ticket's own fields imply). `scan_after`: read the keys after
        this number (None: the search only). `settle_s`: delays before looking again for
        those not found (Jira may still be making them)."""
        wanted = {export_label(t): t for t in ticket_ids}
        found: dict[UUID, CreatedIssue] = {}
        skipped = set(skip)
        for delay in (0.0, *settle_s):
            missing = {label: t for label, t in wanted.items() if t not in found}
            if not missing:
                break
            time.sleep(delay)
            if scan_after is not None:
                found.update(self.finder.scan(scan_after, missing, skipped, upto))
            missing = {label: t for label, t in missing.items() if t not in found}
            if missing:
                found.update(self.finder.search(missing))
        self.record_found(list(found.items()), fallbacks)

    def record_found(
        self,
        found: list[tuple[UUID, CreatedIssue]],
        fallbacks: Mapping[UUID, Sequence[tuple[str, str, str]]] | None,
    ) -> None:
        if found:
            known = fallbacks or {}
            notes = {
                ticket_id: known[ticket_id]
                if ticket_id in known
                else self.prepare(
                    {"ticket_id": ticket_id, "order": self.export.order_of(ticket_id)}
                ).fallbacks
                for ticket_id, _ in found
            }

            def record(export: Export) -> None:
                for ticket_id, issue in found:
                    export.record_issue(
                        ticket_id,
                        issue.key,
                        issue.browse_url,
                        issue.id,
                        EXPORTER,
                        found_by_search=True,
                        sent=self.sent(ticket_id),
                    )
                    for kind, detail, action in notes[ticket_id]:
                        export.record_manual_fix(ticket_id, kind, detail, action, EXPORTER)

            self.save(record)

    # --- creating --------------------------------------------------------------------

    def failed_at(self, edge: Sequence[object]) -> None:
        """A write of this ticket's (the first id) failed: the failure names it (not a
        ticket that left the plan: an obsolete one has no place in it)."""
        ticket_id = edge[0]
        order = self.export.order_index.get(ticket_id) if isinstance(ticket_id, UUID) else None
        self.current = (ticket_id, order) if isinstance(ticket_id, UUID) and order else None

    def carried(self, ticket_id: UUID) -> bool:
        """Whether an earlier export of the session made this ticket's issue."""
        issue = self.export.issues.get(ticket_id)
        return issue is not None and issue.carried

    def sent(self, ticket_id: UUID, prepared: Prepared | None = None) -> dict[str, Any]:
        """What we record of an issue's text as we wrote it (to know later whether the
        ticket changed since, and whether a person edited the issue in Jira)."""
        if prepared is None:
            item = {"ticket_id": ticket_id, "order": self.export.order_of(ticket_id)}
            prepared = self.prepare(item)
        issue = prepared.issue
        return sent_record(prepared.ticket, self.session.id, issue.summary, issue.description)

    def prepare(self, item: dict[str, Any]) -> Prepared:
        """The issue to create for a plan item; built once per run (the ADF conversion is
        the costly part, and creation and attachments both need it)."""
        assert self.preflight is not None
        ticket_id = UUID(str(item["ticket_id"]))
        cached = self.prepared.get(ticket_id)
        if cached is None:
            cached = self.prepared[ticket_id] = prepare_issue(
                self.session.tickets[ticket_id],
                int(item["order"]),
                session_id=self.session.id,
                epic_key=self.epic_for(self.session.tickets[ticket_id]),
                project_key=self.export.project_key,
                issue_type=self.export.issue_type,
                preflight=self.preflight,
                flavor=self.jira.flavor,
            )
        return cached

    # --- epics (epic_mode per_group), made before their tickets ---------------------------

    def epic_for(self, ticket: Ticket) -> str | None:
        """The epic this ticket goes under: the session's epic (existing), its group's
        (per_group, once made), or none (also when the project cannot have epics)."""
        assert self.preflight is not None
        mode = self.session.epic_mode
        if mode == EPIC_NONE or self.preflight.epic_problem:
            return None
        if mode == EPIC_EXISTING:
            return self.session.epic_key
        epic = self.export.epics.get(ticket.group)
        return epic.key if epic else None

    def create_epics(self) -> None:
        """One epic per group of the plan's tickets, each looked for by its mark before it
        is created (an earlier run, or export, may have made it) and recorded at once;
        after a lost answer, looked for again (keys after the watermark, then the search)
        before anything is sent twice."""
        assert self.preflight is not None
        mode = self.session.epic_mode
        if mode == EPIC_NONE:
            return
        if self.preflight.epic_problem:
            if not any(f.kind == "epic" for f in self.export.fixes.values()):
                self.record_fix(
                    None,
                    "epic",
                    f"{self.preflight.epic_problem}: the tickets were exported without "
                    f"epics (epic_mode {mode} fell back to none)",
                    "Ask a Jira administrator to add the Epic issue type to the project "
                    "(and Jira Software's Epic Link field on Data Center), then group the "
                    "issues under epics by hand",
                )
            return
        if mode != EPIC_PER_GROUP:
            return
        tickets = [self.session.tickets[UUID(str(p["ticket_id"]))] for p in self.export.plan]
        counts = groups_of(tickets)
        missing = [g for g in counts if g not in self.export.epics]
        if not missing:
            return
        self.check_going()
        self.report(f"Creating {len(missing)} epics")
        marks = epic_marks(self.session.id, missing)
        export = self.export
        if export.runs > 1 or export.retries > 0 or export.recover_after is not None:
            # A run (or export) before this one may have made them unrecorded: look first.
            self.find_epics(marks, counts, scan_after=export.key_watermark, settle_s=())
        todo = [g for g in missing if g not in self.export.epics]
        if not todo:
            return
        flavor = self.jira.flavor
        issues = [
            epic_issue(self.session, g, self.export.project_key, self.preflight, flavor)
            for g in todo
        ]
        floor = self.highest_key()
        try:
            result = self.jira.create_issues(issues)
        except JiraOutcomeUnknown:
            self.find_epics(marks, counts, scan_after=floor, settle_s=self.settle_s)
            for group, issue in zip(todo, issues, strict=True):
                if group not in self.export.epics:
                    self.create_epic(group, issue, counts, marks)
            return
        self.record_epics(
            [(todo[i], created, False) for i, created in sorted(result.created.items())],
            counts,
        )
        for index, failure in sorted(result.failed.items()):
            messages = [*failure.error_messages, *failure.field_errors.values()]
            self.record_fix(
                None,
                "epic",
                f"Jira refused the epic '{issues[index].summary}': {'; '.join(messages)}; "
                f"its tickets were exported without an epic",
                "Create the epic by hand and move its group's issues under it",
            )

    def create_epic(
        self,
        group: str,
        issue: NewIssue,
        counts: Mapping[str, int],
        marks: Mapping[str, tuple[str, UUID]],
    ) -> None:
        floor = self.highest_key()
        try:
            created = self.jira.create_issue(issue)
        except JiraOutcomeUnknown:
            self.find_epics(marks, counts, scan_after=floor, settle_s=self.settle_s)
            if group in self.export.epics:
                return
            created = self.jira.create_issue(issue)
        self.record_epics([(group, created, False)], counts)

    def find_epics(
        self,
        marks: Mapping[str, tuple[str, UUID]],
        counts: Mapping[str, int],
        *,
        scan_after: int | None,
        settle_s: Sequence[float],
    ) -> None:
        for delay in (0.0, *settle_s):
            wanted = {
                label: epic for label, (g, epic) in marks.items() if g not in self.export.epics
            }
            if not wanted:
                return
            time.sleep(delay)
            found = dict(self.finder.scan(scan_after, wanted)) if scan_after is not None else {}
            missing = {label: e for label, e in wanted.items() if e not in found}
            if missing:
                found.update(self.finder.search(missing))
            by_id = {epic: g for g, epic in marks.values()}
            self.record_epics([(by_id[e], issue, True) for e, issue in found.items()], counts)

    def record_epics(
        self, made: Sequence[tuple[str, CreatedIssue, bool]], counts: Mapping[str, int]
    ) -> None:
        if not made:
            return

        def record(export: Export) -> None:
            for group, issue, found in made:
                export.record_epic(
                    group,
                    epic_id(self.session.id, group),
                    epic_name(self.session, group),
                    issue.key,
                    issue.browse_url,
                    issue.id,
                    counts.get(group, 0),
                    EXPORTER,
                    found_by_search=found,
                )

        self.save(record)
        # Prepared before the epics existed (the estimate): build them again, under them.
        self.prepared.clear()

    # --- creating --------------------------------------------------------------------

    def create_issues(self) -> None:
        pending = self.export.pending_tickets()
        for start in range(0, len(pending), BULK_LIMIT):
            self.check_going()
            batch = [self.prepare(item) for item in pending[start : start + BULK_LIMIT]]
            self.current = (batch[0].ticket.id, batch[0].order)
            floor = self.highest_key()
            try:
                result = self.jira.create_issues([p.issue for p in batch])
            except JiraOutcomeUnknown:
                self.recover(
                    [p.ticket.id for p in batch],
                    {p.ticket.id: p.fallbacks for p in batch},
                    self.settle_s,
                    scan_after=floor,
                )
                batch = [p for p in batch if p.ticket.id not in self.export.issues]
                for prepared in batch:
                    self.create_one(prepared)
                continue
            created = [(batch[i], issue) for i, issue in sorted(result.created.items())]
            self.record_created(created)
            for index, failure in sorted(result.failed.items()):
                prepared = batch[index]
                self.current = (prepared.ticket.id, prepared.order)
                if failure.field_errors:
                    self.create_with_fallbacks(prepared, dict(failure.field_errors))
                else:
                    raise JiraError(
                        f"Jira refused ticket {prepared.order} ({prepared.ticket.config_name}): "
                        + "; ".join(failure.error_messages),
                        status=failure.status,
                        category="user_fixable" if failure.status == 400 else "temporary",
                    )
            self.report(f"Created {len(self.export.issues)} of {len(self.export.plan)} issues")

    def record_created(self, created: Sequence[tuple[Prepared, CreatedIssue]]) -> None:
        def record(export: Export) -> None:
            for prepared, issue in created:
                export.record_issue(
                    prepared.ticket.id,
                    issue.key,
                    issue.browse_url,
                    issue.id,
                    EXPORTER,
                    sent=self.sent(prepared.ticket.id, prepared),
                )
                for kind, detail, action in prepared.fallbacks:
                    export.record_manual_fix(prepared.ticket.id, kind, detail, action, EXPORTER)

        if created:
            self.save(record)
            recorded = self.export.issues
            self.fresh.update(p.ticket.id for p, i in created if recorded[p.ticket.id].key == i.key)

    def create_one(self, prepared: Prepared) -> None:
        self.current = (prepared.ticket.id, prepared.order)
        floor = self.highest_key()
        try:
            issue = self.jira.create_issue(prepared.issue)
        except JiraOutcomeUnknown:
            self.recover(
                [prepared.ticket.id],
                {prepared.ticket.id: prepared.fallbacks},
                self.settle_s,
                scan_after=floor,
            )
            if prepared.ticket.id in self.export.issues:
                return
            issue = self.jira.create_issue(prepared.issue)
        except JiraFieldError as exc:
            self.create_with_fallbacks(prepared, exc.field_errors)
            return
        self.record_created([(prepared, issue)])

    def create_with_fallbacks(self, prepared: Prepared, field_errors: dict[str, str]) -> None:
        """Drop the optional fields Jira refused, create, and record what a person must fix."""
        optional = {"assignee", "priority", "parent", "labels"}
        refused = set(field_errors)
        if not refused <= optional and not any(k.startswith("customfield_") for k in refused):
            raise JiraFieldError(
                f"Jira refused ticket {prepared.order} ({prepared.ticket.config_name}): "
                + "; ".join(f"{k}: {v}" for k, v in field_errors.items()),
                status=400,
                field_errors=field_errors,
            )
        issue = prepared.issue
        changes: dict[str, Any] = {}
        if "assignee" in refused:
            changes["assignee_account_id"] = None
        if "priority" in refused:
            changes["priority"] = None
        if "parent" in refused:
            changes["parent_key"] = None
        if "labels" in refused:
            changes["labels"] = (export_label(prepared.ticket.id),)
        extra = {k: v for k, v in issue.extra_fields.items() if k not in refused}
        fixed = replace(issue, extra_fields=extra, **changes)
        fallbacks = [
            *prepared.fallbacks,
            *(
                (name, f"Jira refused {name}: {message}", f"Set {name} by hand in Jira")
                for name, message in sorted(field_errors.items())
            ),
        ]
        self.create_one(replace(prepared, issue=fixed, fallbacks=fallbacks))

    # --- attachments, sprints, links -----------------------------------------------------

    def upload_attachments(self) -> None:
        resumed = self.export.runs > 1 or self.export.retries > 0
        writes: list[Write[Prepared]] = []
        for item in self.export.plan:
            ticket_id = UUID(str(item["ticket_id"]))
            prepared = self.prepare(item)
            if prepared.attachment is None or self.export.attachments.get(ticket_id):
                continue
            if self.carried(ticket_id) and ticket_id not in self.export.updated:
                continue  # an earlier export attached it; its text has not changed
            writes.append(Write(prepared, (self.export.issues[ticket_id].key,)))
        if not writes:
            return
        self.check_going()
        self.report(f"Uploading {len(writes)} attachments")

        def upload(prepared: Prepared) -> JiraError | None:
            assert prepared.attachment is not None
            key = self.export.issues[prepared.ticket.id].key
            filename, content, media_type = prepared.attachment
            # An earlier run may have uploaded it and stopped before recording it.
            if (
                resumed
                and prepared.ticket.id not in self.fresh
                and self.finder.attached(key, filename)
            ):
                return None
            return self.attach(key, filename, content, media_type)

        def record(results: list[tuple[Prepared, JiraError | None]]) -> None:
            def apply(export: Export) -> None:
                for prepared, problem in results:
                    ticket_id = prepared.ticket.id
                    key = export.issues[ticket_id].key
                    filename = prepared.attachment[0] if prepared.attachment else ""
                    if problem is None:
                        export.record_attachment(ticket_id, key, filename, EXPORTER)
                    else:
                        export.record_manual_fix(
                            ticket_id,
                            "attachment",
                            f"Uploading {filename} failed: {problem}",
                            f"Attach {filename} to the issue by hand "
                            "(the full description is in it)",
                            EXPORTER,
                        )

            self.current = (results[0][0].ticket.id, results[0][0].order)
            self.save(apply)

        def failed(prepared: Prepared) -> None:
            self.current = (prepared.ticket.id, prepared.order)

        send_all(
            writes, upload, record, self.check_going,
            limits=self.limits, senders=self.senders, failed=failed,
        )  # fmt: skip

    def attach(self, key: str, filename: str, content: bytes, media_type: str) -> JiraError | None:
        """Upload once; when the answer is lost, look at the issue before uploading again
        (an attachment is not idempotent: a blind resend makes a second copy)."""
        problem: JiraError | None = None
        for _ in range(2):
            try:
                self.jira.add_attachment(key, filename, content, media_type)
            except JiraFieldError as exc:
                return exc
            except JiraOutcomeUnknown as exc:
                problem = exc
                if self.finder.attached(key, filename):
                    return None
                continue
            return None
        return problem

    def assign_sprints(self) -> None:
        assert self.preflight is not None
        by_sprint: dict[int, list[str]] = {}
        for ticket_id, issue in self.export.issues.items():
            sprint = self.session.tickets[ticket_id].sprint
            if sprint and sprint in self.preflight.sprints and not issue.carried:
                by_sprint.setdefault(self.preflight.sprints[sprint], []).append(issue.key)
        for sprint_id, keys in sorted(by_sprint.items()):
            self.check_going()
            try:
                self.jira.move_issues_to_sprint(sprint_id, sorted(keys))
            except (JiraFieldError, JiraOutcomeUnknown) as exc:
                self.record_fix(
                    None,
                    "sprint",
                    f"Moving issues to sprint {sprint_id} failed: {exc}",
                    "Move the issues to the sprint by hand",
                )

    def link_dependencies(self) -> None:
        """ "Blocks" links once both ends exist: the dependency blocks the dependent."""
        assert self.preflight is not None
        pending = self.export.pending_links()
        if not pending:
            return
        if not self.preflight.blocks_link_type:

            def record_missing(export: Export) -> None:
                for ticket_id, dep in pending:
                    export.record_manual_fix(
                        ticket_id,
                        "link",
                        f"{export.issues[dep].key} blocks {export.issues[ticket_id].key}: "
                        "the 'Blocks' link type does not exist",
                        "Ask a Jira admin to add the 'Blocks' link type, or link them by hand",
                        EXPORTER,
                    )

            self.save(record_missing)
            return
        if self.export.runs > 1 or self.export.retries > 0:
            pending = self.existing_links_recorded(pending)
        self.check_going()
        self.report(f"Linking {len(pending)} dependencies")
        self.estimate()  # the ETA from here, with what is left

        def link(edge: tuple[UUID, UUID]) -> Exception | None:
            ticket_id, dep = edge
            blocker, blocked = self.export.issues[dep].key, self.export.issues[ticket_id].key
            problem: Exception | None = None
            for _ in range(2):
                try:
                    self.jira.link_blocks(blocker, blocked)
                except JiraFieldError as exc:
                    return exc
                except JiraOutcomeUnknown as exc:
                    # Jira may have made it: look (GET is strongly consistent) before
                    # posting again, and never send a person to make it by hand twice.
                    problem = exc
                    if blocker in self.finder.blockers_of(blocked):
                        return None
                    continue
                return None
            return problem

        def record(results: list[tuple[tuple[UUID, UUID], Exception | None]]) -> None:
            def apply(export: Export) -> None:
                for (ticket_id, dep), error in results:
                    if error is None:
                        export.record_link(ticket_id, dep, EXPORTER)
                    else:
                        export.record_manual_fix(
                            ticket_id,
                            "link",
                            f"{export.issues[dep].key} blocks {export.issues[ticket_id].key}: "
                            f"linking failed: {error}",
                            "Create the 'Blocks' link by hand",
                            EXPORTER,
                        )

            first = results[0][0][0]
            self.current = (first, self.export.order_of(first))
            self.save(apply)
            self.report(f"Linked {len(self.export.links)} dependencies")

        issues = self.export.issues
        writes = [Write(edge, (issues[edge[1]].key, issues[edge[0]].key)) for edge in pending]
        send_all(
            writes, link, record, self.check_going,
            limits=self.limits, senders=self.senders, failed=self.failed_at,
        )  # fmt: skip

    def existing_links_recorded(self, pending: list[tuple[UUID, UUID]]) -> list[tuple[UUID, UUID]]:
        """After an interrupted run, links may exist that we never recorded: look first
        (only where both issues existed before this run: a link needs both ends)."""
        dependents = sorted(
            {t for t, d in pending if t not in self.fresh and d not in self.fresh},
            key=self.export.order_of,
        )
        key_to_ticket = {issue.key: tid for tid, issue in self.export.issues.items()}
        keys = [self.export.issues[ticket_id].key for ticket_id in dependents]
        wanted = set(pending)
        found = [
            (ticket_id, dep)
            for ticket_id, blockers in zip(
                dependents, self.finder.blockers_of_each(keys, self.senders), strict=True
            )
            for dep in (key_to_ticket.get(key) for key in blockers)
            if dep is not None and (ticket_id, dep) in wanted
        ]
        if found:

            def record(export: Export) -> None:
                for ticket_id, dep in found:
                    export.record_link(ticket_id, dep, EXPORTER)

            self.save(record)
        return [p for p in pending if p not in set(found)]

    # --- a re-export: updates, link removals, obsolete issues ---------------------------

    def update_issues(self) -> None:
        """Write each changed ticket's text to its issue, unless a person edited the issue
        in Jira since we last wrote it: then a conflict for a person to resolve."""
        pending = self.export.pending_updates()
        if not pending:
            return
        self.check_going()
        self.report(f"Updating {len(pending)} issues")
        issues = self.export.issues
        writes = [Write(item, (issues[UUID(str(item["ticket_id"]))].key,)) for item in pending]
        send_all(
            writes, self.update_one, self.record_updates, self.check_going,
            limits=self.limits, senders=self.senders,
            failed=lambda item: self.failed_at((UUID(str(item["ticket_id"])),)),
        )  # fmt: skip

    def update_one(self, item: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """("updated", what was sent, {}) or ("conflict", ours, theirs)."""
        prepared = self.prepare(item)
        ticket_id = prepared.ticket.id
        key = self.export.issues[ticket_id].key
        ours = self.sent(ticket_id, prepared)
        last = self.export.sent.get(ticket_id, {})
        current = self.jira.get_issue(key, TEXT_FIELDS).fields
        summary = str(current.get("summary") or "")
        theirs = fingerprint(summary, current.get("description"))
        labels = {str(label) for label in current.get("labels") or ()}
        stale = sorted(set(last.get("labels", ())) - set(ours["labels"]))
        if theirs == ours["jira"] and set(ours["labels"]) <= labels and not labels & set(stale):
            return "updated", ours, {}  # already written (an answer lost, or a run cut short)
        if theirs != last.get("jira") and ticket_id not in self.export.force:
            issue = prepared.issue
            return (
                "conflict",
                {**ours, "summary": issue.summary, "text": adf_text(issue.description)},
                {"jira": theirs, "summary": summary, "text": adf_text(current.get("description"))},
            )
        self.jira.update_issue(
            key,
            {"summary": prepared.issue.summary, "description": prepared.issue.description},
            add_labels=sorted(set(ours["labels"]) - labels),
            remove_labels=[label for label in stale if label in labels],
        )
        return "updated", ours, {}

    def record_updates(
        self,
        results: list[tuple[dict[str, Any], tuple[str, dict[str, Any], dict[str, Any]]]],
    ) -> None:
        def apply(export: Export) -> None:
            for item, (outcome, ours, theirs) in results:
                ticket_id = UUID(str(item["ticket_id"]))
                if outcome == "updated":
                    export.record_update(ticket_id, ours, EXPORTER)
                else:
                    export.record_conflict(ticket_id, ours, theirs, EXPORTER)

        self.save(apply)
        self.report(f"Updated {len(self.export.updated)} issues")

    def remove_links(self) -> None:
        """Links whose dependency the session no longer has: found on the blocked issue
        (GET is consistent) and deleted; one already gone counts as removed."""
        pending = self.export.pending_unlinks()
        if not pending:
            return
        self.check_going()
        self.report(f"Removing {len(pending)} links")

        def unlink(edge: tuple[UUID, UUID, str, str]) -> None:
            _, _, blocker, blocked = edge
            for link_id in self.finder.blocks_link_ids(blocker, blocked):
                self.jira.delete_link(link_id, (blocker, blocked))

        def record(results: list[tuple[tuple[UUID, UUID, str, str], None]]) -> None:
            def apply(export: Export) -> None:
                for (ticket_id, dep, _, _), _ in results:
                    export.record_unlink(ticket_id, dep, EXPORTER)

            self.save(apply)

        writes = [Write(edge, (edge[2], edge[3])) for edge in pending]
        send_all(
            writes, unlink, record, self.check_going,
            limits=self.limits, senders=self.senders, failed=self.failed_at,
        )  # fmt: skip

    def mark_obsolete(self) -> None:
        """Issues whose entity left the site: labelled and commented once, never deleted."""
        pending = self.export.pending_obsolete()
        if not pending:
            return
        self.check_going()
        self.report(f"Marking {len(pending)} issues obsolete")

        def mark(item: dict[str, Any]) -> None:
            key = str(item["key"])
            self.jira.update_issue(key, {}, add_labels=[OBSOLETE_LABEL])
            # a comment is not idempotent: look for ours first (a lost answer, a resume)
            if not any(
                OBSOLETE_NOTE in adf_text(c.get("body")) for c in self.jira.get_comments(key)
            ):
                self.jira.add_comment(key, obsolete_comment())

        def record(results: list[tuple[dict[str, Any], None]]) -> None:
            def apply(export: Export) -> None:
                for item, _ in results:
                    export.record_obsolete(UUID(str(item["ticket_id"])), EXPORTER)

            self.save(apply)

        writes = [Write(item, (str(item["key"]),)) for item in pending]
        send_all(
            writes, mark, record, self.check_going, limits=self.limits, senders=self.senders,
            failed=lambda item: self.failed_at((UUID(str(item["ticket_id"])),)),
        )  # fmt: skip


OBSOLETE_NOTE = "ticketforge: the site no longer has this configuration"


def obsolete_comment() -> dict[str, Any]:
    text = (
        f"{OBSOLETE_NOTE} (its entity was removed from the inventory), so this issue is "
        f"labelled {OBSOLETE_LABEL}. It was not deleted: close it, or keep it if the work "
        "still matters. If the entity comes back, the next export takes the label off."
    )
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": text}]}]}  # fmt: skip
