"""Who the bearer token belongs to, and the ADF a ticket's text becomes (for previews)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from application.adf import build_ticket_document, check_ticket
from interfaces.api.deps import CurrentUser
from interfaces.api.errors import documented
from interfaces.api.schemas.account import AdfPreviewOut, Me

router = APIRouter(prefix="/api", tags=["account"], responses=documented(401))


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> dict[str, Any]:
    """The user the token authenticates, and whether the admin routes are open to them."""
    return {"name": user.name, "is_admin": user.is_admin}


class AdfPreviewRequest(BaseModel):
    config_name: str = Field("ticket", min_length=1, max_length=255)
    title: str = Field(..., max_length=10_000)
    user_story: str = Field("", max_length=1_000_000)
    analysis: str = Field("", max_length=1_000_000)
    verification: str = Field("", max_length=1_000_000)


@router.post(
    "/adf/preview", response_model=AdfPreviewOut, tags=["tickets"], responses=documented(422)
)
def adf_preview(body: AdfPreviewRequest, _: CurrentUser) -> dict[str, Any]:
    """The summary and ADF description Jira would receive for this text, and the pre-export
    check of it (the one `adf-validation` records), without saving anything: a preview of
    an edit before it is sent."""
    args = (body.config_name, body.title, body.user_story, body.analysis, body.verification)
    document = build_ticket_document(*args)
    check = check_ticket(*args)
    return {
        "summary": document.summary,
        "adf": document.adf,
        "attachment": document.attachment.filename if document.attachment else None,
        "status": check.status,
        "error_message": check.error_message,
        "suggested_fix": check.suggested_fix,
        "adf_size_bytes": check.adf_size_bytes,
    }
