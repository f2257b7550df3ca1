"""Checking an issue-create request the way Jira does: every field error at once, 400.

The Data Center flavour (REST v2) differs as Data Center does: the description is wiki
markup (a string), the assignee is named by username (`name`), `parent` cannot be set on
a standard issue, and epics go through Jira Software's Epic Link and Epic Name fields."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from infrastructure.jira_sandbox.errors import ApiError
from infrastructure.jira_sandbox.store import (
    CLOUD,
    DATACENTER,
    ENVIRONMENT_FIELD,
    EPIC_LINK_FIELD,
    EPIC_NAME_FIELD,
    EXTRA_REQUIRED_FIELDS,
    ISSUE_TYPES,
    SPRINT_FIELD,
    IssueDraft,
    IssueTypeDef,
    ProjectRow,
    SandboxStore,
)

ADF_ERROR = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
MAX_SUMMARY = 255
MAX_TEXT = 32_767
MAX_LABEL = 255
MAX_PROPERTY_KEY = 255
MAX_PROPERTY_VALUE = 32_768
SYSTEM_FIELDS = frozenset(
    {"project", "issuetype", "summary", "description", "labels", "assignee", "priority", "parent"}
)
CUSTOM_FIELDS = {SPRINT_FIELD: "Sprint", ENVIRONMENT_FIELD: "Environment"}
DC_CUSTOM_FIELDS = {**CUSTOM_FIELDS, EPIC_LINK_FIELD: "Epic Link", EPIC_NAME_FIELD: "Epic Name"}
WIKI_ERROR = "Operation value must be a string"


def _nodes(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield node
    for child in node.get("content") or ():
        if isinstance(child, Mapping):
            yield from _nodes(child)


def adf_problem(document: object) -> str | None:
    """Why `document` is not an ADF document Jira would store, or None.

    Checks the envelope (`type: doc`, `version: 1`, `content` list) and that every
    node has a type, lists where lists belong and text in text nodes.
    """
    if not (
        isinstance(document, Mapping)
        and document.get("type") == "doc"
        and document.get("version") == 1
        and isinstance(document.get("content"), list)
    ):
        return ADF_ERROR
    for node in _nodes(document):
        content = node.get("content")
        marks = node.get("marks")
        if (
            not isinstance(node.get("type"), str)
            or (content is not None and not isinstance(content, list))
            or any(not isinstance(child, Mapping) for child in content or ())
            or (marks is not None and not isinstance(marks, list))
            or (node["type"] == "text" and not isinstance(node.get("text"), str))
        ):
            return ADF_ERROR
    return None


EPIC_TYPE_ID = next(t.id for t in ISSUE_TYPES if t.name == "Epic")


def adf_text_length(document: Mapping[str, Any]) -> int:
    return sum(len(str(node.get("text", ""))) for node in _nodes(document))


def ref(value: object, *names: str) -> str | None:
    """The first of `names` in a reference object like `{"key": "DEMO"}`."""
    if isinstance(value, Mapping):
        for name in names:
            if value.get(name) not in (None, ""):
                return str(value[name])
    return None


def _issue_type(value: object) -> IssueTypeDef | None:
    wanted_id, wanted_name = ref(value, "id"), ref(value, "name")
    for issue_type in ISSUE_TYPES:
        if issue_type.id == wanted_id or (
            wanted_name is not None and issue_type.name.lower() == wanted_name.lower()
        ):
            return issue_type
    return None


class _CreateCheck:
    """Collects the field errors of one create request."""

    def __init__(
        self,
        store: SandboxStore,
        account_id: str,
        fields: Mapping[str, Any],
        flavor: str = CLOUD,
    ) -> None:
        self.store = store
        self.account_id = account_id
        self.fields = fields
        self.flavor = flavor
        self.errors: dict[str, str] = {}

    @property
    def datacenter(self) -> bool:
        return self.flavor == DATACENTER

    def project(self) -> ProjectRow | None:
        key = ref(self.fields.get("project"), "key", "id")
        project = self.store.project(key) if key else None
        if project is None or not self.store.has_permission(
            self.account_id, project.key, "BROWSE_PROJECTS"
        ):
            self.errors["project"] = "Specify a valid project ID or key"
            return None
        if not self.store.has_permission(self.account_id, project.key, "CREATE_ISSUES"):
            raise ApiError(403, ["You do not have permission to create issues in this project."])
        return project

    def issue_type(self) -> IssueTypeDef | None:
        if "issuetype" not in self.fields:
            self.errors["issuetype"] = "Specify an issue type"
            return None
        issue_type = _issue_type(self.fields["issuetype"])
        if issue_type is None:
            self.errors["issuetype"] = "Specify a valid issue type"
        return issue_type

    def summary(self) -> str:
        summary = self.fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            self.errors["summary"] = "You must specify a summary of the issue."
            return ""
        if len(summary) > MAX_SUMMARY:
            self.errors["summary"] = "Summary must be less than 255 characters."
        elif "\n" in summary or "\r" in summary:
            self.errors["summary"] = (
                "The summary is invalid because it contains newline characters."
            )
        return summary

    def description(self) -> dict[str, Any] | str | None:
        description = self.fields.get("description")
        if description is None:
            return None
        if self.datacenter:
            if not isinstance(description, str):
                self.errors["description"] = WIKI_ERROR
                return None
            if len(description) > MAX_TEXT:
                self.errors["description"] = (
                    "The entered text is too long. It exceeds the allowed limit of "
                    "32,767 characters."
                )
            return description
        problem = adf_problem(description)
        if problem or not isinstance(description, dict):
            self.errors["description"] = problem or ADF_ERROR
            return None
        if adf_text_length(description) > MAX_TEXT:
            self.errors["description"] = (
                "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
            )
        return description

    def labels(self) -> tuple[str, ...]:
        labels = self.fields.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            self.errors["labels"] = "The labels must be a list of strings."
            return ()
        for label in labels:
            if not label or any(c.isspace() for c in label):
                self.errors["labels"] = f"The label '{label}' contains spaces which is invalid."
            elif len(label) > MAX_LABEL:
                self.errors["labels"] = "The label must be less than 255 characters."
        return tuple(dict.fromkeys(labels))

    def assignee(self, project: ProjectRow | None) -> str | None:
        value = self.fields.get("assignee")
        if value is None:
            return None
        if self.datacenter:
            name = ref(value, "name")
            user = self.store.user_by_name(name) if name else None
            if user is None:
                self.errors["assignee"] = f"User '{name}' does not exist."
                return None
            account_id: str | None = user.account_id
        else:
            account_id = ref(value, "accountId")
        if account_id is None:
            self.errors["assignee"] = "Specify the assignee by accountId."
            return None
        if self.store.user(account_id) is None:
            self.errors["assignee"] = (
                "Specified user does not exist or you do not have required permissions"
            )
        elif project is not None and not self.store.is_assignable(account_id, project.key):
            self.errors["assignee"] = f"User '{account_id}' cannot be assigned issues."
        return account_id

    def priority(self) -> str:
        value = self.fields.get("priority")
        priorities = self.store.priorities()
        default = next(p.id for p in priorities if p.is_default)
        if value is None:
            return default
        wanted_id, wanted_name = ref(value, "id"), ref(value, "name")
        if wanted_id is None and wanted_name is None:
            self.errors["priority"] = "Specify the Priority (id or name) in the string format"
            return default
        for priority in priorities:
            if priority.id == wanted_id or priority.name == wanted_name:
                return priority.id
        self.errors["priority"] = "The priority selected is invalid."
        return default

    def parent(self, project: ProjectRow | None, issue_type: IssueTypeDef | None) -> int | None:
        value = self.fields.get("parent")
        if value is None:
            return None
        reference = ref(value, "key", "id")
        parent = self.store.issue(reference) if reference else None
        if parent is None or (project is not None and parent.project_key != project.key):
            self.errors["parent"] = "Could not find issue by id or key."
            return None
        parent_type = next(t for t in ISSUE_TYPES if t.id == parent.issue_type_id)
        if issue_type is not None and parent_type.hierarchy_level <= issue_type.hierarchy_level:
            self.errors["parent"] = (
                "Given parent work item does not belong to appropriate hierarchy."
            )
        return parent.id

    def sprint(self) -> int | None:
        value = self.fields.get(SPRINT_FIELD)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.errors[SPRINT_FIELD] = "Number value expected as the Sprint id."
            return None
        sprint = self.store.sprint(value)
        if sprint is None:
            self.errors[SPRINT_FIELD] = f"Sprint with id {value} does not exist."
            return None
        if sprint.state == "closed":
            self.errors[SPRINT_FIELD] = "Issue can be assigned only active or future sprints."
        return sprint.id

    def epic_fields(
        self, project: ProjectRow | None, issue_type: IssueTypeDef | None
    ) -> dict[str, Any]:
        """Data Center: Epic Link (an epic's key, on a standard issue) and Epic Name
        (required on an epic)."""
        values: dict[str, Any] = {}
        link = self.fields.get(EPIC_LINK_FIELD)
        if link is not None:
            epic = self.store.issue(link) if isinstance(link, str) and link else None
            if epic is None or (project is not None and epic.project_key != project.key):
                self.errors[EPIC_LINK_FIELD] = f"The issue {link} does not exist."
            elif epic.issue_type_id != EPIC_TYPE_ID:
                self.errors[EPIC_LINK_FIELD] = f"The issue {link} is not an Epic."
            elif issue_type is not None and issue_type.id == EPIC_TYPE_ID:
                self.errors[EPIC_LINK_FIELD] = "An Epic cannot be linked to an Epic."
            else:
                values[EPIC_LINK_FIELD] = epic.key
        name = self.fields.get(EPIC_NAME_FIELD)
        if issue_type is not None and issue_type.id == EPIC_TYPE_ID:
            if not isinstance(name, str) or not name.strip():
                self.errors[EPIC_NAME_FIELD] = "Epic Name is required."
            else:
                values[EPIC_NAME_FIELD] = name
        elif name is not None:
            self.errors[EPIC_NAME_FIELD] = (
                f"Field '{EPIC_NAME_FIELD}' cannot be set. "
                "It is not on the appropriate screen, or unknown."
            )
        return values

    def custom_fields(
        self, project: ProjectRow | None, issue_type: IssueTypeDef | None
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        known = DC_CUSTOM_FIELDS if self.datacenter else CUSTOM_FIELDS
        system = SYSTEM_FIELDS - {"parent"} if self.datacenter else SYSTEM_FIELDS
        if self.datacenter:
            values.update(self.epic_fields(project, issue_type))
        environment = self.fields.get(ENVIRONMENT_FIELD)
        if environment is not None:
            if isinstance(environment, str):
                values[ENVIRONMENT_FIELD] = environment
            else:
                self.errors[ENVIRONMENT_FIELD] = "Environment must be a string."
        if project is not None and issue_type is not None:
            for required in EXTRA_REQUIRED_FIELDS.get((project.key, issue_type.id), ()):
                if self.fields.get(required) in (None, ""):
                    self.errors[required] = f"{CUSTOM_FIELDS[required]} is required."
        for name in self.fields:
            if name not in system and name not in known:
                self.errors[name] = (
                    f"Field '{name}' cannot be set. "
                    "It is not on the appropriate screen, or unknown."
                )
        return values


def _properties(raw: object) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ApiError(400, ["The issue properties must be a list of {key, value}."])
    properties: dict[str, Any] = {}
    for item in raw:
        key = item.get("key") if isinstance(item, Mapping) else None
        if not isinstance(key, str) or not key or len(key) > MAX_PROPERTY_KEY:
            raise ApiError(400, ["The property key must be between 1 and 255 characters long."])
        if "value" not in item:
            raise ApiError(400, [f"The value of property '{key}' is missing."])
        if len(repr(item["value"])) > MAX_PROPERTY_VALUE:
            raise ApiError(400, [f"The value of property '{key}' is too long."])
        properties[key] = item["value"]
    return properties


@dataclass(frozen=True)
class IssueEdit:
    """What `PUT /issue/{key}` changes: only the fields it names."""

    summary: str | None = None
    description: dict[str, Any] | str | None = None
    description_given: bool = False
    labels: tuple[str, ...] | None = None
    add_labels: tuple[str, ...] = ()
    remove_labels: tuple[str, ...] = ()


EDITABLE = frozenset({"summary", "description", "labels"})


def validate_edit(
    body: object, store: SandboxStore, account_id: str, flavor: str = CLOUD
) -> IssueEdit:
    """`PUT /issue/{key}`'s body (`fields` to set, `update` label operations), or ApiError
    (400 with every field error, as Jira)."""
    if not isinstance(body, Mapping):
        raise ApiError(400, ["The request body must be an object."])
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    if not isinstance(fields, Mapping) or not isinstance(update, Mapping):
        raise ApiError(400, ["'fields' and 'update' must be objects."])
    errors = {
        name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        for name in [*fields, *update]
        if name not in EDITABLE
    }
    check = _CreateCheck(store, account_id, fields, flavor)
    summary = check.summary() if "summary" in fields else None
    description = check.description() if "description" in fields else None
    labels = check.labels() if "labels" in fields else None
    add: list[str] = []
    remove: list[str] = []
    for operation in update.get("labels") or ():
        if isinstance(operation, Mapping) and isinstance(operation.get("add"), str):
            add.append(operation["add"])
        elif isinstance(operation, Mapping) and isinstance(operation.get("remove"), str):
            remove.append(operation["remove"])
        else:
            errors["labels"] = "Label operations are {'add': label} or {'remove': label}."
    errors.update(check.errors)
    if errors:
        raise ApiError(400, [], errors)
    return IssueEdit(
        summary=summary,
        description=description,
        description_given="description" in fields,
        labels=labels,
        add_labels=tuple(add),
        remove_labels=tuple(remove),
    )


def validate_create(
    body: object, store: SandboxStore, account_id: str, flavor: str = CLOUD
) -> IssueDraft:
    """The draft to store, or ApiError (400 with every field error, or 403)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("fields"), Mapping):
        raise ApiError(400, ["The request must contain the issue's 'fields'."])
    check = _CreateCheck(store, account_id, body["fields"], flavor)
    project = check.project()
    issue_type = check.issue_type()
    draft = IssueDraft(
        project_key=project.key if project else "",
        issue_type_id=issue_type.id if issue_type else "",
        summary=check.summary(),
        description=check.description(),
        labels=check.labels(),
        assignee=check.assignee(project),
        priority_id=check.priority(),
        parent_id=None if check.datacenter else check.parent(project, issue_type),
        sprint_id=check.sprint(),
        custom_fields=check.custom_fields(project, issue_type),
        properties=_properties(body.get("properties")),
    )
    if check.errors:
        raise ApiError(400, [], check.errors)
    return draft
