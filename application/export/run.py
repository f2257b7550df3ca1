"""The export run: create the issues in dependency order, attach, link; resumable, never twice.

Idempotency rests on three habits:
- every created issue is recorded (`TicketExported`) as soon as Jira answers;
- every issue carries a mark (label `tf-<ticket id>` and an issue property) and,
  whenever the outcome of a create is unknown (timeout, 5xx, or a previous run of this
  export that ended without recording), Jira is searched for the marks first;
- creation goes in batches (bulk create, <= 50) whose outcome is searched as a whole
  when the answer is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from application.adf import build_ticket_document
from application.export.jira_errors import JiraError, JiraFieldError, JiraOutcomeUnknown
from application.export.jira_types import CreatedIssue, NewIssue
from application.export.port import JiraGateway, jql_quote
from application.export.preflight import Preflight, run_preflight
from application.generation.run import Progress, ProgressCallback
from application.sessions import TicketForge
from domain.errors import ConflictError
from domain.export import Export, export_label
from domain.session import Session, Ticket

log = logging.getLogger(__name__)

EXPORTER = "system:exporter"
BULK_LIMIT = 50
LINK_CONCURRENCY = 8
SEARCH_CHUNK = 40
PROPERTY_KEY = "ticketforge"


def session_label(session_id: UUID) -> str:
    """A label on every issue of a session, for sync back (`labels = ... AND updated >= ...`)."""
    return f"tf-s-{session_id.hex[:16]}"


@dataclass(frozen=True)
class Prepared:
    ticket: Ticket
    order: int
    issue: NewIssue
    attachment: tuple[str, bytes, str] | None
    fallbacks: list[tuple[str, str, str]]  # (kind, detail, recommended action)


class ExportStopped(Exception):
    """This worker must let go (shutdown or lost lease); another one resumes."""


SEARCH_SETTLE_S = (1.0, 2.0, 4.0)  # Jira Cloud's search index is seconds behind at worst


class ExportRunner:
    def __init__(
        self,
        app: TicketForge,
        jira: Callable[[], JiraGateway],
        search_settle_s: Sequence[float] = SEARCH_SETTLE_S,
    ) -> None:
        self.app = app
        self.jira_factory = jira
        self.search_settle_s = tuple(search_settle_s)

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
        self.export = export
        self.session = session
        self.jira = jira
        self.progress = progress
        self.keep_going = keep_going
        self.current: tuple[UUID, int] | None = None
        self.started = time.monotonic()
        self.preflight: Preflight | None = None
        # Issues this run created itself: no earlier run can have linked them.
        self.fresh: set[UUID] = set()
        self.prepared: dict[UUID, Prepared] = {}
        self.run_number = export.runs  # another run starting bumps it: we then stop
        self.search_settle_s = runner.search_settle_s

    # --- bookkeeping -----------------------------------------------------------

    def save(self, command: Callable[[Export], None]) -> None:
        """Apply to our copy and save; reload only when someone else wrote meanwhile.

        What we record is what Jira did, so it is saved even when another run has
        started meanwhile (a lease that ran out); then this run stops, and the other
        one goes on from there.
        """
        for _ in range(8):
            command(self.export)
            try:
                self.app.save(self.export)
            except RecordConflictError:
                self.export = self.app.load_export(self.export.id)
                continue
            if self.export.runs != self.run_number:
                log.warning(
                    "export %s: run %d took over; run %d stops",
                    self.export.id,
                    self.export.runs,
                    self.run_number,
                )
                raise ExportStopped
            return
        raise RecordConflictError(f"Export {self.export.id} is too busy")

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
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        self.progress(
            Progress(
                session_id=self.export.session_id,
                task_id=self.export.task_id,
                percentage=round(100.0 * done / max(total, 1), 1),
                stage=stage,
                completed=len(self.export.issues),
                failed=0,
                total=len(self.export.plan),
                eta_seconds=round((total - done) / rate, 1) if rate > 0 else None,
            )
        )

    def fail(self, category: str, message: str, actions: Sequence[str]) -> None:
        ticket_id, order = self.current if self.current else (None, None)
        self.export = self.app.load_export(self.export.id)
        if self.export.status != "running" or self.export.runs != self.run_number:
            return  # ended, or another run has it now: not ours to fail
        self.export.fail(category, message, ticket_id, order, list(actions), EXPORTER)
        session = self.app.load_session(self.export.session_id)
        session.finish_export(self.export.id, "failed", EXPORTER)
        self.app.save(self.export, session)
        self.report(f"Export failed: {message}")

    # --- steps -----------------------------------------------------------------

    def execute(self) -> None:
        tickets = self.session.tickets
        plan = self.export.plan
        self.report("Checking the Jira project")
        self.preflight = run_preflight(
            self.jira,
            self.export.project_key,
            self.export.issue_type,
            assignees=[tickets[UUID(str(p["ticket_id"]))].assignee or "" for p in plan],
            sprints=[tickets[UUID(str(p["ticket_id"]))].sprint or "" for p in plan],
        )
        if not self.preflight.ok:
            self.fail(
                self.preflight.category,
                "Jira pre-flight failed: " + "; ".join(self.preflight.problems),
                ["Ask a Jira administrator to fix the project configuration, then retry"],
            )
            return
        if self.export.runs > 1 or self.export.retries > 0:
            self.report("Looking for issues created by an earlier attempt")
            self.recover(self.export.pending_tickets())
        self.create_issues()
        self.upload_attachments()
        self.assign_sprints()
        self.link_dependencies()
        self.check_going()

        self.complete()
        self.report("Export completed")

    def complete(self) -> None:
        """`ExportCompleted` and the session's `ExportFinished` in one atomic write, so no
        crash (or reader) can see a completed export whose session is still exporting."""
        for _ in range(8):
            self.export.complete(EXPORTER)
            session = self.app.load_session(self.export.session_id)
            session.finish_export(self.export.id, "completed", EXPORTER)
            try:
                self.app.save(self.export, session)
            except RecordConflictError:
                self.export = self.app.load_export(self.export.id)
                if self.export.runs != self.run_number:
                    raise ExportStopped from None  # the run that took over completes it
                continue
            return
        raise RecordConflictError(f"Export {self.export.id} is too busy")

    def recover(
        self,
        items: Iterable[dict[str, Any]],
        fallbacks: Mapping[UUID, Sequence[tuple[str, str, str]]] | None = None,
        settle_s: Sequence[float] = (),
    ) -> None:
        """Record issues that exist in Jira (found by their mark) but not in our events,
        with the manual fixes their creation implied (`fallbacks` when the caller knows
        them, else those the ticket's own fields imply). `settle_s`: delays before
        searching again for those not found (the search index may lag)."""
        wanted = {export_label(UUID(str(p["ticket_id"]))): UUID(str(p["ticket_id"])) for p in items}
        found = self.find_marked(wanted)
        # After a lost answer, an issue Jira has just made may not be searchable yet (its
        # index lags behind; GET does not, but we do not know the key): look again a
        # few times before anyone makes it anew.
        for delay in settle_s:
            seen = {ticket_id for ticket_id, _ in found}
            missing = {label: t for label, t in wanted.items() if t not in seen}
            if not missing:
                break
            time.sleep(delay)
            found += self.find_marked(missing)
        self.record_found(found, fallbacks)

    def find_marked(self, wanted: Mapping[str, UUID]) -> list[tuple[UUID, CreatedIssue]]:
        """Issues in the project carrying the mark (label) of a wanted ticket."""
        labels = sorted(wanted)
        found: list[tuple[UUID, CreatedIssue]] = []
        for start in range(0, len(labels), SEARCH_CHUNK):
            chunk = labels[start : start + SEARCH_CHUNK]
            jql = (
                f"project = {jql_quote(self.export.project_key)} AND labels in "
                f"({', '.join(jql_quote(label) for label in chunk)}) ORDER BY key"
            )
            seen: set[UUID] = set()
            for issue in self.jira.search(jql, ("labels",)):
                for label in issue.labels:
                    ticket_id = wanted.get(label)
                    if ticket_id is not None and ticket_id not in seen:
                        seen.add(ticket_id)
                        created = CreatedIssue(
                            id=issue.id,
                            key=issue.key,
                            self_url="",
                            browse_url=self.jira.browse_url(issue.key),
                        )
                        found.append((ticket_id, created))
        return found

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
                    )
                    for kind, detail, action in notes[ticket_id]:
                        export.record_manual_fix(ticket_id, kind, detail, action, EXPORTER)

            self.save(record)

    def prepare(self, item: dict[str, Any]) -> Prepared:
        """The issue to create for a plan item; built once per run (the ADF conversion is
        the costly part, and creation and attachments both need it)."""
        ticket_id = UUID(str(item["ticket_id"]))
        cached = self.prepared.get(ticket_id)
        if cached is None:
            cached = self.prepared[ticket_id] = self._prepare(item)
        return cached

    def _prepare(self, item: dict[str, Any]) -> Prepared:
        assert self.preflight is not None
        ticket = self.session.tickets[UUID(str(item["ticket_id"]))]
        document = build_ticket_document(
            ticket.config_name,
            ticket.title,
            ticket.user_story,
            ticket.analysis,
            ticket.verification,
        )
        fallbacks: list[tuple[str, str, str]] = []
        account_id = None
        if ticket.assignee:
            account_id = self.preflight.assignees.get(ticket.assignee)
            if account_id is None:
                fallbacks.append(
                    (
                        "assignee",
                        f"'{ticket.assignee}' is not an assignable user; left unassigned",
                        "Assign the issue by hand to the right person",
                    )
                )
        priority = ticket.priority
        if priority and priority not in self.preflight.priorities:
            fallbacks.append(
                (
                    "priority",
                    f"Priority '{priority}' is not available; Jira's default was used",
                    "Set the priority by hand (available: "
                    + ", ".join(sorted(self.preflight.priorities))
                    + ")",
                )
            )
            priority = None
        if ticket.sprint and ticket.sprint not in self.preflight.sprints:
            fallbacks.append(
                (
                    "sprint",
                    f"Sprint '{ticket.sprint}' was not found; the issue is in the backlog",
                    "Move the issue to the right sprint by hand",
                )
            )
        labels = [*ticket.labels, export_label(ticket.id), session_label(self.session.id)]
        issue = NewIssue(
            project_key=self.export.project_key,
            summary=document.summary,
            issue_type=self.export.issue_type,
            issue_type_id=self.preflight.issue_type_id,
            description=document.adf,
            labels=tuple(dict.fromkeys(labels)),
            assignee_account_id=account_id,
            priority=priority,
            parent_key=self.session.epic_key,
            properties={
                PROPERTY_KEY: {"ticket_id": str(ticket.id), "session_id": str(self.session.id)}
            },
        )
        attachment = None
        if document.attachment is not None:
            a = document.attachment
            attachment = (a.filename, a.content, a.media_type)
        return Prepared(ticket, int(item["order"]), issue, attachment, fallbacks)

    def create_issues(self) -> None:
        pending = self.export.pending_tickets()
        for start in range(0, len(pending), BULK_LIMIT):
            self.check_going()
            batch = [self.prepare(item) for item in pending[start : start + BULK_LIMIT]]
            self.current = (batch[0].ticket.id, batch[0].order)
            try:
                result = self.jira.create_issues([p.issue for p in batch])
            except JiraOutcomeUnknown:
                self.recover(
                    [{"ticket_id": p.ticket.id} for p in batch],
                    {p.ticket.id: p.fallbacks for p in batch},
                    self.search_settle_s,
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
                    prepared.ticket.id, issue.key, issue.browse_url, issue.id, EXPORTER
                )
                for kind, detail, action in prepared.fallbacks:
                    export.record_manual_fix(prepared.ticket.id, kind, detail, action, EXPORTER)

        if created:
            self.save(record)
            recorded = self.export.issues
            self.fresh.update(p.ticket.id for p, i in created if recorded[p.ticket.id].key == i.key)

    def create_one(self, prepared: Prepared) -> None:
        self.current = (prepared.ticket.id, prepared.order)
        try:
            issue = self.jira.create_issue(prepared.issue)
        except JiraOutcomeUnknown:
            self.recover(
                [{"ticket_id": prepared.ticket.id}],
                {prepared.ticket.id: prepared.fallbacks},
                self.search_settle_s,
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

    def upload_attachments(self) -> None:
        resumed = self.export.runs > 1 or self.export.retries > 0
        for item in self.export.plan:
            ticket_id = UUID(str(item["ticket_id"]))
            if self.export.attachments.get(ticket_id):
                continue
            prepared = self.prepare(item)
            if prepared.attachment is None:
                continue
            self.check_going()
            self.current = (ticket_id, prepared.order)
            key = self.export.issues[ticket_id].key
            filename, content, media_type = prepared.attachment
            # An earlier run may have uploaded it and stopped before recording it.
            done = resumed and ticket_id not in self.fresh and self.attached(key, filename)
            problem = None if done else self.attach(key, filename, content, media_type)
            if problem is not None:
                self.record_fix(
                    ticket_id,
                    "attachment",
                    f"Uploading {filename} failed: {problem}",
                    f"Attach {filename} to the issue by hand (the full description is in it)",
                )
                continue

            def attached(
                export: Export, t: UUID = ticket_id, k: str = key, f: str = filename
            ) -> None:
                export.record_attachment(t, k, f, EXPORTER)

            self.save(attached)

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
                if self.attached(key, filename):
                    return None
                continue
            return None
        return problem

    def attached(self, key: str, filename: str) -> bool:
        issue = self.jira.get_issue(key, ("attachment",))
        return any(
            isinstance(a, Mapping) and a.get("filename") == filename
            for a in issue.fields.get("attachment") or ()
        )

    def assign_sprints(self) -> None:
        assert self.preflight is not None
        by_sprint: dict[int, list[str]] = {}
        for ticket_id, issue in self.export.issues.items():
            sprint = self.session.tickets[ticket_id].sprint
            if sprint and sprint in self.preflight.sprints:
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

        def link(edge: tuple[UUID, UUID]) -> tuple[tuple[UUID, UUID], Exception | None]:
            ticket_id, dep = edge
            blocker, blocked = self.export.issues[dep].key, self.export.issues[ticket_id].key
            problem: Exception | None = None
            for _ in range(2):
                try:
                    self.jira.link_blocks(blocker, blocked)
                except JiraFieldError as exc:
                    return edge, exc
                except JiraOutcomeUnknown as exc:
                    # Jira may have made it: look (GET is strongly consistent) before
                    # posting again, and never send a person to make it by hand twice.
                    problem = exc
                    if self.linked(blocker, blocked):
                        return edge, None
                    continue
                return edge, None
            return edge, problem

        with ThreadPoolExecutor(LINK_CONCURRENCY, thread_name_prefix="link") as pool:
            for start in range(0, len(pending), 4 * LINK_CONCURRENCY):
                self.check_going()
                chunk = pending[start : start + 4 * LINK_CONCURRENCY]
                self.current = (chunk[0][0], self.export.order_of(chunk[0][0]))
                results = list(pool.map(link, chunk))

                def record(export: Export, results: list[Any] = results) -> None:
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

                self.save(record)
                self.report(f"Linked {len(self.export.links)} dependencies")

    def linked(self, blocker_key: str, blocked_key: str) -> bool:
        """Whether Jira shows `blocker_key` blocking `blocked_key` (seen from the blocked)."""
        issue = self.jira.get_issue(blocked_key, ("issuelinks",))
        return any(
            (link.get("type") or {}).get("name") == "Blocks"
            and (link.get("inwardIssue") or {}).get("key") == blocker_key
            for link in issue.fields.get("issuelinks") or ()
        )

    def existing_links_recorded(self, pending: list[tuple[UUID, UUID]]) -> list[tuple[UUID, UUID]]:
        """After an interrupted run, links may exist that we never recorded: look first
        (only where both issues existed before this run: a link needs both ends)."""
        dependents = sorted(
            {t for t, d in pending if t not in self.fresh and d not in self.fresh},
            key=self.export.order_of,
        )
        found: list[tuple[UUID, UUID]] = []
        key_to_ticket = {issue.key: tid for tid, issue in self.export.issues.items()}
        keys = [self.export.issues[ticket_id].key for ticket_id in dependents]
        # One GET per dependent, strongly consistent (unlike search); concurrently, as the
        # links themselves go out, so a resume does not pay one round trip per issue.
        with ThreadPoolExecutor(LINK_CONCURRENCY, thread_name_prefix="link-check") as pool:
            issues = list(pool.map(lambda key: self.jira.get_issue(key, ("issuelinks",)), keys))
        for ticket_id, issue in zip(dependents, issues, strict=True):
            for link in issue.fields.get("issuelinks") or ():
                other = (link.get("inwardIssue") or {}).get("key")
                if (link.get("type") or {}).get("name") != "Blocks" or other is None:
                    continue
                dep = key_to_ticket.get(other)
                if dep is not None and (ticket_id, dep) in pending:
                    found.append((ticket_id, dep))
        if found:

            def record(export: Export) -> None:
                for ticket_id, dep in found:
                    export.record_link(ticket_id, dep, EXPORTER)

            self.save(record)
        return [p for p in pending if p not in set(found)]
