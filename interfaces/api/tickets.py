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
    session_doc,
    settle,
)
from interfaces.api.errors import ApiError
from projections import tickets as tickets_view
from projections.sessions import public_view

router = APIRouter(prefix="/api/sessions/{session_id}", tags=["tickets"])


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


class TicketOrder(BaseModel):
    ticket_ids: list[UUID]


class DependencyBody(BaseModel):
    depends_on: UUID


class ReadyBody(BaseModel):
    ready: bool = True
    ticket_ids: list[UUID] | None = Field(None, description="Default: every ticket")


class ValidationRequest(BaseModel):
    ticket_ids: list[UUID] | None = None


def _tickets(container: ContainerDep, session_id: UUID) -> list[dict[str, Any]]:
    return container.store.list(tickets_view.TABLE, partition=str(session_id))


def _ticket(container: ContainerDep, session_id: UUID, ticket_id: UUID) -> dict[str, Any]:
    doc = container.store.get(tickets_view.TABLE, str(ticket_id))
    if doc is None or doc["session_id"] != str(session_id):
        raise ApiError(404, f"Ticket {ticket_id} not found in session {session_id}")
    return doc


@router.get("/tickets")
def list_tickets(
    session_id: UUID,
    container: ContainerDep,
    user: CurrentUser,
    _: SessionAndTicketsRead,
    order: Annotated[Literal["export", "user"], Query()] = "export",
) -> dict[str, Any]:
    session = session_doc(container, session_id, user)
    tickets = _tickets(container, session_id)
    if order == "export":
        tickets = tickets_view.in_export_order(tickets)
    shown = [tickets_view.with_freshness(t, session["content_version"]) for t in tickets]
    return {"session_id": str(session_id), "order": order, "tickets": shown, "total": len(shown)}


@router.get("/tickets/{ticket_id}")
def get_ticket(
    session_id: UUID,
    ticket_id: UUID,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
    _: SessionAndTicketsRead,
) -> dict[str, Any]:
    session = session_doc(container, session_id, user)
    doc = _ticket(container, session_id, ticket_id)
    response.headers["ETag"] = f'"{doc["version"]}"'
    return tickets_view.with_freshness(doc, session["content_version"])


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


@router.patch("/tickets/{ticket_id}")
def edit_ticket(
    session_id: UUID,
    ticket_id: UUID,
    body: TicketPatch,
    container: ContainerDep,
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
    return get_ticket(session_id, ticket_id, container, user, response, None)


@router.put("/ticket-order")
def reorder(
    session_id: UUID,
    body: TicketOrder,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    result = container.app.reorder_tickets(session_id, body.ticket_ids, user)
    settle(container, response, result.position)
    return list_tickets(session_id, container, user, None, "user")


@router.post("/tickets/{ticket_id}/dependencies", status_code=201)
def add_dependency(
    session_id: UUID,
    ticket_id: UUID,
    body: DependencyBody,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    result = container.app.add_dependency(session_id, ticket_id, body.depends_on, user)
    settle(container, response, result.position)
    return get_ticket(session_id, ticket_id, container, user, response, None)


@router.delete("/tickets/{ticket_id}/dependencies/{depends_on}")
def remove_dependency(
    session_id: UUID,
    ticket_id: UUID,
    depends_on: UUID,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    result = container.app.remove_dependency(session_id, ticket_id, depends_on, user)
    settle(container, response, result.position)
    return get_ticket(session_id, ticket_id, container, user, response, None)


@router.post("/tickets/ready")
def mark_ready(
    session_id: UUID,
    body: ReadyBody,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    result = container.app.mark_ready(session_id, body.ticket_ids, body.ready, user)
    settle(container, response, result.position)
    tickets = _tickets(container, session_id)
    return {"ready": sum(1 for t in tickets if t["ready"]), "total": len(tickets)}


@router.post("/adf-validation")
def validate(
    session_id: UUID,
    container: ContainerDep,
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
    shown = public_view(session)
    data["export_ready"] = {"ready": shown["export_ready"], "blockers": shown["export_blockers"]}
    return data
