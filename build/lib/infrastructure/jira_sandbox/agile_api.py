"""Jira Software (Agile) REST 1.0: boards, sprints, and moving issues to a sprint."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Response

from infrastructure.jira_sandbox.errors import ApiError
from infrastructure.jira_sandbox.render import Json
from infrastructure.jira_sandbox.state import (
    Account,
    JsonBody,
    Render,
    SandboxDep,
    browsable_issue,
    browsable_project,
    page_of,
)

MAX_SPRINT_MOVE = 50


# -- Jira Software (Agile) REST 1.0 -------------------------------------------------------

agile = APIRouter(prefix="/rest/agile/1.0")


@agile.get("/board")
def boards(
    *,
    sandbox: SandboxDep,
    account: Account,
    render: Render,
    projectKeyOrId: str | None = None,
    startAt: int = 0,
    maxResults: int = 50,
) -> Json:
    keys = [projectKeyOrId] if projectKeyOrId else ["DEMO", "TF"]
    values: list[Json] = []
    for key in keys:
        project = browsable_project(sandbox, account, key)
        values += [render.board(b, project) for b in sandbox.store.boards(project.key)]
    return page_of(values, startAt, maxResults)


@agile.get("/board/{boardId}/sprint")
def sprints(
    *,
    boardId: int,
    sandbox: SandboxDep,
    account: Account,
    render: Render,
    state: str = "active,future,closed",
    startAt: int = 0,
    maxResults: int = 50,
) -> Json:
    board = sandbox.store.board(boardId)
    if board is None:
        raise ApiError(
            404, [f"Board {boardId} does not exist or you do not have permission to see it."]
        )
    browsable_project(sandbox, account, board.project_key)
    states = [s.strip() for s in state.split(",") if s.strip()]
    values = [render.sprint(s) for s in sandbox.store.sprints(board.id, states)]
    return page_of(values, startAt, maxResults)


@agile.post("/sprint/{sprintId}/issue", status_code=204, response_model=None)
def move_to_sprint(
    sprintId: int, body: JsonBody, sandbox: SandboxDep, account: Account
) -> Response:
    sprint = sandbox.store.sprint(sprintId)
    if sprint is None:
        raise ApiError(404, [f"Sprint with id {sprintId} does not exist."])
    keys = body.get("issues") if isinstance(body, Mapping) else None
    if not isinstance(keys, list) or not keys or len(keys) > MAX_SPRINT_MOVE:
        raise ApiError(400, [f"'issues' must list 1 to {MAX_SPRINT_MOVE} issue keys or ids."])
    if sprint.state == "closed":
        raise ApiError(400, ["Issues cannot be moved to a closed sprint."])
    issues = [browsable_issue(sandbox, account, str(k)) for k in keys]
    sandbox.guard_issue_writes([i.key for i in issues])
    sandbox.store.move_to_sprint(sprint.id, [i.id for i in issues])
    sandbox.stats.event("sprint_moves", len(issues))
    return Response(status_code=204)
