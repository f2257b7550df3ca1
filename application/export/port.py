"""What the export needs from Jira. `infrastructure.jira.JiraClient` implements it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from application.export.jira_types import (
    Attachment,
    Board,
    BulkCreateResult,
    CreatedIssue,
    FieldMeta,
    FoundIssue,
    IssueSnapshot,
    IssueType,
    JiraField,
    JiraProject,
    JiraUser,
    LinkType,
    NewIssue,
    Priority,
    Sprint,
)


class JiraGateway(Protocol):
    @property
    def flavor(self) -> str:
        """`cloud` (REST v3, ADF descriptions) or `datacenter` (REST v2, wiki markup)."""
        ...

    def browse_url(self, key: str) -> str: ...

    def myself(self) -> JiraUser: ...

    def my_permissions(
        self, project_key: str, permissions: Sequence[str] = ...
    ) -> dict[str, bool]: ...

    def get_project(self, project_key: str) -> JiraProject: ...

    def get_issue_types(self, project_key: str) -> list[IssueType]: ...

    def get_create_fields(self, project_key: str, issue_type_id: str) -> list[FieldMeta]: ...

    def get_priorities(self) -> list[Priority]: ...

    def get_fields(self) -> list[JiraField]: ...

    def get_link_types(self) -> list[LinkType]: ...

    def find_assignable_users(
        self, project_key: str, query: str = "", max_results: int = 50
    ) -> list[JiraUser]: ...

    def get_boards(self, project_key: str) -> list[Board]: ...

    def get_sprints(self, board_id: int, states: Sequence[str] = ...) -> list[Sprint]: ...

    def create_issue(self, issue: NewIssue) -> CreatedIssue: ...

    def create_issues(self, issues: Sequence[NewIssue]) -> BulkCreateResult: ...

    def add_attachment(
        self, issue_key: str, filename: str, content: bytes, media_type: str = ...
    ) -> list[Attachment]: ...

    def link_blocks(self, blocker_key: str, blocked_key: str) -> None: ...

    def update_issue(
        self,
        issue_key: str,
        fields: Mapping[str, Any],
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
    ) -> None: ...

    def delete_link(self, link_id: str, issue_keys: Sequence[str] = ()) -> None: ...

    def add_comment(self, issue_key: str, body: Mapping[str, Any] | str) -> str: ...

    def get_comments(self, issue_key: str) -> list[Mapping[str, Any]]: ...

    def move_issues_to_sprint(self, sprint_id: int, issue_keys: Sequence[str]) -> None: ...

    def iter_search(
        self,
        jql: str,
        fields: Sequence[str] = ...,
        page_size: int = 50,
        reconcile: Sequence[str] = (),
    ) -> Iterator[FoundIssue]: ...

    def search(
        self,
        jql: str,
        fields: Sequence[str] = ...,
        page_size: int = 50,
        reconcile: Sequence[str] = (),
    ) -> list[FoundIssue]: ...

    def search_snapshots(
        self, jql: str, page_size: int = 100, reconcile: Sequence[str] = ()
    ) -> Iterator[IssueSnapshot]: ...

    def get_issue(self, issue_key: str, fields: Sequence[str] = ...) -> FoundIssue: ...

    def close(self) -> None: ...


def jql_quote(value: str) -> str:
    """A JQL string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def jql_date(moment: datetime, time_zone: str | None) -> str:
    """`moment` as a JQL date literal in the user's time zone (Jira Cloud reads JQL dates
    in the zone of the user who searches; an unknown zone falls back to UTC)."""
    try:
        zone: tzinfo = ZoneInfo(time_zone) if time_zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return jql_quote(moment.astimezone(zone).strftime("%Y-%m-%d %H:%M"))
