"""A synchronous Jira client for the export and sync back: Cloud over REST v3 (ADF
descriptions, accountIds, `search/jql` with page tokens) or Data Center / Server over
REST v2 (wiki-markup descriptions, usernames, `search` with `startAt`); Agile 1.0 on both.

Safe to share between worker threads: httpx's connection pool is thread-safe,
the limiter serialises its bookkeeping, and every call builds its own retry state.

Retry rules: idempotent requests (GET, JQL search, moving issues to a sprint)
are retried on network errors, timeouts, 429 and 5xx. Writes that are not
idempotent (create, bulk create, attachment, link) are retried only when Jira
certainly did not act: a 429, or a connection that was never established.
Any other failure of such a write raises JiraOutcomeUnknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from application.adf import adf_to_wiki
from application.export.jira_errors import (
    JiraError,
    JiraNotFound,
    JiraOutcomeUnknown,
    JiraRateLimited,
    JiraUnavailable,
    error_from_response,
    parse_error_body,
)
from application.export.jira_types import (
    CLOUD,
    DATACENTER,
    FLAVORS,
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
    JsonObject,
    LinkType,
    NewIssue,
    Priority,
    Sprint,
)
from application.export.port import jql_quote
from infrastructure.jira.ratelimit import (
    Clock,
    RateLimitConfig,
    RateLimiter,
    SystemClock,
    wait_hint,
)

API = "/rest/api/3"
API_V2 = "/rest/api/2"
AUTO = "auto"
AGILE = "/rest/agile/1.0"
BULK_CREATE_LIMIT = 50
SPRINT_MOVE_LIMIT = 50
MAX_RECONCILE = 50  # reconcileIssues: "Accepts max 50 ids"
EXPORT_PERMISSIONS = ("CREATE_ISSUES", "CREATE_ATTACHMENTS", "LINK_ISSUES")
SNAPSHOT_FIELDS = ("status", "assignee", "resolution", "updated")
PER_ISSUE_REASON = "jira-per-issue-on-write"

# Failures raised before any byte reached Jira: resending cannot duplicate anything.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

EventHooks = Mapping[str, list[Callable[..., Any]]]


class RetryPolicy:
    """How many attempts, and the backoff used when Jira gives no wait hint."""

    def __init__(
        self,
        max_attempts: int = 6,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        jitter: float = 0.5,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        exponential = wait_exponential(multiplier=initial_backoff, max=max_backoff)
        self.backoff = exponential + wait_random(0, jitter)


def server_info(
    base_url: str,
    *,
    auth: httpx.Auth | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> JsonObject:
    """`GET /rest/api/2/serverInfo` (both Cloud and Data Center answer it)."""
    with httpx.Client(
        base_url=base_url.rstrip("/"),
        auth=auth,
        headers={"Accept": "application/json", **(headers or {})},
        timeout=timeout,
        transport=transport,
    ) as http:
        try:
            response = http.get(f"{API_V2}/serverInfo")
        except httpx.TransportError as exc:
            raise JiraUnavailable(f"Read server info: cannot reach Jira ({exc!r})") from exc
    if response.status_code >= 400:
        raise error_from_response(response.status_code, _json(response), what="Read server info")
    return _object(_json(response))


def flavor_of(info: Mapping[str, Any]) -> str:
    """`cloud` when serverInfo's `deploymentType` is `Cloud`; else `datacenter` (Data
    Center 10.x still answers `Server`, as Server did)."""
    return CLOUD if str(info.get("deploymentType") or "").lower() == "cloud" else DATACENTER


def auth_for(
    email: str | None, api_token: str | None, bearer_token: str | None
) -> tuple[httpx.Auth | None, dict[str, str]]:
    """Bearer (a Data Center personal access token) or Basic (email or username + token)."""
    if bearer_token:
        return None, {"Authorization": f"Bearer {bearer_token}"}
    if email and api_token:
        return httpx.BasicAuth(email, api_token), {}
    raise ValueError("JiraClient needs email and api_token, or bearer_token")


class JiraClient:
    """Jira over HTTP, with Basic (email + API token) or Bearer (personal access token)
    authentication. `flavor`: `cloud` (REST v3) or `datacenter` (REST v2)."""

    def __init__(
        self,
        base_url: str,
        email: str | None = None,
        api_token: str | None = None,
        bearer_token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        rate_limits: RateLimitConfig | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        event_hooks: EventHooks | None = None,
        flavor: str = CLOUD,
    ) -> None:
        if flavor not in (*FLAVORS, AUTO):
            raise ValueError(f"flavor must be one of {', '.join(FLAVORS)} or auto, not {flavor!r}")
        auth, headers = auth_for(email, api_token, bearer_token)
        headers["Accept"] = "application/json"
        self._flavor: str | None = None if flavor == AUTO else flavor
        self.base_url = base_url.rstrip("/")
        self._clock = clock or SystemClock()
        self._limiter = RateLimiter(rate_limits, self._clock)
        self._retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            headers=headers,
            timeout=timeout,
            transport=transport,
            event_hooks=dict(event_hooks or {}),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JiraClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def browse_url(self, key: str) -> str:
        return f"{self.base_url}/browse/{key}"

    # -- account, project and configuration ------------------------------------------

    def myself(self) -> JiraUser:
        return JiraUser.from_json(self._get("Read the current user", f"{self.api}/myself"))

    def my_permissions(
        self, project_key: str, permissions: Sequence[str] = EXPORT_PERMISSIONS
    ) -> dict[str, bool]:
        body = self._get(
            f"Read permissions in {project_key}",
            f"{self.api}/mypermissions",
            params={"projectKey": project_key, "permissions": ",".join(permissions)},
        )
        granted = body.get("permissions") or {}
        return {p: bool((granted.get(p) or {}).get("havePermission")) for p in permissions}

    def get_project(self, project_key: str) -> JiraProject:
        return JiraProject.from_json(
            self._get(f"Read project {project_key}", f"{self.api}/project/{project_key}")
        )

    @property
    def flavor(self) -> str:
        """`cloud` or `datacenter`; with `auto`, read from serverInfo on first use."""
        if self._flavor is None:
            self._flavor = flavor_of(self.server_info())
        return self._flavor

    @property
    def api(self) -> str:
        return API_V2 if self.flavor == DATACENTER else API

    @property
    def datacenter(self) -> bool:
        return self.flavor == DATACENTER

    def server_info(self) -> JsonObject:
        return self._get("Read server info", f"{API_V2}/serverInfo")

    def get_fields(self) -> list[JiraField]:
        """Every field of the site (Data Center's Epic Link and Epic Name are found here)."""
        found = self._get_list("Read fields", f"{self.api}/field", params={})
        return [JiraField.from_json(raw) for raw in found]

    def get_issue_types(self, project_key: str) -> list[IssueType]:
        """createmeta per project (Data Center 9+ removed the global `createmeta?projectKeys=`;
        its pages list `values`, Cloud's `issueTypes`)."""
        return [
            IssueType.from_json(raw)
            for raw in self._pages(
                f"Read issue types of {project_key}",
                f"{self.api}/issue/createmeta/{project_key}/issuetypes",
                items_key="values" if self.datacenter else "issueTypes",
            )
        ]

    def get_create_fields(self, project_key: str, issue_type_id: str) -> list[FieldMeta]:
        """The create-screen fields of an issue type; `required` marks the mandatory ones."""
        return [
            FieldMeta.from_json(raw)
            for raw in self._pages(
                f"Read create fields of {project_key} issue type {issue_type_id}",
                f"{self.api}/issue/createmeta/{project_key}/issuetypes/{issue_type_id}",
                items_key="values" if self.datacenter else "fields",
            )
        ]

    def get_priorities(self) -> list[Priority]:
        if self.datacenter:  # Data Center 9.x has no paged `priority/search`
            found = self._get_list("Read priorities", f"{self.api}/priority", params={})
            return [Priority.from_json(raw) for raw in found]
        return [
            Priority.from_json(raw)
            for raw in self._pages(
                "Read priorities", f"{self.api}/priority/search", items_key="values"
            )
        ]

    def get_link_types(self) -> list[LinkType]:
        body = self._get("Read issue link types", f"{self.api}/issueLinkType")
        return [LinkType.from_json(raw) for raw in body.get("issueLinkTypes") or ()]

    def find_users(self, query: str, max_results: int = 50) -> list[JiraUser]:
        found = self._get_list(
            f"Search users for {query!r}",
            f"{self.api}/user/search",
            params={"username" if self.datacenter else "query": query, "maxResults": max_results},
        )
        return [JiraUser.from_json(raw) for raw in found]

    def find_assignable_users(
        self, project_key: str, query: str = "", max_results: int = 50
    ) -> list[JiraUser]:
        params: dict[str, Any] = {"project": project_key, "maxResults": max_results}
        if query:
            params["username" if self.datacenter else "query"] = query
        found = self._get_list(
            f"Search assignable users of {project_key}",
            f"{self.api}/user/assignable/search",
            params=params,
        )
        return [JiraUser.from_json(raw) for raw in found]

    def get_boards(self, project_key: str) -> list[Board]:
        return [
            Board.from_json(raw)
            for raw in self._pages(
                f"Read boards of {project_key}",
                f"{AGILE}/board",
                params={"projectKeyOrId": project_key},
                items_key="values",
            )
        ]

    def get_sprints(
        self, board_id: int, states: Sequence[str] = ("active", "future")
    ) -> list[Sprint]:
        return [
            Sprint.from_json(raw)
            for raw in self._pages(
                f"Read sprints of board {board_id}",
                f"{AGILE}/board/{board_id}/sprint",
                params={"state": ",".join(states)},
                items_key="values",
            )
        ]

    # -- writes ----------------------------------------------------------------------

    def create_issue(self, issue: NewIssue) -> CreatedIssue:
        """Create one issue. A timeout or 5xx raises JiraOutcomeUnknown, never a resend."""
        response = self._call(
            f"Create issue in {issue.project_key}",
            "POST",
            f"{self.api}/issue",
            idempotent=False,
            json=issue.to_payload(self.flavor),
        )
        return self._created(response.json())

    def create_issues(self, issues: Sequence[NewIssue]) -> BulkCreateResult:
        """Bulk create (at most 50). Jira's `failedElementNumber` is mapped back to inputs.

        Bulk create is not idempotent either: on JiraOutcomeUnknown any subset of
        the batch may exist.
        """
        if not issues:
            return BulkCreateResult(created={}, failed={})
        if len(issues) > BULK_CREATE_LIMIT:
            raise ValueError(f"Jira creates at most {BULK_CREATE_LIMIT} issues per bulk request")
        what = f"Bulk create {len(issues)} issues"
        response = self._call(
            what,
            "POST",
            f"{self.api}/issue/bulk",
            idempotent=False,
            json={"issueUpdates": [issue.to_payload(self.flavor) for issue in issues]},
            passthrough=(400,),
        )
        body = _json(response)
        if not isinstance(body, Mapping) or not isinstance(body.get("errors"), list):
            raise error_from_response(response.status_code, body, what=what)
        failed: dict[int, BulkFailure] = {}
        for raw in body["errors"]:
            messages, field_errors = parse_error_body(raw.get("elementErrors"))
            index = int(raw.get("failedElementNumber", -1))
            failed[index] = BulkFailure(
                index=index,
                status=int(raw.get("status") or 400),
                field_errors=field_errors,
                error_messages=tuple(messages),
            )
        succeeded = [i for i in range(len(issues)) if i not in failed]
        created_raw = body.get("issues") or []
        if len(created_raw) != len(succeeded):
            raise JiraError(
                f"{what}: Jira reported {len(created_raw)} created issues "
                f"but {len(succeeded)} unfailed elements",
                status=response.status_code,
            )
        created = {i: self._created(raw) for i, raw in zip(succeeded, created_raw, strict=True)}
        return BulkCreateResult(created=created, failed=failed)

    def add_attachment(
        self,
        issue_key: str,
        filename: str,
        content: bytes,
        media_type: str = "application/octet-stream",
    ) -> list[Attachment]:
        response = self._call(
            f"Attach {filename!r} to {issue_key}",
            "POST",
            f"{self.api}/issue/{issue_key}/attachments",
            idempotent=False,
            files={"file": (filename, content, media_type)},
            headers={"X-Atlassian-Token": "no-check"},
            issue_keys=(issue_key,),
        )
        return [Attachment.from_json(raw) for raw in _json(response) or ()]

    def create_link(self, link_type: str, inward_key: str, outward_key: str) -> None:
        """Link two issues; with "Blocks" this reads "`inward_key` blocks `outward_key`"."""
        self._call(
            f"Link {inward_key} {link_type} {outward_key}",
            "POST",
            f"{self.api}/issueLink",
            idempotent=False,
            json={
                "type": {"name": link_type},
                "inwardIssue": {"key": inward_key},
                "outwardIssue": {"key": outward_key},
            },
            issue_keys=(inward_key, outward_key),
        )

    def link_blocks(self, blocker_key: str, blocked_key: str) -> None:
        """`blocker_key` blocks `blocked_key` (the dependency blocks the dependent)."""
        self.create_link("Blocks", blocker_key, blocked_key)

    def update_issue(
        self,
        issue_key: str,
        fields: Mapping[str, Any],
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
    ) -> None:
        """`PUT /issue/{key}`: set `fields` (summary, description), add and remove labels
        (a person's own labels stay). Idempotent (the same values again change nothing),
        so a lost answer is retried."""
        body: JsonObject = {"fields": dict(fields)}
        operations = [{"add": label} for label in add_labels]
        operations += [{"remove": label} for label in remove_labels]
        if operations:
            body["update"] = {"labels": operations}
        self._call(
            f"Update issue {issue_key}",
            "PUT",
            f"{self.api}/issue/{issue_key}",
            idempotent=True,
            json=body,
            params={"notifyUsers": "false"},
            issue_keys=(issue_key,),
        )

    def delete_link(self, link_id: str, issue_keys: Sequence[str] = ()) -> None:
        """`DELETE /issueLink/{id}`; a link already gone is not an error (idempotent)."""
        try:
            self._call(
                f"Delete issue link {link_id}",
                "DELETE",
                f"{self.api}/issueLink/{link_id}",
                idempotent=True,
                issue_keys=tuple(issue_keys),
            )
        except JiraNotFound:
            return

    def add_comment(self, issue_key: str, body: Mapping[str, Any] | str) -> str:
        """Comment (an ADF document on Cloud, wiki text on Data Center: a document is sent
        as wiki markup there, its text shown as written) on the issue; return the comment's
        id. Not idempotent: after a lost answer, read the comments before posting again."""
        if self.datacenter and not isinstance(body, str):
            body = adf_to_wiki(dict(body))
        response = self._call(
            f"Comment on {issue_key}",
            "POST",
            f"{self.api}/issue/{issue_key}/comment",
            idempotent=False,
            json={"body": body if isinstance(body, str) else dict(body)},
            issue_keys=(issue_key,),
        )
        return str(_object(_json(response)).get("id") or "")

    def get_comments(self, issue_key: str) -> list[Mapping[str, Any]]:
        """The issue's comments (their ADF bodies), oldest first."""
        return list(
            self._pages(
                f"Read the comments of {issue_key}",
                f"{self.api}/issue/{issue_key}/comment",
                items_key="comments",
                params={"orderBy": "created"},
                page_size=100,
            )
        )

    def move_issues_to_sprint(self, sprint_id: int, issue_keys: Sequence[str]) -> None:
        """Idempotent, so safe to retry; sent in chunks of 50 as the Agile API requires."""
        for start in range(0, len(issue_keys), SPRINT_MOVE_LIMIT):
            chunk = list(issue_keys[start : start + SPRINT_MOVE_LIMIT])
            self._call(
                f"Move {len(chunk)} issues to sprint {sprint_id}",
                "POST",
                f"{AGILE}/sprint/{sprint_id}/issue",
                idempotent=True,
                json={"issues": chunk},
                issue_keys=chunk,
            )

    # -- reads of issues -------------------------------------------------------------

    def get_issue(self, issue_key: str, fields: Sequence[str] = SNAPSHOT_FIELDS) -> FoundIssue:
        return FoundIssue.from_json(
            self._get(
                f"Read issue {issue_key}",
                f"{self.api}/issue/{issue_key}",
                params={"fields": ",".join(fields)},
            )
        )

    def get_issue_snapshot(self, issue_key: str) -> IssueSnapshot:
        return IssueSnapshot.from_issue(self.get_issue(issue_key, SNAPSHOT_FIELDS))

    def get_issue_property(self, issue_key: str, property_key: str) -> Any:
        body = self._get(
            f"Read property {property_key} of {issue_key}",
            f"{self.api}/issue/{issue_key}/properties/{property_key}",
        )
        return body.get("value")

    def iter_search(
        self,
        jql: str,
        fields: Sequence[str] = ("summary", "labels"),
        page_size: int = 50,
        reconcile: Sequence[str] = (),
    ) -> Iterator[FoundIssue]:
        """Every issue matching `jql`, following `nextPageToken` until the last page (pages
        are fetched as they are consumed). `reconcile`: ids of issues just written, which
        the search must show although its index lags (Jira's `reconcileIssues`, <= 50)."""
        if self.datacenter:
            yield from self._iter_search_v2(jql, fields, page_size)
            return
        token: str | None = None
        while True:
            body: JsonObject = {"jql": jql, "fields": list(fields), "maxResults": page_size}
            if reconcile:
                body["reconcileIssues"] = [int(i) for i in reconcile[:MAX_RECONCILE]]
            if token:
                body["nextPageToken"] = token
            response = self._call(
                "Search issues", "POST", f"{self.api}/search/jql", idempotent=True, json=body
            )
            page = _object(_json(response))
            for raw in page.get("issues") or ():
                yield FoundIssue.from_json(raw)
            token = page.get("nextPageToken")
            if not token or page.get("isLast") is True:
                return

    def _iter_search_v2(
        self, jql: str, fields: Sequence[str], page_size: int
    ) -> Iterator[FoundIssue]:
        """Data Center's `POST /rest/api/2/search`: `startAt` paging until `total`. Its
        index is updated as the write commits, so there is nothing to reconcile."""
        start = 0
        while True:
            body: JsonObject = {
                "jql": jql,
                "startAt": start,
                "maxResults": page_size,
                "fields": list(fields),
            }
            response = self._call(
                "Search issues", "POST", f"{self.api}/search", idempotent=True, json=body
            )
            page = _object(_json(response))
            issues = page.get("issues") or []
            for raw in issues:
                yield FoundIssue.from_json(raw)
            start += len(issues)
            total = page.get("total")
            if not issues or (isinstance(total, int) and start >= total):
                return

    def search(
        self,
        jql: str,
        fields: Sequence[str] = ("summary", "labels"),
        page_size: int = 50,
        reconcile: Sequence[str] = (),
    ) -> list[FoundIssue]:
        return list(self.iter_search(jql, fields, page_size, reconcile))

    def find_issues_by_label(
        self,
        label: str,
        project_key: str | None = None,
        fields: Sequence[str] = ("summary", "labels"),
    ) -> list[FoundIssue]:
        """Issues carrying `label` — how the export finds an issue it may already have made."""
        clauses = [f"labels = {jql_quote(label)}"]
        if project_key:
            clauses.insert(0, f"project = {jql_quote(project_key)}")
        return self.search(" AND ".join(clauses) + " ORDER BY key", fields)

    def search_snapshots(
        self, jql: str, page_size: int = 100, reconcile: Sequence[str] = ()
    ) -> Iterator[IssueSnapshot]:
        """Sync back: status, assignee and resolution of every issue matching `jql`."""
        for issue in self.iter_search(jql, SNAPSHOT_FIELDS, page_size, reconcile):
            yield IssueSnapshot.from_issue(issue)

    # -- plumbing --------------------------------------------------------------------

    def _created(self, raw: Mapping[str, Any]) -> CreatedIssue:
        key = str(raw["key"])
        return CreatedIssue(
            id=str(raw["id"]),
            key=key,
            self_url=str(raw.get("self") or ""),
            browse_url=self.browse_url(key),
        )

    def _get(self, what: str, path: str, params: Mapping[str, Any] | None = None) -> JsonObject:
        return _object(_json(self._call(what, "GET", path, idempotent=True, params=params)))

    def _get_list(self, what: str, path: str, params: Mapping[str, Any]) -> list[JsonObject]:
        body = _json(self._call(what, "GET", path, idempotent=True, params=params))
        return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []

    def _pages(
        self,
        what: str,
        path: str,
        *,
        items_key: str,
        params: Mapping[str, Any] | None = None,
        page_size: int = 50,
    ) -> Iterator[JsonObject]:
        """startAt/maxResults pagination as createmeta, priorities and the Agile API use it."""
        start = 0
        while True:
            page = self._get(
                what, path, {**(params or {}), "startAt": start, "maxResults": page_size}
            )
            items = page.get(items_key) or []
            yield from items
            start += len(items)
            if not items or page.get("isLast") is True:
                return
            total = page.get("total")
            if isinstance(total, int) and start >= total:
                return
            if "isLast" not in page and total is None and len(items) < page_size:
                return

    def _call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        idempotent: bool,
        params: Mapping[str, Any] | None = None,
        json: object = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        issue_keys: Iterable[str] = (),
        passthrough: tuple[int, ...] = (),
    ) -> httpx.Response:
        retrying = Retrying(
            stop=stop_after_attempt(self._retry.max_attempts),
            wait=self._wait_before_retry,
            retry=retry_if_exception_type((JiraRateLimited, JiraUnavailable)),
            sleep=self._clock.sleep,
            reraise=True,
        )
        keys = tuple(issue_keys)

        def attempt() -> httpx.Response:
            self._limiter.acquire(method, keys)
            try:
                response = self._http.request(
                    method, path, params=params, json=json, files=files, headers=headers
                )
            except _NOT_SENT as exc:
                raise JiraUnavailable(f"{what}: cannot connect to Jira ({exc!r})") from exc
            except httpx.TransportError as exc:
                if idempotent:
                    raise JiraUnavailable(f"{what}: no answer from Jira ({exc!r})") from exc
                raise JiraOutcomeUnknown(
                    f"{what}: no answer from Jira ({type(exc).__name__}); it may have been done"
                ) from exc
            return self._check(what, method, response, idempotent, passthrough)

        return retrying(attempt)

    def _check(
        self,
        what: str,
        method: str,
        response: httpx.Response,
        idempotent: bool,
        passthrough: tuple[int, ...],
    ) -> httpx.Response:
        status = response.status_code
        if status < 400 or status in passthrough:
            return response
        body = _json(response)
        messages, field_errors = parse_error_body(body)
        details: dict[str, Any] = {
            "status": status,
            "error_messages": messages,
            "field_errors": field_errors,
        }
        if status == 429 or (status == 503 and idempotent):
            hint = wait_hint(response.headers, datetime.now(UTC))
            if status == 429:
                if hint and response.headers.get("RateLimit-Reason") != PER_ISSUE_REASON:
                    self._limiter.pause(method, hint)
                raise JiraRateLimited(
                    f"{what}: Jira rate limit (HTTP 429)", retry_after=hint, **details
                )
            raise JiraUnavailable(
                f"{what}: Jira unavailable (HTTP 503)", retry_after=hint, **details
            )
        if status >= 500:
            if idempotent:
                raise JiraUnavailable(f"{what}: Jira failed with HTTP {status}", **details)
            raise JiraOutcomeUnknown(
                f"{what}: Jira failed with HTTP {status}; it may have been done", **details
            )
        raise error_from_response(status, body, what=what)

    def _wait_before_retry(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hint = getattr(error, "retry_after", None)
        if isinstance(hint, int | float):
            return float(hint)
        return float(self._retry.backoff(state))


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _object(body: Any) -> JsonObject:
    return body if isinstance(body, dict) else {}
