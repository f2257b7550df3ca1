"""Request dependencies: the container, the authenticated user, read-your-writes."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Query, Request, Response

from application.users import User
from interfaces.api.errors import ApiError
from interfaces.bootstrap import Container
from projections import sessions as sessions_view


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def current_user(
    container: ContainerDep, authorization: Annotated[str | None, Header()] = None
) -> User:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "Authentication required: send 'Authorization: Bearer <token>'",
            "user_fixable",
            ["Create a token with `ticketforge users create NAME` and send it as a bearer token"],
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = container.users.authenticate(token.strip())
    if user is None:
        raise ApiError(
            401,
            "The bearer token is not valid",
            "user_fixable",
            ["Check the token, or create a new one with `ticketforge users create NAME`"],
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise ApiError(403, "This needs the admin role", "admin_required", ["Ask an administrator"])
    return user


AdminUser = Annotated[User, Depends(admin_user)]


def read_position(
    container: ContainerDep,
    response: Response,
    min_position: Annotated[
        int | None, Query(ge=0, description="Wait (up to 5 s) until read models reach it")
    ] = None,
) -> None:
    """Read-your-writes for queries, and the read models' lag on every answer."""
    if min_position is not None and not container.projector.wait_for(min_position, 5.0):
        raise ApiError(
            503,
            f"Read models have not reached position {min_position} yet",
            "temporary",
            ["Retry shortly"],
            headers={"Retry-After": "1"},
        )
    lag = container.projector.lag()
    response.headers["X-Read-Model-Lag"] = str(max(lag.values(), default=0))


ReadPosition = Annotated[None, Depends(read_position)]


def settle(container: Container, response: Response, position: int | None) -> None:
    """After a command: answer once our own read models show it."""
    container.wrote(position)
    if position is not None:
        response.headers["X-Event-Position"] = str(position)
        container.projector.wait_for(position, 10.0)


def session_doc(container: Container, session_id: UUID, user: User) -> dict[str, Any]:
    doc = container.store.get(sessions_view.TABLE, str(session_id))
    if doc is None or (doc["owner"] != user.name and not user.is_admin):
        raise ApiError(
            404,
            f"Session {session_id} not found",
            "user_fixable",
            ["Check the session id; list your sessions with GET /api/sessions"],
        )
    return doc
