"""Answers about the caller and about a previewed ticket document."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from interfaces.api.schemas.common import Answer


class Me(Answer):
    name: str
    is_admin: bool


class AdfPreviewOut(Answer):
    summary: str = Field(description="The Jira summary (the title, shortened to Jira's limit)")
    adf: dict[str, Any] = Field(description="The description as Atlassian Document Format")
    attachment: str | None = Field(
        None, description="Over Jira's description limit: the Markdown attachment's file name"
    )
    status: str = Field(description="passed | failed: the pre-export check")
    error_message: str | None
    suggested_fix: str | None
    adf_size_bytes: int | None
