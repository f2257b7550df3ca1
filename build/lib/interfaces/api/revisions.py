"""Revisions of a session's inventory: each upload that changed something."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path

from interfaces.api.deps import (
    ContainerDep,
    CurrentUser,
    SessionAndRevisionsRead,
    ViewsDep,
    session_doc,
)
from interfaces.api.errors import ApiError, documented
from interfaces.api.schemas.revisions import RevisionDetail, RevisionList

router = APIRouter(
    prefix="/api/sessions/{session_id}", tags=["revisions"], responses=documented(401, 404)
)


@router.get("/revisions", response_model=RevisionList)
def list_revisions(
    session_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    _: SessionAndRevisionsRead,
) -> dict[str, Any]:
    """Every revision, first to last: who, when, and how many entities it added, changed
    and removed."""
    session_doc(container, session_id, user)
    return views.revisions.list(session_id)


@router.get("/revisions/{number}", response_model=RevisionDetail)
def get_revision(
    session_id: UUID,
    number: Annotated[int, Path(ge=1, le=1_000_000_000)],
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    _: SessionAndRevisionsRead,
) -> dict[str, Any]:
    """What revision `number` changed, entity by entity (a change as attribute ->
    [old, new])."""
    session_doc(container, session_id, user)
    revision = views.revisions.get(session_id, number)
    if revision is None:
        raise ApiError(
            404,
            f"Session {session_id} has no revision {number}",
            "user_fixable",
            ["List the revisions with GET /api/sessions/{id}/revisions"],
        )
    return revision
