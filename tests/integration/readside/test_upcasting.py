"""An event stored in an old shape still loads: `SessionCreated` v1 had no labels or epic,
v2 no epic mode."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from application.users import User
from domain.session import Session
from interfaces.bootstrap import Container
from projections import sessions as sessions_view


def test_a_v1_session_created_event_is_upcast_when_loaded(container: Container) -> None:
    app = container.app
    session_id = uuid4()
    v1_state = {
        "timestamp": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "originator_topic": get_topic(Session),
        "name": "Written by v1",
        "owner": "alice",
        "site": {"site_name": "Old site"},
        "jira_project_key": "OLD",
        "issue_type": "Task",
        "actor": "alice",
    }  # no class_version, no default_labels, no epic_key: the v1 shape
    stored = StoredEvent(
        originator_id=session_id,
        originator_version=1,
        topic=get_topic(Session.SessionCreated),
        state=app.mapper.transcoder.encode(v1_state),
    )
    app.recorder.insert_events([stored])

    session = app.repository.get(session_id)
    assert isinstance(session, Session)
    assert session.name == "Written by v1"
    assert session.default_labels == [] and session.epic_key is None
    assert session.epic_mode == "none"
    # The read models see the upcast event too.
    container.settle()
    doc = container.store.get(sessions_view.TABLE, str(session_id))
    assert doc is not None and doc["default_labels"] == [] and doc["epic_key"] is None


def test_a_v2_session_created_event_with_an_epic_key_loads_as_epic_mode_existing(
    container: Container,
) -> None:
    app = container.app
    session_id = uuid4()
    v2_state = {
        "timestamp": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "originator_topic": get_topic(Session),
        "name": "Written by v2",
        "owner": "alice",
        "site": {"site_name": "Old site"},
        "jira_project_key": "OLD",
        "issue_type": "Task",
        "default_labels": [],
        "epic_key": "OLD-7",
        "actor": "alice",
        "class_version": 2,
    }  # before epic modes: an epic key meant every ticket under that epic
    stored = StoredEvent(
        originator_id=session_id,
        originator_version=1,
        topic=get_topic(Session.SessionCreated),
        state=app.mapper.transcoder.encode(v2_state),
    )
    app.recorder.insert_events([stored])
    session = app.repository.get(session_id)
    assert isinstance(session, Session)
    assert (session.epic_mode, session.epic_key) == ("existing", "OLD-7")
    container.settle()
    doc = container.store.get(sessions_view.TABLE, str(session_id))
    assert doc is not None and doc["epic_mode"] == "existing"


def test_new_session_created_events_are_stored_as_v3(container: Container) -> None:
    result = container.app.create_session(
        name="new",
        site={"site_name": "x"},
        jira_project_key="NEW",
        issue_type="Task",
        user=User("alice"),
    )
    (stored,) = container.app.recorder.select_events(result.session_id, lte=1)
    state = container.app.mapper.transcoder.decode(stored.state)
    assert state["class_version"] == 3
    assert state["default_labels"] == [] and state["epic_key"] is None
    assert state["epic_mode"] == "none"
