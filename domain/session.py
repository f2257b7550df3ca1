"""The `Session` aggregate: one site's inventory, its tickets and their review."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import ConflictError, InvalidCommandError, NotFoundError, StaleVersionError
from domain.inventory import InventoryEntity, sort_key
from domain.ordering import check_no_cycle, export_order
from domain.revision import Changes, Revision, compare_inventories, entity_changes, merge_changes

MAX_TITLE_LENGTH = 255
MAX_GENERATION_RETRIES = 3

EDITABLE_TEXT_FIELDS = ("title", "user_story", "analysis", "verification")
EDITABLE_FIELDS = (*EDITABLE_TEXT_FIELDS, "assignee", "sprint", "priority", "labels")


class Stage:
    SETUP = "setup"
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    PROCESSING_FAILED = "processing_failed"
    REVIEW = "review"
    EXPORTING = "exporting"
    EXPORT_FAILED = "export_failed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


REVIEW_STAGES = (Stage.REVIEW,)
# A completed export leaves a living backlog: the next export brings Jira in step.
EXPORTABLE_STAGES = (Stage.REVIEW, Stage.COMPLETED)
# Review goes on after an export completed; the first change moves the session back to
# review (`Session._reopen`), where the next export starts from.
EDIT_STAGES = (Stage.REVIEW, Stage.COMPLETED)
# How the export groups tickets under epics: not at all, one epic per ticket group
# (created by the export), or every ticket under one existing epic (`epic_key`).
EPIC_NONE, EPIC_PER_GROUP, EPIC_EXISTING = "none", "per_group", "existing"
EPIC_MODES = (EPIC_NONE, EPIC_PER_GROUP, EPIC_EXISTING)


def check_epic_mode(epic_mode: str, epic_key: str | None) -> None:
    """`existing` needs the epic's key; the other modes take none."""
    if epic_mode not in EPIC_MODES:
        raise InvalidCommandError(
            f"Unknown epic_mode {epic_mode!r}",
            [f"Use one of: {', '.join(EPIC_MODES)}"],
        )
    if epic_mode == EPIC_EXISTING and not epic_key:
        raise InvalidCommandError(
            "epic_mode 'existing' needs epic_key (the key of the epic, e.g. NW-12)",
            ["Send epic_key with epic_mode 'existing', or choose 'per_group' or 'none'"],
        )
    if epic_mode != EPIC_EXISTING and epic_key:
        raise InvalidCommandError(
            f"epic_key is only used with epic_mode 'existing', not {epic_mode!r}",
            ["Leave epic_key out, or set epic_mode to 'existing'"],
        )


# The stages a session can only be in once a generation run has completed.
_BACKLOG_STAGES = (Stage.REVIEW, Stage.EXPORTING, Stage.EXPORT_FAILED, Stage.COMPLETED)


def ticket_id_for(session_id: UUID, config_name: str) -> UUID:
    """Tickets are named by their entity, so a re-run drafts the same ticket ids."""
    return uuid5(NAMESPACE_URL, f"ticketforge:{session_id}:{config_name}")


@dataclass
class Ticket:
    """A ticket's current state; rebuilt from the session's events."""

    id: UUID
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
    depends_on: set[UUID] = field(default_factory=set)
    ready: bool = False
    assignee: str | None = None
    sprint: str | None = None
    priority: str | None = None
    labels: list[str] = field(default_factory=list)
    version: int = 1
    usage: dict[str, int] = field(default_factory=dict)
    validated_at: int | None = None
    validation_error: str | None = None
    # The version its last draft made: a higher version is a person's edit.
    drafted_version: int = 1
    # The next generation run drafts it again (its entity changed, or a person asked).
    redraft_pending: bool = False
    # Its entity changed since a person edited it: attribute -> [old, new]; their text
    # stays until someone redrafts it or dismisses this.
    source_changed: dict[str, list[str]] | None = None
    # Its entity left the inventory; kept (never deleted) until a revision brings it back.
    obsolete: bool = False

    @property
    def edited(self) -> bool:
        """Whether a person edited it since it was last drafted."""
        return self.version > self.drafted_version

    def field_value(self, name: str) -> Any:
        return getattr(self, name)


@dataclass
class GenerationRun:
    task_id: UUID
    generator: str
    attempt: int
    status: str = "requested"
    total: int = 0
    generated: int = 0
    failed: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    # Which worker's run this is: each start or resume takes the next number, and a
    # run whose number is no longer the current one stops (its lease ran out).
    runs: int = 0


class Session(Aggregate):
    """One inventory and its tickets. Every event names the acting user."""

    # v1 snapshots (before revisions) still load: no revision recorded yet, and a backlog
    # exactly when the stage says a generation run completed (v1 allowed no other way).
    # v2 snapshots (before epic modes): an epic key meant every ticket under that epic.
    class_version = 3

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.setdefault("revision", 0)
        state.setdefault("removed_entities", {})
        state.setdefault("backlog_started", state.get("stage") in _BACKLOG_STAGES)

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state.setdefault("epic_mode", EPIC_EXISTING if state.get("epic_key") else EPIC_NONE)

    class SessionCreated(Aggregate.Created):
        name: str
        owner: str
        site: dict[str, str]
        jira_project_key: str
        issue_type: str
        default_labels: list[str]
        epic_key: str | None
        actor: str
        epic_mode: str

        # v1 (before labels and epics) had neither field, v2 no epic mode (an epic key
        # meant every ticket under it); stored v1 and v2 events still load.
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("default_labels", [])
            state.setdefault("epic_key", None)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state.setdefault("epic_mode", EPIC_EXISTING if state.get("epic_key") else EPIC_NONE)

    class EpicModeChanged(Aggregate.Event):
        """How the export groups tickets under epics, changed before the first export."""

        epic_mode: str
        epic_key: str | None
        actor: str

    @event(SessionCreated)
    def __init__(
        self,
        *,
        name: str,
        owner: str,
        site: dict[str, str],
        jira_project_key: str,
        issue_type: str,
        default_labels: list[str],
        epic_key: str | None,
        actor: str,
        epic_mode: str,
    ) -> None:
        self.name = name
        self.owner = owner
        self.site = dict(site)
        self.jira_project_key = jira_project_key
        self.issue_type = issue_type
        self.default_labels = list(default_labels)
        self.epic_key = epic_key
        self.epic_mode = epic_mode
        self.stage = Stage.SETUP
        self.files: dict[str, dict[str, Any]] = {}
        self.entities: dict[str, InventoryEntity] = {}
        self.tickets: dict[UUID, Ticket] = {}
        self.content_version = 0
        self.generation: GenerationRun | None = None
        self.generation_retries = 0
        self.last_validation: dict[str, Any] | None = None
        self.export_id: UUID | None = None
        self.revision = 0
        # Entities removed by a revision, as they last were, while their tickets are obsolete.
        self.removed_entities: dict[str, InventoryEntity] = {}
        # A generation run completed: from now on tickets are kept, never drafted anew
        # wholesale; a revision drafts, redrafts, flags and obsoletes them one by one.
        self.backlog_started = False

    # --- inventory -------------------------------------------------------

    class InventoryUploaded(Aggregate.Event):
        files: list[dict[str, Any]]
        entities: list[dict[str, Any]]
        replaced_kinds: list[str]
        warnings: list[str]
        actor: str

    class InventoryRevised(Aggregate.Event):
        """What an upload changed, recorded after its `InventoryUploaded` and the changes
        to the tickets it made; `stage` is where it leaves the session (uploaded: the next
        process has tickets to draft; review: it has none)."""

        number: int
        added: list[dict[str, Any]]
        changed: list[dict[str, Any]]  # {"entity", "changes": {attribute: [old, new]}}
        removed: list[dict[str, Any]]
        stage: str
        actor: str

    class TicketFlaggedSourceChanged(Aggregate.Event):
        """The ticket's entity changed after a person edited it: their text is kept."""

        ticket_id: UUID
        revision: int
        changes: dict[str, list[str]]
        actor: str

    class TicketRedraftRequested(Aggregate.Event):
        """The next generation run drafts the ticket again: its entity changed and nobody
        had edited it (`changes`), or a person asked."""

        ticket_id: UUID
        changes: dict[str, list[str]]
        actor: str

    class SourceChangeDismissed(Aggregate.Event):
        ticket_id: UUID
        actor: str

    class TicketMarkedObsolete(Aggregate.Event):
        ticket_id: UUID
        revision: int
        entity: dict[str, Any]  # as it was before the revision removed it
        actor: str

    class TicketRestored(Aggregate.Event):
        ticket_id: UUID
        revision: int
        actor: str

    def upload_inventory(
        self,
        files: list[dict[str, Any]],
        entities: list[InventoryEntity],
        warnings: list[str],
        actor: str,
    ) -> Revision | None:
        """Add parsed files; a file of a kind already uploaded replaces that kind.

        The upload is a revision of the inventory: what it added, changed and removed is
        recorded, and, once the session has tickets, followed by them (see
        `_follow_revision`). An upload that changes nothing records nothing (None).
        """
        self.check_not_busy("upload an inventory")
        if not entities:
            raise InvalidCommandError(
                "The upload holds no inventory rows", ["Upload files that have data rows"]
            )
        # Every kind the upload names (by its files, even a file with no rows) is replaced.
        kinds = sorted(
            {str(f["kind"]) for f in files if "kind" in f} | {e.kind.value for e in entities}
        )
        kept = {n for n, e in self.entities.items() if e.kind.value not in kinds}
        clashes = sorted(kept & {e.config_name for e in entities})
        if clashes:
            raise InvalidCommandError(
                f"config_name already present in another uploaded file: {', '.join(clashes[:10])}",
                ["Each config_name must be unique across the whole inventory"],
            )
        before = dict(self.entities)
        after = {n: e for n, e in before.items() if n in kept}
        after.update((e.config_name, e) for e in entities)
        revision = compare_inventories(before, after)
        if not revision:
            return None
        self._inventory_uploaded(
            files=files,
            entities=[e.to_dict() for e in entities],
            replaced_kinds=kinds,
            warnings=warnings,
            actor=actor,
        )
        number = self.revision + 1
        if self.backlog_started:
            self._follow_revision(before, revision, number, actor)
        drafts = not self.backlog_started or bool(self.entities_to_draft())
        self._inventory_revised(
            number=number,
            added=[e.to_dict() for e in revision.added],
            changed=[c.to_dict() for c in revision.changed],
            removed=[e.to_dict() for e in revision.removed],
            stage=Stage.UPLOADED if drafts else Stage.REVIEW,
            actor=actor,
        )
        return Revision(revision.added, revision.changed, revision.removed, number)

    def _follow_revision(
        self, before: dict[str, InventoryEntity], revision: Revision, number: int, actor: str
    ) -> None:
        """The tickets follow the inventory: a removed entity's ticket is marked obsolete
        (its dependencies go with it), one that comes back is restored; a changed entity's
        ticket is drafted again by the next run unless a person edited it, which flags
        it instead; dependencies follow the entities' (with the same cycle refusal)."""
        for entity in revision.removed:
            ticket = self.tickets.get(ticket_id_for(self.id, entity.config_name))
            if ticket is not None and not ticket.obsolete:
                self._retire(ticket, entity, number, actor)
        for entity in revision.added:
            ticket = self.tickets.get(ticket_id_for(self.id, entity.config_name))
            if ticket is not None and ticket.obsolete:
                gone = self.removed_entities.get(entity.config_name)
                self._ticket_restored(ticket_id=ticket.id, revision=number, actor=actor)
                if gone is not None:
                    self._source_moved(ticket, entity_changes(gone, entity), number, actor)
        for change in revision.changed:
            ticket = self.tickets.get(ticket_id_for(self.id, change.entity.config_name))
            if ticket is not None and not ticket.obsolete:
                self._source_moved(ticket, change.changes, number, actor)
        self._follow_dependencies(before, actor)

    def _retire(self, ticket: Ticket, entity: InventoryEntity, number: int, actor: str) -> None:
        for depends_on in sorted(ticket.depends_on):
            self._dependency_removed(ticket_id=ticket.id, depends_on=depends_on, actor=actor)
        for other in sorted(self.tickets.values(), key=lambda t: t.user_order):
            if ticket.id in other.depends_on:
                self._dependency_removed(ticket_id=other.id, depends_on=ticket.id, actor=actor)
        self._ticket_marked_obsolete(
            ticket_id=ticket.id, revision=number, entity=entity.to_dict(), actor=actor
        )

    def _source_moved(self, ticket: Ticket, changes: Changes, number: int, actor: str) -> None:
        if ticket.edited:
            merged = merge_changes(ticket.source_changed or {}, changes)
            if merged:
                self._flagged_source_changed(
                    ticket_id=ticket.id, revision=number, changes=merged, actor=actor
                )
            elif ticket.source_changed is not None:  # changed back to what it was drafted from
                self._source_change_dismissed(ticket_id=ticket.id, actor=actor)
        elif changes:
            self._redraft_requested(ticket_id=ticket.id, changes=changes, actor=actor)

    def _follow_dependencies(self, before: dict[str, InventoryEntity], actor: str) -> None:
        """Edges the inventory no longer names go, edges it now names come (unless they
        would close a cycle); edges a person added or removed are left as they are."""
        edges = self.dependency_edges()
        for ticket in sorted(self.tickets.values(), key=lambda t: t.user_order):
            entity = self.entities.get(ticket.config_name)
            if ticket.obsolete or entity is None:
                continue
            old = before.get(ticket.config_name)
            was = self._named_dependencies(old, before) if old is not None else set()
            now = self._named_dependencies(entity, self.entities)
            for depends_on in sorted(was - now):
                if depends_on in ticket.depends_on:
                    self._dependency_removed(
                        ticket_id=ticket.id, depends_on=depends_on, actor=actor
                    )
            for depends_on in sorted(now - was):
                if depends_on not in ticket.depends_on and find_cycle_free(
                    edges, ticket.id, depends_on
                ):
                    self._dependency_added(ticket_id=ticket.id, depends_on=depends_on, actor=actor)

    def _named_dependencies(
        self, entity: InventoryEntity, inventory: Mapping[str, InventoryEntity]
    ) -> set[UUID]:
        """The tickets `entity`'s dependencies in `inventory` are drafted as."""
        return {
            ticket_id_for(self.id, name)
            for name in entity.depends_on
            if name in inventory and name != entity.config_name
        }

    def check_not_busy(self, action: str) -> None:
        if self.stage == Stage.PROCESSING:
            reason = "tickets are being generated"
            wait = "Wait until generation ends (or cancel it: POST .../process/cancel)"
        elif self.stage == Stage.EXPORTING:
            reason = "an export is running"
            wait = "Wait until the export ends (GET .../export/status)"
        else:
            return
        raise ConflictError(
            f"Cannot {action} while {reason} (stage '{self.stage}')", [f"{wait}, then try again"]
        )

    @event(InventoryUploaded)
    def _inventory_uploaded(
        self,
        files: list[dict[str, Any]],
        entities: list[dict[str, Any]],
        replaced_kinds: list[str],
        warnings: list[str],
        actor: str,
    ) -> None:
        new = [InventoryEntity.from_dict(e) for e in entities]
        kinds = {e.kind.value for e in new} | set(replaced_kinds)
        self.entities = {n: e for n, e in self.entities.items() if e.kind.value not in kinds}
        self.entities.update((e.config_name, e) for e in new)
        for f in files:
            self.files[str(f["kind"])] = dict(f)
        self.stage = Stage.UPLOADED
        self.content_version += 1

    @event(InventoryRevised)
    def _inventory_revised(
        self,
        number: int,
        added: list[dict[str, Any]],
        changed: list[dict[str, Any]],
        removed: list[dict[str, Any]],
        stage: str,
        actor: str,
    ) -> None:
        self.revision = number
        self.stage = stage

    @event(TicketFlaggedSourceChanged)
    def _flagged_source_changed(
        self, ticket_id: UUID, revision: int, changes: dict[str, list[str]], actor: str
    ) -> None:
        self.tickets[ticket_id].source_changed = {k: list(v) for k, v in changes.items()}

    @event(TicketRedraftRequested)
    def _redraft_requested(
        self, ticket_id: UUID, changes: dict[str, list[str]], actor: str
    ) -> None:
        self.tickets[ticket_id].redraft_pending = True
        self._reopen()

    @event(SourceChangeDismissed)
    def _source_change_dismissed(self, ticket_id: UUID, actor: str) -> None:
        self.tickets[ticket_id].source_changed = None
        self._reopen()

    @event(TicketMarkedObsolete)
    def _ticket_marked_obsolete(
        self, ticket_id: UUID, revision: int, entity: dict[str, Any], actor: str
    ) -> None:
        ticket = self.tickets[ticket_id]
        ticket.obsolete = True
        ticket.redraft_pending = False
        ticket.source_changed = None
        self.removed_entities[ticket.config_name] = InventoryEntity.from_dict(entity)
        self.content_version += 1

    @event(TicketRestored)
    def _ticket_restored(self, ticket_id: UUID, revision: int, actor: str) -> None:
        ticket = self.tickets[ticket_id]
        ticket.obsolete = False
        self.removed_entities.pop(ticket.config_name, None)
        self.content_version += 1

    def entities_in_order(self) -> list[InventoryEntity]:
        return sorted(self.entities.values(), key=sort_key)

    def dangling_references(self) -> list[str]:
        """`depends_on` names that are not in the inventory (warnings, not errors)."""
        return sorted(
            f"{e.config_name} -> {d}"
            for e in self.entities.values()
            for d in e.depends_on
            if d not in self.entities
        )

    # --- generation ------------------------------------------------------

    class GenerationRequested(Aggregate.Event):
        task_id: UUID
        generator: str
        attempt: int
        discarded_ticket_ids: list[UUID]
        actor: str

    class GenerationStarted(Aggregate.Event):
        task_id: UUID
        total: int
        actor: str
        run: int

        # v1 (before runs were fenced) had no run number: each was the task's first.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("run", 1)

    class GenerationResumed(Aggregate.Event):
        task_id: UUID
        run: int
        actor: str

    class TicketGenerated(Aggregate.Event):
        task_id: UUID
        ticket_id: UUID
        config_name: str
        title: str
        user_story: str
        analysis: str
        verification: str
        generator: str
        user_order: int
        depends_on: list[UUID]
        usage: dict[str, int]
        actor: str
        ticket_version: int

        # v1 (before redrafts) was always a ticket's first draft.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("ticket_version", 1)

    class TicketGenerationFailed(Aggregate.Event):
        task_id: UUID
        config_name: str
        error: str
        category: str
        actor: str

    class GenerationCompleted(Aggregate.Event):
        task_id: UUID
        actor: str

    class GenerationFailed(Aggregate.Event):
        task_id: UUID
        error: str
        category: str
        actor: str

    class GenerationCancelled(Aggregate.Event):
        task_id: UUID
        actor: str

    def request_generation(self, task_id: UUID, generator: str, actor: str) -> None:
        self.check_stage((Stage.UPLOADED, Stage.CANCELLED), "start ticket generation")
        self._generation_requested(
            task_id=task_id,
            generator=generator,
            attempt=0,
            discarded_ticket_ids=self._unfinished_tickets(),
            actor=actor,
        )

    def _unfinished_tickets(self) -> list[UUID]:
        """Until a run completes, a new run drafts every entity again: a stopped run's
        tickets (some perhaps for entities a re-upload has since removed) are discarded
        first. After that, tickets are a backlog people work on, never discarded: a run
        drafts only `entities_to_draft()`."""
        return [] if self.backlog_started else sorted(self.tickets)

    def entities_to_draft(self) -> list[InventoryEntity]:
        """What a generation run drafts: each entity without a ticket, and each ticket to
        draft again (`redraft_pending`), in processing order."""
        return [
            e
            for e in self.entities_in_order()
            if (t := self.tickets.get(ticket_id_for(self.id, e.config_name))) is None
            or t.redraft_pending
        ]

    def request_redraft(self, ticket_id: UUID, task_id: UUID, generator: str, actor: str) -> None:
        """A person asks for a ticket to be drafted again (their text, if any, goes): a
        generation run drafts it, with anything else waiting to be drafted."""
        self.check_stage(EDIT_STAGES, "redraft a ticket")
        ticket = self.get_ticket(ticket_id)
        if ticket.obsolete or ticket.config_name not in self.entities:
            raise ConflictError(
                f"Ticket {ticket_id} is obsolete: its entity {ticket.config_name} is no longer "
                "in the inventory, so there is nothing to draft it from",
                ["Upload an inventory that has the entity again"],
            )
        self._redraft_requested(
            ticket_id=ticket_id, changes=dict(ticket.source_changed or {}), actor=actor
        )
        self._generation_requested(
            task_id=task_id, generator=generator, attempt=0, discarded_ticket_ids=[], actor=actor
        )

    def dismiss_source_change(self, ticket_id: UUID, actor: str) -> None:
        """Keep the person's text as it is, though the entity changed."""
        self.check_stage(EDIT_STAGES, "dismiss a flag")
        ticket = self.get_ticket(ticket_id)
        if ticket.source_changed is None:
            raise NotFoundError(
                f"Ticket {ticket_id} is not flagged source_changed",
                ["List flagged tickets with GET /api/sessions/{id}/tickets?flag=source_changed"],
            )
        self._source_change_dismissed(ticket_id=ticket_id, actor=actor)

    def retry_generation(self, task_id: UUID, generator: str, actor: str) -> None:
        self.check_stage((Stage.PROCESSING_FAILED, Stage.CANCELLED), "retry ticket generation")
        if self.generation_retries >= MAX_GENERATION_RETRIES:
            error = ConflictError(
                f"Ticket generation was already retried {MAX_GENERATION_RETRIES} times",
                ["Ask an administrator to look at the generation errors"],
            )
            error.error_category = "admin_required"
            raise error
        self._generation_requested(
            task_id=task_id,
            generator=generator,
            attempt=self.generation_retries + 1,
            discarded_ticket_ids=self._unfinished_tickets(),
            actor=actor,
        )

    @event(GenerationRequested)
    def _generation_requested(
        self,
        task_id: UUID,
        generator: str,
        attempt: int,
        discarded_ticket_ids: list[UUID],
        actor: str,
    ) -> None:
        for ticket_id in discarded_ticket_ids:
            self.tickets.pop(ticket_id, None)
        self.generation_retries = attempt
        self.generation = GenerationRun(task_id=task_id, generator=generator, attempt=attempt)
        self.stage = Stage.PROCESSING
        self.content_version += 1

    def check_generation_task(self, task_id: UUID) -> GenerationRun:
        run = self.generation
        if run is None or run.task_id != task_id or run.status not in ("requested", "running"):
            raise ConflictError(f"Generation task {task_id} is not running in this session")
        return run

    @event(GenerationStarted)
    def start_generation(self, task_id: UUID, total: int, actor: str, run: int = 1) -> None:
        """Start the task's run (number `run`: 1, unless runs before it stopped)."""
        current = self.check_generation_task(task_id)
        current.status = "running"
        current.total = total
        current.runs = run

    def resume_generation(self, task_id: UUID, actor: str) -> int:
        """Another worker takes the running task over (the last one let go, or its lease
        ran out); return its run number. The earlier run stops at its next write."""
        current = self.check_generation_task(task_id)
        if current.status != "running":
            raise ConflictError(f"Generation task {task_id} has not started; nothing to resume")
        self._generation_resumed(task_id=task_id, run=current.runs + 1, actor=actor)
        return current.runs

    @event(GenerationResumed)
    def _generation_resumed(self, task_id: UUID, run: int, actor: str) -> None:
        self.check_generation_task(task_id).runs = run

    def record_ticket(
        self,
        task_id: UUID,
        entity: InventoryEntity,
        draft: dict[str, str],
        generator: str,
        usage: dict[str, int],
        user_order: int,
        actor: str,
    ) -> None:
        """Accept a drafted ticket; inferred dependencies that would close a cycle are left out.

        `user_order` is the entity's place in `entities_in_order()`, which the caller has.
        A ticket drafted again keeps its place, its dependencies (they follow the inventory
        on their own) and its review fields; a new ticket in a backlog goes last.
        """
        self.check_generation_task(task_id)
        if entity.config_name not in self.entities:
            raise NotFoundError(f"No inventory entity {entity.config_name}")
        for name in EDITABLE_TEXT_FIELDS:
            if not str(draft.get(name, "")).strip():
                raise InvalidCommandError(f"The drafted ticket has an empty {name}")
        ticket_id = ticket_id_for(self.id, entity.config_name)
        existing = self.tickets.get(ticket_id)
        depends_on: list[UUID] = []
        if existing is not None:
            depends_on = sorted(existing.depends_on)
            user_order = existing.user_order
        else:
            edges = self.dependency_edges()
            for name in entity.depends_on:
                if name not in self.entities or name == entity.config_name:
                    continue
                dep = ticket_id_for(self.id, name)
                if dep not in depends_on and find_cycle_free(edges, ticket_id, dep):
                    depends_on.append(dep)
            if self.backlog_started:
                user_order = 1 + max((t.user_order for t in self.tickets.values()), default=0)
        self._ticket_generated(
            task_id=task_id,
            ticket_id=ticket_id,
            config_name=entity.config_name,
            title=draft["title"][:MAX_TITLE_LENGTH],
            user_story=draft["user_story"],
            analysis=draft["analysis"],
            verification=draft["verification"],
            generator=generator,
            user_order=user_order,
            depends_on=depends_on,
            usage=usage,
            actor=actor,
            ticket_version=existing.version + 1 if existing is not None else 1,
        )

    @event(TicketGenerated)
    def _ticket_generated(
        self,
        task_id: UUID,
        ticket_id: UUID,
        config_name: str,
        title: str,
        user_story: str,
        analysis: str,
        verification: str,
        generator: str,
        user_order: int,
        depends_on: list[UUID],
        usage: dict[str, int],
        actor: str,
        ticket_version: int = 1,
    ) -> None:
        entity = self.entities[config_name]
        old = self.tickets.get(ticket_id)
        if old is not None:  # drafted again: new text, to review (and validate) again
            old.title, old.user_story = title, user_story
            old.analysis, old.verification = analysis, verification
            old.generator, old.usage = generator, dict(usage)
            old.entity_label = entity.label
            old.depends_on = set(depends_on)
            old.version = old.drafted_version = ticket_version
            old.ready, old.validated_at, old.validation_error = False, None, None
            old.redraft_pending, old.source_changed = False, None
            if self.generation is not None and self.generation.task_id == task_id:
                self.generation.generated += 1
            self.content_version += 1
            return
        self.tickets[ticket_id] = Ticket(
            id=ticket_id,
            config_name=config_name,
            kind=entity.kind.value,
            group=entity.group.value,
            entity_label=entity.label,
            title=title,
            user_story=user_story,
            analysis=analysis,
            verification=verification,
            generator=generator,
            user_order=user_order,
            depends_on=set(depends_on),
            labels=list(self.default_labels),
            usage=dict(usage),
            version=ticket_version,
            drafted_version=ticket_version,
        )
        if self.generation is not None and self.generation.task_id == task_id:
            self.generation.generated += 1
        self.content_version += 1

    @event(TicketGenerationFailed)
    def record_ticket_failure(
        self, task_id: UUID, config_name: str, error: str, category: str, actor: str
    ) -> None:
        run = self.check_generation_task(task_id)
        run.failed += 1
        run.errors.append({"config_name": config_name, "error": error, "category": category})

    @event(GenerationCompleted)
    def complete_generation(self, task_id: UUID, actor: str) -> None:
        self.check_generation_task(task_id).status = "completed"
        self.stage = Stage.REVIEW
        self.backlog_started = True

    @event(GenerationFailed)
    def fail_generation(self, task_id: UUID, error: str, category: str, actor: str) -> None:
        run = self.check_generation_task(task_id)
        run.status = "failed"
        run.errors.append({"config_name": "", "error": error, "category": category})
        self.stage = Stage.PROCESSING_FAILED

    @event(GenerationCancelled)
    def cancel_generation(self, task_id: UUID, actor: str) -> None:
        self.check_generation_task(task_id).status = "cancelled"
        self.stage = Stage.CANCELLED

    # --- review ----------------------------------------------------------

    class TicketEdited(Aggregate.Event):
        ticket_id: UUID
        changes: dict[str, Any]
        ticket_version: int
        actor: str

    class TicketsReordered(Aggregate.Event):
        ticket_ids: list[UUID]
        actor: str

    class DependencyAdded(Aggregate.Event):
        ticket_id: UUID
        depends_on: UUID
        actor: str

    class DependencyRemoved(Aggregate.Event):
        ticket_id: UUID
        depends_on: UUID
        actor: str

    class TicketMarkedReady(Aggregate.Event):
        ticket_ids: list[UUID]
        ready: bool
        actor: str

    def edit_ticket(
        self, ticket_id: UUID, changes: dict[str, Any], expected_version: int | None, actor: str
    ) -> None:
        self.check_stage(EDIT_STAGES, "edit a ticket")
        ticket = self.get_ticket(ticket_id)
        if expected_version is not None and expected_version != ticket.version:
            raise StaleVersionError(
                f"Ticket {ticket_id} is at version {ticket.version}, "
                f"but the edit was made on version {expected_version}",
                ticket.version,
            )
        clean = check_ticket_changes(changes)
        effective = {k: v for k, v in clean.items() if ticket.field_value(k) != v}
        if not effective:
            return
        self._ticket_edited(
            ticket_id=ticket_id, changes=effective, ticket_version=ticket.version + 1, actor=actor
        )

    @event(TicketEdited)
    def _ticket_edited(
        self, ticket_id: UUID, changes: dict[str, Any], ticket_version: int, actor: str
    ) -> None:
        ticket = self.tickets[ticket_id]
        for key, value in changes.items():
            setattr(ticket, key, list(value) if key == "labels" else value)
        ticket.version = ticket_version
        self.content_version += 1
        self._reopen()

    def reorder_tickets(self, ticket_ids: list[UUID], actor: str) -> None:
        self.check_stage(EDIT_STAGES, "reorder tickets")
        if len(ticket_ids) != len(set(ticket_ids)) or set(ticket_ids) != set(self.tickets):
            missing = len(set(self.tickets) - set(ticket_ids))
            unknown = len(set(ticket_ids) - set(self.tickets))
            raise InvalidCommandError(
                "The new order must list every ticket of the session exactly once "
                f"({missing} missing, {unknown} unknown, "
                f"{len(ticket_ids) - len(set(ticket_ids))} repeated)",
                ["Send all ticket ids from GET /tickets in the order you want"],
            )
        self._tickets_reordered(ticket_ids=ticket_ids, actor=actor)

    @event(TicketsReordered)
    def _tickets_reordered(self, ticket_ids: list[UUID], actor: str) -> None:
        for position, ticket_id in enumerate(ticket_ids, 1):
            self.tickets[ticket_id].user_order = position
        self.content_version += 1
        self._reopen()

    def add_dependency(self, ticket_id: UUID, depends_on: UUID, actor: str) -> None:
        self.check_stage(EDIT_STAGES, "change dependencies")
        ticket = self.get_ticket(ticket_id)
        self.get_ticket(depends_on)
        if depends_on in ticket.depends_on:
            return
        labels = {t.id: t.config_name for t in self.tickets.values()}
        check_no_cycle(self.dependency_edges(), ticket_id, depends_on, labels)
        self._dependency_added(ticket_id=ticket_id, depends_on=depends_on, actor=actor)

    @event(DependencyAdded)
    def _dependency_added(self, ticket_id: UUID, depends_on: UUID, actor: str) -> None:
        self.tickets[ticket_id].depends_on.add(depends_on)
        self.content_version += 1
        self._reopen()

    def remove_dependency(self, ticket_id: UUID, depends_on: UUID, actor: str) -> None:
        self.check_stage(EDIT_STAGES, "change dependencies")
        ticket = self.get_ticket(ticket_id)
        if depends_on not in ticket.depends_on:
            raise NotFoundError(f"Ticket {ticket_id} does not depend on {depends_on}")
        self._dependency_removed(ticket_id=ticket_id, depends_on=depends_on, actor=actor)

    @event(DependencyRemoved)
    def _dependency_removed(self, ticket_id: UUID, depends_on: UUID, actor: str) -> None:
        self.tickets[ticket_id].depends_on.discard(depends_on)
        self.content_version += 1
        self._reopen()

    def mark_ready(self, ticket_ids: list[UUID], ready: bool, actor: str) -> None:
        self.check_stage(EDIT_STAGES, "mark tickets ready")
        for ticket_id in ticket_ids:
            self.get_ticket(ticket_id)
        changed = sorted({t for t in ticket_ids if self.tickets[t].ready != ready})
        if changed:
            self._marked_ready(ticket_ids=changed, ready=ready, actor=actor)

    @event(TicketMarkedReady)
    def _marked_ready(self, ticket_ids: list[UUID], ready: bool, actor: str) -> None:
        for ticket_id in ticket_ids:
            self.tickets[ticket_id].ready = ready
        self._reopen()

    # --- validation ------------------------------------------------------

    class ValidationPassed(Aggregate.Event):
        content_version: int
        ticket_ids: list[UUID]
        actor: str

    class ValidationFailed(Aggregate.Event):
        content_version: int
        passed_ticket_ids: list[UUID]
        failures: list[dict[str, str]]
        actor: str

    def record_validation(
        self, passed: list[UUID], failures: list[dict[str, str]], actor: str
    ) -> None:
        """Record ADF results for the content version they were computed on."""
        self.check_stage(EDIT_STAGES, "validate tickets")
        for ticket_id in [*passed, *(UUID(f["ticket_id"]) for f in failures)]:
            self.get_ticket(ticket_id)
        if failures:
            self._validation_failed(
                content_version=self.content_version,
                passed_ticket_ids=passed,
                failures=failures,
                actor=actor,
            )
        else:
            self._validation_passed(
                content_version=self.content_version, ticket_ids=passed, actor=actor
            )

    @event(ValidationPassed)
    def _validation_passed(self, content_version: int, ticket_ids: list[UUID], actor: str) -> None:
        for ticket_id in ticket_ids:
            self.tickets[ticket_id].validated_at = content_version
            self.tickets[ticket_id].validation_error = None
        self.last_validation = {"status": "passed", "content_version": content_version}
        self._reopen()

    @event(ValidationFailed)
    def _validation_failed(
        self,
        content_version: int,
        passed_ticket_ids: list[UUID],
        failures: list[dict[str, str]],
        actor: str,
    ) -> None:
        for ticket_id in passed_ticket_ids:
            self.tickets[ticket_id].validated_at = content_version
            self.tickets[ticket_id].validation_error = None
        for failure in failures:
            ticket = self.tickets[UUID(failure["ticket_id"])]
            ticket.validated_at = None
            ticket.validation_error = failure.get("error", "invalid")
        self.last_validation = {"status": "failed", "content_version": content_version}
        self._reopen()

    # --- export ------------------------------------------------------------

    class ExportRequested(Aggregate.Event):
        export_id: UUID
        content_version: int
        actor: str

    class ExportResumed(Aggregate.Event):
        export_id: UUID
        actor: str

    class ExportFinished(Aggregate.Event):
        export_id: UUID
        outcome: str
        actor: str

    def request_export(self, export_id: UUID, actor: str) -> None:
        """Lock the session for export; refused unless validated at this content version."""
        state = self.validation_state()
        if self.stage in EXPORTABLE_STAGES and state != "passed":
            raise ConflictError(
                f"Re-validation required: validation is {state} for the current content",
                ["Run POST /api/sessions/{id}/adf-validation, fix any failures, then export"],
            )
        blockers = self.export_blockers()
        if blockers:
            raise InvalidCommandError(
                "The session is not ready for export: " + "; ".join(blockers),
                ["Mark the tickets ready (POST /api/sessions/{id}/tickets/ready) and validate"],
            )
        self._export_requested(
            export_id=export_id, content_version=self.content_version, actor=actor
        )

    @event(ExportRequested)
    def _export_requested(self, export_id: UUID, content_version: int, actor: str) -> None:
        self.stage = Stage.EXPORTING
        self.export_id = export_id

    def change_epic_mode(self, epic_mode: str, epic_key: str | None, actor: str) -> None:
        """Before the first export only: the epics an export made stay as they are."""
        check_epic_mode(epic_mode, epic_key)
        if self.stage == Stage.EXPORTING or self.export_id is not None:
            raise ConflictError(
                "epic_mode cannot change once the session has been exported "
                f"(stage {self.stage}): its issues are already grouped in Jira",
                ["Regroup the issues in Jira by hand, or create a new session to export anew"],
            )
        if (epic_mode, epic_key) != (self.epic_mode, self.epic_key):
            self._epic_mode_changed(epic_mode=epic_mode, epic_key=epic_key, actor=actor)

    @event(EpicModeChanged)
    def _epic_mode_changed(self, epic_mode: str, epic_key: str | None, actor: str) -> None:
        self.epic_mode = epic_mode
        self.epic_key = epic_key

    def resume_export(self, export_id: UUID, actor: str) -> None:
        self.check_stage((Stage.EXPORT_FAILED,), "retry the export")
        self._export_resumed(export_id=export_id, actor=actor)

    @event(ExportResumed)
    def _export_resumed(self, export_id: UUID, actor: str) -> None:
        self.stage = Stage.EXPORTING

    def finish_export(self, export_id: UUID, outcome: str, actor: str) -> None:
        if self.stage != Stage.EXPORTING or self.export_id != export_id:
            return
        self._export_finished(export_id=export_id, outcome=outcome, actor=actor)

    @event(ExportFinished)
    def _export_finished(self, export_id: UUID, outcome: str, actor: str) -> None:
        self.stage = Stage.COMPLETED if outcome == "completed" else Stage.EXPORT_FAILED

    def live_tickets(self) -> list[Ticket]:
        """The tickets that go to Jira: all but the obsolete ones."""
        return [t for t in self.tickets.values() if not t.obsolete]

    def validation_state(self) -> str:
        """`passed`, `failed`, `stale` or `missing`, for the current content version (an
        obsolete ticket needs no validation)."""
        live = self.live_tickets()
        if not live:
            return "missing"
        if any(t.validation_error for t in live):
            return "failed"
        seen = {t.validated_at for t in live}
        if seen == {self.content_version}:
            return "passed"
        if seen == {None}:
            return "missing"
        return "stale"

    def export_blockers(self) -> list[str]:
        """Why the session cannot be exported now; empty when it can."""
        blockers = []
        if self.stage not in EXPORTABLE_STAGES:
            blockers.append(f"the session is in stage '{self.stage}', not review or completed")
        live = self.live_tickets()
        if not live:
            blockers.append("the session has no tickets")
        state = self.validation_state()
        if state != "passed":
            blockers.append(f"validation is {state}: re-validation required")
        not_ready = sum(1 for t in live if not t.ready)
        if not_ready:
            blockers.append(f"{not_ready} ticket(s) are not marked ready")
        return blockers

    # --- helpers -----------------------------------------------------------

    def _reopen(self) -> None:
        """A change after a completed export starts the next review (in an event's apply:
        the sessions read model follows the same rule)."""
        if self.stage == Stage.COMPLETED:
            self.stage = Stage.REVIEW

    def check_stage(self, allowed: tuple[str, ...], action: str) -> None:
        if self.stage not in allowed:
            raise ConflictError(
                f"Cannot {action} while the session is in stage '{self.stage}'"
                f" (allowed in: {', '.join(allowed)})",
                [f"Wait until the session is in one of: {', '.join(allowed)}"],
            )

    def get_ticket(self, ticket_id: UUID) -> Ticket:
        try:
            return self.tickets[ticket_id]
        except KeyError:
            raise NotFoundError(
                f"Ticket {ticket_id} is not in this session",
                ["List the session's tickets with GET /api/sessions/{id}/tickets"],
            ) from None

    def dependency_edges(self) -> Mapping[UUID, set[UUID]]:
        return DependencyView(self.tickets)

    def tickets_in_export_order(self) -> list[Ticket]:
        ids = export_order(
            [(t.id, t.user_order) for t in self.tickets.values()], self.dependency_edges()
        )
        return [self.tickets[i] for i in ids]


class DependencyView(Mapping[UUID, set[UUID]]):
    """Read-only ticket -> dependencies view, without copying a large graph."""

    def __init__(self, tickets: dict[UUID, Ticket]) -> None:
        self._tickets = tickets

    def __getitem__(self, key: UUID) -> set[UUID]:
        return self._tickets[key].depends_on

    def __iter__(self) -> Iterator[UUID]:
        return iter(self._tickets)

    def __len__(self) -> int:
        return len(self._tickets)


def find_cycle_free(edges: Mapping[UUID, set[UUID]], ticket: UUID, depends_on: UUID) -> bool:
    """True when `ticket` may depend on `depends_on` without closing a cycle."""
    try:
        check_no_cycle(edges, ticket, depends_on, {})
    except InvalidCommandError:
        return False
    return True


def check_ticket_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate a ticket edit's fields and values; return them normalised."""
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise InvalidCommandError(
            f"Unknown or read-only ticket field(s): {', '.join(unknown)}",
            [f"Editable fields are: {', '.join(EDITABLE_FIELDS)}"],
        )
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key in EDITABLE_TEXT_FIELDS:
            if not isinstance(value, str) or not value.strip():
                raise InvalidCommandError(f"'{key}' must be non-empty text")
            if key == "title" and len(value) > MAX_TITLE_LENGTH:
                raise InvalidCommandError(
                    f"'title' is {len(value)} characters; Jira allows {MAX_TITLE_LENGTH}",
                    ["Shorten the title; move detail into the analysis"],
                )
            clean[key] = value
        elif key == "labels":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidCommandError("'labels' must be a list of strings")
            bad = [v for v in value if not v or any(c.isspace() for c in v) or len(v) > 255]
            if bad:
                raise InvalidCommandError(
                    f"Jira labels cannot be empty, contain spaces or exceed 255 chars: {bad}",
                    ["Use hyphens or underscores instead of spaces"],
                )
            clean[key] = list(dict.fromkeys(value))
        else:
            if value is not None and (not isinstance(value, str) or len(value) > 255):
                raise InvalidCommandError(f"'{key}' must be text of at most 255 chars, or null")
            clean[key] = value.strip() if isinstance(value, str) and value.strip() else None
    return clean
