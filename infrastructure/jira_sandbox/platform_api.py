"""Jira's platform REST API: the subset ticketforge calls, as Jira answers it.

`api` is Cloud's REST v3. `api_v2` serves the same routes under `/rest/api/2` with the
shapes Jira Data Center 9.x/10.x answers (createmeta pages of `values`, users by
`name`, wiki-markup text, `POST /search` paged by `startAt`); which one a sandbox serves
follows its flavour (`app.py`). `serverInfo` answers on both."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from infrastructure.jira_sandbox.errors import ApiError
from infrastructure.jira_sandbox.issues import adf_problem, ref, validate_create, validate_edit
from infrastructure.jira_sandbox.jql import JqlError, parse_jql
from infrastructure.jira_sandbox.render import Json, Renderer, select_fields
from infrastructure.jira_sandbox.state import (
    Account,
    JsonBody,
    Render,
    Sandbox,
    SandboxDep,
    browsable_issue,
    browsable_project,
    page_of,
)
from infrastructure.jira_sandbox.store import (
    DATACENTER,
    ENVIRONMENT_FIELD,
    EPIC_LINK_FIELD,
    EPIC_LINK_TYPE,
    EPIC_NAME_FIELD,
    EPIC_NAME_TYPE,
    EXTRA_REQUIRED_FIELDS,
    ISSUE_TYPES,
    PERMISSIONS,
    SPRINT_FIELD,
    IssueDraft,
    IssueRow,
    ProjectRow,
)

MAX_CREATEMETA_RESULTS = 200
SPRINT_TYPE = "com.pyxis.greenhopper.jira:gh-sprint"
TEXTAREA_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:textarea"
UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)


# -- platform REST API v3 ---------------------------------------------------------------

api = APIRouter(prefix="/rest/api/3")


@api.get("/serverInfo")
def server_info(sandbox: SandboxDep, render: Render) -> Json:
    """Cloud answers `deploymentType: Cloud`; Data Center (10.x too) answers `Server`."""
    if sandbox.flavor == DATACENTER:
        return {
            "baseUrl": render.base,
            "version": "9.12.15",
            "versionNumbers": [9, 12, 15],
            "deploymentType": "Server",
            "buildNumber": 9120015,
            "buildDate": "2024-10-01T00:00:00.000+0000",
            "scmInfo": "sandbox",
            "serverTitle": "ticketforge Jira Data Center sandbox",
        }
    return {
        "baseUrl": render.base,
        "version": "1001.0.0-SNAPSHOT",
        "versionNumbers": [1001, 0, 0],
        "deploymentType": "Cloud",
        "buildNumber": 100290,
        "buildDate": "2024-10-01T00:00:00.000+0000",
        "scmInfo": "sandbox",
        "serverTitle": "ticketforge Jira Cloud sandbox",
    }


def field_catalog(flavor: str) -> list[Json]:
    """`GET /field`: the system fields ticketforge uses and the site's custom fields."""

    def system(field_id: str, name: str, schema: Json) -> Json:
        return {"id": field_id, "key": field_id, "name": name, "custom": False,
                "orderable": True, "navigable": True, "searchable": True,
                "clauseNames": [field_id], "schema": schema}  # fmt: skip

    def custom(field_id: str, name: str, schema: Json) -> Json:
        number = int(field_id.rsplit("_", 1)[-1])
        return {"id": field_id, "key": field_id, "name": name, "custom": True,
                "orderable": True, "navigable": True, "searchable": True,
                "clauseNames": [f"cf[{number}]", name],
                "schema": schema | {"customId": number}}  # fmt: skip

    fields = [
        system("summary", "Summary", {"type": "string", "system": "summary"}),
        system("description", "Description", {"type": "string", "system": "description"}),
        system("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}),
        system("assignee", "Assignee", {"type": "user", "system": "assignee"}),
        system("priority", "Priority", {"type": "priority", "system": "priority"}),
        custom(SPRINT_FIELD, "Sprint", {"type": "array", "items": "json", "custom": SPRINT_TYPE}),
        custom(ENVIRONMENT_FIELD, "Environment", {"type": "string", "custom": TEXTAREA_TYPE}),
    ]
    if flavor == DATACENTER:
        fields += [
            custom(EPIC_LINK_FIELD, "Epic Link", {"type": "any", "custom": EPIC_LINK_TYPE}),
            custom(EPIC_NAME_FIELD, "Epic Name", {"type": "string", "custom": EPIC_NAME_TYPE}),
        ]
    else:
        fields.append(system("parent", "Parent", {"type": "issuelink", "system": "parent"}))
    return fields


@api.get("/field")
def get_fields(sandbox: SandboxDep) -> list[Json]:
    return field_catalog(sandbox.flavor)


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
        project = browsable_project(sandbox, account, projectKey)
        granted = sandbox.store.permissions(account, project.key)
    return render.permissions(granted, keys)


@api.get("/project/{projectIdOrKey}")
def get_project(projectIdOrKey: str, sandbox: SandboxDep, account: Account, render: Render) -> Json:
    body = render.project(browsable_project(sandbox, account, projectIdOrKey), full=True)
    body["issueTypes"] = [
        t for t in body["issueTypes"] if not sandbox.faults.issue_type_missing(t["name"])
    ]
    return body


def _type_exists(sandbox: Sandbox, draft: IssueDraft) -> None:
    """An issue type the project does not have (the `missing_issue_types` fault)."""
    name = next((t.name for t in ISSUE_TYPES if t.id == draft.issue_type_id), "")
    if sandbox.faults.issue_type_missing(name):
        raise ApiError(400, [], {"issuetype": "Specify a valid issue type"})


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
    project = browsable_project(sandbox, account, projectIdOrKey)
    can_create = sandbox.store.has_permission(account, project.key, "CREATE_ISSUES")
    types = [
        render.issue_type(t)
        for t in ISSUE_TYPES
        if can_create and not sandbox.faults.issue_type_missing(t.name)
    ]
    page = page_of(types, startAt, maxResults)
    if sandbox.flavor == DATACENTER:
        return page  # {maxResults, startAt, total, isLast, values}
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
    if render.flavor == DATACENTER:
        if issue_type.hierarchy_level == 0:
            screen.append(meta(EPIC_LINK_FIELD, "Epic Link", {"type": "any",
                "custom": EPIC_LINK_TYPE, "customId": 10100}))  # fmt: skip
        else:
            screen.append(meta(EPIC_NAME_FIELD, "Epic Name", {"type": "string",
                "custom": EPIC_NAME_TYPE, "customId": 10102}, required=True))  # fmt: skip
    elif issue_type.hierarchy_level == 0:
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
    project = browsable_project(sandbox, account, projectIdOrKey)
    known = {t.id for t in ISSUE_TYPES if not sandbox.faults.issue_type_missing(t.name)}
    if issueTypeId not in known or not sandbox.store.has_permission(
        account, project.key, "CREATE_ISSUES"
    ):
        raise ApiError(
            404, [f"Issue type with id '{issueTypeId}' does not exist in {project.key}."]
        )
    page = page_of(_create_fields(render, project, issueTypeId), startAt, maxResults)
    if sandbox.flavor == DATACENTER:
        return page
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
    draft = validate_create(body, sandbox.store, account, sandbox.flavor)
    _type_exists(sandbox, draft)
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
            draft = validate_create(update, sandbox.store, account, sandbox.flavor)
            _type_exists(sandbox, draft)
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
    issue = browsable_issue(sandbox, account, issueIdOrKey)
    return render.issue(issue, select_fields(fields, default_all=True))


def _fail_write_after_commit(sandbox: Sandbox) -> None:
    status = sandbox.faults.write_failure()
    if status is not None:
        sandbox.stats.fault("write_5xx_after_commit")
        raise ApiError(status, ["Internal server error."])


@api.put("/issue/{issueIdOrKey}", status_code=204, response_model=None)
def edit_issue(
    issueIdOrKey: str, body: JsonBody, sandbox: SandboxDep, account: Account
) -> Response:
    """Edit summary, description and labels (`fields` to set, `update` label operations)."""
    issue = browsable_issue(sandbox, account, issueIdOrKey)
    if not sandbox.store.has_permission(account, issue.project_key, "EDIT_ISSUES"):
        raise ApiError(403, ["You do not have permission to edit issues in this project."])
    edit = validate_edit(body, sandbox.store, account, sandbox.flavor)
    sandbox.guard_issue_writes([issue.key])
    sandbox.store.edit_issue(
        issue.id,
        summary=edit.summary,
        description=edit.description,
        set_description=edit.description_given,
        labels=edit.labels,
        add_labels=edit.add_labels,
        remove_labels=edit.remove_labels,
    )
    sandbox.stats.event("issues_updated")
    _fail_write_after_commit(sandbox)
    return Response(status_code=204)


@api.post("/issue/{issueIdOrKey}/comment", status_code=201)
def add_comment(
    issueIdOrKey: str, body: JsonBody, sandbox: SandboxDep, account: Account, render: Render
) -> Json:
    issue = browsable_issue(sandbox, account, issueIdOrKey)
    if not sandbox.store.has_permission(account, issue.project_key, "ADD_COMMENTS"):
        raise ApiError(403, ["You do not have permission to comment on this issue."])
    content = body.get("body") if isinstance(body, Mapping) else None
    if sandbox.flavor == DATACENTER:
        if not isinstance(content, str) or not content.strip():
            raise ApiError(400, [], {"comment": "Comment body can not be empty!"})
    elif not isinstance(content, dict) or adf_problem(content):
        raise ApiError(400, [], {"comment": "Comment body must be an ADF document."})
    sandbox.guard_issue_writes([issue.key])
    comment = sandbox.store.add_comment(issue.id, account, content)
    sandbox.stats.event("comments_added")
    _fail_write_after_commit(sandbox)
    return render.comment(comment)


@api.get("/issue/{issueIdOrKey}/comment")
def get_comments(
    issueIdOrKey: str,
    sandbox: SandboxDep,
    account: Account,
    render: Render,
    startAt: int = 0,
    maxResults: int = 100,
) -> Json:
    issue = browsable_issue(sandbox, account, issueIdOrKey)
    comments = [render.comment(c) for c in sandbox.store.comments(issue.id)]
    page = comments[startAt : startAt + maxResults]
    return {"startAt": startAt, "maxResults": maxResults, "total": len(comments), "comments": page}


@api.get("/issue/{issueIdOrKey}/properties/{propertyKey}")
def get_issue_property(
    issueIdOrKey: str,
    propertyKey: str,
    sandbox: SandboxDep,
    account: Account,
) -> Json:
    issue = browsable_issue(sandbox, account, issueIdOrKey)
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
    issue = await run_in_threadpool(browsable_issue, sandbox, account, issueIdOrKey)
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
    browsable_issue(sandbox, account, issue.key)
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
    type_id, type_name = ref(body.get("type"), "id"), ref(body.get("type"), "name")
    inward_ref = ref(body.get("inwardIssue"), "key", "id")
    outward_ref = ref(body.get("outwardIssue"), "key", "id")
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
    inward = browsable_issue(sandbox, account, inward_ref)
    outward = browsable_issue(sandbox, account, outward_ref)
    if inward.id == outward.id:
        raise ApiError(400, ["You cannot link an issue to itself."])
    for issue in (inward, outward):
        if not sandbox.store.has_permission(account, issue.project_key, "LINK_ISSUES"):
            raise ApiError(404, ["You do not have the permission to link issues."])
    sandbox.guard_issue_writes([inward.key, outward.key])
    if sandbox.store.add_link(link_type.id, inward.id, outward.id):
        sandbox.stats.event("links_created")
    return Response(status_code=201)


@api.delete("/issueLink/{linkId}", status_code=204, response_model=None)
def delete_link(linkId: str, sandbox: SandboxDep, account: Account) -> Response:
    row = sandbox.store.link(int(linkId)) if linkId.isdigit() else None
    if row is None:
        raise ApiError(404, ["No issue link with id '" + linkId + "' exists."])
    inward, outward = sandbox.store.issue(row["inward_id"]), sandbox.store.issue(row["outward_id"])
    keys = [i.key for i in (inward, outward) if i is not None]
    for key in keys:
        issue = browsable_issue(sandbox, account, key)
        if not sandbox.store.has_permission(account, issue.project_key, "LINK_ISSUES"):
            raise ApiError(403, ["You do not have the permission to delete this link."])
    sandbox.guard_issue_writes(keys)
    if sandbox.store.delete_link(int(linkId)):
        sandbox.stats.event("links_deleted")
    _fail_write_after_commit(sandbox)
    return Response(status_code=204)


MAX_RECONCILE = 50  # "Accepts max 50 ids" (the spec's reconcileIssues)


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
        query = parse_jql(request.jql or "", sandbox.faults.zone())
    except JqlError as error:
        raise ApiError(400, [str(error)]) from error
    if not query.clauses:
        raise ApiError(400, [UNBOUNDED])
    cap = sandbox.limiter.config.max_search_results
    page_size = min(max(request.maxResults or 50, 1), cap)
    fields = request.fields or []
    signature = hashlib.sha256(f"{request.jql}\x00{','.join(fields)}".encode()).hexdigest()[:16]
    offset = _token_offset(request.nextPageToken, signature) if request.nextPageToken else 0
    reconcile = request.reconcileIssues or []
    if len(reconcile) > MAX_RECONCILE:
        raise ApiError(400, [f"reconcileIssues accepts at most {MAX_RECONCILE} issue ids."])
    try:
        issues, more = sandbox.store.search(
            query, account, offset, page_size, sandbox.faults.config.search_lag_ms, reconcile
        )
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
    reconcileIssues: Annotated[list[int] | None, Query()] = None,
) -> Json:
    request = SearchRequest(
        jql=jql,
        nextPageToken=nextPageToken,
        maxResults=maxResults,
        fields=fields,
        reconcileIssues=reconcileIssues,
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
    username: str | None = None,
    maxResults: int = 50,
) -> list[Json]:
    if sandbox.flavor == DATACENTER:  # Data Center: `username` (a name, email or part)
        if not username:
            raise ApiError(400, ["The username query parameter was not provided"])
        return [render.user(u) for u in sandbox.store.find_users(username, maxResults)]
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
    username: str = "",
    maxResults: int = 50,
) -> list[Json]:
    if sandbox.flavor == DATACENTER:
        query = username
    if issueKey:
        project = browsable_issue(sandbox, account, issueKey).project_key
    if not project:
        raise ApiError(
            400, ["One of the following parameters must be provided: issueKey, project."]
        )
    found = browsable_project(sandbox, account, project)
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
    page = page_of([render.priority(p) for p in sandbox.store.priorities()], startAt, maxResults)
    return page | {"self": f"{render.api}/priority/search"}


# -- Data Center: REST v2 ----------------------------------------------------------------

MAX_V2_RESULTS = 1000  # jira.search.views.default.max


class SearchRequestV2(BaseModel):
    """`POST /rest/api/2/search`'s body (Data Center); unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    jql: str | None = None
    startAt: int | None = None
    maxResults: int | None = None
    fields: list[str] | None = None
    expand: list[str] | None = None
    validateQuery: bool | None = None
    properties: list[str] | None = None
    fieldsByKeys: bool | None = None


def _search_v2(sandbox: Sandbox, account: str, render: Renderer, request: SearchRequestV2) -> Json:
    try:
        query = parse_jql(request.jql or "", sandbox.faults.zone())
    except JqlError as error:
        raise ApiError(400, [str(error)]) from error
    start = max(request.startAt or 0, 0)
    page_size = min(max(request.maxResults or 50, 0), sandbox.limiter.config.max_search_results)
    try:
        issues, _ = sandbox.store.search(
            query, account, start, page_size, sandbox.faults.config.search_lag_ms
        )
        total = sandbox.store.count_matching(query, account, sandbox.faults.config.search_lag_ms)
    except JqlError as error:
        raise ApiError(400, [str(error)]) from error
    wanted = select_fields(request.fields or ["*navigable"], default_all=False)
    return {
        "expand": "schema,names",
        "startAt": start,
        "maxResults": page_size,
        "total": total,
        "issues": [render.issue(issue, wanted) for issue in issues],
    }


def _v2_router() -> APIRouter:
    """The v3 routes under `/rest/api/2` (their handlers follow the sandbox's flavour),
    plus Data Center's search."""
    router = APIRouter(prefix="/rest/api/2")
    skip = {"/rest/api/3/search/jql", "/rest/api/3/priority/search"}
    for route in api.routes:
        path = getattr(route, "path", "")
        if path in skip or not hasattr(route, "endpoint"):
            continue
        router.add_api_route(
            path.removeprefix("/rest/api/3"),
            route.endpoint,
            methods=list(getattr(route, "methods", ())),
            status_code=getattr(route, "status_code", None),
            response_model=None,
        )

    @router.post("/search")
    def search_v2(
        body: SearchRequestV2, sandbox: SandboxDep, account: Account, render: Render
    ) -> Json:
        return _search_v2(sandbox, account, render, body)

    @router.get("/search")
    def search_v2_get(
        *,
        sandbox: SandboxDep,
        account: Account,
        render: Render,
        jql: str | None = None,
        startAt: int = 0,
        maxResults: int = 50,
        fields: Annotated[list[str] | None, Query()] = None,
    ) -> Json:
        request = SearchRequestV2(jql=jql, startAt=startAt, maxResults=maxResults, fields=fields)
        return _search_v2(sandbox, account, render, request)

    return router


api_v2 = _v2_router()
