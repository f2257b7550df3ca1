"""The Jira sandbox: the subset of Jira Cloud REST v3 and Agile 1.0 that ticketforge uses.

Paths, bodies, status codes and error shapes follow Jira Cloud
(`{"errorMessages": [...], "errors": {...}}`). Every `/rest/...` request goes
through one middleware, in this order: latency, injected 401, authentication,
injected 429 storm, the site's burst limit, the route, injected timeout.
Per-issue write limits are checked by the routes that write to an issue.

Default credentials (see `Credentials`): Basic `demo@example.com` / `demo-token`
(full access to DEMO and TF), Basic `viewer@example.com` / `viewer-token` (may
only browse DEMO), Bearer `demo-bearer-token` (as demo@example.com).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from infrastructure.jira_sandbox.browse import render_issue_page
from infrastructure.jira_sandbox.errors import ApiError
from infrastructure.jira_sandbox.faults import FaultConfig, FaultInjector, FaultUpdate
from infrastructure.jira_sandbox.issues import validate_create
from infrastructure.jira_sandbox.jql import JqlError, parse_jql
from infrastructure.jira_sandbox.limits import (
    BURST_REASON,
    LimitConfig,
    LimitExceeded,
    SandboxLimiter,
)
from infrastructure.jira_sandbox.render import Json, Renderer, select_fields
from infrastructure.jira_sandbox.stats import SandboxStats
from infrastructure.jira_sandbox.store import (
    ENVIRONMENT_FIELD,
    EXTRA_REQUIRED_FIELDS,
    ISSUE_TYPES,
    PERMISSIONS,
    SPRINT_FIELD,
    STATUSES,
    IssueRow,
    ProjectRow,
    SandboxStore,
)

MAX_CREATEMETA_RESULTS = 200
SPRINT_TYPE = "com.pyxis.greenhopper.jira:gh-sprint"
TEXTAREA_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:textarea"
UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
MAX_SPRINT_MOVE = 50


@dataclass(frozen=True)
class Credentials:
    """Who may call the sandbox: Basic `email -> API token`, Bearer `token -> email`."""

    basic: Mapping[str, str] = field(
        default_factory=lambda: {
            "demo@example.com": "demo-token",
            "viewer@example.com": "viewer-token",
        }
    )
    bearer: Mapping[str, str] = field(
        default_factory=lambda: {"demo-bearer-token": "demo@example.com"}
    )


class Sandbox:
    """Everything one sandbox app holds; routes reach it through `request.app.state`."""

    def __init__(
        self,
        store: SandboxStore,
        faults: FaultConfig,
        limits: LimitConfig,
        credentials: Credentials,
    ) -> None:
        self.store = store
        self.initial_faults = faults
        self.initial_limits = limits
        self.credentials = credentials
        self.faults = FaultInjector(faults)
        self.limiter = SandboxLimiter(limits)
        self.stats = SandboxStats()
        self._accounts: dict[str, str] = {}
        self._ensure_principals()

    def _ensure_principals(self) -> None:
        emails = {*self.credentials.basic, *self.credentials.bearer.values()}
        self._accounts = {email.lower(): self.store.ensure_user(email) for email in emails}

    def authenticate(self, header: str | None) -> str | None:
        """The account id behind an Authorization header, or None."""
        scheme, _, value = (header or "").partition(" ")
        email: str | None = None
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            user, _, token = decoded.partition(":")
            expected = {k.lower(): v for k, v in self.credentials.basic.items()}.get(user.lower())
            if expected is not None and hmac.compare_digest(expected, token):
                email = user
        elif scheme.lower() == "bearer":
            for token, owner in self.credentials.bearer.items():
                if hmac.compare_digest(token, value.strip()):
                    email = owner
        return self._accounts.get(email.lower()) if email else None

    def reset(self) -> None:
        self.store.reset()
        self._ensure_principals()
        self.faults.reset(self.initial_faults)
        self.limiter.configure(self.initial_limits)
        self.stats.clear()

    def guard_issue_writes(self, keys: Sequence[str]) -> None:
        exceeded = self.limiter.check_issue_writes(keys)
        if exceeded is not None:
            self.stats.rate_limited(exceeded.reason)
            raise rate_limit_error(exceeded)


def rate_limit_error(exceeded: LimitExceeded) -> ApiError:
    reset = datetime.now(UTC) + timedelta(seconds=exceeded.retry_after)
    seconds = exceeded.retry_after
    return ApiError(
        429,
        ["Rate limit exceeded."],
        headers={
            "Retry-After": str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}",
            "X-RateLimit-Limit": str(exceeded.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{reset.microsecond // 1000:03d}Z",
            "X-RateLimit-NearLimit": "true",
            "RateLimit-Reason": exceeded.reason,
        },
    )


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


# -- dependencies ---------------------------------------------------------------------


def get_sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def get_account(request: Request) -> str:
    account: str = request.state.account_id
    return account


def get_renderer(request: Request, sandbox: Annotated[Sandbox, Depends(get_sandbox)]) -> Renderer:
    return Renderer(sandbox.store, str(request.base_url))


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]
Account = Annotated[str, Depends(get_account)]
Render = Annotated[Renderer, Depends(get_renderer)]
JsonBody = Annotated[Any, Body()]

# -- lookups shared by routes -----------------------------------------------------------


def _browsable_project(sandbox: Sandbox, account: str, key: str) -> ProjectRow:
    project = sandbox.store.project(key)
    if project is None or not sandbox.store.has_permission(account, project.key, "BROWSE_PROJECTS"):
        raise ApiError(404, [f"No project could be found with key '{key}'."])
    return project


def _browsable_issue(sandbox: Sandbox, account: str, key: str) -> IssueRow:
    issue = sandbox.store.issue(key)
    if issue is None or not sandbox.store.has_permission(
        account, issue.project_key, "BROWSE_PROJECTS"
    ):
        raise ApiError(404, ["Issue does not exist or you do not have permission to see it."])
    return issue


def _page(values: list[Any], start_at: int, max_results: int) -> Json:
    chunk = values[start_at : start_at + max_results]
    return {
        "maxResults": max_results,
        "startAt": start_at,
        "total": len(values),
        "isLast": start_at + len(chunk) >= len(values),
        "values": chunk,
    }


def _ref(value: object, *names: str) -> str | None:
    if isinstance(value, Mapping):
        for name in names:
            if value.get(name) not in (None, ""):
                return str(value[name])
    return None


# -- platform REST API v3 ---------------------------------------------------------------

api = APIRouter(prefix="/rest/api/3")


@api.get("/myself")
def myself(sandbox: SandboxDep, account: Account, render: Render) -> Json:
    user = sandbox.store.user(account)
    if user is None:
        raise ApiError(401, ["You are not authenticated."])
    return render.user(user)


@api.get("/mypermissions")
def my_permissions(
    sandbox: SandboxDep,
    account: Account,
    render: Render,
    permissions: str | None = None,
    projectKey: str | None = None,
) -> Json:
    keys = [p.strip() for p in (permissions or "").split(",") if p.strip()]
    if not keys:
        raise ApiError(400, ["The 'permissions' query parameter is required."])
    unknown = [k for k in keys if k not in PERMISSIONS]
    if unknown:
        raise ApiError(400, [f"Invalid permission key: {', '.join(unknown)}"])
    granted: set[str] = set()
    if projectKey:
        project = _browsable_project(sandbox, account, projectKey)
        granted = sandbox.store.permissions(account, project.key)
    return render.permissions(granted, keys)


@api.get("/project/{projectIdOrKey}")
def get_project(projectIdOrKey: str, sandbox: SandboxDep, account: Account, render: Render) -> Json:
    return render.project(_browsable_project(sandbox, account, projectIdOrKey), full=True)


def _createmeta_window(start_at: int, max_results: int) -> None:
    if max_results > MAX_CREATEMETA_RESULTS:
        raise ApiError(
            400, [f"Parameter 'maxResults' must not exceed the limit '{MAX_CREATEMETA_RESULTS}'"]
        )
    if start_at < 0 or max_results < 0:
        raise ApiError(400, ["Parameters 'startAt' and 'maxResults' must not be negative."])


@api.get("/issue/createmeta/{projectIdOrKey}/issuetypes")
def createmeta_issue_types(
    *,
    projectIdOrKey: str,
    sandbox: SandboxDep,
    account: Account,
    render: Render,
    startAt: int = 0,
    maxResults: int = 50,
) -> Json:
    _createmeta_window(startAt, maxResults)
    project = _browsable_project(sandbox, account, projectIdOrKey)
    can_create = sandbox.store.has_permission(account, project.key, "CREATE_ISSUES")
    types = [render.issue_type(t) for t in ISSUE_TYPES] if can_create else []
    page = _page(types, startAt, maxResults)
    return {
        "issueTypes": page["values"],
        "startAt": startAt,
        "maxResults": maxResults,
        "total": page["total"],
    }


def _create_fields(render: Renderer, project: ProjectRow, issue_type_id: str) -> list[Json]:
    """The create screen of one issue type, as createmeta describes each field."""
    issue_type = next(t for t in ISSUE_TYPES if t.id == issue_type_id)
    priorities = render.store.priorities()
    default_priority = next(p for p in priorities if p.is_default)
    required_extra = EXTRA_REQUIRED_FIELDS.get((project.key, issue_type.id), ())

    def meta(field_id: str, name: str, schema: Json, **extra: Any) -> Json:
        return {
            "fieldId": field_id,
            "key": field_id,
            "name": name,
            "required": extra.pop("required", False),
            "hasDefaultValue": extra.pop("hasDefaultValue", False),
            "operations": extra.pop("operations", ["set"]),
            "schema": schema,
            **extra,
        }

    screen = [
        meta("summary", "Summary", {"type": "string", "system": "summary"}, required=True),
        meta(
            "issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"},
            required=True, operations=[], allowedValues=[render.issue_type(issue_type)],
        ),
        meta(
            "project", "Project", {"type": "project", "system": "project"},
            required=True, allowedValues=[render.project(project)],
        ),
        meta("description", "Description", {"type": "string", "system": "description"}),
        meta(
            "labels", "Labels", {"type": "array", "items": "string", "system": "labels"},
            operations=["add", "set", "remove"],
            autoCompleteUrl=f"{render.api}/label/suggest?query=",
        ),
        meta(
            "assignee", "Assignee", {"type": "user", "system": "assignee"},
            autoCompleteUrl=f"{render.api}/user/assignable/search?project={project.key}&query=",
        ),
        meta(
            "priority", "Priority", {"type": "priority", "system": "priority"},
            hasDefaultValue=True, defaultValue=render.priority(default_priority),
            allowedValues=[render.priority(p) for p in priorities],
        ),
        meta(
            SPRINT_FIELD, "Sprint",
            {"type": "array", "items": "json", "custom": SPRINT_TYPE, "customId": 10020},
        ),
        meta(
            ENVIRONMENT_FIELD, "Environment",
            {"type": "string", "custom": TEXTAREA_TYPE, "customId": 10040},
            required=ENVIRONMENT_FIELD in required_extra,
        ),
    ]  # fmt: skip
    if issue_type.hierarchy_level == 0:
        screen.append(meta("parent", "Parent", {"type": "issuelink", "system": "parent"}))
    return screen


@api.get("/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}")
def createmeta_fields(
    *,
    projectIdOrKey: str,
    issueTypeId: str,
    sandbox: SandboxDep,
    account: Account,
    render: Render,
    startAt: int = 0,
    maxResults: int = 50,
) -> Json:
    _createmeta_window(startAt, maxResults)
    project = _browsable_project(sandbox, account, projectIdOrKey)
    if issueTypeId not in {t.id for t in ISSUE_TYPES} or not sandbox.store.has_permission(
        account, project.key, "CREATE_ISSUES"
    ):
        raise ApiError(
            404, [f"Issue type with id '{issueTypeId}' does not exist in {project.key}."]
        )
    page = _page(_create_fields(render, project, issueTypeId), startAt, maxResults)
    return {
        "fields": page["values"],
        "startAt": startAt,
        "maxResults": maxResults,
        "total": page["total"],
    }


def _created(render: Renderer, issue: IssueRow) -> Json:
    return {"id": str(issue.id), "key": issue.key, "self": f"{render.api}/issue/{issue.id}"}


def _fail_after_commit(sandbox: Sandbox) -> None:
    """The fault that makes creates ambiguous: stored, but answered with a 5xx."""
    status = sandbox.faults.create_failure()
    if status is not None:
        sandbox.stats.fault("create_5xx_after_commit")
        raise ApiError(status, ["Internal server error."])


@api.post("/issue", status_code=201)
def create_issue(body: JsonBody, sandbox: SandboxDep, account: Account, render: Render) -> Json:
    draft = validate_create(body, sandbox.store, account)
    issue = sandbox.store.insert_issue(draft, reporter=account)
    sandbox.stats.event("issues_created")
    _fail_after_commit(sandbox)
    return _created(render, issue)


@api.post("/issue/bulk", status_code=201)
def create_issues(
    body: JsonBody, response: Response, sandbox: SandboxDep, account: Account, render: Render
) -> Json:
    updates = body.get("issueUpdates") if isinstance(body, Mapping) else None
    if not isinstance(updates, list):
        raise ApiError(400, ["The request must contain 'issueUpdates', a list of issues."])
    limit = sandbox.limiter.config.max_bulk_issues
    if len(updates) > limit:
        raise ApiError(400, [f"A bulk create request can contain at most {limit} issues."])
    created: list[Json] = []
    errors: list[Json] = []
    for index, update in enumerate(updates):
        try:
            draft = validate_create(update, sandbox.store, account)
        except ApiError as error:
            errors.append(
                {
                    "status": error.status,
                    "elementErrors": {"errorMessages": error.messages, "errors": error.errors},
                    "failedElementNumber": index,
                }
            )
            continue
        created.append(_created(render, sandbox.store.insert_issue(draft, reporter=account)))
    sandbox.stats.event("issues_created", len(created))
    if created:
        _fail_after_commit(sandbox)
    else:
        response.status_code = 400
    return {"issues": created, "errors": errors}


@api.get("/issue/{issueIdOrKey}")
def get_issue(
    issueIdOrKey: str,
    sandbox: SandboxDep,
    account: Account,
    render: Render,
    fields: Annotated[list[str] | None, Query()] = None,
) -> Json:
    issue = _browsable_issue(sandbox, account, issueIdOrKey)
    return render.issue(issue, select_fields(fields, default_all=True))


@api.get("/issue/{issueIdOrKey}/properties/{propertyKey}")
def get_issue_property(
    issueIdOrKey: str,
    propertyKey: str,
    sandbox: SandboxDep,
    account: Account,
) -> Json:
    issue = _browsable_issue(sandbox, account, issueIdOrKey)
    found, value = sandbox.store.issue_property(issue.id, propertyKey)
    if not found:
        raise ApiError(404, [f"The property with key '{propertyKey}' does not exist."])
    return {"key": propertyKey, "value": value}


@api.post("/issue/{issueIdOrKey}/attachments", response_model=None)
async def add_attachments(
    issueIdOrKey: str,
    request: Request,
    sandbox: SandboxDep,
    account: Account,
    render: Render,
) -> Response | list[Json]:
    if request.headers.get("X-Atlassian-Token", "").lower() != "no-check":
        # As Jira: the XSRF guard answers before anything else, in plain text.
        return Response("XSRF check failed", status_code=403, media_type="text/plain")
    issue = await run_in_threadpool(_browsable_issue, sandbox, account, issueIdOrKey)
    if not sandbox.store.has_permission(account, issue.project_key, "CREATE_ATTACHMENTS"):
        raise ApiError(403, ["You do not have permission to create attachments for this issue."])
    form = await request.form()
    uploads = [item for item in form.getlist("file") if isinstance(item, UploadFile)]
    if not uploads:
        raise ApiError(400, ["The request must carry the attachments in the 'file' form field."])
    limit = sandbox.limiter.config.max_attachment_bytes
    contents = [await upload.read() for upload in uploads]
    if any(len(content) > limit for content in contents):
        raise ApiError(
            413, [f"The attachment exceeds the maximum attachment size of {limit} bytes."]
        )
    sandbox.guard_issue_writes([issue.key])

    def store_all() -> list[Json]:
        rows = [
            sandbox.store.add_attachment(
                issue.id,
                upload.filename or "attachment",
                upload.content_type or "application/octet-stream",
                content,
                account,
            )
            for upload, content in zip(uploads, contents, strict=True)
        ]
        return [render.attachment(row) for row in rows]

    stored = await run_in_threadpool(store_all)
    sandbox.stats.event("attachments_uploaded", len(stored))
    return stored


@api.get("/attachment/content/{attachmentId}")
def attachment_content(attachmentId: int, sandbox: SandboxDep, account: Account) -> Response:
    found = sandbox.store.attachment_content(attachmentId)
    if found is None:
        raise ApiError(404, ["The attachment does not exist."])
    row, content = found
    issue = sandbox.store.issue(row.issue_id)
    if issue is None:
        raise ApiError(404, ["The attachment does not exist."])
    _browsable_issue(sandbox, account, issue.key)
    return Response(content, media_type=row.mime_type)


@api.get("/issueLinkType")
def link_types(sandbox: SandboxDep, render: Render) -> Json:
    return {
        "issueLinkTypes": [
            render.link_type(t)
            for t in sandbox.store.link_types()
            if not sandbox.faults.link_type_missing(t.name)
        ]
    }


@api.post("/issueLink", status_code=201, response_model=None)
def link_issues(body: JsonBody, sandbox: SandboxDep, account: Account) -> Response:
    if not isinstance(body, Mapping):
        raise ApiError(400, ["The request body must be an object."])
    type_id, type_name = _ref(body.get("type"), "id"), _ref(body.get("type"), "name")
    inward_ref = _ref(body.get("inwardIssue"), "key", "id")
    outward_ref = _ref(body.get("outwardIssue"), "key", "id")
    if (type_id is None and type_name is None) or inward_ref is None or outward_ref is None:
        raise ApiError(
            400, ["The link needs a type (id or name), an inwardIssue and an outwardIssue."]
        )
    link_type = next(
        (
            t
            for t in sandbox.store.link_types()
            if (t.id == type_id or t.name == type_name)
            and not sandbox.faults.link_type_missing(t.name)
        ),
        None,
    )
    if link_type is None:
        raise ApiError(404, [f"No issue link type with name '{type_name or type_id}' found."])
    inward = _browsable_issue(sandbox, account, inward_ref)
    outward = _browsable_issue(sandbox, account, outward_ref)
    if inward.id == outward.id:
        raise ApiError(400, ["You cannot link an issue to itself."])
    for issue in (inward, outward):
        if not sandbox.store.has_permission(account, issue.project_key, "LINK_ISSUES"):
            raise ApiError(404, ["You do not have the permission to link issues."])
    sandbox.guard_issue_writes([inward.key, outward.key])
    if sandbox.store.add_link(link_type.id, inward.id, outward.id):
        sandbox.stats.event("links_created")
    return Response(status_code=201)


class SearchRequest(BaseModel):
    """`POST /search/jql`'s body; unknown fields are refused as Jira does."""

    model_config = ConfigDict(extra="forbid")

    jql: str | None = None
    nextPageToken: str | None = None
    maxResults: int | None = None
    fields: list[str] | None = None
    expand: str | None = None
    properties: list[str] | None = None
    fieldsByKeys: bool | None = None
    reconcileIssues: list[int] | None = None


def _page_token(offset: int, signature: str) -> str:
    raw = json.dumps({"o": offset, "s": signature}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _token_offset(token: str, signature: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded))
        if decoded["s"] == signature:
            return int(decoded["o"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise ApiError(400, ["The nextPageToken is invalid or belongs to another query."])


def _search(
    sandbox: Sandbox,
    account: str,
    render: Renderer,
    request: SearchRequest,
) -> Json:
    try:
        query = parse_jql(request.jql or "")
    except JqlError as error:
        raise ApiError(400, [str(error)]) from error
    if not query.clauses:
        raise ApiError(400, [UNBOUNDED])
    cap = sandbox.limiter.config.max_search_results
    page_size = min(max(request.maxResults or 50, 1), cap)
    fields = request.fields or []
    signature = hashlib.sha256(f"{request.jql}\x00{','.join(fields)}".encode()).hexdigest()[:16]
    offset = _token_offset(request.nextPageToken, signature) if request.nextPageToken else 0
    try:
        issues, more = sandbox.store.search(query, account, offset, page_size)
    except JqlError as error:
        raise ApiError(400, [str(error)]) from error
    wanted = select_fields(fields, default_all=False)
    body: Json = {"issues": [render.issue(issue, wanted) for issue in issues], "isLast": not more}
    if more:
        body["nextPageToken"] = _page_token(offset + len(issues), signature)
    return body


@api.get("/search/jql")
def search_get(
    *,
    sandbox: SandboxDep,
    account: Account,
    render: Render,
    jql: str | None = None,
    nextPageToken: str | None = None,
    maxResults: int | None = None,
    fields: Annotated[list[str] | None, Query()] = None,
) -> Json:
    request = SearchRequest(
        jql=jql, nextPageToken=nextPageToken, maxResults=maxResults, fields=fields
    )
    return _search(sandbox, account, render, request)


@api.post("/search/jql")
def search_post(body: SearchRequest, sandbox: SandboxDep, account: Account, render: Render) -> Json:
    return _search(sandbox, account, render, body)


@api.get("/user/search")
def find_users(
    sandbox: SandboxDep,
    render: Render,
    query: str | None = None,
    accountId: str | None = None,
    maxResults: int = 50,
) -> list[Json]:
    if accountId:
        user = sandbox.store.user(accountId)
        return [render.user(user)] if user else []
    if not query:
        raise ApiError(400, ["One of 'query' or 'accountId' must be given."])
    return [render.user(u) for u in sandbox.store.find_users(query, maxResults)]


@api.get("/user/assignable/search")
def find_assignable_users(
    *,
    sandbox: SandboxDep,
    account: Account,
    render: Render,
    project: str | None = None,
    issueKey: str | None = None,
    query: str = "",
    maxResults: int = 50,
) -> list[Json]:
    if issueKey:
        project = _browsable_issue(sandbox, account, issueKey).project_key
    if not project:
        raise ApiError(
            400, ["One of the following parameters must be provided: issueKey, project."]
        )
    found = _browsable_project(sandbox, account, project)
    return [render.user(u) for u in sandbox.store.assignable_users(found.key, query, maxResults)]


@api.get("/priority")
def priorities(sandbox: SandboxDep, render: Render) -> list[Json]:
    return [render.priority(p) for p in sandbox.store.priorities()]


@api.get("/priority/search")
def priority_search(
    sandbox: SandboxDep,
    render: Render,
    startAt: int = 0,
    maxResults: int = 50,
) -> Json:
    page = _page([render.priority(p) for p in sandbox.store.priorities()], startAt, maxResults)
    return page | {"self": f"{render.api}/priority/search"}


# -- Jira Software (Agile) REST 1.0 -------------------------------------------------------

agile = APIRouter(prefix="/rest/agile/1.0")


@agile.get("/board")
def boards(
    *,
    sandbox: SandboxDep,
    account: Account,
    render: Render,
    projectKeyOrId: str | None = None,
    startAt: int = 0,
    maxResults: int = 50,
) -> Json:
    keys = [projectKeyOrId] if projectKeyOrId else ["DEMO", "TF"]
    values: list[Json] = []
    for key in keys:
        project = _browsable_project(sandbox, account, key)
        values += [render.board(b, project) for b in sandbox.store.boards(project.key)]
    return _page(values, startAt, maxResults)


@agile.get("/board/{boardId}/sprint")
def sprints(
    *,
    boardId: int,
    sandbox: SandboxDep,
    account: Account,
    render: Render,
    state: str = "active,future,closed",
    startAt: int = 0,
    maxResults: int = 50,
) -> Json:
    board = sandbox.store.board(boardId)
    if board is None:
        raise ApiError(
            404, [f"Board {boardId} does not exist or you do not have permission to see it."]
        )
    _browsable_project(sandbox, account, board.project_key)
    states = [s.strip() for s in state.split(",") if s.strip()]
    values = [render.sprint(s) for s in sandbox.store.sprints(board.id, states)]
    return _page(values, startAt, maxResults)


@agile.post("/sprint/{sprintId}/issue", status_code=204, response_model=None)
def move_to_sprint(
    sprintId: int, body: JsonBody, sandbox: SandboxDep, account: Account
) -> Response:
    sprint = sandbox.store.sprint(sprintId)
    if sprint is None:
        raise ApiError(404, [f"Sprint with id {sprintId} does not exist."])
    keys = body.get("issues") if isinstance(body, Mapping) else None
    if not isinstance(keys, list) or not keys or len(keys) > MAX_SPRINT_MOVE:
        raise ApiError(400, [f"'issues' must list 1 to {MAX_SPRINT_MOVE} issue keys or ids."])
    if sprint.state == "closed":
        raise ApiError(400, ["Issues cannot be moved to a closed sprint."])
    issues = [_browsable_issue(sandbox, account, str(k)) for k in keys]
    sandbox.guard_issue_writes([i.key for i in issues])
    sandbox.store.move_to_sprint(sprint.id, [i.id for i in issues])
    sandbox.stats.event("sprint_moves", len(issues))
    return Response(status_code=204)


# -- pages ------------------------------------------------------------------------------

pages = APIRouter(include_in_schema=False)


@pages.get("/", response_class=HTMLResponse)
def index(sandbox: SandboxDep) -> str:
    rows = "".join(
        f'<li><a href="/browse/{i.key}">{i.key}</a></li>' for i in sandbox.store.recent_issues(50)
    )
    return (
        "<!doctype html><title>Jira sandbox</title><h1>Jira sandbox</h1>"
        f"<p>Projects: DEMO, TF. Recent issues:</p><ul>{rows or '<li>None yet</li>'}</ul>"
    )


@pages.get("/browse/{key}", response_class=HTMLResponse)
def browse(key: str, sandbox: SandboxDep) -> HTMLResponse:
    issue = sandbox.store.issue(key)
    if issue is None:
        return HTMLResponse(f"<h1>{key.upper()} does not exist</h1>", status_code=404)
    assignee = sandbox.store.user(issue.assignee) if issue.assignee else None
    html = render_issue_page(
        issue,
        issue_type=next(t.name for t in ISSUE_TYPES if t.id == issue.issue_type_id),
        status=next(s.name for s in STATUSES if s.id == issue.status_id),
        assignee=assignee.display_name if assignee else None,
        links=sandbox.store.links_of(issue.id),
        attachments=sandbox.store.attachments(issue.id),
    )
    return HTMLResponse(html)


@pages.get("/secure/attachment/{attachmentId}/{filename}")
def download(attachmentId: int, filename: str, sandbox: SandboxDep) -> Response:
    found = sandbox.store.attachment_content(attachmentId)
    if found is None:
        return Response("Not found", status_code=404)
    row, content = found
    return Response(content, media_type=row.mime_type)


# -- sandbox administration (no authentication: the sandbox is for tests and demos) -----

admin = APIRouter(prefix="/_sandbox", include_in_schema=False)


class LimitUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    requests_per_second: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)
    issue_write_windows: list[tuple[int, float]] | None = None
    retry_after_seconds: float | None = Field(default=None, ge=0)
    max_attachment_bytes: int | None = Field(default=None, ge=0)
    max_bulk_issues: int | None = Field(default=None, ge=1)
    max_search_results: int | None = Field(default=None, ge=1)


def _limits_dict(config: LimitConfig) -> Json:
    return {f.name: getattr(config, f.name) for f in fields(LimitConfig)}


@admin.get("/faults")
def get_faults(sandbox: SandboxDep) -> Json:
    return sandbox.faults.as_dict()


@admin.post("/faults")
def set_faults(update: FaultUpdate, sandbox: SandboxDep) -> Json:
    sandbox.faults.update(update.changes())
    return sandbox.faults.as_dict()


@admin.get("/limits")
def get_limits(sandbox: SandboxDep) -> Json:
    return _limits_dict(sandbox.limiter.config)


@admin.post("/limits")
def set_limits(update: LimitUpdate, sandbox: SandboxDep) -> Json:
    changes = update.model_dump(exclude_unset=True)
    if "issue_write_windows" in changes:
        changes["issue_write_windows"] = tuple(
            tuple(w) for w in changes["issue_write_windows"] or ()
        )
    sandbox.limiter.configure(replace(sandbox.limiter.config, **changes))
    return _limits_dict(sandbox.limiter.config)


@admin.get("/stats")
def get_stats(sandbox: SandboxDep) -> Json:
    return sandbox.stats.snapshot() | {"issues_in_store": sandbox.store.count_issues()}


@admin.post("/reset")
def reset(sandbox: SandboxDep) -> Json:
    sandbox.reset()
    return {"reset": True}


class IssueWork(BaseModel):
    """Simulates people working in Jira, for sync-back tests and demos."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = None
    resolution: str | None = None
    assignee: str | None = None


@admin.patch("/issues/{key}")
def work_on_issue(key: str, work: IssueWork, sandbox: SandboxDep, render: Render) -> Json:
    issue = sandbox.store.issue(key)
    if issue is None:
        raise ApiError(404, [f"Issue {key} does not exist."])
    changes: dict[str, Any] = {}
    given = work.model_fields_set
    if work.status is not None:
        status = next((s for s in STATUSES if s.name.lower() == work.status.lower()), None)
        if status is None:
            raise ApiError(400, [f"Unknown status '{work.status}'."])
        changes["status_id"] = status.id
        if "resolution" not in given:
            changes["resolution"] = "Done" if status.category_key == "done" else None
    if "resolution" in given:
        changes["resolution"] = work.resolution
    if "assignee" in given:
        if work.assignee is not None and sandbox.store.user(work.assignee) is None:
            raise ApiError(400, [f"Unknown user '{work.assignee}'."])
        changes["assignee"] = work.assignee
    sandbox.store.update_issue(issue.id, changes)
    updated = sandbox.store.issue(issue.id)
    return render.issue(
        updated or issue,
        select_fields(["status", "assignee", "resolution", "updated"], default_all=False),
    )


# -- the application ------------------------------------------------------------------


def _route_name(request: Request) -> str:
    """`METHOD /path/{template}` of a Jira route, for the stats (also before routing ran)."""
    for route in (*api.routes, *agile.routes):
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return f"{request.method} {getattr(route, 'path', request.url.path)}"
    return f"{request.method} {request.url.path}"


async def _jira_gate(
    sandbox: Sandbox, request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    faults = sandbox.faults
    latency = faults.latency_seconds()
    if latency > 0:
        await asyncio.sleep(latency)
    if faults.unauthorized():
        sandbox.stats.fault("unauthorized")
        return _error_response(ApiError(401, ["You are not authenticated (injected fault)."]))
    account = sandbox.authenticate(request.headers.get("Authorization"))
    if account is None:
        return _error_response(
            ApiError(
                401,
                ["You are not authenticated. Authentication required to perform this operation."],
            )
        )
    request.state.account_id = account
    storm = faults.take_storm()
    if storm is not None:
        sandbox.stats.fault("rate_limit_storm")
        sandbox.stats.rate_limited("storm")
        limit = sandbox.limiter.config.burst
        return _error_response(rate_limit_error(LimitExceeded(BURST_REASON, limit, storm)))
    exceeded = sandbox.limiter.check_burst(request.method)
    if exceeded is not None:
        sandbox.stats.rate_limited(exceeded.reason)
        return _error_response(rate_limit_error(exceeded))
    response = await call_next(request)
    delay = faults.take_timeout()
    if delay is not None:
        # The work is done; only the answer is late, as when Jira is slow.
        sandbox.stats.fault("timeout")
        await asyncio.sleep(delay)
    return response


def create_sandbox_app(
    db_path: Path | None,
    *,
    faults: FaultConfig | None = None,
    limits: LimitConfig | None = None,
    latency_ms: float = 0,
    credentials: Credentials | None = None,
) -> FastAPI:
    """A Jira sandbox app over `db_path` (None: in memory)."""
    fault_config = faults or FaultConfig()
    if latency_ms:
        fault_config = replace(fault_config, latency_ms=latency_ms)
    sandbox = Sandbox(
        SandboxStore(db_path), fault_config, limits or LimitConfig(), credentials or Credentials()
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        sandbox.store.close()

    app = FastAPI(
        title="ticketforge Jira sandbox",
        description=__doc__,
        lifespan=lifespan,
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
    )
    app.state.sandbox = sandbox
    for router in (api, agile, pages, admin):
        app.include_router(router)

    @app.middleware("http")
    async def jira_gate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not request.url.path.startswith("/rest/"):
            return await call_next(request)
        response = await _jira_gate(sandbox, request, call_next)
        sandbox.stats.request(_route_name(request), response.status_code)
        return response

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        messages = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in error.errors()
        ]
        return _error_response(ApiError(400, messages))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error_response(ApiError(error.status_code, [str(error.detail)]))

    return app
