"""Values the Jira client takes and returns, decoupled from Jira's JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JsonObject = dict[str, Any]


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _name(value: object) -> str | None:
    """The `name` of a Jira reference object (`{"name": ...}`), or None."""
    if isinstance(value, Mapping) and value.get("name") is not None:
        return str(value["name"])
    return None


def parse_jira_datetime(value: str) -> datetime:
    """Jira writes `2024-01-15T10:30:00.000+0000`; fromisoformat wants `+00:00`."""
    text = value.strip()
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


CLOUD = "cloud"
DATACENTER = "datacenter"
FLAVORS = (CLOUD, DATACENTER)


@dataclass(frozen=True)
class JiraUser:
    """`account_id` is Cloud's accountId; on Data Center (no accountIds) the username
    (`name`), which is how Data Center names a user in an assignee or a JQL clause."""

    account_id: str
    display_name: str
    email: str | None = None
    active: bool = True
    time_zone: str | None = None  # IANA name; Jira reads this user's JQL dates in it

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> JiraUser:
        email = raw.get("emailAddress")
        zone = raw.get("timeZone")
        return cls(
            account_id=_str(raw.get("accountId") or raw.get("name")),
            display_name=_str(raw.get("displayName")),
            email=str(email) if email else None,
            active=bool(raw.get("active", True)),
            time_zone=str(zone) if zone else None,
        )


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    subtask: bool = False
    hierarchy_level: int = 0

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> IssueType:
        return cls(
            id=_str(raw.get("id")),
            name=_str(raw.get("name")),
            subtask=bool(raw.get("subtask", False)),
            hierarchy_level=int(raw.get("hierarchyLevel") or 0),
        )


@dataclass(frozen=True)
class JiraProject:
    id: str
    key: str
    name: str
    issue_types: tuple[IssueType, ...] = ()

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> JiraProject:
        return cls(
            id=_str(raw.get("id")),
            key=_str(raw.get("key")),
            name=_str(raw.get("name")),
            issue_types=tuple(IssueType.from_json(t) for t in raw.get("issueTypes") or ()),
        )


@dataclass(frozen=True)
class FieldMeta:
    """One field of the create screen for an issue type (createmeta)."""

    field_id: str
    name: str
    required: bool
    has_default_value: bool = False
    schema_type: str = ""
    custom: str | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FieldMeta:
        schema = raw.get("schema") or {}
        custom = schema.get("custom")
        return cls(
            field_id=_str(raw.get("fieldId") or raw.get("key")),
            name=_str(raw.get("name")),
            required=bool(raw.get("required", False)),
            has_default_value=bool(raw.get("hasDefaultValue", False)),
            schema_type=_str(schema.get("type")),
            custom=str(custom) if custom else None,
        )


@dataclass(frozen=True)
class JiraField:
    """One field of the site (`GET /field`): `custom` is the custom field's type key,
    e.g. `com.pyxis.greenhopper.jira:gh-epic-link` for Data Center's Epic Link."""

    id: str
    name: str
    custom: str | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> JiraField:
        schema = raw.get("schema") or {}
        custom = schema.get("custom") if isinstance(schema, Mapping) else None
        return cls(id=_str(raw.get("id")), name=_str(raw.get("name")), custom=custom or None)


@dataclass(frozen=True)
class Priority:
    id: str
    name: str
    is_default: bool = False

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Priority:
        return cls(
            id=_str(raw.get("id")),
            name=_str(raw.get("name")),
            is_default=bool(raw.get("isDefault", False)),
        )


@dataclass(frozen=True)
class LinkType:
    """`inward`/`outward` are the phrases: for "Blocks", "is blocked by" / "blocks"."""

    id: str
    name: str
    inward: str
    outward: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> LinkType:
        return cls(
            id=_str(raw.get("id")),
            name=_str(raw.get("name")),
            inward=_str(raw.get("inward")),
            outward=_str(raw.get("outward")),
        )


@dataclass(frozen=True)
class Board:
    id: int
    name: str
    type: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Board:
        return cls(id=int(raw["id"]), name=_str(raw.get("name")), type=_str(raw.get("type")))


@dataclass(frozen=True)
class Sprint:
    id: int
    name: str
    state: str
    board_id: int | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Sprint:
        board = raw.get("originBoardId")
        return cls(
            id=int(raw["id"]),
            name=_str(raw.get("name")),
            state=_str(raw.get("state")),
            board_id=int(board) if board is not None else None,
        )


@dataclass(frozen=True)
class CreatedIssue:
    id: str
    key: str
    self_url: str
    browse_url: str


@dataclass(frozen=True)
class Attachment:
    id: str
    filename: str
    size: int
    mime_type: str
    content_url: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Attachment:
        return cls(
            id=_str(raw.get("id")),
            filename=_str(raw.get("filename")),
            size=int(raw.get("size") or 0),
            mime_type=_str(raw.get("mimeType")),
            content_url=_str(raw.get("content")),
        )


@dataclass(frozen=True)
class FoundIssue:
    """An issue as search or GET issue returned it: only the fields asked for."""

    id: str
    key: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FoundIssue:
        return cls(id=_str(raw.get("id")), key=_str(raw.get("key")), fields=raw.get("fields") or {})

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(str(label) for label in self.fields.get("labels") or ())


@dataclass(frozen=True)
class IssueSnapshot:
    """Where the work on an exported issue stands (sync back)."""

    key: str
    status: str
    status_category: str
    assignee: JiraUser | None
    resolution: str | None
    updated: datetime | None

    @classmethod
    def from_issue(cls, issue: FoundIssue) -> IssueSnapshot:
        fields = issue.fields
        status = fields.get("status") or {}
        category = status.get("statusCategory") or {}
        assignee = fields.get("assignee")
        updated = fields.get("updated")
        return cls(
            key=issue.key,
            status=_str(status.get("name")),
            status_category=_str(category.get("key")),
            assignee=JiraUser.from_json(assignee) if isinstance(assignee, Mapping) else None,
            resolution=_name(fields.get("resolution")),
            updated=parse_jira_datetime(updated) if isinstance(updated, str) else None,
        )


@dataclass(frozen=True)
class NewIssue:
    """One issue to create.

    `description` is an ADF document (Cloud) or Jira wiki markup (Data Center).
    `issue_type` is a name ("Task") unless `issue_type_id` is given. `extra_fields`
    carries anything else by field id (e.g. the sprint custom field:
    `{"customfield_10020": 7}`, Data Center's Epic Link). `properties` are stored on
    the issue at creation (entity properties, readable by key).
    """

    project_key: str
    summary: str
    issue_type: str = "Task"
    issue_type_id: str | None = None
    description: Mapping[str, Any] | str | None = None
    labels: tuple[str, ...] = ()
    assignee_account_id: str | None = None
    priority: str | None = None
    parent_key: str | None = None
    extra_fields: Mapping[str, Any] = field(default_factory=dict)
    properties: Mapping[str, Any] = field(default_factory=dict)

    def to_payload(self, flavor: str = CLOUD) -> JsonObject:
        """The create body: on Data Center the assignee is named by username (`name`)."""
        fields: JsonObject = {
            "project": {"key": self.project_key},
            "summary": self.summary,
            "issuetype": {"id": self.issue_type_id}
            if self.issue_type_id
            else {"name": self.issue_type},
        }
        if isinstance(self.description, str):
            fields["description"] = self.description
        elif self.description is not None:
            fields["description"] = dict(self.description)
        if self.labels:
            fields["labels"] = list(self.labels)
        if self.assignee_account_id:
            key = "name" if flavor == DATACENTER else "accountId"
            fields["assignee"] = {key: self.assignee_account_id}
        if self.priority:
            fields["priority"] = {"name": self.priority}
        if self.parent_key:
            fields["parent"] = {"key": self.parent_key}
        fields.update(self.extra_fields)
        payload: JsonObject = {"fields": fields}
        if self.properties:
            payload["properties"] = [{"key": k, "value": v} for k, v in self.properties.items()]
        return payload


@dataclass(frozen=True)
class BulkFailure:
    """One element of a bulk create that Jira refused, by its index in the input."""

    index: int
    status: int
    field_errors: Mapping[str, str] = field(default_factory=dict)
    error_messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class BulkCreateResult:
    """Bulk create outcome keyed by the index of each input issue."""

    created: Mapping[int, CreatedIssue]
    failed: Mapping[int, BulkFailure]
