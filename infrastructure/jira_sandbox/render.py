"""Stored rows as Jira's JSON: Cloud's (shapes from the platform v3 OpenAPI spec) or, for
the Data Center flavour, REST v2's (users by `name`/`key`, no accountId)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from infrastructure.jira_sandbox.store import (
    CLOUD,
    DATACENTER,
    ENVIRONMENT_FIELD,
    EPIC_LINK_FIELD,
    EPIC_NAME_FIELD,
    ISSUE_TYPES,
    PERMISSIONS,
    RESOLUTIONS,
    SPRINT_FIELD,
    STATUSES,
    AttachmentRow,
    BoardRow,
    CommentRow,
    IssueRow,
    IssueTypeDef,
    LinkTypeRow,
    LinkView,
    PriorityRow,
    ProjectRow,
    SandboxStore,
    SprintRow,
    StatusDef,
    UserRow,
)

Json = dict[str, Any]

ISSUE_FIELDS = frozenset(
    {
        "summary", "issuetype", "project", "description", "labels", "assignee", "reporter",
        "priority", "status", "resolution", "created", "updated", "parent", "issuelinks",
        "attachment", SPRINT_FIELD, ENVIRONMENT_FIELD, EPIC_LINK_FIELD, EPIC_NAME_FIELD,
    }
)  # fmt: skip


def jira_time(epoch_ms: int) -> str:
    """Jira's timestamp format: `2024-01-15T10:30:00.000+0000`."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}+0000"


def select_fields(requested: Iterable[str] | None, *, default_all: bool) -> frozenset[str]:
    """Jira's `fields` parameter: names, `*all`, `*navigable`, `-name` to exclude."""
    names = [n.strip() for item in requested or () for n in item.split(",") if n.strip()]
    if not names:
        return ISSUE_FIELDS if default_all else frozenset()
    chosen: set[str] = set()
    for name in names:
        if name in ("*all", "*navigable"):
            chosen |= ISSUE_FIELDS
        elif not name.startswith("-") and name in ISSUE_FIELDS:
            chosen.add(name)
    return frozenset(chosen - {n[1:] for n in names if n.startswith("-")})


class Renderer:
    """Renders for one request: `self` URLs point at the base URL the client used."""

    def __init__(
        self, store: SandboxStore, base_url: str, time_zone: str = "UTC", flavor: str = CLOUD
    ) -> None:
        self.store = store
        self.time_zone = time_zone
        self.flavor = flavor
        self.base = base_url.rstrip("/")
        self.api = f"{self.base}/rest/api/{2 if flavor == DATACENTER else 3}"

    def avatars(self, seed: str) -> Json:
        return {
            s: f"{self.base}/avatars/{seed}?size={s[:2]}"
            for s in ("16x16", "24x24", "32x32", "48x48")
        }

    def user(self, user: UserRow) -> Json:
        if self.flavor == DATACENTER:
            return {
                "self": f"{self.api}/user?username={quote(user.name)}",
                "key": user.key,
                "name": user.name,
                "emailAddress": user.email,
                "displayName": user.display_name,
                "active": user.active,
                "deleted": False,
                "timeZone": self.time_zone,
                "locale": "en_US",
                "avatarUrls": self.avatars(user.name),
            }
        return {
            "self": f"{self.api}/user?accountId={quote(user.account_id)}",
            "accountId": user.account_id,
            "accountType": "atlassian",
            "emailAddress": user.email,
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": self.time_zone,
            "avatarUrls": self.avatars(user.account_id),
        }

    def user_by_id(self, account_id: str | None) -> Json | None:
        user = self.store.user(account_id) if account_id else None
        return self.user(user) if user else None

    def issue_type(self, issue_type: IssueTypeDef) -> Json:
        return {
            "self": f"{self.api}/issuetype/{issue_type.id}",
            "id": issue_type.id,
            "name": issue_type.name,
            "description": issue_type.description,
            "iconUrl": f"{self.base}/images/icons/issuetypes/{issue_type.name.lower()}.svg",
            "subtask": False,
            "hierarchyLevel": issue_type.hierarchy_level,
        }

    def project(self, project: ProjectRow, *, full: bool = False) -> Json:
        body: Json = {
            "self": f"{self.api}/project/{project.id}",
            "id": project.id,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
            "simplified": False,
            "avatarUrls": self.avatars(project.key),
        }
        if full:
            body |= {
                "description": f"The {project.name} of the ticketforge Jira sandbox.",
                "lead": self.user_by_id(project.lead),
                "issueTypes": [self.issue_type(t) for t in ISSUE_TYPES],
                "assigneeType": "UNASSIGNED",
                "components": [],
                "versions": [],
                "roles": {},
                "style": "classic",
                "isPrivate": False,
                "properties": {},
            }
        return body

    def priority(self, priority: PriorityRow) -> Json:
        return {
            "self": f"{self.api}/priority/{priority.id}",
            "id": priority.id,
            "name": priority.name,
            "description": priority.description,
            "statusColor": priority.color,
            "iconUrl": f"{self.base}/images/icons/priorities/{priority.name.lower()}.svg",
            "isDefault": priority.is_default,
        }

    def status(self, status: StatusDef) -> Json:
        return {
            "self": f"{self.api}/status/{status.id}",
            "id": status.id,
            "name": status.name,
            "description": "",
            "iconUrl": f"{self.base}/images/icons/statuses/generic.png",
            "statusCategory": {
                "self": f"{self.api}/statuscategory/{status.category_id}",
                "id": status.category_id,
                "key": status.category_key,
                "colorName": status.color,
                "name": status.category_name,
            },
        }

    def link_type(self, link_type: LinkTypeRow) -> Json:
        return {
            "self": f"{self.api}/issueLinkType/{link_type.id}",
            "id": link_type.id,
            "name": link_type.name,
            "inward": link_type.inward,
            "outward": link_type.outward,
        }

    def attachment(self, attachment: AttachmentRow) -> Json:
        return {
            "self": f"{self.api}/attachment/{attachment.id}",
            "id": str(attachment.id),
            "filename": attachment.filename,
            "author": self.user_by_id(attachment.author),
            "created": jira_time(attachment.created),
            "size": attachment.size,
            "mimeType": attachment.mime_type,
            "content": f"{self.api}/attachment/content/{attachment.id}",
        }

    def board(self, board: BoardRow, project: ProjectRow) -> Json:
        return {
            "id": board.id,
            "self": f"{self.base}/rest/agile/1.0/board/{board.id}",
            "name": board.name,
            "type": "scrum",
            "location": {
                "projectId": int(project.id),
                "projectKey": project.key,
                "projectName": project.name,
                "displayName": f"{project.name} ({project.key})",
                "projectTypeKey": "software",
            },
        }

    def sprint(self, sprint: SprintRow) -> Json:
        return {
            "id": sprint.id,
            "self": f"{self.base}/rest/agile/1.0/sprint/{sprint.id}",
            "state": sprint.state,
            "name": sprint.name,
            "originBoardId": sprint.board_id,
            "goal": "",
        }

    def issue_ref(self, issue: IssueRow) -> Json:
        status = _status(issue.status_id)
        return {
            "id": str(issue.id),
            "key": issue.key,
            "self": f"{self.api}/issue/{issue.id}",
            "fields": {
                "summary": issue.summary,
                "status": self.status(status),
                "issuetype": self.issue_type(_issue_type(issue.issue_type_id)),
            },
        }

    def comment(self, comment: CommentRow) -> Json:
        author = self.store.user(comment.author)
        return {
            "self": f"{self.api}/issue/{comment.issue_id}/comment/{comment.id}",
            "id": str(comment.id),
            "author": self.user(author) if author else None,
            "body": comment.body,
            "created": jira_time(comment.created),
            "updated": jira_time(comment.created),
        }

    def issue_link(self, link: LinkView) -> Json:
        side = "outwardIssue" if link.other_is_outward else "inwardIssue"
        return {
            "id": str(link.id),
            "self": f"{self.api}/issueLink/{link.id}",
            "type": self.link_type(link.type),
            side: self.issue_ref(link.other),
        }

    def issue(self, issue: IssueRow, wanted: frozenset[str]) -> Json:
        values = {name: self._field(issue, name) for name in sorted(wanted)}
        body: Json = {"id": str(issue.id), "key": issue.key, "self": f"{self.api}/issue/{issue.id}"}
        if wanted:
            body["fields"] = values
        return body

    def _field(self, issue: IssueRow, name: str) -> Any:
        match name:
            case "summary":
                return issue.summary
            case "description":
                return issue.description
            case "labels":
                return list(issue.labels)
            case "issuetype":
                return self.issue_type(_issue_type(issue.issue_type_id))
            case "project":
                project = self.store.project(issue.project_key)
                return self.project(project) if project else None
            case "assignee":
                return self.user_by_id(issue.assignee)
            case "reporter":
                return self.user_by_id(issue.reporter)
            case "priority":
                priority = next(p for p in self.store.priorities() if p.id == issue.priority_id)
                return self.priority(priority)
            case "status":
                return self.status(_status(issue.status_id))
            case "resolution":
                return self.resolution(issue.resolution)
            case "created":
                return jira_time(issue.created)
            case "updated":
                return jira_time(issue.updated)
            case "parent":
                parent = self.store.issue(issue.parent_id) if issue.parent_id else None
                return self.issue_ref(parent) if parent else None
            case "issuelinks":
                return [self.issue_link(link) for link in self.store.links_of(issue.id)]
            case "attachment":
                return [self.attachment(a) for a in self.store.attachments(issue.id)]
            case "customfield_10020":
                sprint = self.store.sprint(issue.sprint_id) if issue.sprint_id else None
                return [self.sprint(sprint) | {"boardId": sprint.board_id}] if sprint else None
            case _:
                return issue.custom_fields.get(name)

    def resolution(self, name: str | None) -> Json | None:
        if name is None:
            return None
        resolution_id = RESOLUTIONS.get(name, "10000")
        return {
            "self": f"{self.api}/resolution/{resolution_id}",
            "id": resolution_id,
            "name": name,
            "description": f"Work on this issue is {name.lower()}.",
        }

    def permissions(self, granted: set[str], keys: Sequence[str]) -> Json:
        return {
            "permissions": {
                key: {
                    "id": PERMISSIONS[key][0],
                    "key": key,
                    "name": PERMISSIONS[key][1],
                    "type": "PROJECT",
                    "description": f"Ability to {PERMISSIONS[key][1].lower()}.",
                    "havePermission": key in granted,
                }
                for key in keys
            }
        }


def _status(status_id: str) -> StatusDef:
    return next(s for s in STATUSES if s.id == status_id)


def _issue_type(issue_type_id: str) -> IssueTypeDef:
    return next(t for t in ISSUE_TYPES if t.id == issue_type_id)
