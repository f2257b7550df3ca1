"""Field types the answers share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

# Kept as the read models wrote them (pydantic would re-format a datetime or a UUID).
Id = Annotated[str, Field(json_schema_extra={"format": "uuid"})]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Answer(BaseModel):
    """Base of every answer model."""
