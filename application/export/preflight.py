"""Pre-flight: everything about the Jira project that can be checked before creating anything."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from application.export.jira_errors import JiraError
from application.export.jira_types import DATACENTER, IssueType
from application.export.port import JiraGateway

REQUIRED_PERMISSIONS = ("CREATE_ISSUES", "CREATE_ATTACHMENTS", "LINK_ISSUES")
R = TypeVar("R")
FIELDS_WE_SET = {"summary", "issuetype", "project", "description", "labels", "reporter"}
# Jira Software's epic fields on Data Center (their ids differ per site; their types do not).
EPIC_LINK_TYPE = "com.pyxis.greenhopper.jira:gh-epic-link"
EPIC_NAME_TYPE = "com.pyxis.greenhopper.jira:gh-epic-label"


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
    skipped: list[str] = field(default_factory=list)  # checks not needed, and why
    # epics (epic_mode per_group or existing): the Epic issue type, Data Center's Epic Link
    # and Epic Name fields; `epic_problem`: why the tickets go without epics instead
    epic_type_id: str | None = None
    epic_link_field: str | None = None
    epic_name_field: str | None = None
    epic_problem: str | None = None
    round_trips: list[float] = field(default_factory=list)  # seconds, one per request

    @property
    def latency_s(self) -> float:
        """A typical round trip to this Jira (the median of the pre-flight's requests)."""
        return statistics.median(self.round_trips) if self.round_trips else 0.0

    def timed(self, call: Callable[[], R]) -> R:
        started = time.perf_counter()
        try:
            return call()
        finally:
            self.round_trips.append(time.perf_counter() - started)

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
            "skipped": self.skipped,
            "latency_ms": round(self.latency_s * 1000, 1),
            "epic_type_id": self.epic_type_id,
            "epic_link_field": self.epic_link_field,
            "epic_problem": self.epic_problem,
        }


def run_preflight(
    jira: JiraGateway,
    project_key: str,
    issue_type: str,
    *,
    assignees: Iterable[str] = (),
    sprints: Iterable[str] = (),
    priorities: Iterable[str] | None = None,
    links: bool = True,
    edits: bool = False,
    comments: bool = False,
    epic_mode: str = "none",
) -> Preflight:
    """Check credentials, permissions, issue type and its required fields, and what the
    tickets will use: link types (when there are dependencies), priorities (when a ticket
    sets one; None: check them anyway), sprints and assignees. What is not needed is not
    asked, and named in `skipped`. Auth and network errors propagate (they stop the
    export); everything else becomes a problem or a warning."""
    result = Preflight(project_key=project_key, issue_type=issue_type)
    me = result.timed(jira.myself)
    result.account = me.email or me.display_name
    project = result.timed(lambda: jira.get_project(project_key))
    needed = [p for p in REQUIRED_PERMISSIONS if links or p != "LINK_ISSUES"]
    needed += ["EDIT_ISSUES"] if edits else []  # a re-export updates and marks issues
    needed += ["ADD_COMMENTS"] if comments else []  # ... and comments on obsolete ones
    granted = result.timed(lambda: jira.my_permissions(project_key, needed))
    missing = [p for p in needed if not granted.get(p)]
    if missing:
        result.problems.append(
            f"The Jira account lacks permission(s) {', '.join(missing)} in project {project.key}"
        )
    types = result.timed(lambda: jira.get_issue_types(project_key))
    chosen = next((t for t in types if t.name.lower() == issue_type.lower()), None)
    if chosen is None:
        result.problems.append(
            f"Issue type '{issue_type}' does not exist in {project.key} "
            f"(available: {', '.join(t.name for t in types)})"
        )
    else:
        result.issue_type_id = chosen.id
        type_id = chosen.id
        required = [
            f.name
            for f in result.timed(lambda: jira.get_create_fields(project_key, type_id))
            if f.required and not f.has_default_value and f.field_id not in FIELDS_WE_SET
        ]
        if required:
            result.problems.append(
                f"Issue type '{issue_type}' requires fields ticketforge does not fill: "
                f"{', '.join(required)}"
            )
    if epic_mode != "none":
        _check_epics(jira, result, project.key, types, epic_mode)
    else:
        result.skipped.append("epics: epic_mode is none")
    if links:
        link_types = {t.name.lower() for t in result.timed(jira.get_link_types)}
        if "blocks" not in link_types:
            result.blocks_link_type = False
            result.warnings.append(
                "The 'Blocks' link type is missing: dependencies will be recorded as manual fixes"
            )
    else:
        result.skipped.append("link types and LINK_ISSUES: no ticket has a dependency")
    _check_priorities(jira, result, priorities)
    wanted_sprints = {s for s in sprints if s}
    if wanted_sprints:
        try:
            for board in result.timed(lambda: jira.get_boards(project_key)):
                for sprint in result.timed(partial(jira.get_sprints, board.id)):
                    result.sprints.setdefault(sprint.name, sprint.id)
        except JiraError as exc:
            if exc.category == "admin_required" and exc.status == 401:
                raise
            result.warnings.append(f"Sprints could not be read: {exc}")
        for name in sorted(wanted_sprints - set(result.sprints)):
            result.warnings.append(f"Sprint '{name}' not found: its tickets go to the backlog")
    else:
        result.skipped.append("sprints: no ticket names a sprint")
    people = sorted({a for a in assignees if a})
    for person in people:
        result.assignees[person] = resolve_assignee(jira, project_key, person)
        if result.assignees[person] is None:
            result.warnings.append(f"Assignee '{person}' is not assignable in {project.key}")
    if not people:
        result.skipped.append("assignees: no ticket has an assignee")
    return result


def _check_epics(
    jira: JiraGateway, result: Preflight, project_key: str, types: list[IssueType], mode: str
) -> None:
    """What grouping under epics needs. A project that cannot have them does not stop the
    export: its tickets go without epics and a manual fix says so (`epic_problem`)."""
    problems: list[str] = []
    if jira.flavor == DATACENTER:
        try:
            fields = result.timed(jira.get_fields)
        except JiraError as exc:
            if exc.status == 401:
                raise
            fields = []
        result.epic_link_field = next((f.id for f in fields if f.custom == EPIC_LINK_TYPE), None)
        name_field = next((f.id for f in fields if f.custom == EPIC_NAME_TYPE), None)
        if result.epic_link_field is None:
            problems.append("Jira has no Epic Link field (is Jira Software installed?)")
    else:
        name_field = None
    if mode == "per_group":
        epic = next(
            (t for t in types if t.name.lower() == "epic" and not t.subtask),
            next((t for t in types if t.hierarchy_level == 1 and not t.subtask), None),
        )
        if epic is None:
            problems.append(f"Project {project_key} has no Epic issue type")
        else:
            result.epic_type_id = epic.id
            epic_id = epic.id
            screen = result.timed(lambda: jira.get_create_fields(project_key, epic_id))
            if name_field and any(f.field_id == name_field for f in screen):
                result.epic_name_field = name_field
            ours = FIELDS_WE_SET | {name_field or "summary"}
            required = [
                f.name
                for f in screen
                if f.required and not f.has_default_value and f.field_id not in ours
            ]
            if required:
                problems.append(
                    f"The Epic issue type requires fields ticketforge does not fill: "
                    f"{', '.join(required)}"
                )
    if problems:
        result.epic_problem = "; ".join(problems)
        result.warnings.append(
            f"{result.epic_problem}: the tickets are exported without epics "
            f"(epic_mode {mode} falls back to none, with a manual fix)"
        )


def _check_priorities(jira: JiraGateway, result: Preflight, wanted: Iterable[str] | None) -> None:
    """Read the priorities only when a ticket sets one. When they cannot be read, those
    tickets fall back to Jira's default priority with a manual fix: nothing stops."""
    names = None if wanted is None else {p for p in wanted if p}
    if names is not None and not names:
        result.skipped.append("priorities: no ticket sets a priority")
        return
    try:
        result.priorities = {p.name for p in result.timed(jira.get_priorities)}
    except JiraError as exc:
        if exc.status == 401:
            raise
        result.warnings.append(
            f"Priorities could not be read ({exc}): tickets that set one get Jira's default"
        )
        return
    for name in sorted((names or set()) - result.priorities):
        result.warnings.append(f"Priority '{name}' does not exist: Jira's default is used")


def resolve_assignee(jira: JiraGateway, project_key: str, person: str) -> str | None:
    """An email or an accountId -> the accountId of an assignable, active user."""
    for user in jira.find_assignable_users(project_key, person):
        if not user.active:
            continue
        if user.account_id == person or (user.email or "").lower() == person.lower():
            return user.account_id
    return None
