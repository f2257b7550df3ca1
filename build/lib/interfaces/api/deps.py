"""Request dependencies: the container, the authenticated user, read-your-writes."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Query, Request, Response

from application.users import User
from interfaces.api.errors import ApiError
from interfaces.bootstrap import Container
from projections import revisions as revisions_view
from projections import sessions as sessions_view
from projections import tickets as tickets_view
from projections.views import Views


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_views(container: ContainerDep) -> Views:
    return container.views


ViewsDep = Annotated[Views, Depends(get_views)]


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


QUERY_MODELS = ("sessions", "tickets", "exports")


def _reached(container: Container, min_position: int, names: tuple[str, ...] = ()) -> bool:
    """Wait (up to 5 s) until the read models (default: all) reach `min_position`.

    A position no write has reached is refused at once, as waiting could never see it:
    a command answers with its X-Event-Position only once its events are committed,
    so every position a client was given is at most the event store's head.
    """
    head = container.app.head_position()
    if min_position > head:
        raise ApiError(
            422,
            f"min_position {min_position} is beyond the last recorded event ({head}): "
            "no write has reached it",
            "user_fixable",
            ["Send the X-Event-Position of a write you made, or leave min_position out"],
        )
    return container.projector.wait_for(min_position, 5.0, names or None)


def read_position(
    container: ContainerDep,
    response: Response,
    min_position: Annotated[
        int | None, Query(ge=0, description="Wait (up to 5 s) until read models reach it")
    ] = None,
) -> None:
    """Read-your-writes for queries, and the read models' lag on every answer.

    Without `min_position`, a query still sees the read models at one position: the
    ones a page combines (session, tickets, export) are brought level with the most
    advanced of them, so a status never says "completed" beside an empty ticket list.
    """
    if min_position is None:
        level = max(
            (p.position for p in container.store.positions() if p.name in QUERY_MODELS),
            default=0,
        )
        container.projector.wait_for(level, 2.0, QUERY_MODELS)
    elif not _reached(container, min_position):
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


def read_model(*names: str) -> Any:
    """`ReadPosition` for a query answered by the named projections only.

    Waits (bounded) for those projections alone, and reports their lag in events
    (`X-Read-Model-Lag`) and the position they have all reached (`X-Read-Model-Position`):
    a projection the query does not read (lagging, failing, or led by a process that is
    down) neither delays its answer nor shows in its lag. Without `min_position`, the
    named projections are still brought level with the most advanced of them, as
    `ReadPosition` does for all of them.
    """

    def dependency(
        container: ContainerDep,
        response: Response,
        min_position: Annotated[
            int | None, Query(ge=0, description="Wait (up to 5 s) until the read model reaches it")
        ] = None,
    ) -> None:
        if min_position is None:
            if len(names) > 1:
                level = max(container.store.position(name) for name in names)
                container.projector.wait_for(level, 2.0, names)
        elif not _reached(container, min_position, names):
            raise ApiError(
                503,
                f"Read model {', '.join(names)} has not reached position {min_position} yet",
                "temporary",
                ["Retry shortly"],
                headers={"Retry-After": "1"},
            )
        head = container.app.head_position()
        position = min((container.store.position(name) for name in names), default=head)
        response.headers["X-Read-Model-Lag"] = str(max(0, head - position))
        response.headers["X-Read-Model-Position"] = str(position)

    return Depends(dependency)


# What the session and ticket routes read: a session's own document, and beside it
# (entities, tickets) the tickets projection.
SessionsRead = Annotated[None, read_model(sessions_view.SessionsProjection.name)]
SessionAndTicketsRead = Annotated[
    None, read_model(sessions_view.SessionsProjection.name, tickets_view.TicketsProjection.name)
]
SessionAndRevisionsRead = Annotated[
    None,
    read_model(sessions_view.SessionsProjection.name, revisions_view.RevisionsProjection.name),
]


def settle(container: Container, response: Response, position: int | None) -> None:
    """After a command: answer once our own read models show it."""
    container.wrote(position)
    if position is not None:
        response.headers["X-Event-Position"] = str(position)
        container.projector.wait_for(position, 10.0)


def session_doc(container: Container, session_id: UUID, user: User) -> dict[str, Any]:
    """The session's read-model row (`SessionsView.document`); 404 unless `user` may see it."""
    sessions = container.views.sessions
    doc = sessions.document(session_id)
    if doc is None:  # perhaps created a moment ago, by another process: wait for the view
        head = container.app.head_position()
        if container.projector.wait_for(head, 2.0, (sessions_view.SessionsProjection.name,)):
            doc = sessions.document(session_id)
    if doc is None or (doc["owner"] != user.name and not user.is_admin):
        raise ApiError(
            404,
            f"Session {session_id} not found",
            "user_fixable",
            ["Check the session id; list your sessions with GET /api/sessions"],
        )
    return doc
