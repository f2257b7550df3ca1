"""Sessions: create, list, detail, inventory upload, ticket generation."""

from __future__ import annotations

from typing import Annotated, Any
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
    session_doc,
    settle,
)
from interfaces.api.errors import ApiError
from projections import sessions as sessions_view
from projections import tickets as tickets_view

router = APIRouter(prefix="/api/sessions", tags=["sessions"])

JIRA_KEY_PATTERN = r"^[A-Z][A-Z0-9_]{1,9}$"


class SiteContext(BaseModel):
    site_name: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    audience: str = Field("", max_length=1000)


class SessionCreate(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    site_context: SiteContext
    jira_project_key: str = Field(..., pattern=JIRA_KEY_PATTERN)
    issue_type: str = Field("Task", min_length=1, max_length=100)
    default_labels: list[str] = Field(default_factory=list, max_length=20)
    epic_key: str | None = Field(None, pattern=r"^[A-Z][A-Z0-9_]{1,9}-\d+$")


class ProcessRequest(BaseModel):
    generator: str | None = Field(
        None, description="`offline`, or `openai` / `openai:<model>`; default from settings"
    )


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return sessions_view.public_view(doc)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_session(
    body: SessionCreate, container: ContainerDep, user: CurrentUser, response: Response
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
        user=user,
    )
    settle(container, response, result.position)
    response.headers["Location"] = f"/api/sessions/{result.session_id}"
    return _public(session_doc(container, result.session_id, user))


@router.get("")
def list_sessions(
    container: ContainerDep,
    user: CurrentUser,
    _: SessionsRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    owner = None if user.is_admin else user.name
    docs = container.store.list(sessions_view.TABLE, owner=owner, limit=limit, offset=offset)
    total = container.store.count(sessions_view.TABLE, owner=owner)
    return {"sessions": [_public(d) for d in docs], "total": total}


@router.get("/{session_id}")
def get_session(
    session_id: UUID, container: ContainerDep, user: CurrentUser, _: SessionsRead
) -> dict[str, Any]:
    return _public(session_doc(container, session_id, user))


@router.post("/{session_id}/files", status_code=status.HTTP_201_CREATED)
def upload_files(
    session_id: UUID,
    files: Annotated[list[UploadFile], File(description="CSV files, config YAML files or a zip")],
    container: ContainerDep,
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
    parsed = parse_inventory(uploaded)
    result = container.app.upload_inventory(session_id, parsed, user)
    settle(container, response, result.position)
    return {
        "session_id": str(session_id),
        "files": parsed.files,
        "entities": len(parsed.entities),
        "warnings": parsed.warnings,
        "session": _public(session_doc(container, session_id, user)),
    }


@router.get("/{session_id}/entities")
def list_entities(
    session_id: UUID, container: ContainerDep, user: CurrentUser, _: SessionAndTicketsRead
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    rows = container.store.list(tickets_view.ENTITIES, partition=str(session_id))
    return {"entities": rows, "total": len(rows)}


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


def _start_generation(
    session_id: UUID,
    body: ProcessRequest | None,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
    retry: bool,
) -> dict[str, Any]:
    session_doc(container, session_id, user)
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
    task_id, already, result = container.app.request_generation(
        session_id, generator, user, retry=retry
    )
    settle(container, response, result.position)
    response.status_code = status.HTTP_202_ACCEPTED
    doc = session_doc(container, session_id, user)
    return {
        "task_id": str(task_id),
        "already_running": already,
        "generator": generator,
        "status_url": f"/api/sessions/{session_id}/process/status",
        "status": _process_status(doc),
    }


@router.post("/{session_id}/process", status_code=status.HTTP_202_ACCEPTED)
def start_processing(
    session_id: UUID,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
    body: ProcessRequest | None = None,
) -> dict[str, Any]:
    return _start_generation(session_id, body, container, user, response, retry=False)


@router.post("/{session_id}/process/retry", status_code=status.HTTP_202_ACCEPTED)
def retry_processing(
    session_id: UUID,
    container: ContainerDep,
    user: CurrentUser,
    response: Response,
    body: ProcessRequest | None = None,
) -> dict[str, Any]:
    return _start_generation(session_id, body, container, user, response, retry=True)


@router.post("/{session_id}/process/cancel")
def cancel_processing(
    session_id: UUID, container: ContainerDep, user: CurrentUser, response: Response
) -> dict[str, Any]:
    session_doc(container, session_id, user)
    result = container.app.cancel_generation(session_id, user)
    settle(container, response, result.position)
    return _process_status(session_doc(container, session_id, user))


def _process_status(doc: dict[str, Any]) -> dict[str, Any]:
    run = doc.get("generation")
    if run is None:
        return {"stage": doc["stage"], "task_id": None, "status": "not_started", "percentage": 0.0}
    finished = run["generated"] + run["failed"]
    percentage = 100.0 * finished / run["total"] if run["total"] else 0.0
    if run["status"] == "completed":
        percentage = 100.0
    return {
        "stage": doc["stage"],
        "task_id": run["task_id"],
        "status": run["status"],
        "generator": run["generator"],
        "attempt": run["attempt"],
        "retries_left": max(0, 3 - doc["generation_retries"]),
        "percentage": round(percentage, 1),
        "total": run["total"],
        "generated": run["generated"],
        "failed": run["failed"],
        "errors": run["errors"],
        "tokens": doc["tokens"],
        "requested_at": run["requested_at"],
        "started_at": run["started_at"],
        "finished_at": run["finished_at"],
    }


@router.get("/{session_id}/process/status")
def processing_status(
    session_id: UUID, container: ContainerDep, user: CurrentUser, _: SessionsRead
) -> dict[str, Any]:
    return _process_status(session_doc(container, session_id, user))
