"""Admin view of the read models (position, lag) and rebuild while queries go on."""

from __future__ import annotations

import time
from typing import Any

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
