"""The Session aggregate's invariants, without any storage."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.errors import (
    ConflictError,
    DependencyCycleError,
    InvalidCommandError,
    NotFoundError,
    StaleVersionError,
)
from domain.inventory import InventoryEntity, Kind
from domain.session import Session, Stage, ticket_id_for

DRAFT = {"title": "T", "user_story": "As a user", "analysis": "A", "verification": "V"}


def bundle(name: str, deps: tuple[str, ...] = ()) -> InventoryEntity:
    return InventoryEntity(
        config_name=f"node.type.{name}",
        kind=Kind.BUNDLES,
        label=name.title(),
        attributes={"entity_type": "node", "machine_name": name},
        depends_on=deps,
    )


def new_session() -> Session:
    return Session(
        name="s",
        owner="alice",
        site={"site_name": "Site"},
        jira_project_key="TF",
        issue_type="Task",
        default_labels=["tf"],
        epic_key=None,
        epic_mode="none",
        actor="alice",
    )


def generated(entities: list[InventoryEntity]) -> Session:
    session = new_session()
    session.upload_inventory(
        [{"kind": "bundles", "file_name": "b.csv", "rows": 3}], entities, [], "alice"
    )
    task = uuid4()
    session.request_generation(task, "offline", "alice")
    session.start_generation(task, len(entities), "worker")
    for i, entity in enumerate(session.entities_in_order(), 1):
        session.record_ticket(task, entity, DRAFT, "offline", {}, i, "worker")
    session.complete_generation(task, "worker")
    return session


def validate_all(session: Session) -> None:
    session.record_validation(list(session.tickets), [], "alice")


def test_every_event_names_the_acting_user() -> None:
    session = generated([bundle("a"), bundle("b", ("node.type.a",))])
    events = session.collect_events()
    assert len(events) > 5
    assert all(getattr(e, "actor", None) for e in events)


def test_upload_moves_to_uploaded_and_reupload_of_a_kind_replaces_it() -> None:
    session = new_session()
    session.upload_inventory([{"kind": "bundles"}], [bundle("a"), bundle("b")], [], "alice")
    assert session.stage == Stage.UPLOADED
    session.upload_inventory([{"kind": "bundles"}], [bundle("c")], [], "alice")
    assert sorted(session.entities) == ["node.type.c"]


def test_empty_upload_is_refused() -> None:
    with pytest.raises(InvalidCommandError):
        new_session().upload_inventory([], [], [], "alice")


def test_inferred_dependencies_follow_depends_on() -> None:
    session = generated([bundle("a"), bundle("b", ("node.type.a", "node.type.missing"))])
    b = session.tickets[ticket_id_for(session.id, "node.type.b")]
    assert b.depends_on == {ticket_id_for(session.id, "node.type.a")}


def test_inferred_dependencies_that_would_close_a_cycle_are_left_out() -> None:
    session = generated([bundle("a", ("node.type.b",)), bundle("b", ("node.type.a",))])
    edges = session.dependency_edges()
    # Exactly one direction survives; the graph stays orderable.
    assert sum(len(v) for v in edges.values()) == 1
    assert len(session.tickets_in_export_order()) == 2


def test_stale_edit_is_refused_and_changes_nothing() -> None:
    session = generated([bundle("a")])
    ticket = next(iter(session.tickets.values()))
    session.edit_ticket(ticket.id, {"title": "New"}, 1, "alice")
    with pytest.raises(StaleVersionError) as info:
        session.edit_ticket(ticket.id, {"title": "Lost?"}, 1, "bob")
    assert info.value.current_version == 2
    assert ticket.title == "New"


def test_edit_rejects_unknown_fields_and_long_titles() -> None:
    session = generated([bundle("a")])
    ticket_id = next(iter(session.tickets))
    with pytest.raises(InvalidCommandError, match="config_name"):
        session.edit_ticket(ticket_id, {"config_name": "x"}, None, "alice")
    with pytest.raises(InvalidCommandError, match="255"):
        session.edit_ticket(ticket_id, {"title": "x" * 256}, None, "alice")
    with pytest.raises(InvalidCommandError, match="labels"):
        session.edit_ticket(ticket_id, {"labels": ["has space"]}, None, "alice")


def test_validation_goes_stale_on_edit_reorder_and_dependency_change() -> None:
    session = generated([bundle("a"), bundle("b"), bundle("c")])
    a, b, c = (ticket_id_for(session.id, f"node.type.{n}") for n in "abc")
    assert session.validation_state() == "missing"
    validate_all(session)
    assert session.validation_state() == "passed"

    session.edit_ticket(a, {"analysis": "changed"}, None, "alice")
    assert session.validation_state() == "stale"
    validate_all(session)
    session.reorder_tickets([c, b, a], "alice")
    assert session.validation_state() == "stale"
    validate_all(session)
    session.add_dependency(a, b, "alice")
    assert session.validation_state() == "stale"
    validate_all(session)
    session.remove_dependency(a, b, "alice")
    assert session.validation_state() == "stale"


def test_subset_validation_does_not_pass_the_session() -> None:
    session = generated([bundle("a"), bundle("b")])
    first = next(iter(session.tickets))
    session.record_validation([first], [], "alice")
    assert session.validation_state() == "stale"


def test_failed_validation_blocks_export_until_fixed() -> None:
    session = generated([bundle("a")])
    ticket_id = next(iter(session.tickets))
    session.record_validation([], [{"ticket_id": str(ticket_id), "error": "bad"}], "alice")
    assert session.validation_state() == "failed"
    validate_all(session)
    assert session.validation_state() == "passed"


def test_export_blockers() -> None:
    session = generated([bundle("a")])
    assert any("not marked ready" in b for b in session.export_blockers())
    assert any("re-validation required" in b for b in session.export_blockers())
    session.mark_ready(list(session.tickets), True, "alice")
    validate_all(session)
    assert session.export_blockers() == []


def test_dependency_cycle_is_refused_with_the_cycle_named() -> None:
    session = generated([bundle("a"), bundle("b", ("node.type.a",))])
    a, b = (ticket_id_for(session.id, f"node.type.{n}") for n in "ab")
    with pytest.raises(DependencyCycleError) as info:
        session.add_dependency(a, b, "alice")
    assert "node.type.a -> node.type.b -> node.type.a" in info.value.detail


def test_unknown_ticket_is_not_found() -> None:
    session = generated([bundle("a")])
    with pytest.raises(NotFoundError):
        session.add_dependency(uuid4(), next(iter(session.tickets)), "alice")


def test_reorder_must_list_every_ticket_once() -> None:
    session = generated([bundle("a"), bundle("b")])
    ids = list(session.tickets)
    with pytest.raises(InvalidCommandError, match="1 missing"):
        session.reorder_tickets(ids[:1], "alice")
    with pytest.raises(InvalidCommandError, match="1 repeated"):
        session.reorder_tickets([*ids, ids[0]], "alice")


def test_review_commands_are_refused_outside_review() -> None:
    session = new_session()
    with pytest.raises(ConflictError, match="stage 'setup'"):
        session.reorder_tickets([], "alice")


def test_generation_retry_discards_partial_tickets_and_stops_after_three() -> None:
    session = new_session()
    session.upload_inventory([{"kind": "bundles"}], [bundle("a"), bundle("b")], [], "alice")
    task = uuid4()
    session.request_generation(task, "offline", "alice")
    session.start_generation(task, 2, "worker")
    session.record_ticket(task, session.entities["node.type.a"], DRAFT, "offline", {}, 1, "worker")
    session.fail_generation(task, "boom", "temporary", "worker")
    assert session.stage == Stage.PROCESSING_FAILED
    for attempt in range(1, 4):
        retry = uuid4()
        session.retry_generation(retry, "offline", "alice")
        assert session.tickets == {}
        assert session.generation is not None and session.generation.attempt == attempt
        session.start_generation(retry, 2, "worker")
        session.fail_generation(retry, "boom", "temporary", "worker")
    with pytest.raises(ConflictError) as info:
        session.retry_generation(uuid4(), "offline", "alice")
    assert info.value.error_category == "admin_required"


def test_events_for_a_cancelled_run_are_refused() -> None:
    session = new_session()
    session.upload_inventory([{"kind": "bundles"}], [bundle("a")], [], "alice")
    task = uuid4()
    session.request_generation(task, "offline", "alice")
    session.cancel_generation(task, "alice")
    with pytest.raises(ConflictError):
        session.record_ticket(task, session.entities["node.type.a"], DRAFT, "offline", {}, 1, "w")
