"""Revisions of a session's inventory and what they do to its tickets (the old stored
shapes on the in-memory event store)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from application.sessions import TicketForge
from application.transcodings import TicketTable, tag_containers
from application.unit_of_work import get
from domain.errors import ConflictError, NotFoundError
from domain.inventory import InventoryEntity, Kind
from domain.revision import compare_inventories, entity_changes, merge_changes
from domain.session import Session, Stage, ticket_id_for
from tests.unit.domain.test_session import DRAFT, bundle, generated, new_session, validate_all

REDRAFT = {"title": "T2", "user_story": "As a user, again", "analysis": "A2", "verification": "V2"}
BUNDLES = [{"kind": "bundles", "file_name": "bundles.csv", "rows": 0}]


def upload(session: Session, entities: list[InventoryEntity]) -> object:
    return session.upload_inventory(BUNDLES, entities, [], "carol")


def tid(session: Session, name: str) -> UUID:
    return ticket_id_for(session.id, f"node.type.{name}")


def described(name: str, description: str, deps: tuple[str, ...] = ()) -> InventoryEntity:
    entity = bundle(name, deps)
    return replace(entity, attributes={**entity.attributes, "description": description})


def run_generation(session: Session, generator: str = "offline") -> list[str]:
    """One generation run drafting `entities_to_draft()`; returns the config names drafted."""
    task = uuid4()
    if session.stage != Stage.PROCESSING:
        session.request_generation(task, generator, "alice")
    else:
        assert session.generation is not None
        task = session.generation.task_id
    todo = session.entities_to_draft()
    session.start_generation(task, len(todo), "worker")
    for i, entity in enumerate(todo, 1):
        session.record_ticket(task, entity, REDRAFT, generator, {}, i, "worker")
    session.complete_generation(task, "worker")
    return [e.config_name for e in todo]


def revised(session: Session) -> Session.InventoryRevised:
    events = [e for e in session.collect_events() if isinstance(e, Session.InventoryRevised)]
    return events[-1]


# --- the diff ---------------------------------------------------------------------------


def test_entity_changes_name_each_attribute_old_and_new() -> None:
    old = described("a", "Old text", ("node.type.b",))
    new = replace(described("a", "New text"), label="Alpha", source_row=9)

    assert entity_changes(old, new) == {
        "depends_on": ["node.type.b", ""],
        "description": ["Old text", "New text"],
        "label": ["A", "Alpha"],
    }
    assert entity_changes(old, replace(old, source_file="other.csv", source_row=7)) == {}


def test_merged_changes_keep_the_first_old_value_and_drop_a_change_undone() -> None:
    assert merge_changes({"a": ["1", "2"]}, {"a": ["2", "3"], "b": ["x", "y"]}) == {
        "a": ["1", "3"],
        "b": ["x", "y"],
    }
    assert merge_changes({"a": ["1", "2"]}, {"a": ["2", "1"]}) == {}


def test_compare_inventories_finds_added_changed_and_removed() -> None:
    old = {e.config_name: e for e in (bundle("a"), bundle("b"), bundle("c"))}
    new = {e.config_name: e for e in (bundle("a"), described("b", "now"), bundle("d"))}

    revision = compare_inventories(old, new)

    assert [e.config_name for e in revision.added] == ["node.type.d"]
    assert [c.entity.config_name for c in revision.changed] == ["node.type.b"]
    assert revision.changed[0].changes == {"description": ["", "now"]}
    assert [e.config_name for e in revision.removed] == ["node.type.c"]
    assert not compare_inventories(old, dict(old))


# --- recording revisions ------------------------------------------------------------------


def test_the_first_inventory_is_revision_1_and_each_change_the_next() -> None:
    session = new_session()
    first = upload(session, [bundle("a"), bundle("b")])
    assert session.revision == 1 and first is not None
    event = revised(session)
    assert event.number == 1
    assert [e["config_name"] for e in event.added] == ["node.type.a", "node.type.b"]

    upload(session, [bundle("a"), described("b", "x")])
    assert session.revision == 2
    event = revised(session)
    assert event.changed == [
        {"entity": described("b", "x").to_dict(), "changes": {"description": ["", "x"]}}
    ]
    assert event.actor == "carol"


def test_an_upload_that_changes_nothing_records_nothing() -> None:
    session = generated([bundle("a"), bundle("b")])
    session.collect_events()
    version = session.version

    assert upload(session, [bundle("b"), bundle("a")]) is None

    assert session.version == version and not session.collect_events()
    assert session.stage == Stage.REVIEW


@pytest.mark.parametrize("stage", [Stage.PROCESSING, Stage.EXPORTING])
def test_no_upload_while_generation_or_an_export_runs(stage: str) -> None:
    session = generated([bundle("a")])
    if stage == Stage.PROCESSING:
        session.request_redraft(tid(session, "a"), uuid4(), "offline", "alice")
    else:
        session.mark_ready(list(session.tickets), True, "alice")
        validate_all(session)
        session.request_export(uuid4(), "alice")
    assert session.stage == stage

    with pytest.raises(ConflictError, match=f"stage '{stage}'") as info:
        upload(session, [bundle("a"), bundle("z")])
    assert "generated" in info.value.detail or "export is running" in info.value.detail


@pytest.mark.parametrize("stage", [Stage.COMPLETED, Stage.EXPORT_FAILED, Stage.CANCELLED])
def test_upload_is_allowed_in_every_other_stage(stage: str) -> None:
    session = generated([bundle("a")])
    session.stage = stage

    assert upload(session, [bundle("a"), bundle("b")]) is not None
    assert session.stage == Stage.UPLOADED


# --- what a revision does to the tickets -----------------------------------------------------


def test_a_revision_drafts_added_redrafts_unedited_flags_edited_and_obsoletes_removed() -> None:
    session = generated([bundle("a"), bundle("b"), bundle("c"), bundle("d")])
    session.edit_ticket(tid(session, "b"), {"title": "Alice's title"}, None, "alice")
    orders = {t.config_name: t.user_order for t in session.tickets.values()}

    upload(
        session,
        [described("a", "new a"), described("b", "new b"), bundle("c"), bundle("e")],
    )

    a, b, d = (session.tickets[tid(session, n)] for n in "abd")
    assert a.redraft_pending and a.source_changed is None
    assert not b.redraft_pending and b.source_changed == {"description": ["", "new b"]}
    assert b.title == "Alice's title"
    assert d.obsolete
    assert session.stage == Stage.UPLOADED
    assert [e.config_name for e in session.entities_to_draft()] == ["node.type.a", "node.type.e"]

    drafted = run_generation(session)

    assert drafted == ["node.type.a", "node.type.e"]
    assert session.stage == Stage.REVIEW
    a, b, e = (session.tickets[tid(session, n)] for n in "abe")
    assert a.title == "T2" and a.version == 2 and not a.edited and not a.redraft_pending
    assert a.user_order == orders["node.type.a"]
    assert b.title == "Alice's title" and b.source_changed is not None
    assert e.user_order == 5  # a new ticket goes last
    assert len(session.tickets) == 5  # d is kept


def test_a_redraft_keeps_the_review_fields_and_resets_ready() -> None:
    session = generated([bundle("a")])
    ticket_id = tid(session, "a")
    session.edit_ticket(ticket_id, {"assignee": "dev@example.com"}, None, "alice")
    session.mark_ready([ticket_id], True, "alice")

    session.request_redraft(ticket_id, uuid4(), "offline", "alice")
    run_generation(session)

    ticket = session.tickets[ticket_id]
    assert ticket.title == "T2" and ticket.assignee == "dev@example.com"
    assert ticket.labels == ["tf"] and not ticket.ready
    assert ticket.version == 3 and ticket.drafted_version == 3 and not ticket.edited


def test_a_flag_is_cleared_by_a_redraft_or_dismissed() -> None:
    session = generated([bundle("a"), bundle("b")])
    for name in "ab":
        session.edit_ticket(tid(session, name), {"analysis": "mine"}, None, "alice")
    upload(session, [described("a", "x"), described("b", "y")])
    assert session.stage == Stage.REVIEW  # nothing to draft: flagged tickets keep their text

    session.dismiss_source_change(tid(session, "a"), "alice")
    assert session.tickets[tid(session, "a")].source_changed is None
    assert session.tickets[tid(session, "a")].analysis == "mine"
    with pytest.raises(NotFoundError):
        session.dismiss_source_change(tid(session, "a"), "alice")

    session.request_redraft(tid(session, "b"), uuid4(), "offline", "bob")
    assert session.stage == Stage.PROCESSING
    assert run_generation(session) == ["node.type.b"]
    b = session.tickets[tid(session, "b")]
    assert b.source_changed is None and b.analysis == "A2"


def test_successive_revisions_merge_into_the_flag_and_a_change_undone_clears_it() -> None:
    session = generated([bundle("a")])
    session.edit_ticket(tid(session, "a"), {"analysis": "mine"}, None, "alice")
    upload(session, [described("a", "x")])
    upload(session, [replace(described("a", "y"), label="Alpha")])
    ticket = session.tickets[tid(session, "a")]
    assert ticket.source_changed == {"description": ["", "y"], "label": ["A", "Alpha"]}

    upload(session, [bundle("a")])

    assert ticket.source_changed is None
    assert session.revision == 4


def test_an_obsolete_ticket_is_restored_when_its_entity_comes_back() -> None:
    session = generated([bundle("a"), bundle("b", ("node.type.a",))])
    a, b = tid(session, "a"), tid(session, "b")
    assert session.tickets[b].depends_on == {a}

    upload(session, [bundle("b", ("node.type.a",))])
    assert session.tickets[a].obsolete
    assert session.tickets[b].depends_on == set()  # its links go with its entity
    assert session.stage == Stage.REVIEW

    upload(session, [bundle("a"), bundle("b", ("node.type.a",))])

    assert not session.tickets[a].obsolete
    assert session.tickets[b].depends_on == {a}
    assert session.entities_to_draft() == []
    assert session.stage == Stage.REVIEW


def test_a_restored_ticket_whose_entity_came_back_changed_is_redrafted() -> None:
    session = generated([bundle("a"), bundle("b")])
    upload(session, [bundle("b")])

    upload(session, [described("a", "back, different"), bundle("b")])

    assert session.tickets[tid(session, "a")].redraft_pending
    assert session.stage == Stage.UPLOADED


def test_dependencies_follow_the_inventory_with_the_same_cycle_refusal() -> None:
    session = generated([bundle("a"), bundle("b"), bundle("c", ("node.type.a",))])
    a, b, c = (tid(session, n) for n in "abc")
    session.add_dependency(b, a, "alice")  # a person's edge, not the inventory's

    upload(
        session,
        [bundle("a", ("node.type.b",)), bundle("b"), bundle("c", ("node.type.b",))],
    )

    assert session.tickets[c].depends_on == {b}  # c: a removed, b added
    assert session.tickets[b].depends_on == {a}  # the person's edge stays
    assert session.tickets[a].depends_on == set()  # a -> b would close a cycle
    assert len(session.tickets_in_export_order()) == 3


def test_an_edge_to_a_new_entity_waits_for_its_ticket() -> None:
    session = generated([bundle("a")])

    upload(session, [bundle("a", ("node.type.n",)), bundle("n")])
    run_generation(session)

    assert session.tickets[tid(session, "a")].depends_on == {tid(session, "n")}
    order = [t.config_name for t in session.tickets_in_export_order()]
    assert order == ["node.type.n", "node.type.a"]


def test_revisions_make_validation_stale_and_obsolete_tickets_need_none() -> None:
    session = generated([bundle("a"), bundle("b")])
    session.mark_ready(list(session.tickets), True, "alice")
    validate_all(session)
    assert session.export_blockers() == []

    upload(session, [bundle("a")])

    assert session.validation_state() == "stale"
    session.record_validation([tid(session, "a")], [], "alice")  # b, obsolete, is left out
    assert session.validation_state() == "passed"
    assert session.export_blockers() == []


def test_review_goes_on_after_a_completed_export_and_moves_back_to_review() -> None:
    session = generated([bundle("a"), bundle("b")])
    session.mark_ready(list(session.tickets), True, "alice")
    validate_all(session)
    export_id = uuid4()
    session.request_export(export_id, "alice")
    session.finish_export(export_id, "completed", "exporter")
    assert session.stage == Stage.COMPLETED

    session.edit_ticket(tid(session, "a"), {"title": "After the export"}, None, "alice")

    assert session.stage == Stage.REVIEW
    session.stage = Stage.COMPLETED
    session.add_dependency(tid(session, "b"), tid(session, "a"), "alice")
    assert session.stage == Stage.REVIEW


def test_a_revision_after_an_export_leads_back_to_review_through_process() -> None:
    session = generated([bundle("a")])
    session.stage = Stage.COMPLETED

    upload(session, [bundle("a"), bundle("b")])
    assert session.stage == Stage.UPLOADED
    run_generation(session)

    assert session.stage == Stage.REVIEW


def test_an_obsolete_ticket_cannot_be_redrafted() -> None:
    session = generated([bundle("a"), bundle("b")])
    upload(session, [bundle("a")])

    with pytest.raises(ConflictError, match="obsolete"):
        session.request_redraft(tid(session, "b"), uuid4(), "offline", "alice")


def test_before_the_first_completed_run_a_new_run_still_drafts_everything() -> None:
    session = new_session()
    upload(session, [bundle("a"), bundle("b")])
    task = uuid4()
    session.request_generation(task, "offline", "alice")
    session.start_generation(task, 2, "worker")
    session.record_ticket(task, session.entities["node.type.a"], DRAFT, "offline", {}, 1, "w")
    session.cancel_generation(task, "alice")

    upload(session, [bundle("b"), bundle("c")])

    assert not session.tickets[tid(session, "a")].obsolete  # no backlog yet: no flags
    session.request_generation(uuid4(), "offline", "alice")
    assert session.tickets == {}
    assert len(session.entities_to_draft()) == 2


def test_a_field_entity_is_matched_by_its_config_name() -> None:
    field = InventoryEntity(
        config_name="field.field.node.article.body",
        kind=Kind.FIELDS,
        label="Body",
        attributes={"entity_type": "node", "bundle": "article", "field_name": "body"},
    )
    session = generated([bundle("article"), field])

    upload(session, [bundle("article"), replace(field, label="Text")])

    ticket = session.tickets[ticket_id_for(session.id, field.config_name)]
    assert ticket.redraft_pending


# --- old stored shapes ------------------------------------------------------------------------

BEFORE_REVISIONS = ("revision", "removed_entities", "backlog_started")
TICKET_FIELDS_BEFORE_REVISIONS = (
    "drafted_version",
    "redraft_pending",
    "source_changed",
    "obsolete",
)


def test_tickets_written_before_revisions_load_with_the_new_fields_at_their_defaults() -> None:
    session = generated([bundle("a")])
    table = tag_containers(session.tickets)
    fields = table["_data_"]["fields"]
    kept = [i for i, name in enumerate(fields) if name not in TICKET_FIELDS_BEFORE_REVISIONS]
    old = {
        "fields": [fields[i] for i in kept],
        "rows": [[row[i] for i in kept] for row in table["_data_"]["rows"]],
    }

    (ticket,) = TicketTable().decode(old).values()

    assert ticket == session.tickets[ticket.id]
    assert (ticket.drafted_version, ticket.redraft_pending) == (1, False)
    assert (ticket.source_changed, ticket.obsolete) == (None, False)


@pytest.fixture
def app() -> TicketForge:
    return TicketForge(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_a_v1_ticket_generated_event_is_a_first_draft(app: TicketForge) -> None:
    session = new_session()
    upload(session, [bundle("a")])
    task = uuid4()
    session.request_generation(task, "offline", "alice")
    session.start_generation(task, 1, "worker")
    app.save(session)
    ticket_id = tid(session, "a")
    v1_state = {
        "timestamp": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "originator_topic": get_topic(Session),
        "task_id": task,
        "ticket_id": ticket_id,
        "config_name": "node.type.a",
        **DRAFT,
        "generator": "offline",
        "user_order": 1,
        "depends_on": [],
        "usage": {},
        "actor": "worker",
    }  # no class_version, no ticket_version: the v1 shape
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=session.id,
                originator_version=session.version + 1,
                topic=get_topic(Session.TicketGenerated),
                state=app.mapper.transcoder.encode(v1_state),
            )
        ]
    )

    loaded = get(app, Session, session.id)

    ticket = loaded.tickets[ticket_id]
    assert (ticket.version, ticket.drafted_version, ticket.edited) == (1, 1, False)
    generated_events = [
        e for e in app.events.get(session.id) if isinstance(e, Session.TicketGenerated)
    ]
    assert generated_events[0].ticket_version == 1


def v1_snapshot(session: Session) -> Snapshot:
    """A snapshot of `session` as the release before revisions stored it."""
    state = dict(Session.Snapshot.take(session).state)
    for name in BEFORE_REVISIONS:
        del state[name]
    state.pop("class_version")
    return Snapshot(
        originator_id=session.id,
        originator_version=session.version,
        timestamp=datetime(2024, 1, 2, tzinfo=UTC),
        topic=get_topic(Session),
        state=state,
    )


@pytest.mark.parametrize("reviewed", [True, False])
def test_a_v1_snapshot_loads_and_takes_revisions(app: TicketForge, reviewed: bool) -> None:
    session = generated([bundle("a"), bundle("b")]) if reviewed else new_session()
    if not reviewed:
        upload(session, [bundle("a")])
    session.revision = 0  # v1 recorded no revisions
    app.save(session)
    assert app.snapshots is not None
    app.snapshots.put([v1_snapshot(session)])

    loaded = get(app, Session, session.id)

    assert loaded.revision == 0 and loaded.removed_entities == {}
    assert loaded.backlog_started is reviewed
    if reviewed:
        loaded.edit_ticket(tid(loaded, "a"), {"title": "Mine"}, None, "alice")
        upload(loaded, [described("a", "x")])
        assert loaded.revision == 1 and loaded.tickets[tid(loaded, "a")].source_changed
        assert loaded.tickets[tid(loaded, "b")].obsolete
