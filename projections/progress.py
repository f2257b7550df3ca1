"""Live progress, derived from the event store and published to a message bus.

Decision: progress messages are not sent by the workers while they work. They are
DERIVED FROM THE EVENT STORE by `ProgressProjection`, a projection with a tracked
position like every read model, run by the existing `ProjectionRunner` (its own
runner instance, see `ProgressFollower`, so that read-your-writes never waits for
the bus). For each relevant event it updates a small per-session / per-task doc
(counts, totals, start time) and produces one self-contained progress message
(the whole current state, so a late subscriber needs only the latest message).

Messages are published through the `ProgressPublisher` port *inside the batch's
transaction, before its position commits* (`ViewTransaction.before_commit`). A
publisher that can (`open_batch()`, NATS) is handed each message as soon as the batch
computes it, with asynchronous acknowledgements that are all awaited just before the
commit; the follower is woken by every commit (`ProgressFollower.notify`). Each
carries a deterministic message id, `<session_id>:<notification id of the event>`,
which the bus uses to drop re-publishes (JetStream's duplicate window). So:

- a crash between publishing and committing re-publishes the same messages with the
  same ids and the same per-session `sequence`: no duplicates, no gaps;
- with the bus unreachable, `publish` raises `ProgressUnavailable`, the batch rolls
  back and its position does not move; the follower retries with back-off and the
  lag grows. The work itself (generation, export, the other read models) never
  waits for it; clients fall back to the REST status read models;
- events older than the bus keeps messages (`max_age_s`) are counted but not
  published, and the bus's duplicate window is as long as that, so a re-publish is
  dropped however long the outage was; a rebuild (shadow transaction) publishes
  nothing.

Message types: `processing_progress`, `processing_complete`, `processing_failed`,
`processing_cancelled`, `export_progress`, `export_complete`, `export_failed`
(fields as in `seeds/jira-integration-endpoints.md`; JSON schema in
`infrastructure/nats/progress_message.schema.json`). This module must not import a
bus client: infrastructure implements the port.
"""

from __future__ import annotations

import logging
import math
import threading
from datetime import datetime
from functools import singledispatchmethod
from typing import Any, ClassVar, Protocol
from uuid import UUID

from domain.export import MAX_EXPORT_RETRIES, Export
from domain.session import MAX_GENERATION_RETRIES, Session
from projections.base import Projection, ProjectionRunner
from projections.store import ViewTransaction

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "ticketforge.progress"
SCHEMA_VERSION = 1

SESSIONS = "progress_sessions"
TASKS = "progress_tasks"
TITLES = "progress_titles"

_OUTGOING = "_progress_outgoing"  # a batch transaction's messages not yet published
_SENDING = "_progress_sending"  # a batch transaction's messages on their way

TERMINAL_TYPES = frozenset(
    {
        "processing_complete",
        "processing_failed",
        "processing_cancelled",
        "export_complete",
        "export_failed",
    }
)


def subject_for(session_id: UUID | str) -> str:
    return f"{SUBJECT_PREFIX}.{session_id}"


def is_terminal(message: dict[str, Any]) -> bool:
    return str(message.get("type")) in TERMINAL_TYPES


class ProgressUnavailable(Exception):
    """The bus cannot take (or give) messages now; try again later."""


Outgoing = tuple[str, dict[str, Any], str]  # subject, message, message id


class ProgressPublisher(Protocol):
    def publish(self, subject: str, message: dict[str, Any], msg_id: str) -> None:
        """Publish and wait for the bus to store it; raise `ProgressUnavailable` if it cannot.

        `msg_id` is stable per message: publishing it again must not store a duplicate.
        """
        ...


class SendingBatch(Protocol):
    """What a publisher's `open_batch()` returns (optional: without it, a batch's
    messages are published one by one just before its position commits)."""

    def send(self, subject: str, message: dict[str, Any], msg_id: str) -> None:
        """Hand the message to the bus now, without waiting for it to be stored."""
        ...

    def wait(self) -> None:
        """Return once the bus stored every message sent; else `ProgressUnavailable`."""
        ...


def publish_all(publisher: ProgressPublisher, messages: list[Outgoing]) -> None:
    """One batch's messages, one by one (a publisher that cannot `open_batch`)."""
    for subject, message, msg_id in messages:
        publisher.publish(subject, message, msg_id)


def _seconds_between(start: str | None, end: datetime) -> float | None:
    if not start:
        return None
    return max(0.0, (end - datetime.fromisoformat(start)).total_seconds())


def _eta(elapsed: float | None, done: int, remaining: int) -> float | None:
    if elapsed is None or done <= 0:
        return None
    return round(elapsed / done * max(0, remaining), 1)


class ProgressProjection(Projection):
    name: ClassVar[str] = "progress"
    tables: ClassVar[tuple[str, ...]] = (SESSIONS, TASKS, TITLES)
    # A rebuild publishes nothing, and its swap would move the position past events the
    # live copy had not published yet: those messages would never go out.
    rebuildable: ClassVar[bool] = False

    def __init__(self, publisher: ProgressPublisher, max_age_s: float | None = None) -> None:
        self.publisher = publisher
        # Events older than the bus keeps messages (a first run over a long history, a
        # rebuild) still count, but are not published: nobody could want them live.
        self.max_age_s = max_age_s

    @singledispatchmethod
    def process(self, event: Any, tx: ViewTransaction) -> None:
        """Events that do not move any progress."""

    # --- bookkeeping -----------------------------------------------------------

    def _session(self, tx: ViewTransaction, session_id: str) -> dict[str, Any]:
        doc = tx.get(SESSIONS, session_id)
        if doc is None:  # only if the session predates this projection's tables
            doc = {"session_id": session_id, "sequence": 0, "jira_project_key": ""}
        return doc

    def _task(self, tx: ViewTransaction, key: str) -> dict[str, Any] | None:
        return tx.get(TASKS, key)

    def _save_task(self, tx: ViewTransaction, key: str, task: dict[str, Any]) -> None:
        tx.put(TASKS, key, task, partition=task["session_id"])

    def _emit(
        self, tx: ViewTransaction, event: Any, task: dict[str, Any], body: dict[str, Any]
    ) -> None:
        """Number the message, record the session's new sequence, publish before commit."""
        session_id = task["session_id"]
        session = self._session(tx, session_id)
        session["sequence"] += 1
        tx.put(SESSIONS, session_id, session)
        message = {
            "schema_version": SCHEMA_VERSION,
            "type": body.pop("type"),
            "kind": task["kind"],
            "session_id": session_id,
            "task_id": task["task_id"],
            "sequence": session["sequence"],
            "time": event.timestamp.isoformat(),
            "event": type(event).__qualname__,
            "current_jira_project": task.get("project_key") or session["jira_project_key"],
            **body,
        }
        if task["kind"] == "export":
            message["export_id"] = task["export_id"]
        # The event's notification id: the same message gets the same id however often
        # its batch is retried, and no two events share one.
        msg_id = f"{session_id}:{tx.event_position}"
        if self.max_age_s is not None:
            age = (datetime.now(event.timestamp.tzinfo) - event.timestamp).total_seconds()
            if age > self.max_age_s:
                return
        subject = subject_for(session_id)
        opener = getattr(self.publisher, "open_batch", None)
        if opener is not None and getattr(tx, "side_effects", True):
            # Sent at once, while the batch goes on (asynchronous acknowledgements);
            # every acknowledgement is awaited just before the position commits.
            batch: SendingBatch | None = getattr(tx, _SENDING, None)
            if batch is None:
                batch = opener()
                setattr(tx, _SENDING, batch)
                tx.before_commit(batch.wait)
            batch.send(subject, message, msg_id)
            return
        # Else one publish per batch, before its position commits (a rebuild's
        # transaction drops it).
        outgoing: list[Outgoing] | None = getattr(tx, _OUTGOING, None)
        if outgoing is None:
            outgoing = []
            setattr(tx, _OUTGOING, outgoing)
            tx.before_commit(lambda: self._flush(tx))
        outgoing.append((subject, message, msg_id))

    def _flush(self, tx: ViewTransaction) -> None:
        outgoing: list[Outgoing] = getattr(tx, _OUTGOING, None) or []
        setattr(tx, _OUTGOING, None)
        if outgoing:
            publish_all(self.publisher, outgoing)

    # --- sessions and titles ---------------------------------------------------

    @process.register
    def _created(self, event: Session.SessionCreated, tx: ViewTransaction) -> None:
        session_id = str(event.originator_id)
        doc = self._session(tx, session_id)
        doc["jira_project_key"] = event.jira_project_key
        tx.put(SESSIONS, session_id, doc)

    @process.register
    def _edited(self, event: Session.TicketEdited, tx: ViewTransaction) -> None:
        if "title" in event.changes:
            session_id = str(event.originator_id)
            title = {"title": event.changes["title"]}
            tx.put(TITLES, f"{session_id}:{event.ticket_id}", title, partition=session_id)

    # --- generation ------------------------------------------------------------

    @staticmethod
    def _processing_counts(task: dict[str, Any]) -> dict[str, Any]:
        total, done = task["total"], task["completed"] + task["failed"]
        return {
            "progress_percentage": round(100.0 * done / total, 1) if total else 0.0,
            "tickets_completed": task["completed"],
            "tickets_failed": task["failed"],
            "total_tickets": total,
        }

    def _processing_progress(
        self, tx: ViewTransaction, event: Any, task: dict[str, Any], stage: str
    ) -> None:
        done = task["completed"] + task["failed"]
        eta = _eta(
            _seconds_between(task["started_at"], event.timestamp), done, task["total"] - done
        )
        self._save_task(tx, task["task_id"], task)
        self._emit(
            tx,
            event,
            task,
            {
                "type": "processing_progress",
                "status": "processing",
                "current_stage": stage,
                **self._processing_counts(task),
                "estimated_time_remaining_seconds": eta,
                "estimated_time_remaining_minutes": None if eta is None else math.ceil(eta / 60),
            },
        )

    def _generation_task(self, tx: ViewTransaction, task_id: UUID) -> dict[str, Any] | None:
        task = self._task(tx, str(task_id))
        return task if task is not None and task["kind"] == "processing" else None

    @process.register
    def _generation_requested(
        self, event: Session.GenerationRequested, tx: ViewTransaction
    ) -> None:
        for ticket_id in event.discarded_ticket_ids:
            tx.delete(TITLES, f"{event.originator_id}:{ticket_id}")
        task = {
            "kind": "processing",
            "session_id": str(event.originator_id),
            "task_id": str(event.task_id),
            "generator": event.generator,
            "attempt": event.attempt,
            "total": 0,
            "completed": 0,
            "failed": 0,
            "dependencies": 0,
            "requested_at": event.timestamp.isoformat(),
            "started_at": None,
        }
        stage = f"Queued: drafting tickets with '{event.generator}'"
        if event.attempt:
            stage += f" (retry {event.attempt} of {MAX_GENERATION_RETRIES})"
        self._processing_progress(tx, event, task, stage)

    @process.register
    def _generation_started(self, event: Session.GenerationStarted, tx: ViewTransaction) -> None:
        task = self._generation_task(tx, event.task_id)
        if task is None:
            return
        task.update(total=event.total, started_at=event.timestamp.isoformat())
        self._processing_progress(tx, event, task, f"Drafting {event.total} tickets")

    @process.register
    def _ticket_generated(self, event: Session.TicketGenerated, tx: ViewTransaction) -> None:
        key = f"{event.originator_id}:{event.ticket_id}"
        tx.put(TITLES, key, {"title": event.title}, partition=str(event.originator_id))
        task = self._generation_task(tx, event.task_id)
        if task is None:
            return
        task["completed"] += 1
        task["dependencies"] += len(event.depends_on)
        done = task["completed"] + task["failed"]
        self._processing_progress(
            tx, event, task, f"Drafted ticket {done} of {task['total']}: {event.title}"
        )

    @process.register
    def _ticket_failed(self, event: Session.TicketGenerationFailed, tx: ViewTransaction) -> None:
        task = self._generation_task(tx, event.task_id)
        if task is None:
            return
        task["failed"] += 1
        self._processing_progress(
            tx, event, task, f"Could not draft '{event.config_name}': {event.error}"
        )

    @process.register
    def _generation_completed(
        self, event: Session.GenerationCompleted, tx: ViewTransaction
    ) -> None:
        task = self._generation_task(tx, event.task_id)
        if task is None:
            return
        elapsed = _seconds_between(task["started_at"] or task["requested_at"], event.timestamp)
        self._save_task(tx, task["task_id"], task)
        self._emit(
            tx,
            event,
            task,
            {
                "type": "processing_complete",
                "status": "completed",
                "current_stage": f"Drafted {task['completed']} tickets, {task['failed']} failed",
                **self._processing_counts(task),
                "progress_percentage": 100.0,
                "tickets_created": task["completed"],
                "dependencies_created": task["dependencies"],
                "manual_fixes_needed": 0,
                "total_processing_time_minutes": round((elapsed or 0.0) / 60, 2),
            },
        )

    @process.register
    def _generation_failed(self, event: Session.GenerationFailed, tx: ViewTransaction) -> None:
        task = self._generation_task(tx, event.task_id)
        if task is None:
            return
        self._save_task(tx, task["task_id"], task)
        self._emit(
            tx,
            event,
            task,
            {
                "type": "processing_failed",
                "status": "failed",
                "current_stage": f"Generation failed: {event.error}",
                **self._processing_counts(task),
                "failed_at_ticket": task["completed"] + task["failed"] + 1,
                "error_category": event.category,
                "retry_available": task["attempt"] < MAX_GENERATION_RETRIES,
                "retry_attempts_used": task["attempt"],
                "error_message": event.error,
                "recovery_actions": [
                    f"Retry with POST /api/sessions/{task['session_id']}/process/retry"
                    if task["attempt"] < MAX_GENERATION_RETRIES
                    else "Ask an administrator to look at the generation errors"
                ],
            },
        )

    @process.register
    def _generation_cancelled(
        self, event: Session.GenerationCancelled, tx: ViewTransaction
    ) -> None:
        task = self._generation_task(tx, event.task_id)
        if task is None:
            return
        self._save_task(tx, task["task_id"], task)
        self._emit(
            tx,
            event,
            task,
            {
                "type": "processing_cancelled",
                "status": "cancelled",
                "current_stage": "Generation cancelled",
                **self._processing_counts(task),
            },
        )

    # --- export ----------------------------------------------------------------

    def _export_task(self, tx: ViewTransaction, event: Any) -> dict[str, Any] | None:
        task = self._task(tx, str(event.originator_id))
        return task if task is not None and task["kind"] == "export" else None

    @staticmethod
    def _export_counts(task: dict[str, Any]) -> dict[str, Any]:
        work = task["total"] + task["links_planned"]
        done = task["completed"] + task["links"]
        return {
            "progress_percentage": round(100.0 * done / work, 1) if work else 0.0,
            "tickets_completed": task["completed"],
            "tickets_failed": task["failed"],
            "total_tickets": task["total"],
            "dependencies_created": task["links"],
            "manual_fixes_needed": task["fixes"],
        }

    def _title(self, tx: ViewTransaction, task: dict[str, Any], ticket_id: UUID | None) -> str:
        if ticket_id is None:
            return ""
        row = tx.get(TITLES, f"{task['session_id']}:{ticket_id}")
        return str(row["title"]) if row else ""

    def _export_progress(
        self, tx: ViewTransaction, event: Any, task: dict[str, Any], stage: str
    ) -> None:
        work = task["total"] + task["links_planned"]
        done = task["completed"] + task["links"]
        eta = _eta(
            _seconds_between(task["attempt_started_at"], event.timestamp),
            done - task["done_at_attempt_start"],
            work - done,
        )
        self._save_task(tx, task["export_id"], task)
        self._emit(
            tx,
            event,
            task,
            {
                "type": "export_progress",
                "status": "exporting",
                "current_stage": stage,
                **self._export_counts(task),
                "estimated_time_remaining_seconds": eta,
                "estimated_time_remaining_minutes": None if eta is None else math.ceil(eta / 60),
            },
        )

    @process.register
    def _export_requested(self, event: Export.ExportRequested, tx: ViewTransaction) -> None:
        task = {
            "kind": "export",
            "session_id": str(event.session_id),
            "export_id": str(event.originator_id),
            "task_id": str(event.task_id),
            "project_key": event.project_key,
            "total": len(event.plan),
            "links_planned": sum(len(p.get("depends_on", ())) for p in event.plan),
            "completed": 0,
            "failed": 0,
            "links": 0,
            "fixes": 0,
            "retries": 0,
            "requested_at": event.timestamp.isoformat(),
            "started_at": None,
            "attempt_started_at": None,
            "done_at_attempt_start": 0,
        }
        self._export_progress(
            tx,
            event,
            task,
            f"Queued: {task['total']} tickets to create in {event.project_key}",
        )

    @process.register
    def _export_started(self, event: Export.ExportStarted, tx: ViewTransaction) -> None:
        task = self._export_task(tx, event)
        if task is None:
            return
        now = event.timestamp.isoformat()
        task["started_at"] = task["started_at"] or now
        task["attempt_started_at"] = now
        task["done_at_attempt_start"] = task["completed"] + task["links"]
        task["failed"] = 0
        remaining = task["total"] - task["completed"]
        self._export_progress(
            tx, event, task, f"Exporting {remaining} of {task['total']} tickets to Jira"
        )

    @process.register
    def _ticket_exported(self, event: Export.TicketExported, tx: ViewTransaction) -> None:
        task = self._export_task(tx, event)
        if task is None:
            return
        task["completed"] += 1
        title = self._title(tx, task, event.ticket_id)
        stage = f"Created ticket {task['completed']} of {task['total']}: {event.key}"
        self._export_progress(tx, event, task, f"{stage} {title}".rstrip())

    @process.register
    def _attachment(self, event: Export.AttachmentUploaded, tx: ViewTransaction) -> None:
        task = self._export_task(tx, event)
        if task is not None:
            self._export_progress(tx, event, task, f"Attached {event.filename} to {event.key}")

    @process.register
    def _linked(self, event: Export.DependencyLinked, tx: ViewTransaction) -> None:
        task = self._export_task(tx, event)
        if task is None:
            return
        task["links"] += 1
        self._export_progress(
            tx, event, task, f"Linked {event.blocker_key} blocks {event.blocked_key}"
        )

    @process.register
    def _manual_fix(self, event: Export.ManualFixRecorded, tx: ViewTransaction) -> None:
        task = self._export_task(tx, event)
        if task is None:
            return
        task["fixes"] += 1
        where = f" on {event.issue_key}" if event.issue_key else ""
        self._export_progress(tx, event, task, f"Manual fix needed{where}: {event.detail}")

    @process.register
    def _export_failed(self, event: Export.ExportFailed, tx: ViewTransaction) -> None:
        task = self._export_task(tx, event)
        if task is None:
            return
        task["failed"] = 1 if event.failed_ticket_id is not None else 0
        self._save_task(tx, task["export_id"], task)
        self._emit(
            tx,
            event,
            task,
            {
                "type": "export_failed",
                "status": "failed",
                "current_stage": f"Export failed: {event.message}",
                **self._export_counts(task),
                "failed_at_ticket": event.failed_ticket_order,
                "error_category": event.category,
                "retry_available": task["retries"] < MAX_EXPORT_RETRIES,
                "retry_attempts_used": task["retries"],
                "error_message": event.message,
                "recovery_actions": list(event.recovery_actions),
            },
        )

    @process.register
    def _export_retried(self, event: Export.ExportRetried, tx: ViewTransaction) -> None:
        task = self._export_task(tx, event)
        if task is None:
            return
        task.update(task_id=str(event.task_id), retries=event.attempt, failed=0)
        self._export_progress(
            tx,
            event,
            task,
            f"Retry {event.attempt} of {MAX_EXPORT_RETRIES}: resuming after "
            f"{task['completed']} created tickets",
        )

    @process.register
    def _export_completed(self, event: Export.ExportCompleted, tx: ViewTransaction) -> None:
        task = self._export_task(tx, event)
        if task is None:
            return
        task.update(failed=0, completed=event.created, links=event.links, fixes=event.manual_fixes)
        elapsed = _seconds_between(task["started_at"] or task["requested_at"], event.timestamp)
        self._save_task(tx, task["export_id"], task)
        self._emit(
            tx,
            event,
            task,
            {
                "type": "export_complete",
                "status": "completed",
                "current_stage": f"Created {event.created} issues and {event.links} links",
                **self._export_counts(task),
                "progress_percentage": 100.0,
                "tickets_created": event.created,
                "total_processing_time_minutes": round((elapsed or 0.0) / 60, 2),
            },
        )


class ProgressFollower:
    """Keeps the progress projection caught up in its own thread.

    It has a runner of its own so that the read models' read-your-writes never
    waits for the bus, and it backs off quietly while the bus is unreachable (the
    position stays put; `lag()` shows how far behind live progress is).
    """

    def __init__(
        self,
        runner: ProjectionRunner,
        poll_interval: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self.runner = runner
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.outage: str | None = None
        self._stop = threading.Event()
        self._wakeup = threading.Event()
        self._resume = threading.Event()
        self._thread: threading.Thread | None = None

    def catch_up(self) -> int:
        """Catch up every projection of the runner that this process leads, each on its
        own: one that fails (live progress with the bus half-broken, say) does not hold
        back the others (handing work to the workers); the first failure is raised."""
        position, failures = self.runner.pump_leading()
        if failures:
            raise failures[0][1]
        return position

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        backoff = self.poll_interval
        while not self._stop.is_set():
            # Cleared before the pass, not after the wait: a commit notified while the
            # pass runs makes the next pass start at once (it is never lost).
            self._wakeup.clear()
            try:
                self.catch_up()
            except ProgressUnavailable as exc:
                if self.outage is None:
                    log.warning("live progress paused, will retry: %s", exc)
                self.outage = str(exc)
                backoff = min(max(backoff * 2, 0.2), self.max_backoff)
                self._resume.wait(backoff)
                self._resume.clear()
                continue
            except Exception:  # the position did not move; the batch is retried
                log.exception("progress batch failed; retrying")
                self._stop.wait(1.0)
                continue
            if self.outage is not None:
                log.warning("live progress resumed")
                self.outage = None
            backoff = self.poll_interval
            self._wakeup.wait(self.poll_interval)

    def notify(self) -> None:
        """New events: look now rather than at the next poll."""
        self._wakeup.set()

    def resume(self) -> None:
        """The bus is back: retry now rather than at the end of the back-off."""
        self._resume.set()
        self._wakeup.set()

    def lag(self) -> int:
        return self.runner.lag().get(ProgressProjection.name, 0)

    def stop(self) -> None:
        self._stop.set()
        self.resume()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
