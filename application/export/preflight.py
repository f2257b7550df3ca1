"""Pre-flight: everything about the Jira project that can be checked before creating anything."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from application.export.jira_errors import JiraError
from application.export.port import JiraGateway

REQUIRED_PERMISSIONS = ("CREATE_ISSUES", "CREATE_ATTACHMENTS", "LINK_ISSUES")
FIELDS_WE_SET = {"summary", "issuetype", "project", "description", "labels", "reporter"}


@dataclass
class Preflight:
    """What the export run needs to know, and the reasons it cannot start, if any."""

    project_key: str
    issue_type: str
    issue_type_id: str | None = None
    problems: list[str] = field(default_factory=list)
    category: str = "admin_required"
    warnings: list[str] = field(default_factory=list)
    blocks_link_type: bool = True
    priorities: set[str] = field(default_factory=set)
    sprints: dict[str, int] = field(default_factory=dict)
    assignees: dict[str, str | None] = field(default_factory=dict)
    account: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "project_key": self.project_key,
            "issue_type": self.issue_type,
            "issue_type_id": self.issue_type_id,
            "problems": self.problems,
            "warnings": self.warnings,
            "blocks_link_type": self.blocks_link_type,
            "priorities": sorted(self.priorities),
            "sprints": sorted(self.sprints),
            "assignees": self.assignees,
            "account": self.account,
        }


def run_preflight(
    jira: JiraGateway,
    project_key: str,
    issue_type: str,
    *,
    assignees: Iterable[str] = (),
    sprints: Iterable[str] = (),
) -> Preflight:
    """Check credentials, permissions, issue type and its required fields, link types,
    priorities, sprints and assignees. Auth and network errors propagate (they stop
    the export); everything else becomes a problem or a warning."""
    result = Preflight(project_key=project_key, issue_type=issue_type)
    me = jira.myself()
    result.account = me.email or me.display_name
    project = jira.get_project(project_key)
    granted = jira.my_permissions(project_key, REQUIRED_PERMISSIONS)
    missing = [p for p in REQUIRED_PERMISSIONS if not granted.get(p)]
    if missing:
        result.problems.append(
            f"The Jira account lacks permission(s) {', '.join(missing)} in project {project.key}"
        )
    types = jira.get_issue_types(project_key)
    chosen = next((t for t in types if t.name.lower() == issue_type.lower()), None)
    if chosen is None:
        result.problems.append(
            f"Issue type '{issue_type}' does not exist in {project.key} "
            f"(available: {', '.join(t.name for t in types)})"
        )
    else:
        result.issue_type_id = chosen.id
        required = [
            f.name
            for f in jira.get_create_fields(project_key, chosen.id)
            if f.required and not f.has_default_value and f.field_id not in FIELDS_WE_SET
        ]
        if required:
            result.problems.append(
                f"Issue type '{issue_type}' requires fields ticketforge does not fill: "
                f"{', '.join(required)}"
            )
    link_types = {t.name.lower() for t in jira.get_link_types()}
    if "blocks" not in link_types:
        result.blocks_link_type = False
        result.warnings.append(
            "The 'Blocks' link type is missing: dependencies will be recorded as manual fixes"
        )
    result.priorities = {p.name for p in jira.get_priorities()}
    wanted_sprints = {s for s in sprints if s}
    if wanted_sprints:
        try:
            for board in jira.get_boards(project_key):
                for sprint in jira.get_sprints(board.id):
                    result.sprints.setdefault(sprint.name, sprint.id)
        except JiraError as exc:
            if exc.category == "admin_required" and exc.status == 401:
                raise
            result.warnings.append(f"Sprints could not be read: {exc}")
        for name in sorted(wanted_sprints - set(result.sprints)):
            result.warnings.append(f"Sprint '{name}' not found: its tickets go to the backlog")
    for person in sorted({a for a in assignees if a}):
        result.assignees[person] = resolve_assignee(jira, project_key, person)
        if result.assignees[person] is None:
            result.warnings.append(f"Assignee '{person}' is not assignable in {project.key}")
    return result


def resolve_assignee(jira: JiraGateway, project_key: str, person: str) -> str | None:
    """An email or an accountId -> the accountId of an assignable, active user."""
    for user in jira.find_assignable_users(project_key, person):
        if not user.active:
            continue
        if user.account_id == person or (user.email or "").lower() == person.lower():
            return user.account_id
    return None
