"""An in-memory Jira behind the `JiraGateway` port, for unit tests that run in milliseconds.

`InMemoryJira` answers as `JiraClient` does against the Jira sandbox
(`infrastructure/jira_sandbox`): the same seeded site (projects DEMO and TF, their
users, priorities, link types, boards and sprints), the same create rules, the same
JQL subset and the same issue JSON, turned into the same values and the same
exceptions (`application.export.jira_errors`). It holds its issues in dicts instead of
SQLite and is called directly instead of over HTTP; the site's catalog, its create and
edit rules (`validate_create`, `validate_edit`), its JQL parser, its field rendering
and its fault injector are the sandbox's own, imported rather than copied, so the two
cannot drift apart where they share code. One contract suite runs against both
(`tests/integration/contracts/test_jira_gateway_contract.py`) to hold the rest (storage,
search, faults, the client's mapping of answers) to the same behaviour.

Faults are set as on the sandbox (`POST /_sandbox/faults`): `jira.faults(
fail_create_next=1, search_lag_ms=300_000)`. As the client sees them:
- `fail_create_next`/`fail_create_every`: the create is stored, `JiraOutcomeUnknown`;
- `fail_write_next`: an edit, link removal or comment is stored and answered 5xx (the
  idempotent edit and removal are retried; a comment raises `JiraOutcomeUnknown`);
- `search_lag_ms`: the JQL search does not show an issue for that long after its
  creation, except the ids passed as `reconcile` (reading by key always does);
- `timeout_next`: the next requests are answered too late for the client (the fake
  takes every such answer as timed out): a write is done and raises
  `JiraOutcomeUnknown`, a read is retried;
- `unauthorized_from_request`, `forbidden_routes`, `rate_limit_storm_next` (retried
  `RETRY_ATTEMPTS` times in all, as the client's default policy does, without its
  waits), `missing_link_types`, `user_time_zone`, `latency_ms`.
Jira's rate limits are not simulated: the client paces itself before they apply.

Beyond the port, for tests: `as_account(email)` (the same site as another user),
`limits(...)` (as `POST /_sandbox/limits`), `work(key, ...)` (someone works on an issue),
`delete_issue`, `move_issue` (the old key then answers with the moved issue, as in
Jira; the sandbox cannot move issues), and what exists whatever the search index shows:
`issues_created`, `links_created`, `keys_labelled`, `blocks_links`, `attachment_names`.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, cast

from application.export.jira_errors import (
    JiraAuthError,
    JiraNotFound,
    JiraOutcomeUnknown,
    JiraRateLimited,
    JiraUnavailable,
    error_from_response,
)
from application.export.jira_types import (
    Attachment,
    Board,
    BulkCreateResult,
    BulkFailure,
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
from application.export.port import JiraGateway
from infrastructure.jira.client import (
    BULK_CREATE_LIMIT,
    EXPORT_PERMISSIONS,
    MAX_RECONCILE,
    SNAPSHOT_FIELDS,
    SPRINT_MOVE_LIMIT,
)
from infrastructure.jira_sandbox.errors import ApiError
from infrastructure.jira_sandbox.faults import FaultInjector, FaultUpdate
from infrastructure.jira_sandbox.issues import adf_problem, validate_create, validate_edit
from infrastructure.jira_sandbox.jql import Clause, JqlError, JqlQuery, parse_jql
from infrastructure.jira_sandbox.limits import LimitConfig
from infrastructure.jira_sandbox.platform_api import field_catalog
from infrastructure.jira_sandbox.render import Renderer, select_fields
from infrastructure.jira_sandbox.store import (
    ENVIRONMENT_FIELD,
    EXTRA_REQUIRED_FIELDS,
    FIRST_ATTACHMENT_ID,
    FIRST_ISSUE_ID,
    FIRST_LINK_ID,
    INITIAL_STATUS,
    ISSUE_TYPES,
    PERMISSIONS,
    SEED_BOARDS,
    SEED_LINK_TYPES,
    SEED_PRIORITIES,
    SEED_PROJECTS,
    SEED_SPRINTS,
    SEED_USERS,
    SPRINT_FIELD,
    STATUSES,
    AttachmentRow,
    BoardRow,
    CommentRow,
    IssueRow,
    LinkTypeRow,
    LinkView,
    PriorityRow,
    ProjectRow,
    SandboxStore,
    SprintRow,
    UserRow,
    account_id_for,
)

R = TypeVar("R")

DEMO_EMAIL = "demo@example.com"
BASE_URL = "https://jira.example.test"
API = f"{BASE_URL}/rest/api/3"
RETRY_ATTEMPTS = 6  # the client's default RetryPolicy
UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
SPRINT_TYPE = "com.pyxis.greenhopper.jira:gh-sprint"
TEXTAREA_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:textarea"


@dataclass
class _Link:
    id: int
    type_id: str
    inward_id: int
    outward_id: int


@dataclass
class _Site:
    """What one Jira site holds. It offers the reads of `SandboxStore` that the sandbox's
    create rules and renderer use, so those run here unchanged."""

    clock: Callable[[], float]
    limits: LimitConfig
    lock: threading.RLock = field(default_factory=threading.RLock)
    faults: FaultInjector = field(default_factory=FaultInjector)
    users: dict[str, UserRow] = field(default_factory=dict)
    projects: dict[str, ProjectRow] = field(default_factory=dict)
    grants: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    priority_rows: list[PriorityRow] = field(default_factory=list)
    link_type_rows: list[LinkTypeRow] = field(default_factory=list)
    board_rows: dict[int, BoardRow] = field(default_factory=dict)
    sprint_rows: dict[int, SprintRow] = field(default_factory=dict)
    issues: dict[int, IssueRow] = field(default_factory=dict)
    ids_by_key: dict[str, int] = field(default_factory=dict)  # moved keys stay here
    next_number: dict[str, int] = field(default_factory=dict)
    properties: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[int, list[tuple[AttachmentRow, bytes]]] = field(default_factory=dict)
    links: list[_Link] = field(default_factory=list)
    comments: dict[int, list[CommentRow]] = field(default_factory=dict)
    issue_ids: Iterator[int] = field(default_factory=lambda: itertools.count(FIRST_ISSUE_ID))
    attachment_ids: Iterator[int] = field(
        default_factory=lambda: itertools.count(FIRST_ATTACHMENT_ID)
    )
    link_ids: Iterator[int] = field(default_factory=lambda: itertools.count(FIRST_LINK_ID))
    comment_ids: Iterator[int] = field(default_factory=lambda: itertools.count(10000))
    created_count: int = 0
    links_count: int = 0

    @classmethod
    def seeded(cls, clock: Callable[[], float], limits: LimitConfig) -> _Site:
        """The site the sandbox seeds (`SandboxStore._seed`)."""
        site = cls(clock=clock, limits=limits)
        admin = account_id_for(SEED_USERS[0].email)
        for project_id, key, name in SEED_PROJECTS:
            site.projects[key] = ProjectRow(project_id, key, name, admin)
            site.next_number[key] = 1
        for user in SEED_USERS:
            account = account_id_for(user.email)
            site.users[account] = UserRow(account, user.email, user.display_name, user.active)
            for project, permissions in user.permissions.items():
                site.grants.setdefault((account, project), set()).update(permissions)
        site.priority_rows = [PriorityRow(*row) for row in SEED_PRIORITIES]
        site.link_type_rows = sorted(
            (LinkTypeRow(*row) for row in SEED_LINK_TYPES), key=lambda t: t.name
        )
        site.board_rows = {b: BoardRow(b, project, name) for b, project, name in SEED_BOARDS}
        site.sprint_rows = {s: SprintRow(s, b, name, st) for s, b, name, st in SEED_SPRINTS}
        return site

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # --- the reads of SandboxStore that validate_create and Renderer make ----------------

    def project(self, key_or_id: str) -> ProjectRow | None:
        found = self.projects.get(key_or_id.upper())
        return found or next((p for p in self.projects.values() if p.id == key_or_id), None)

    def user(self, account_id: str) -> UserRow | None:
        return self.users.get(account_id)

    def permissions(self, account_id: str, project_key: str) -> set[str]:
        return set(self.grants.get((account_id, project_key), ()))

    def has_permission(self, account_id: str, project_key: str, permission: str) -> bool:
        return permission in self.grants.get((account_id, project_key), ())

    def is_assignable(self, account_id: str, project_key: str) -> bool:
        user = self.users.get(account_id)
        return bool(user and user.active) and self.has_permission(
            account_id, project_key, "ASSIGNABLE_USER"
        )

    def priorities(self) -> list[PriorityRow]:
        return list(self.priority_rows)

    def link_types(self) -> list[LinkTypeRow]:
        return list(self.link_type_rows)

    def sprint(self, sprint_id: int) -> SprintRow | None:
        return self.sprint_rows.get(sprint_id)

    def issue(self, key_or_id: str | int) -> IssueRow | None:
        text = str(key_or_id)
        issue_id = int(text) if text.isdigit() else self.ids_by_key.get(text.upper())
        return self.issues.get(issue_id) if issue_id is not None else None

    def links_of(self, issue_id: int) -> list[LinkView]:
        types = {t.id: t for t in self.link_type_rows}
        views = []
        for link in self.links:
            if issue_id not in (link.inward_id, link.outward_id):
                continue
            other_is_outward = link.inward_id == issue_id
            other = self.issues.get(link.outward_id if other_is_outward else link.inward_id)
            if other is not None and link.type_id in types:
                views.append(LinkView(link.id, types[link.type_id], other, other_is_outward))
        return views

    def attachments(self, issue_id: int) -> list[AttachmentRow]:
        return [row for row, _ in self.files.get(issue_id, ())]

    def as_store(self) -> SandboxStore:
        """Typed as the store the sandbox's functions take; they only read the above."""
        return cast(SandboxStore, self)

    # --- writes --------------------------------------------------------------------------

    def insert(self, body: Mapping[str, Any], account: str) -> IssueRow:
        draft = validate_create(body, self.as_store(), account)
        number = self.next_number[draft.project_key]
        self.next_number[draft.project_key] = number + 1
        stamp = self.now_ms()
        row = IssueRow(
            id=next(self.issue_ids),
            key=f"{draft.project_key}-{number}",
            project_key=draft.project_key,
            number=number,
            issue_type_id=draft.issue_type_id,
            summary=draft.summary,
            description=copy.deepcopy(draft.description),
            assignee=draft.assignee,
            reporter=account,
            priority_id=draft.priority_id,
            parent_id=draft.parent_id,
            sprint_id=draft.sprint_id,
            status_id=INITIAL_STATUS.id,
            resolution=None,
            custom_fields=copy.deepcopy(draft.custom_fields),
            created=stamp,
            updated=stamp,
            labels=tuple(sorted(set(draft.labels))),
        )
        self.issues[row.id] = row
        self.ids_by_key[row.key] = row.id
        self.properties[row.id] = copy.deepcopy(draft.properties)
        return row

    def touch(self, issue_id: int, **changes: Any) -> None:
        self.issues[issue_id] = replace(self.issues[issue_id], updated=self.now_ms(), **changes)

    # --- lookups as the API answers them ---------------------------------------------------

    def browsable_project(self, account: str, key: str) -> ProjectRow:
        project = self.project(key)
        if project is None or not self.has_permission(account, project.key, "BROWSE_PROJECTS"):
            raise ApiError(404, [f"No project could be found with key '{key}'."])
        return project

    def browsable_issue(self, account: str, key: str) -> IssueRow:
        issue = self.issue(key)
        if issue is None or not self.has_permission(account, issue.project_key, "BROWSE_PROJECTS"):
            raise ApiError(404, ["Issue does not exist or you do not have permission to see it."])
        return issue


class InMemoryJira:
    """A `JiraGateway` over an in-memory Jira site, acting as one account (demo@example.com,
    who may do everything in DEMO and TF, unless told otherwise). A Cloud site."""

    flavor = "cloud"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        limits: LimitConfig | None = None,
        email: str = DEMO_EMAIL,
        _site: _Site | None = None,
    ) -> None:
        self._site = _site or _Site.seeded(clock, limits or LimitConfig())
        self._account = account_id_for(email)
        if self._account not in self._site.users:
            raise ValueError(f"{email} is not a user of this Jira site")
        self.closed = 0

    # --- test controls ---------------------------------------------------------------------

    def as_account(self, email: str) -> InMemoryJira:
        """The same site, seen by another of its users (e.g. viewer@example.com)."""
        return InMemoryJira(email=email, _site=self._site)

    def faults(self, **changes: Any) -> dict[str, Any]:
        """As `POST /_sandbox/faults`: only the faults given change."""
        self._site.faults.update(FaultUpdate(**changes).changes())
        return self._site.faults.as_dict()

    def limits(self, **changes: Any) -> LimitConfig:
        """As `POST /_sandbox/limits`; of them the fake applies `max_attachment_bytes`,
        `max_bulk_issues` and `max_search_results` (it does not rate-limit)."""
        self._site.limits = replace(self._site.limits, **changes)
        return self._site.limits

    def work(self, key: str, **changes: Any) -> None:
        """Someone works on the issue in Jira, as `PATCH /_sandbox/issues/{key}`: `status`
        (a name), `resolution` (a name or None), `assignee` (an account id or None),
        `summary`, `description` (an ADF document or None)."""
        site = self._site
        with site.lock:
            issue = site.issue(key)
            if issue is None:
                raise KeyError(key)
            update: dict[str, Any] = {}
            if changes.get("status") is not None:
                wanted = str(changes["status"]).lower()
                status = next((s for s in STATUSES if s.name.lower() == wanted), None)
                if status is None:
                    raise ValueError(f"Unknown status '{changes['status']}'.")
                update["status_id"] = status.id
                if "resolution" not in changes:
                    update["resolution"] = "Done" if status.category_key == "done" else None
            for name in ("resolution", "assignee", "summary", "description"):
                if name in changes and (name != "summary" or changes[name] is not None):
                    update[name] = copy.deepcopy(changes[name])
            site.touch(issue.id, **update)

    def delete_issue(self, key: str) -> None:
        """The issue is gone; its number is never given again (as in Jira)."""
        site = self._site
        with site.lock:
            issue = site.issue(key)
            if issue is None:
                raise KeyError(key)
            del site.issues[issue.id]
            site.links = [
                link for link in site.links if issue.id not in (link.inward_id, link.outward_id)
            ]

    def move_issue(self, key: str, project_key: str) -> str:
        """Move the issue to another project; its old key still leads to it. The new key."""
        site = self._site
        with site.lock:
            issue = site.issue(key)
            if issue is None:
                raise KeyError(key)
            number = site.next_number[project_key]
            site.next_number[project_key] = number + 1
            new_key = f"{project_key}-{number}"
            site.touch(issue.id, key=new_key, project_key=project_key, number=number)
            site.ids_by_key[new_key] = issue.id
            return new_key

    @property
    def issues_created(self) -> int:
        """Issues stored by creates (the sandbox's `issues_created`)."""
        return self._site.created_count

    @property
    def links_created(self) -> int:
        return self._site.links_count

    def keys_labelled(self, label: str) -> list[str]:
        """The keys of every issue carrying `label`, whatever the search index shows."""
        with self._site.lock:
            rows = sorted(self._site.issues.values(), key=lambda i: (i.project_key, i.number))
            return [i.key for i in rows if label in i.labels]

    def blocks_links(self) -> list[tuple[str, str]]:
        """Every "Blocks" link as (blocker key, blocked key)."""
        site = self._site
        with site.lock:
            blocks = next(t.id for t in site.link_type_rows if t.name == "Blocks")
            return [
                (site.issues[link.inward_id].key, site.issues[link.outward_id].key)
                for link in site.links
                if link.type_id == blocks
            ]

    def attachment_names(self, key: str) -> list[str]:
        with self._site.lock:
            issue = self._site.issue(key)
            return [row.filename for row in self._site.attachments(issue.id)] if issue else []

    # --- how every request goes ------------------------------------------------------------

    def _render(self) -> Renderer:
        return Renderer(self._site.as_store(), BASE_URL, self._site.faults.config.user_time_zone)

    def _call(self, what: str, route: str, work: Callable[[], R], *, idempotent: bool) -> R:
        """One request as `JiraClient._call` makes it: the sandbox's gate (latency, 401,
        forbidden routes, 429 storms), the route, a late answer; then the client's
        mapping of the outcome and its retries (429; for idempotent requests, 5xx and
        timeouts)."""
        faults = self._site.faults
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            last = attempt == RETRY_ATTEMPTS
            if faults.latency_seconds() > 0:
                time.sleep(faults.latency_seconds())
            if faults.unauthorized():
                raise JiraAuthError(f"{what} failed with HTTP 401", status=401)
            if route in faults.config.forbidden_routes:
                raise JiraAuthError(f"{what} failed with HTTP 403", status=403)
            retry_after = faults.take_storm()
            if retry_after is not None:
                if last:
                    raise JiraRateLimited(
                        f"{what}: Jira rate limit (HTTP 429)", retry_after=retry_after, status=429
                    )
                continue
            failure: ApiError | None = None
            result: R | None = None
            with self._site.lock:
                try:
                    result = work()
                except ApiError as error:
                    failure = error
            if faults.take_timeout() is not None:
                if not idempotent:
                    raise JiraOutcomeUnknown(
                        f"{what}: no answer from Jira (ReadTimeout); it may have been done"
                    )
                if last:
                    raise JiraUnavailable(f"{what}: no answer from Jira (ReadTimeout)")
                continue
            if failure is None:
                return cast(R, result)
            if failure.status >= 500:
                if not idempotent:
                    raise JiraOutcomeUnknown(
                        f"{what}: Jira failed with HTTP {failure.status}; it may have been done",
                        status=failure.status,
                        error_messages=failure.messages,
                    )
                if last:
                    raise JiraUnavailable(f"{what}: Jira failed with HTTP {failure.status}")
                continue
            raise error_from_response(failure.status, failure.body(), what=what)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _fail_after_commit(self) -> None:
        status = self._site.faults.create_failure()
        if status is not None:
            raise ApiError(status, ["Internal server error."])

    def _fail_write_after_commit(self) -> None:
        status = self._site.faults.write_failure()
        if status is not None:
            raise ApiError(status, ["Internal server error."])

    # --- account, project and configuration ------------------------------------------------

    def browse_url(self, key: str) -> str:
        return f"{BASE_URL}/browse/{key}"

    def myself(self) -> JiraUser:
        def work() -> JiraUser:
            user = self._site.user(self._account)
            if user is None:
                raise ApiError(401, ["You are not authenticated."])
            return JiraUser.from_json(self._render().user(user))

        return self._call("Read the current user", "GET /rest/api/3/myself", work, idempotent=True)

    def my_permissions(
        self, project_key: str, permissions: Sequence[str] = EXPORT_PERMISSIONS
    ) -> dict[str, bool]:
        def work() -> dict[str, bool]:
            keys = [p.strip() for p in permissions if p.strip()]
            if not keys:
                raise ApiError(400, ["The 'permissions' query parameter is required."])
            unknown = [k for k in keys if k not in PERMISSIONS]
            if unknown:
                raise ApiError(400, [f"Invalid permission key: {', '.join(unknown)}"])
            project = self._site.browsable_project(self._account, project_key)
            granted = self._site.permissions(self._account, project.key)
            return {p: p in granted for p in permissions}

        return self._call(
            f"Read permissions in {project_key}",
            "GET /rest/api/3/mypermissions",
            work,
            idempotent=True,
        )

    def get_project(self, project_key: str) -> JiraProject:
        def work() -> JiraProject:
            project = self._site.browsable_project(self._account, project_key)
            return JiraProject.from_json(self._render().project(project, full=True))

        return self._call(
            f"Read project {project_key}",
            "GET /rest/api/3/project/{projectIdOrKey}",
            work,
            idempotent=True,
        )

    def get_issue_types(self, project_key: str) -> list[IssueType]:
        def work() -> list[IssueType]:
            project = self._site.browsable_project(self._account, project_key)
            if not self._site.has_permission(self._account, project.key, "CREATE_ISSUES"):
                return []
            render = self._render()
            return [IssueType.from_json(render.issue_type(t)) for t in ISSUE_TYPES]

        return self._call(
            f"Read issue types of {project_key}",
            "GET /rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes",
            work,
            idempotent=True,
        )

    def get_create_fields(self, project_key: str, issue_type_id: str) -> list[FieldMeta]:
        def work() -> list[FieldMeta]:
            project = self._site.browsable_project(self._account, project_key)
            issue_type = next((t for t in ISSUE_TYPES if t.id == issue_type_id), None)
            if issue_type is None or not self._site.has_permission(
                self._account, project.key, "CREATE_ISSUES"
            ):
                raise ApiError(
                    404, [f"Issue type with id '{issue_type_id}' does not exist in {project.key}."]
                )
            required = EXTRA_REQUIRED_FIELDS.get((project.key, issue_type.id), ())
            fields = [
                FieldMeta("summary", "Summary", True, False, "string"),
                FieldMeta("issuetype", "Issue Type", True, False, "issuetype"),
                FieldMeta("project", "Project", True, False, "project"),
                FieldMeta("description", "Description", False, False, "string"),
                FieldMeta("labels", "Labels", False, False, "array"),
                FieldMeta("assignee", "Assignee", False, False, "user"),
                FieldMeta("priority", "Priority", False, True, "priority"),
                FieldMeta(SPRINT_FIELD, "Sprint", False, False, "array", SPRINT_TYPE),
                FieldMeta(
                    ENVIRONMENT_FIELD,
                    "Environment",
                    ENVIRONMENT_FIELD in required,
                    False,
                    "string",
                    TEXTAREA_TYPE,
                ),
            ]
            if issue_type.hierarchy_level == 0:
                fields.append(FieldMeta("parent", "Parent", False, False, "issuelink"))
            return fields

        return self._call(
            f"Read create fields of {project_key} issue type {issue_type_id}",
            "GET /rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}",
            work,
            idempotent=True,
        )

    def get_priorities(self) -> list[Priority]:
        def work() -> list[Priority]:
            render = self._render()
            return [Priority.from_json(render.priority(p)) for p in self._site.priorities()]

        return self._call(
            "Read priorities", "GET /rest/api/3/priority/search", work, idempotent=True
        )

    def get_fields(self) -> list[JiraField]:
        def work() -> list[JiraField]:
            return [JiraField.from_json(raw) for raw in field_catalog(self.flavor)]

        return self._call("Read fields", "GET /rest/api/3/field", work, idempotent=True)

    def get_link_types(self) -> list[LinkType]:
        def work() -> list[LinkType]:
            render = self._render()
            return [
                LinkType.from_json(render.link_type(t))
                for t in self._site.link_types()
                if not self._site.faults.link_type_missing(t.name)
            ]

        return self._call(
            "Read issue link types", "GET /rest/api/3/issueLinkType", work, idempotent=True
        )

    def find_assignable_users(
        self, project_key: str, query: str = "", max_results: int = 50
    ) -> list[JiraUser]:
        def work() -> list[JiraUser]:
            project = self._site.browsable_project(self._account, project_key)
            wanted = query.lower()
            users = sorted(
                (
                    u
                    for u in self._site.users.values()
                    if self._site.is_assignable(u.account_id, project.key)
                    and (wanted in u.display_name.lower() or wanted in u.email.lower())
                ),
                key=lambda u: u.display_name,
            )
            render = self._render()
            return [JiraUser.from_json(render.user(u)) for u in users[:max_results]]

        return self._call(
            f"Search assignable users of {project_key}",
            "GET /rest/api/3/user/assignable/search",
            work,
            idempotent=True,
        )

    def get_boards(self, project_key: str) -> list[Board]:
        def work() -> list[Board]:
            project = self._site.browsable_project(self._account, project_key)
            render = self._render()
            return [
                Board.from_json(render.board(b, project))
                for b in sorted(self._site.board_rows.values(), key=lambda b: b.id)
                if b.project_key == project.key
            ]

        return self._call(
            f"Read boards of {project_key}", "GET /rest/agile/1.0/board", work, idempotent=True
        )

    def get_sprints(
        self, board_id: int, states: Sequence[str] = ("active", "future")
    ) -> list[Sprint]:
        def work() -> list[Sprint]:
            board = self._site.board_rows.get(board_id)
            if board is None:
                raise ApiError(
                    404,
                    [f"Board {board_id} does not exist or you do not have permission to see it."],
                )
            self._site.browsable_project(self._account, board.project_key)
            render = self._render()
            return [
                Sprint.from_json(render.sprint(s))
                for s in sorted(self._site.sprint_rows.values(), key=lambda s: s.id)
                if s.board_id == board.id and s.state in states
            ]

        return self._call(
            f"Read sprints of board {board_id}",
            "GET /rest/agile/1.0/board/{boardId}/sprint",
            work,
            idempotent=True,
        )

    # --- writes ----------------------------------------------------------------------------

    def _created(self, row: IssueRow) -> CreatedIssue:
        return CreatedIssue(
            id=str(row.id),
            key=row.key,
            self_url=f"{API}/issue/{row.id}",
            browse_url=self.browse_url(row.key),
        )

    def create_issue(self, issue: NewIssue) -> CreatedIssue:
        def work() -> CreatedIssue:
            row = self._site.insert(issue.to_payload(), self._account)
            self._site.created_count += 1
            self._fail_after_commit()
            return self._created(row)

        return self._call(
            f"Create issue in {issue.project_key}",
            "POST /rest/api/3/issue",
            work,
            idempotent=False,
        )

    def create_issues(self, issues: Sequence[NewIssue]) -> BulkCreateResult:
        if not issues:
            return BulkCreateResult(created={}, failed={})
        if len(issues) > BULK_CREATE_LIMIT:
            raise ValueError(f"Jira creates at most {BULK_CREATE_LIMIT} issues per bulk request")

        def work() -> BulkCreateResult:
            limit = self._site.limits.max_bulk_issues
            if len(issues) > limit:
                raise ApiError(400, [f"A bulk create request can contain at most {limit} issues."])
            created: dict[int, CreatedIssue] = {}
            failed: dict[int, BulkFailure] = {}
            for index, issue in enumerate(issues):
                try:
                    row = self._site.insert(issue.to_payload(), self._account)
                except ApiError as error:
                    failed[index] = BulkFailure(
                        index, error.status, dict(error.errors), tuple(error.messages)
                    )
                    continue
                created[index] = self._created(row)
            self._site.created_count += len(created)
            if created:
                self._fail_after_commit()
            return BulkCreateResult(created=created, failed=failed)

        return self._call(
            f"Bulk create {len(issues)} issues",
            "POST /rest/api/3/issue/bulk",
            work,
            idempotent=False,
        )

    def add_attachment(
        self,
        issue_key: str,
        filename: str,
        content: bytes,
        media_type: str = "application/octet-stream",
    ) -> list[Attachment]:
        def work() -> list[Attachment]:
            site = self._site
            issue = site.browsable_issue(self._account, issue_key)
            if not site.has_permission(self._account, issue.project_key, "CREATE_ATTACHMENTS"):
                raise ApiError(
                    403, ["You do not have permission to create attachments for this issue."]
                )
            limit = site.limits.max_attachment_bytes
            if len(content) > limit:
                raise ApiError(
                    413, [f"The attachment exceeds the maximum attachment size of {limit} bytes."]
                )
            row = AttachmentRow(
                next(site.attachment_ids),
                issue.id,
                filename or "attachment",
                media_type or "application/octet-stream",
                len(content),
                self._account,
                site.now_ms(),
            )
            site.files.setdefault(issue.id, []).append((row, bytes(content)))
            site.touch(issue.id)
            return [Attachment.from_json(self._render().attachment(row))]

        return self._call(
            f"Attach {filename!r} to {issue_key}",
            "POST /rest/api/3/issue/{issueIdOrKey}/attachments",
            work,
            idempotent=False,
        )

    def create_link(self, link_type: str, inward_key: str, outward_key: str) -> None:
        """Link two issues; with "Blocks" this reads "`inward_key` blocks `outward_key`"."""

        def work() -> None:
            site = self._site
            found = next(
                (
                    t
                    for t in site.link_types()
                    if t.name == link_type and not site.faults.link_type_missing(t.name)
                ),
                None,
            )
            if found is None:
                raise ApiError(404, [f"No issue link type with name '{link_type}' found."])
            inward = site.browsable_issue(self._account, inward_key)
            outward = site.browsable_issue(self._account, outward_key)
            if inward.id == outward.id:
                raise ApiError(400, ["You cannot link an issue to itself."])
            for issue in (inward, outward):
                if not site.has_permission(self._account, issue.project_key, "LINK_ISSUES"):
                    raise ApiError(404, ["You do not have the permission to link issues."])
            if any(
                (link.type_id, link.inward_id, link.outward_id) == (found.id, inward.id, outward.id)
                for link in site.links
            ):
                return
            site.links.append(_Link(next(site.link_ids), found.id, inward.id, outward.id))
            site.links_count += 1
            site.touch(inward.id)
            site.touch(outward.id)

        self._call(
            f"Link {inward_key} {link_type} {outward_key}",
            "POST /rest/api/3/issueLink",
            work,
            idempotent=False,
        )

    def link_blocks(self, blocker_key: str, blocked_key: str) -> None:
        self.create_link("Blocks", blocker_key, blocked_key)

    def update_issue(
        self,
        issue_key: str,
        fields: Mapping[str, Any],
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
    ) -> None:
        body: dict[str, Any] = {"fields": dict(fields)}
        operations = [{"add": label} for label in add_labels]
        operations += [{"remove": label} for label in remove_labels]
        if operations:
            body["update"] = {"labels": operations}

        def work() -> None:
            site = self._site
            issue = site.browsable_issue(self._account, issue_key)
            if not site.has_permission(self._account, issue.project_key, "EDIT_ISSUES"):
                raise ApiError(403, ["You do not have permission to edit issues in this project."])
            edit = validate_edit(body, site.as_store(), self._account)
            labels = set(issue.labels if edit.labels is None else edit.labels)
            labels = (labels | set(edit.add_labels)) - set(edit.remove_labels)
            changes: dict[str, Any] = {"labels": tuple(sorted(labels))}
            if edit.summary is not None:
                changes["summary"] = edit.summary
            if edit.description_given:
                changes["description"] = copy.deepcopy(edit.description)
            site.touch(issue.id, **changes)
            self._fail_write_after_commit()

        self._call(
            f"Update issue {issue_key}",
            "PUT /rest/api/3/issue/{issueIdOrKey}",
            work,
            idempotent=True,
        )

    def delete_link(self, link_id: str, issue_keys: Sequence[str] = ()) -> None:
        def work() -> None:
            site = self._site
            link = next((k for k in site.links if str(k.id) == link_id), None)
            if link is None:
                raise ApiError(404, ["No issue link with id '" + link_id + "' exists."])
            for issue_id in (link.inward_id, link.outward_id):
                issue = site.issues.get(issue_id)
                if issue is None:
                    continue
                site.browsable_issue(self._account, issue.key)
                if not site.has_permission(self._account, issue.project_key, "LINK_ISSUES"):
                    raise ApiError(403, ["You do not have the permission to delete this link."])
            site.links.remove(link)
            for issue_id in (link.inward_id, link.outward_id):
                if issue_id in site.issues:
                    site.touch(issue_id)
            self._fail_write_after_commit()

        try:
            self._call(
                f"Delete issue link {link_id}",
                "DELETE /rest/api/3/issueLink/{linkId}",
                work,
                idempotent=True,
            )
        except JiraNotFound:
            return

    def add_comment(self, issue_key: str, body: Mapping[str, Any] | str) -> str:
        def work() -> str:
            site = self._site
            issue = site.browsable_issue(self._account, issue_key)
            if not site.has_permission(self._account, issue.project_key, "ADD_COMMENTS"):
                raise ApiError(403, ["You do not have permission to comment on this issue."])
            if not isinstance(body, Mapping) or adf_problem(body):
                raise ApiError(400, [], {"comment": "Comment body must be an ADF document."})
            row = CommentRow(
                next(site.comment_ids),
                issue.id,
                self._account,
                copy.deepcopy(dict(body)),
                site.now_ms(),
            )
            site.comments.setdefault(issue.id, []).append(row)
            site.touch(issue.id)
            self._fail_write_after_commit()
            return str(row.id)

        return self._call(
            f"Comment on {issue_key}",
            "POST /rest/api/3/issue/{issueIdOrKey}/comment",
            work,
            idempotent=False,
        )

    def get_comments(self, issue_key: str) -> list[Mapping[str, Any]]:
        def work() -> list[Mapping[str, Any]]:
            issue = self._site.browsable_issue(self._account, issue_key)
            render = self._render()
            return [render.comment(c) for c in self._site.comments.get(issue.id, ())]

        return self._call(
            f"Read the comments of {issue_key}",
            "GET /rest/api/3/issue/{issueIdOrKey}/comment",
            work,
            idempotent=True,
        )

    def move_issues_to_sprint(self, sprint_id: int, issue_keys: Sequence[str]) -> None:
        for start in range(0, len(issue_keys), SPRINT_MOVE_LIMIT):
            chunk = list(issue_keys[start : start + SPRINT_MOVE_LIMIT])

            def work(chunk: list[str] = chunk) -> None:
                site = self._site
                sprint = site.sprint(sprint_id)
                if sprint is None:
                    raise ApiError(404, [f"Sprint with id {sprint_id} does not exist."])
                if sprint.state == "closed":
                    raise ApiError(400, ["Issues cannot be moved to a closed sprint."])
                issues = [site.browsable_issue(self._account, key) for key in chunk]
                for issue in issues:
                    site.touch(issue.id, sprint_id=sprint.id)

            self._call(
                f"Move {len(chunk)} issues to sprint {sprint_id}",
                "POST /rest/agile/1.0/sprint/{sprintId}/issue",
                work,
                idempotent=True,
            )

    # --- reads of issues -------------------------------------------------------------------

    def get_issue(self, issue_key: str, fields: Sequence[str] = SNAPSHOT_FIELDS) -> FoundIssue:
        def work() -> FoundIssue:
            issue = self._site.browsable_issue(self._account, issue_key)
            wanted = select_fields([",".join(fields)], default_all=True)
            return FoundIssue.from_json(self._render().issue(issue, wanted))

        return self._call(
            f"Read issue {issue_key}", "GET /rest/api/3/issue/{issueIdOrKey}", work, idempotent=True
        )

    def get_issue_property(self, issue_key: str, property_key: str) -> Any:
        def work() -> Any:
            issue = self._site.browsable_issue(self._account, issue_key)
            properties = self._site.properties.get(issue.id, {})
            if property_key not in properties:
                raise ApiError(404, [f"The property with key '{property_key}' does not exist."])
            return copy.deepcopy(properties[property_key])

        return self._call(
            f"Read property {property_key} of {issue_key}",
            "GET /rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}",
            work,
            idempotent=True,
        )

    def iter_search(
        self,
        jql: str,
        fields: Sequence[str] = ("summary", "labels"),
        page_size: int = 50,
        reconcile: Sequence[str] = (),
    ) -> Iterator[FoundIssue]:
        ids = [int(i) for i in reconcile[:MAX_RECONCILE]]
        offset = 0
        while True:

            def work(offset: int = offset) -> tuple[list[FoundIssue], bool]:
                return self._search_page(jql, fields, page_size, ids, offset)

            page, more = self._call(
                "Search issues", "POST /rest/api/3/search/jql", work, idempotent=True
            )
            yield from page
            if not more:
                return
            offset += len(page)

    def search(
        self,
        jql: str,
        fields: Sequence[str] = ("summary", "labels"),
        page_size: int = 50,
        reconcile: Sequence[str] = (),
    ) -> list[FoundIssue]:
        return list(self.iter_search(jql, fields, page_size, reconcile))

    def search_snapshots(
        self, jql: str, page_size: int = 100, reconcile: Sequence[str] = ()
    ) -> Iterator[IssueSnapshot]:
        for issue in self.iter_search(jql, SNAPSHOT_FIELDS, page_size, reconcile):
            yield IssueSnapshot.from_issue(issue)

    def close(self) -> None:
        self.closed += 1

    # --- the search ------------------------------------------------------------------------

    def _search_page(
        self, jql: str, fields: Sequence[str], page_size: int, reconcile: Sequence[int], offset: int
    ) -> tuple[list[FoundIssue], bool]:
        site = self._site
        try:
            query = parse_jql(jql, site.faults.zone())
            if not query.clauses:
                raise ApiError(400, [UNBOUNDED])
            matches = [_matcher(site, clause) for clause in query.clauses]
        except JqlError as error:
            raise ApiError(400, [str(error)]) from error
        size = min(max(page_size or 50, 1), site.limits.max_search_results)
        lag = site.faults.config.search_lag_ms
        indexed_before = site.now_ms() - int(lag)
        shown = [
            issue
            for issue in site.issues.values()
            if site.has_permission(self._account, issue.project_key, "BROWSE_PROJECTS")
            and (lag <= 0 or issue.created <= indexed_before or issue.id in reconcile)
            and all(match(issue) for match in matches)
        ]
        ordered = _ordered(shown, query)
        wanted = select_fields(list(fields), default_all=False)
        render = self._render()
        page = [
            FoundIssue.from_json(render.issue(issue, wanted))
            for issue in ordered[offset : offset + size]
        ]
        return page, len(ordered) > offset + size


def _ordered(issues: Iterable[IssueRow], query: JqlQuery) -> list[IssueRow]:
    """ORDER BY as the sandbox's SQL: each item in turn, then the issue id."""
    ordered = sorted(issues, key=lambda i: i.id)
    for name, ascending in reversed(query.order_by):
        if name == "key":
            ordered.sort(key=lambda i: (i.project_key, i.number), reverse=not ascending)
        else:
            ordered.sort(key=lambda i: int(getattr(i, name)), reverse=not ascending)
    return ordered


def _matcher(site: _Site, clause: Clause) -> Callable[[IssueRow], bool]:
    """One JQL clause as a test on an issue, with the sandbox's errors for unknown values."""
    name, op, values = clause.field, clause.op, clause.values
    negate = op in ("!=", "not in")
    if name in ("updated", "created"):
        bound = int(values[0])
        compare: dict[str, Callable[[int], bool]] = {
            ">": lambda v: v > bound,
            ">=": lambda v: v >= bound,
            "<": lambda v: v < bound,
            "<=": lambda v: v <= bound,
        }
        return lambda issue: compare[op](int(getattr(issue, name)))
    if name == "labels":
        wanted = set(values)
        if op == "is empty":
            return lambda issue: not issue.labels
        if op == "is not empty":
            return lambda issue: bool(issue.labels)
        return lambda issue: negate != bool(wanted & set(issue.labels))
    column, allowed = _resolve(site, name, values)
    if op == "is empty":
        return lambda issue: getattr(issue, column) is None
    if op == "is not empty":
        return lambda issue: getattr(issue, column) is not None
    # As SQL's IN / NOT IN: an empty column matches neither.
    return lambda issue: (
        (value := getattr(issue, column)) is not None and negate != (value in allowed)
    )


def _resolve(site: _Site, name: str, values: Sequence[str]) -> tuple[str, set[str]]:
    if name == "project":
        keys = set()
        for value in values:
            project = site.project(value)
            if project is None:
                raise JqlError(f"The value '{value}' does not exist for the field 'project'.")
            keys.add(project.key)
        return "project_key", keys
    if name == "key":
        return "key", {v.upper() for v in values}
    if name == "status":
        by_name = {s.name.lower(): s.id for s in STATUSES}
        ids = set()
        for value in values:
            if value.lower() not in by_name:
                raise JqlError(f"The value '{value}' does not exist for the field 'status'.")
            ids.add(by_name[value.lower()])
        return "status_id", ids
    return "assignee", set(values)


def _conforms(jira: InMemoryJira) -> JiraGateway:
    """mypy checks here that the fake implements the port."""
    return jira
