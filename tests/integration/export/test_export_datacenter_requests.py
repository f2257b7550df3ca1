"""A whole export to Jira Data Center — epics per group, links, an over-long description
(attachment fallback), an assignee, a lost answer recovered — with every request the
export sends recorded as the sandbox received it, each checked against the cited Data
Center REST v2 schemas (`specs/jira-datacenter-rest-v2.requests.json`): no REST v3, no
ADF, no accountId, no token paging, on each backend."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

import pytest

from domain.session import Session
from infrastructure.jira_sandbox import SandboxServer, create_sandbox_app
from interfaces.bootstrap import Container
from tests.integration.export.support import (
    TEST_LIMITS,
    Edits,
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    prepare_session,
    start_export,
    wait_export,
)
from tests.integration.export.test_export_fixes import long_analysis
from tests.integration.jira.support import load_v2_checker

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: bytes


class Recording:
    """An ASGI wrapper keeping every request as the sandbox received it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state  # SandboxServer reads the flavour from it
        self.seen: list[Seen] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        await self.app(scope, recording, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append(
            Seen(
                scope["method"],
                scope["path"],
                parse_qs(scope["query_string"].decode()),
                headers.get("content-type", ""),
                b"".join(chunks),
            )
        )


@pytest.fixture
def recording() -> Recording:
    return Recording(create_sandbox_app(None, limits=TEST_LIMITS, flavor="datacenter"))


@pytest.fixture
def sandbox_server(recording: Recording, tmp_path: Path) -> Iterator[SandboxServer]:
    """This module's sandbox: Data Center, every request recorded."""
    server = SandboxServer(recording).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def test_every_request_of_a_data_center_export_matches_the_cited_v2_schemas(
    container: Container, sandbox: Sandbox, recording: Recording
) -> None:
    chosen: list[UUID] = []

    def edits(session: Session) -> Edits:
        chosen.extend(t.id for t in session.tickets_in_export_order()[:2])
        return {
            chosen[0]: {"analysis": long_analysis()},  # over the limit: an attachment
            chosen[1]: {"assignee": "carol@example.com"},  # by username on Data Center
        }

    session_id = prepare_session(container, epic_mode="per_group", edits=edits)
    container.start()
    sandbox.faults(fail_create_next=2)  # the epics' create and the first tickets' lost
    export = wait_export(container, start_export(container, session_id).export_id)
    assert export.status == "completed", export.failure
    issues = assert_no_duplicates(sandbox, export)
    assert_links_once(issues, export)
    assert export.epics and export.attachments == {chosen[0]: [export.attachments[chosen[0]][0]]}
    assert sandbox.issue(issues[chosen[1]].key, "assignee")["assignee"]["name"] == "carol"

    checker = load_v2_checker()
    problems: list[str] = []
    covered: set[str] = set()
    api = [s for s in recording.seen if s.path.startswith("/rest/api/")]
    assert api and not [s.path for s in api if not s.path.startswith("/rest/api/2/")]
    for seen in api:
        where = f"{seen.method} {seen.path}"
        operation = checker.operation(seen.method, seen.path)
        if operation is None:
            problems.append(f"{where}: no schema")
            continue
        covered.add(operation.id)
        declared = set(operation.definition["query"])
        problems += [f"{where}: query {q!r} undeclared" for q in set(seen.query) - declared]
        if operation.definition.get("multipart"):
            assert seen.content_type.startswith("multipart/form-data"), where
        elif seen.body:
            errors = checker.request_errors(operation, json.loads(seen.body))
            problems += [f"{where}: {e}" for e in errors]
        elif "request" in operation.definition:
            problems.append(f"{where}: a body is expected")
    assert problems == []
    assert len(api) > 60  # pre-flight, epics, bulk creates, recovery reads, links, ...
    assert {
        "getServerInfo", "getCurrentUser", "getMyPermissions", "getProject", "getFields",
        "getCreateIssueMetaProjectIssueTypes", "getCreateIssueMetaFields", "createIssues",
        "searchPost", "getIssue", "addAttachment", "linkIssues", "findAssignableUsers",
    } <= covered  # fmt: skip
