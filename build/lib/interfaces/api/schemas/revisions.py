"""Answers about the revisions of a session's inventory."""

from __future__ import annotations

from pydantic import Field

from interfaces.api.schemas.common import Answer, Timestamp


class RevisionSummary(Answer):
    number: int
    actor: str
    at: Timestamp
    added: int
    changed: int
    removed: int


class RevisionList(Answer):
    items: list[RevisionSummary]


class RevisionEntity(Answer):
    config_name: str
    kind: str
    group: str
    label: str
    attributes: dict[str, str]
    depends_on: list[str]
    source_file: str
    source_row: int


class EntityChangeOut(Answer):
    entity: RevisionEntity = Field(description="The entity as the revision left it")
    changes: dict[str, list[str]] = Field(description="attribute -> [old, new]")


class RevisionDetail(Answer):
    number: int
    actor: str
    at: Timestamp
    added: list[RevisionEntity]
    changed: list[EntityChangeOut]
    removed: list[RevisionEntity] = Field(description="The entities as they were")
