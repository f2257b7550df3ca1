"""Generating again after a stopped run: the stored tickets must match the inventory."""

from __future__ import annotations

from uuid import UUID

import pytest

from application.inventory.model import UploadedFile
from domain.session import Session
from interfaces.bootstrap import Container
from tests.integration.storage.conftest import (
    ALICE,
    TINY_INVENTORY,
    create_session,
    request_generation,
    upload,
)

ARTICLE_ROWS = (
    b"node.type.article,node,article,Article,News and updates,\n",
    b"field.field.node.article.field_tags,node,article,field_tags,Tags,entity_reference,"
    b"false,-1,taxonomy_term:tags,,node.type.article; taxonomy.vocabulary.tags\n",
)
WITHOUT_ARTICLE = [
    UploadedFile(TINY_INVENTORY[0].name, TINY_INVENTORY[0].content.replace(ARTICLE_ROWS[0], b"")),
    UploadedFile(TINY_INVENTORY[1].name, TINY_INVENTORY[1].content.replace(ARTICLE_ROWS[1], b"")),
]


def stopped_run(container: Container, how: str) -> UUID:
    """A session whose first run drafted some tickets, then was cancelled or failed."""
    session_id = create_session(container)
    upload(container, session_id, TINY_INVENTORY)
    task_id = request_generation(container, session_id)
    container.generation.concurrency = 1
    checks = iter(range(1_000))
    status = container.generation.run(session_id, task_id, keep_going=lambda: next(checks) < 2)
    assert status == "interrupted"
    if how == "cancelled":
        container.app.cancel_generation(session_id, ALICE)
    else:
        container.generation.fail(session_id, task_id, "RuntimeError: the worker broke down")
    session = container.app.load_session(session_id)
    assert session.stage == ("cancelled" if how == "cancelled" else "processing_failed")
    assert "node.type.article" in {t.config_name for t in session.tickets.values()}
    return session_id


def assert_one_ticket_per_entity(container: Container, session_id: UUID) -> None:
    session = container.app.load_session(session_id)
    assert session.stage == "review"
    names = sorted(t.config_name for t in session.tickets.values())
    assert names == sorted(session.entities)
    assert session.generation is not None
    assert session.generation.generated == len(session.tickets)
    assert container.settle()
    rows = container.store.list("tickets", partition=str(session_id))
    assert sorted(r["config_name"] for r in rows) == names


@pytest.mark.parametrize("how", ["cancelled", "failed"])
def test_generating_again_with_the_same_inventory_drafts_each_entity_once(
    container: Container, how: str
) -> None:
    session_id = stopped_run(container, how)
    if how == "failed":
        task_id, _, _ = container.app.request_generation(session_id, "offline", ALICE, retry=True)
    else:
        task_id = request_generation(container, session_id)

    assert container.generation.run(session_id, task_id) == "completed"

    assert_one_ticket_per_entity(container, session_id)
    session = container.app.load_session(session_id)
    assert len(session.tickets) == 5
    assert {t.generator for t in session.tickets.values()} == {"offline"}
    events = list(container.app.events.get(session_id))
    retried = [e for e in events if isinstance(e, Session.GenerationRequested)][-1]
    assert retried.task_id == task_id


@pytest.mark.parametrize("how", ["cancelled", "failed"])
def test_after_a_reupload_no_ticket_outlives_its_entity(container: Container, how: str) -> None:
    session_id = stopped_run(container, how)
    upload(container, session_id, WITHOUT_ARTICLE)  # the article type and its field are gone
    task_id = request_generation(container, session_id)

    assert container.generation.run(session_id, task_id) == "completed"

    assert_one_ticket_per_entity(container, session_id)
