"""Admin view of the read models (position, lag) and rebuild while queries go on."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from infrastructure.nats.embedded import NatsServerProcess
from tests.e2e.conftest import Api, assert_error


def projections(api: Api) -> dict[str, Any]:
    response = api.get("/api/admin/projections", user="root")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_projections_show_position_head_and_lag(api: Api, reviewed: tuple[str, list[Any]]) -> None:
    api.container.settle()
    body = projections(api)
    names = {p["name"] for p in body["projections"]}
    assert {"sessions", "tickets", "work_queue", "audit"} <= names
    for p in body["projections"]:
        assert p["head"] == body["head"] >= p["position"]
        assert p["lag_events"] == p["head"] - p["position"]
        assert p["lag_seconds"] >= 0
        assert set(p) >= {"leader", "leading_here", "rebuild"}


def test_rebuild_runs_in_the_background_and_queries_keep_answering(
    api: Api, reviewed: tuple[str, list[Any]]
) -> None:
    session_id, tickets = reviewed
    api.container.settle()  # every event projected: later answers must equal this one
    before = api.tickets(session_id)
    api.container.projector.rebuild_batch_size = 5  # a slow rebuild, to query during it

    response = api.post("/api/admin/projections/tickets/rebuild", user="root")
    assert response.status_code == 202, response.text
    assert response.json()["rebuild"]["state"] == "running"
    again = api.post("/api/admin/projections/tickets/rebuild", user="root")
    if again.status_code != 202:  # the first one may already be done
        assert_error(again, 409, "already being rebuilt")

    answers = 0
    deadline = time.monotonic() + 60
    while True:
        assert api.tickets(session_id) == before  # the old copy, then the new one: the same
        answers += 1
        status = {p["name"]: p for p in projections(api)["projections"]}["tickets"]
        if status["rebuild"]["state"] != "running":
            break
        assert time.monotonic() < deadline
    assert status["rebuild"]["state"] == "completed", status
    assert status["rebuild"]["position"] >= 1
    assert answers >= 1
    assert api.tickets(session_id) == before
    assert len(before) == len(tickets)


@pytest.mark.nats
def test_publishing_projections_are_listed_with_their_lag_and_cannot_be_rebuilt(
    api_with: Callable[..., Api], nats_server: NatsServerProcess
) -> None:
    """`progress` and `task_dispatch` publish to NATS as they follow the store: listed like
    the others (their lag is the one live progress waits on), flagged not rebuildable,
    and a rebuild is refused with the reason (409), not 'no such projection' (404)."""
    api = api_with(NATS_URL=nats_server.url, TICKETFORGE_EMBEDDED_NATS=False)
    api.reviewed_session()
    listed = {p["name"]: p for p in projections(api)["projections"]}
    assert {"progress", "task_dispatch", "sessions", "tickets"} <= set(listed)
    assert listed["progress"]["rebuildable"] is False
    assert listed["task_dispatch"]["rebuildable"] is False
    assert listed["tickets"]["rebuildable"] is True
    for name in ("progress", "task_dispatch"):
        refused = api.post(f"/api/admin/projections/{name}/rebuild", user="root")
        assert_error(refused, 409, "cannot be rebuilt")
        assert "publishes" in refused.json()["detail"]
    missing = api.post("/api/admin/projections/nope/rebuild", user="root")
    assert_error(missing, 404, "No projection named 'nope'")
    assert "progress" in " ".join(missing.json()["recovery_actions"])


@pytest.mark.nats
def test_an_idle_system_lists_no_lag_its_own_audit_event_comes_after(
    api_with: Callable[..., Api], nats_server: NatsServerProcess
) -> None:
    """The listing records who looked (an audit event) after measuring, not before: on an
    idle system every projection, the publishing ones too, is at the head."""
    api = api_with(NATS_URL=nats_server.url, TICKETFORGE_EMBEDDED_NATS=False)
    api.reviewed_session()
    live = api.container.live_progress
    assert live is not None
    for _ in range(3):  # each listing's own event is caught up before the next one
        api.container.settle()
        deadline = time.monotonic() + 30
        while live.follower.lag() > 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        body = projections(api)
        lags = {p["name"]: p["lag_events"] for p in body["projections"]}
        assert set(lags.values()) == {0}, lags
        assert {p["head"] for p in body["projections"]} == {body["head"]}
