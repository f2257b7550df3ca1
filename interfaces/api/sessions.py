"""Sessions: create, list, detail, inventory upload, ticket generation."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, File, Query, Response, UploadFile, status
from pydantic import BaseModel, Field

from application.generation.port import DrafterUnavailable
from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from interfaces.api.deps import (
    ContainerDep,
    CurrentUser,
    SessionAndTicketsRead,
    SessionsRead,
    ViewsDep,
    session_doc,
    settle,
)
from interfaces.api.errors import ApiError, documented
from interfaces.api.schemas.sessions import (
    EntityList,
    ProcessStarted,
    ProcessStatus,
    SessionList,
    SessionOut,
    UploadOut,
)

router = APIRouter(prefix="/api/sessions", tags=["sessions"], responses=documented(401))
SESSION_ERRORS = documented(404)

JIRA_KEY_PATTERN = r"^[A-Z][A-Z0-9_]{1,9}$"


class SiteContext(BaseModel):
    site_name: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    audience: str = Field("", max_length=1000)


EPIC_KEY_PATTERN = r"^[A-Z][A-Z0-9_]{1,9}-\d+$"
EpicMode = Literal["none", "per_group", "existing"]


class SessionCreate(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    site_context: SiteContext
    jira_project_key: str = Field(..., pattern=JIRA_KEY_PATTERN)
    issue_type: str = Field("Task", min_length=1, max_length=100)
    default_labels: list[str] = Field(default_factory=list, max_length=20)
    epic_key: str | None = Field(None, pattern=EPIC_KEY_PATTERN)
    epic_mode: EpicMode | None = Field(
        None,
        description="How the export groups tickets under epics: `none`, `per_group` (one "
        "epic per ticket group, created by the export) or `existing` (every ticket under "
        "`epic_key`). Default: `existing` with an epic_key, else `none`.",
    )


class SessionPatch(BaseModel):
    """What may change on a session before its first export."""

    model_config = {"extra": "forbid"}

    epic_mode: EpicMode
    epic_key: str | None = Field(None, pattern=EPIC_KEY_PATTERN)


class ProcessRequest(BaseModel):
    generator: str | None = Field(
        None, description="`offline`, or `openai` / `openai:<model>`; default from settings"
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionOut,
    response_model_exclude_unset=True,
    responses=documented(422),
)
def create_session(
    body: SessionCreate,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    bad = [label for label in body.default_labels if not label or " " in label]
    if bad:
        raise ApiError(422, f"Jira labels cannot be empty or contain spaces: {bad}")
    result = container.app.create_session(
        name=body.name,
        site=body.site_context.model_dump(),
        jira_project_key=body.jira_project_key,
        issue_type=body.issue_type,
        default_labels=body.default_labels,
        epic_key=body.epic_key,
        epic_mode=body.epic_mode,
        user=user,
    )
    settle(container, response, result.position)
    response.headers["Location"] = f"/api/sessions/{result.session_id}"
    return views.sessions.public(session_doc(container, result.session_id, user))


@router.get("", response_model=SessionList, response_model_exclude_unset=True)
def list_sessions(
    views: ViewsDep,
    user: CurrentUser,
    _: SessionsRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    owner = None if user.is_admin else user.name
    return views.sessions.list(owner, limit=limit, offset=offset)


@router.get(
    "/{session_id}",
    response_model=SessionOut,
    response_model_exclude_unset=True,
    responses=SESSION_ERRORS,
)
def get_session(
    session_id: UUID, container: ContainerDep, views: ViewsDep, user: CurrentUser, _: SessionsRead
) -> dict[str, Any]:
    return views.sessions.public(session_doc(container, session_id, user))


@router.patch(
    "/{session_id}",
    response_model=SessionOut,
    response_model_exclude_unset=True,
    responses=documented(404, 409, 422),
)
def patch_session(
    session_id: UUID,
    body: SessionPatch,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    """Set the session's `epic_mode` (and `epic_key` for `existing`): before its first
    export only (409 after, as its issues are grouped in Jira already)."""
    session_doc(container, session_id, user)
    result = container.app.change_epic_mode(session_id, body.epic_mode, body.epic_key, user)
    settle(container, response, result.position)
    return views.sessions.public(session_doc(container, session_id, user))


@router.post(
    "/{session_id}/files",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadOut,
    response_model_exclude_unset=True,
    responses=documented(404, 409, 413, 422),
)
def upload_files(
    session_id: UUID,
    files: Annotated[list[UploadFile], File(description="CSV files, config YAML files or a zip")],
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    limit = container.settings.max_upload_bytes
    uploaded, total = [], 0
    for f in files:
        content = f.file.read(limit + 1)
        total += len(content)
        if len(content) > limit or total > limit:
            raise ApiError(
                413,
                f"Upload too large: '{f.filename}' takes the upload over {limit} bytes",
                "user_fixable",
                ["Upload fewer or smaller files, or zip a config export"],
            )
        uploaded.append(UploadedFile(name=f.filename or "upload", content=content))
    parsed = parse_inventory(uploaded, known=views.tickets.entity_names(session_id))
    result = container.app.upload_inventory(session_id, parsed, user)
    settle(container, response, result.position)
    revision = result.revision
    if revision is None:
        shown = {
            "recorded": False,
            "number": result.revision_number,
            "added": 0,
            "changed": 0,
            "removed": 0,
            "detail": "No differences from the current inventory: nothing was recorded",
        }
    else:
        shown = {
            "recorded": True,
            "number": revision.number,
            "added": len(revision.added),
            "changed": len(revision.changed),
            "removed": len(revision.removed),
            "detail": f"Revision {revision.number}: {len(revision.added)} added, "
            f"{len(revision.changed)} changed, {len(revision.removed)} removed",
        }
    return {
        "session_id": str(session_id),
        "files": parsed.files,
        "entities": len(parsed.entities),
        "warnings": parsed.warnings,
        "revision": shown,
        "session": views.sessions.public(session_doc(container, session_id, user)),
    }


@router.get("/{session_id}/entities", response_model=EntityList, responses=SESSION_ERRORS)
def list_entities(
    session_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    _: SessionAndTicketsRead,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    return views.tickets.entities(session_id)


def _generator_name(container: ContainerDep, requested: str | None) -> str:
    settings = container.settings
    if requested is None:
        return settings.default_generator
    if requested == "offline":
        return "offline"
    if requested == "openai" or requested.startswith("openai:"):
        if not settings.llm_configured:
            raise ApiError(
                422,
                "No LLM is configured",
                "user_fixable",
                ["Set OPENAI_API_KEY and/or OPENAI_BASE_URL, or use the offline generator"],
            )
        return requested if ":" in requested else f"openai:{settings.openai_model}"
    raise ApiError(
        422, f"Unknown generator '{requested}'", "user_fixable", ["Use offline or openai"]
    )


def _checked_generator(container: ContainerDep, body: ProcessRequest | None) -> str:
    """The generator the request asks for (or the default), once it answers."""
    generator = _generator_name(container, body.generator if body else None)
    try:
        container.drafter_for(generator).check_health()
    except DrafterUnavailable as exc:
        raise ApiError(
            503,
            f"The LLM is not reachable: {exc}",
            "temporary",
            ["Check OPENAI_BASE_URL / OPENAI_API_KEY and try again, or use the offline generator"],
            headers={"Retry-After": "30"},
        ) from exc
    return generator


def _generation_started(
    session_id: UUID,
    task_id: UUID,
    already: bool,
    generator: str,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
    position: int | None,
) -> dict[str, Any]:
    settle(container, response, position)
    response.status_code = status.HTTP_202_ACCEPTED
    doc = session_doc(container, session_id, user)
    return {
        "task_id": str(task_id),
        "already_running": already,
        "generator": generator,
        "status_url": f"/api/sessions/{session_id}/process/status",
        "status": container.views.sessions.process_status(doc),
    }


def _start_generation(
    session_id: UUID,
    body: ProcessRequest | None,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
    retry: bool,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    generator = _checked_generator(container, body)
    task_id, already, result = container.app.request_generation(
        session_id, generator, user, retry=retry
    )
    return _generation_started(
        session_id, task_id, already, generator, container, user, response, result.position
    )


GENERATION_ERRORS = documented(404, 409, 422, 503)


@router.post(
    "/{session_id}/process",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ProcessStarted,
    response_model_exclude_unset=True,
    responses=GENERATION_ERRORS,
)
def start_processing(
    session_id: UUID,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
    body: ProcessRequest | None = None,
) -> dict[str, Any]:
    return _start_generation(session_id, body, container, user, response, retry=False)


@router.post(
    "/{session_id}/process/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ProcessStarted,
    response_model_exclude_unset=True,
    responses=GENERATION_ERRORS,
)
def retry_processing(
    session_id: UUID,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
    body: ProcessRequest | None = None,
) -> dict[str, Any]:
    return _start_generation(session_id, body, container, user, response, retry=True)


@router.post(
    "/{session_id}/tickets/{ticket_id}/redraft",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ProcessStarted,
    response_model_exclude_unset=True,
    responses=GENERATION_ERRORS,
)
def redraft_ticket(
    session_id: UUID,
    ticket_id: UUID,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
    body: ProcessRequest | None = None,
) -> dict[str, Any]:
    """Draft the ticket again, by a generation run (as `process` does): its text, a
    person's edits included, is replaced and its source_changed flag goes; its place,
    dependencies, assignee, sprint, priority and labels stay. 409 while generation or an
    export runs, or for an obsolete ticket."""
    session_doc(container, session_id, user)
    generator = _checked_generator(container, body)
    task_id, result = container.app.request_redraft(session_id, ticket_id, generator, user)
    return _generation_started(
        session_id, task_id, False, generator, container, user, response, result.position
    )


@router.post(
    "/{session_id}/process/cancel",
    response_model=ProcessStatus,
    response_model_exclude_unset=True,
    responses=documented(404, 409),
)
def cancel_processing(
    session_id: UUID,
    container: ContainerDep,
    views: ViewsDep,
    user: CurrentUser,
    response: Response,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    result = container.app.cancel_generation(session_id, user)
    settle(container, response, result.position)
    return views.sessions.process_status(session_doc(container, session_id, user))


@router.get(
    "/{session_id}/process/status",
    response_model=ProcessStatus,
    response_model_exclude_unset=True,
    responses=SESSION_ERRORS,
)
def processing_status(
    session_id: UUID, container: ContainerDep, views: ViewsDep, user: CurrentUser, _: SessionsRead
) -> dict[str, Any]:
    return views.sessions.process_status(session_doc(container, session_id, user))
