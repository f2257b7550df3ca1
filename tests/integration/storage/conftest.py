"""Storage fixtures: sessions written straight through the application, on each backend.

Containers here are not started: nothing runs in the background unless a test runs
it, so every projector pass and every worker step is the test's own doing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from application.users import User
from interfaces.bootstrap import Container, bootstrap, read_inventory_path
from interfaces.settings import Settings
from tests.conftest import make_settings

REPO = Path(__file__).resolve().parents[3]
SMALL_SITE_CSV = REPO / "samples" / "small-site" / "inventory"

# Five entities with dependencies between them: quick to draft, enough to reorder.
TINY_INVENTORY = [
    UploadedFile(
        "bundles.csv",
        b"config_name,entity_type,machine_name,label,description,depends_on\n"
        b"node.type.article,node,article,Article,News and updates,\n"
        b"node.type.page,node,page,Basic page,Static pages,\n"
        b"taxonomy.vocabulary.tags,taxonomy_term,tags,Tags,Free tagging,\n",
    ),
    UploadedFile(
        "fields.csv",
        b"config_name,entity_type,bundle,field_name,label,field_type,required,cardinality,"
        b"target,description,depends_on\n"
        b"field.field.node.article.field_tags,node,article,field_tags,Tags,entity_reference,"
        b"false,-1,taxonomy_term:tags,,node.type.article; taxonomy.vocabulary.tags\n"
        b"field.field.node.page.body,node,page,body,Body,text_with_summary,false,1,,,"
        b"node.type.page\n",
    ),
]

ALICE = User("alice")


def create_session(container: Container, name: str = "Storage test", user: User = ALICE) -> UUID:
    result = container.app.create_session(
        name=name,
        site={"site_name": "Storage site", "description": "", "audience": ""},
        jira_project_key="ST",
        issue_type="Task",
        default_labels=["storage"],
        user=user,
    )
    return result.session_id


def upload(container: Container, session_id: UUID, files: list[UploadedFile] | None = None) -> None:
    inventory = parse_inventory(files if files is not None else read_inventory_path(SMALL_SITE_CSV))
    container.app.upload_inventory(session_id, inventory, ALICE)


def request_generation(container: Container, session_id: UUID) -> UUID:
    task_id, already, _ = container.app.request_generation(session_id, "offline", ALICE)
    assert not already
    return task_id


def seed_session(
    container: Container,
    files: list[UploadedFile] | None = None,
    name: str = "Storage test",
) -> UUID:
    """A session in review: created, uploaded (small site by default) and generated."""
    session_id = create_session(container, name)
    upload(container, session_id, files)
    task_id = request_generation(container, session_id)
    status = container.generation.run(session_id, task_id)
    assert status == "completed", status
    return session_id


def read_models(container: Container, tables: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every row of the given tables (default: the sessions and tickets read models)."""
    names = tables or ("sessions", "tickets", "entities", "ticket_defaults")
    return {table: container.store.list(table) for table in names}


@pytest.fixture
def open_container(settings: Settings) -> Iterator[Callable[..., Container]]:
    """Open (not start) more containers on the same settings: other processes on one DB."""
    opened: list[Container] = []

    def open_one(on: Settings | None = None) -> Container:
        container = bootstrap(on or settings)
        opened.append(container)
        return container

    yield open_one
    for container in reversed(opened):
        container.close()


@pytest.fixture
def other_settings(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    """Settings for a separate store (own directory / database), with extra values."""
    counter = iter(range(1, 1000))

    def build(**extra: object) -> Settings:
        return make_settings(backend, tmp_path / f"store{next(counter)}", request, **extra)

    return build
