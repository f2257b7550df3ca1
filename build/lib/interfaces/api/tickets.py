"""Review: the ticket list, edits, order, dependencies, readiness and ADF validation."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from interfaces.api.deps import (
    ContainerDep,
    CurrentUser,
    SessionAndTicketsRead,
    ViewsDep,
    session_doc,
    settle,
)
from interfaces.api.errors import ApiError, documented
from interfaces.api.schemas.tickets import ReadyCount, TicketList, TicketOut, ValidationOut
from projections.views import Views

router = APIRouter(
    prefix="/api/sessions/{session_id}", tags=["tickets"], responses=documented(401, 404)
)


class TicketPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=255)
    user_story: str | None = Field(None, min_length=1)
    analysis: str | None = Field(None, min_length=1)
    verification: str | None = Field(None, min_length=1)
    assignee: str | None = Field(None, max_length=255, description="email or Jira accountId")
    sprint: str | None = Field(None, max_length=255)
    priority: str | None = Field(None, max_length=255)
    labels: list[str] | None = None
    version: StrictInt | None = Field(None, ge=1, description="Alternative to the If-Match header")


# The flags a ticket can carry (`projections.tickets.TICKET_FLAGS`).
TicketFlag = Literal["source_changed", "obsolete", "conflict"]


class TicketOrder(BaseModel):
    ticket_ids: list[UUID]


class DependencyBody(BaseModel):
    depends_on: UUID


class ReadyBody(BaseModel):
    ready: bool = True
    ticket_ids: list[UUID] | None = Field(None, description="Default: every ticket")


class ValidationRequest(BaseModel):
    ticket_ids: list[UUID] | None = None


def _ticket(
    views: Views, session: dict[str, Any], ticket_id: UUID, response: Response
) -> dict[str, Any]:
    """The ticket with its version as ETag (send it back as If-Match to edit it)."""
    session_id = UUID(session["id"])
    ticket = views.tickets.get(session_id, ticket_id, session["content_version"])
    if ticket is None:
        raise ApiError(404, f"Ticket {ticket_id} not found in session {session_id}")
    response.headers["ETag"] = f'"{ticket["version"]}"'
    return ticket


def _tickets(
    views: Views, session: dict[str, Any], order: Literal["export", "user"]
) -> dict[str, Any]:
    return views.tickets.list(UUID(session["id"]), session["content_version"], order)


@router.get("/tickets", response_model=TicketList, response_model_exclude_unset=True)
def list_tickets(
    session_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    _: SessionAndTicketsRead,
    order: Annotated[Literal["export", "user"], Query()] = "export",
    flag: Annotated[TicketFlag | None, Query(description="Only the tickets flagged so")] = None,
) -> dict[str, Any]:
    session = session_doc(container, session_id, user)
    return views.tickets.list(UUID(session["id"]), session["content_version"], order, flag)


@router.get("/tickets/{ticket_id}", response_model=TicketOut, response_model_exclude_unset=True)
def get_ticket(
    session_id: UUID,
    ticket_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
    _: SessionAndTicketsRead,
) -> dict[str, Any]:
    return _ticket(views, session_doc(container, session_id, user), ticket_id, response)


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise ApiError(
            400,
            f"If-Match must be the ticket version (an integer, as in the ETag), got {value!r}",
        )
    return int(text)


@router.patch(
    "/tickets/{ticket_id}",
    response_model=TicketOut,
    response_model_exclude_unset=True,
    responses=documented(400, 409, 422, 428),
)
def edit_ticket(
    session_id: UUID,
    ticket_id: UUID,
    body: TicketPatch,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    expected = _if_match(if_match)
    if expected is None:
        expected = body.version
    if expected is None:
        raise ApiError(
            428,
            "Send the ticket version you edited (If-Match header or 'version'), "
            "so that a concurrent edit is not overwritten",
            "user_fixable",
            ["GET the ticket, take its ETag / version, and send it with the edit"],
        )
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    result = container.app.edit_ticket(session_id, ticket_id, changes, expected, user)
    settle(container, response, result.position)
    return _ticket(views, session_doc(container, session_id, user), ticket_id, response)


@router.put(
    "/ticket-order",
    response_model=TicketList,
    response_model_exclude_unset=True,
    responses=documented(409, 422),
)
def reorder(
    session_id: UUID,
    body: TicketOrder,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    result = container.app.reorder_tickets(session_id, body.ticket_ids, user)
    settle(container, response, result.position)
    return _tickets(views, session_doc(container, session_id, user), "user")


@router.post(
    "/tickets/{ticket_id}/dependencies",
    status_code=201,
    response_model=TicketOut,
    response_model_exclude_unset=True,
    responses=documented(409, 422),
)
def add_dependency(
    session_id: UUID,
    ticket_id: UUID,
    body: DependencyBody,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    result = container.app.add_dependency(session_id, ticket_id, body.depends_on, user)
    settle(container, response, result.position)
    return _ticket(views, session_doc(container, session_id, user), ticket_id, response)


@router.delete(
    "/tickets/{ticket_id}/dependencies/{depends_on}",
    response_model=TicketOut,
    response_model_exclude_unset=True,
    responses=documented(409),
)
def remove_dependency(
    session_id: UUID,
    ticket_id: UUID,
    depends_on: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    result = container.app.remove_dependency(session_id, ticket_id, depends_on, user)
    settle(container, response, result.position)
    return _ticket(views, session_doc(container, session_id, user), ticket_id, response)


@router.delete(
    "/tickets/{ticket_id}/flags/source_changed",
    response_model=TicketOut,
    response_model_exclude_unset=True,
    responses=documented(409),
)
def dismiss_source_change(
    session_id: UUID,
    ticket_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    """Keep the ticket's text though its entity changed: the flag goes (404 when the
    ticket is not flagged)."""
    session_doc(container, session_id, user)
    result = container.app.dismiss_source_change(session_id, ticket_id, user)
    settle(container, response, result.position)
    return _ticket(views, session_doc(container, session_id, user), ticket_id, response)


@router.post("/tickets/ready", response_model=ReadyCount, responses=documented(409, 422))
def mark_ready(
    session_id: UUID,
    body: ReadyBody,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    result = container.app.mark_ready(session_id, body.ticket_ids, body.ready, user)
    settle(container, response, result.position)
    return views.tickets.readiness(session_id)


@router.post("/adf-validation", response_model=ValidationOut, responses=documented(409, 422))
def validate(
    session_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
    body: ValidationRequest | None = None,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    report = container.app.validate_tickets(session_id, body.ticket_ids if body else None, user)
    settle(container, response, report.position)
    data = asdict(report)
    data["results"] = [{**r, "ticket_id": str(r["ticket_id"])} for r in data["results"]]
    data["session_id"] = str(session_id)
    session = session_doc(container, session_id, user)
    data["export_ready"] = views.sessions.export_readiness(session)
    return data
