"""Commands on sessions: the write side. Queries never come here; they read projections."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import (
    Application,
    ProcessingEvent,
    ProjectorFunction,
    Repository,
    project_aggregate,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    EventStore,
    JSONTranscoder,
    Mapper,
    Recording,
    Transcoder,
)
from eventsourcing.utils import EnvType, strtobool

from application.adf import check_ticket
from application.export.plan import carry_forward
from application.inventory.model import ParsedInventory
from application.replay import QuickRepository, SnapshotCompressor, replay_events
from application.transcodings import TicketForgeTranscoder, register_transcodings
from application.unit_of_work import get, save_with_retry
from application.users import User
from domain.admin import AdminActivity
from domain.errors import ConflictError, InvalidCommandError, NotFoundError
from domain.export import Export
from domain.revision import Revision
from domain.session import (
    EDIT_STAGES,
    EPIC_EXISTING,
    EPIC_NONE,
    Session,
    Stage,
    check_epic_mode,
)

AggregateT = TypeVar("AggregateT", Session, Export)


def _position(recordings: Sequence[Recording[Any]]) -> int | None:
    """The notification id of the last event a command recorded (None: it recorded none)."""
    return recordings[-1].notification.id if recordings else None


@dataclass(frozen=True)
class CommandResult:
    """What a command changed: the position of its last event, for read-your-writes."""

    session_id: UUID
    position: int | None
    version: int


@dataclass(frozen=True)
class UploadResult(CommandResult):
    """An upload's result, and the revision it recorded (None: it changed nothing, and
    recorded nothing); `revision_number` is the session's latest."""

    revision: Revision | None = None
    revision_number: int = 0


@dataclass(frozen=True)
class TicketCheck:
    ticket_id: UUID
    ticket_title: str
    status: str
    adf_size_bytes: int | None
    character_reduction: float | None
    error_message: str | None
    suggested_fix: str | None
    attachment_upload_tested: bool
    attachment_upload_status: str | None


@dataclass(frozen=True)
class ValidationReport:
    session_id: UUID
    tickets_tested: int
    all_passed: bool
    passed: int
    failed: int
    results: list[TicketCheck]
    content_version: int
    position: int | None


log = logging.getLogger(__name__)


class TicketForge(Application[UUID]):
    """The event-sourced application: persistence chosen by environment (SQLite, PostgreSQL)."""

    name = "ticketforge"
    # A command loads the latest snapshot and replays the events after it (at most
    # interval - 1). Sessions: 200, as the p99 of a command is the load with the most
    # events after the snapshot (on PostgreSQL each costs the driver ~25 us); every
    # 200th command pays for the snapshot (~1.5 MB of JSON for 235 tickets, 120 kB
    # compressed). bench/projections.py measures 200 against 500.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Session: 200,
        Export: 500,
        AdminActivity: 500,
    }
    snapshotting_projectors: ClassVar[dict[type[Any], ProjectorFunction[Any, Any]]] = {
        Session: replay_events,
        Export: replay_events,
        AdminActivity: replay_events,
    }

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        # Called (no arguments) right after every commit of events by this process:
        # the followers of the notification log look at once instead of at their next
        # poll (on PostgreSQL, LISTEN/NOTIFY does it for commits by other processes).
        self.on_commit: list[Callable[[], None]] = []

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        recordings = super()._record(processing_event)
        for wake in list(self.on_commit):
            try:
                wake()
            except Exception:  # waking a follower must never fail a command
                log.exception("a commit listener failed")
        return recordings

    def construct_snapshot_store(self) -> EventStore[UUID]:
        """Snapshots, compressed (see `application.replay`)."""
        mapper = Mapper[UUID](
            transcoder=self.mapper.transcoder,
            compressor=self.mapper.compressor or SnapshotCompressor(),
            cipher=self.mapper.cipher,
        )
        recorder = self.factory.aggregate_recorder(purpose="snapshots")
        return self.factory.event_store(mapper=mapper, recorder=recorder)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """As the library does (a snapshot at each multiple of the interval), but from the
        aggregate just saved when the snapshot is of its current version: it holds what
        reloading it would give (events are its only writers), so the command that
        takes the snapshot does not load the aggregate a second time. Otherwise (the
        multiple falls inside a batch of events) the library reloads at that version."""
        if not self.snapshots or not self.snapshotting_intervals:
            return
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            if aggregate is None:
                continue
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval is None or event.originator_version % interval != 0:
                continue
            snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
            if (
                snapshot_class is not None
                and isinstance(aggregate, Aggregate)
                and aggregate.version == event.originator_version
                and not aggregate.pending_events
            ):
                self.snapshots.put([snapshot_class.take(aggregate)])
            else:
                self.take_snapshot(
                    event.originator_id,
                    version=event.originator_version,
                    projector_func=self.snapshotting_projectors.get(
                        type(aggregate), project_aggregate
                    ),
                )

    def construct_repository(self) -> Repository[UUID]:
        """As the library builds it, loading without a per-event Protocol check."""
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return QuickRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(maxsize) if maxsize else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            fastforward_skipping=strtobool(
                self.env.get(self.AGGREGATE_CACHE_FASTFORWARD_SKIPPING, "n")
            ),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )

    def construct_transcoder(self) -> Transcoder:
        """JSON that keeps our aggregates' sets, tuples and UUID-keyed dicts (for snapshots)."""
        transcoder = self.factory.transcoder()
        if type(transcoder) is JSONTranscoder:
            transcoder = TicketForgeTranscoder()
        if isinstance(transcoder, JSONTranscoder):
            self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_transcodings(transcoder)

    # --- helpers -----------------------------------------------------------

    def load_session(self, session_id: UUID, user: User | None = None) -> Session:
        """The session, if it exists and `user` may see it (a stranger gets 404, not 403)."""
        try:
            session = get(self, Session, session_id)
        except NotFoundError:
            session = None
        if session is None or (
            user is not None and not user.is_admin and session.owner != user.name
        ):
            raise NotFoundError(
                f"Session {session_id} not found",
                ["Check the session id; list your sessions with GET /api/sessions"],
            )
        return session

    def update_session(
        self, session_id: UUID, user: User, command: Callable[[Session], None]
    ) -> CommandResult:
        """Load, apply, save; on a concurrent write, reload and apply again."""
        return self._update(session_id, lambda: self.load_session(session_id, user), command)

    def update_export(
        self, session_id: UUID, user: User, command: Callable[[Export], None]
    ) -> CommandResult:
        """The same for the session's latest export."""
        return self._update(
            session_id, lambda: self.latest_export(self.load_session(session_id, user)), command
        )

    def _update(
        self,
        session_id: UUID,
        load: Callable[[], AggregateT],
        command: Callable[[AggregateT], None],
    ) -> CommandResult:
        def work() -> tuple[list[AggregateT], int]:
            aggregate = load()
            command(aggregate)
            return [aggregate], aggregate.version

        version, recordings = save_with_retry(self, work, f"Session {session_id}")
        return CommandResult(session_id, _position(recordings), version)

    # --- commands ------------------------------------------------------------

    def create_session(
        self,
        *,
        name: str,
        site: dict[str, str],
        jira_project_key: str,
        issue_type: str,
        user: User,
        default_labels: Sequence[str] = (),
        epic_key: str | None = None,
        epic_mode: str | None = None,
    ) -> CommandResult:
        """`epic_mode` defaults to `existing` with an `epic_key`, else `none`."""
        mode = epic_mode or (EPIC_EXISTING if epic_key else EPIC_NONE)
        check_epic_mode(mode, epic_key)
        session = Session(
            name=name,
            owner=user.name,
            site=site,
            jira_project_key=jira_project_key,
            issue_type=issue_type,
            default_labels=list(default_labels),
            epic_key=epic_key,
            actor=user.name,
            epic_mode=mode,
        )
        recordings = self.save(session)
        return CommandResult(session.id, recordings[-1].notification.id, session.version)

    def upload_inventory(
        self, session_id: UUID, inventory: ParsedInventory, user: User
    ) -> UploadResult:
        """Record the upload as a revision of the inventory (see `Session.upload_inventory`)."""

        def work() -> tuple[list[Session], tuple[Revision | None, int, int]]:
            session = self.load_session(session_id, user)
            revision = session.upload_inventory(
                inventory.files, inventory.entities, inventory.warnings, user.name
            )
            return [session], (revision, session.revision, session.version)

        (revision, number, version), recordings = save_with_retry(
            self, work, f"Session {session_id}"
        )
        return UploadResult(session_id, _position(recordings), version, revision, number)

    def request_generation(
        self, session_id: UUID, generator: str, user: User, *, retry: bool = False
    ) -> tuple[UUID, bool, CommandResult]:
        """Start (or retry) generation; a request while one runs returns the running task.

        Returns (task id, whether it was already running, result).
        """
        task_id = uuid4()
        running: list[UUID] = []

        def command(session: Session) -> None:
            run = session.generation
            if session.stage == Stage.PROCESSING and run is not None:
                running.append(run.task_id)
                return
            if retry:
                session.retry_generation(task_id, generator, user.name)
            else:
                session.request_generation(task_id, generator, user.name)

        result = self.update_session(session_id, user, command)
        if running:
            return running[-1], True, result
        return task_id, False, result

    def request_redraft(
        self, session_id: UUID, ticket_id: UUID, generator: str, user: User
    ) -> tuple[UUID, CommandResult]:
        """Draft one ticket again, through a generation run (returns its task id)."""
        task_id = uuid4()
        result = self.update_session(
            session_id,
            user,
            lambda s: s.request_redraft(ticket_id, task_id, generator, user.name),
        )
        return task_id, result

    def dismiss_source_change(self, session_id: UUID, ticket_id: UUID, user: User) -> CommandResult:
        return self.update_session(
            session_id, user, lambda s: s.dismiss_source_change(ticket_id, user.name)
        )

    def cancel_generation(self, session_id: UUID, user: User) -> CommandResult:
        def command(session: Session) -> None:
            run = session.generation
            if session.stage != Stage.PROCESSING or run is None:
                session.check_stage((Stage.PROCESSING,), "cancel ticket generation")
                return
            session.cancel_generation(run.task_id, user.name)

        return self.update_session(session_id, user, command)

    def edit_ticket(
        self,
        session_id: UUID,
        ticket_id: UUID,
        changes: dict[str, Any],
        expected_version: int | None,
        user: User,
    ) -> CommandResult:
        if not changes:
            raise InvalidCommandError("No changes given", ["Send at least one field to change"])
        return self.update_session(
            session_id,
            user,
            lambda s: s.edit_ticket(ticket_id, changes, expected_version, user.name),
        )

    def change_epic_mode(
        self, session_id: UUID, epic_mode: str, epic_key: str | None, user: User
    ) -> CommandResult:
        return self.update_session(
            session_id, user, lambda s: s.change_epic_mode(epic_mode, epic_key, user.name)
        )

    def reorder_tickets(
        self, session_id: UUID, ticket_ids: list[UUID], user: User
    ) -> CommandResult:
        return self.update_session(
            session_id, user, lambda s: s.reorder_tickets(ticket_ids, user.name)
        )

    def add_dependency(
        self, session_id: UUID, ticket_id: UUID, depends_on: UUID, user: User
    ) -> CommandResult:
        return self.update_session(
            session_id, user, lambda s: s.add_dependency(ticket_id, depends_on, user.name)
        )

    def remove_dependency(
        self, session_id: UUID, ticket_id: UUID, depends_on: UUID, user: User
    ) -> CommandResult:
        return self.update_session(
            session_id, user, lambda s: s.remove_dependency(ticket_id, depends_on, user.name)
        )

    def mark_ready(
        self, session_id: UUID, ticket_ids: list[UUID] | None, ready: bool, user: User
    ) -> CommandResult:
        """Mark the given tickets (or, with None, every ticket) ready or not ready."""
        return self.update_session(
            session_id,
            user,
            lambda s: s.mark_ready(
                list(s.tickets) if ticket_ids is None else ticket_ids, ready, user.name
            ),
        )

    def validate_tickets(
        self, session_id: UUID, ticket_ids: list[UUID] | None, user: User
    ) -> ValidationReport:
        """Convert each ticket to ADF, check it against the schema and Jira's limits, record it.

        The result is recorded for the exact content version it was computed on; if the
        session changed meanwhile, the check runs again on the new content.
        """

        def work() -> tuple[list[Session], tuple[list[TicketCheck], list[dict[str, str]], int]]:
            session = self.load_session(session_id, user)
            session.check_stage(EDIT_STAGES, "validate tickets")
            # By default every ticket that goes to Jira (an obsolete one needs no validation).
            chosen = [t.id for t in session.live_tickets()] if ticket_ids is None else ticket_ids
            results = []
            for ticket_id in chosen:
                ticket = session.get_ticket(ticket_id)
                check = check_ticket(
                    ticket.config_name,
                    ticket.title,
                    ticket.user_story,
                    ticket.analysis,
                    ticket.verification,
                )
                results.append(
                    TicketCheck(
                        ticket_id=ticket.id,
                        ticket_title=ticket.title,
                        status=check.status,
                        adf_size_bytes=check.adf_size_bytes,
                        character_reduction=check.character_reduction,
                        error_message=check.error_message,
                        suggested_fix=check.suggested_fix,
                        attachment_upload_tested=check.attachment_upload_tested,
                        attachment_upload_status=check.attachment_upload_status,
                    )
                )
            passed = [r.ticket_id for r in results if r.status == "passed"]
            failures = [
                {
                    "ticket_id": str(r.ticket_id),
                    "error": r.error_message or "invalid",
                    "suggested_fix": r.suggested_fix or "",
                }
                for r in results
                if r.status != "passed"
            ]
            session.record_validation(passed, failures, user.name)
            return [session], (results, failures, session.content_version)

        (results, failures, content_version), recordings = save_with_retry(
            self, work, f"Session {session_id}"
        )
        return ValidationReport(
            session_id=session_id,
            tickets_tested=len(results),
            all_passed=not failures,
            passed=len(results) - len(failures),
            failed=len(failures),
            results=results,
            content_version=content_version,
            position=_position(recordings),
        )

    # --- export --------------------------------------------------------------

    def load_export(self, export_id: UUID, user: User | None = None) -> Export:
        export = get(self, Export, export_id)
        if user is not None:
            self.load_session(export.session_id, user)
        return export

    def request_export(self, session_id: UUID, user: User) -> tuple[Export, bool, CommandResult]:
        """Start the session's export; a request while one runs returns the running one.
        After a completed export, the new one brings Jira in step with the session (see
        `application.export.plan`): it creates, updates, links, unlinks, marks obsolete."""

        def work() -> tuple[list[Aggregate], tuple[Export, bool, int]]:
            session = self.load_session(session_id, user)
            if session.stage == Stage.EXPORTING and session.export_id is not None:
                return [], (self.load_export(session.export_id), True, session.version)
            previous = self.load_export(session.export_id) if session.export_id else None
            task_id = uuid4()
            export_id = Export.create_id(session.id, task_id)
            session.request_export(export_id, user.name)
            plan, carried = carry_forward(session, previous)
            export = Export(
                session_id=session.id,
                task_id=task_id,
                project_key=session.jira_project_key,
                issue_type=session.issue_type,
                content_version=session.content_version,
                plan=plan,
                carried=carried,
                actor=user.name,
            )
            return [session, export], (export, False, 0)

        (export, already, version), recordings = save_with_retry(
            self, work, f"Session {session_id}"
        )
        return export, already, CommandResult(session_id, _position(recordings), version)

    def latest_export(self, session: Session) -> Export:
        if session.export_id is None:
            raise NotFoundError(
                f"Session {session.id} has not been exported",
                ["Start an export with POST /api/sessions/{id}/export"],
            )
        return self.load_export(session.export_id)

    def retry_export(self, session_id: UUID, user: User) -> tuple[Export, CommandResult]:
        def work() -> tuple[list[Aggregate], Export]:
            session = self.load_session(session_id, user)
            export = self.latest_export(session)
            export.retry(uuid4(), user.name)
            session.resume_export(export.id, user.name)
            return [session, export], export

        export, recordings = save_with_retry(self, work, f"Session {session_id}")
        return export, CommandResult(session_id, _position(recordings), 0)

    def resolve_manual_fix(
        self,
        session_id: UUID,
        fix_id: UUID,
        note: str | None,
        user: User,
        choice: str | None = None,
    ) -> CommandResult:
        """Mark a manual fix done; a conflict with a choice (`keep_jira`, `overwrite`)."""
        return self.update_export(
            session_id, user, lambda e: e.resolve_manual_fix(fix_id, note, user.name, choice)
        )

    def record_sync(
        self, session_id: UUID, issues: list[dict[str, Any]], up_to: str | None, user: User
    ) -> CommandResult:
        def command(export: Export) -> None:
            if export.status != "completed":
                raise ConflictError(
                    f"Sync back needs a completed export; this one is {export.status}"
                )
            export.record_sync(issues, up_to, user.name)

        return self.update_export(session_id, user, command)

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0
