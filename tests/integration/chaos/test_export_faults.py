"""The sandbox's faults, each where `tests/integration/export` does not already put it:
every one ends in the right state and error category, is resumable (fix the fault,
retry the export: it completes), and leaves no duplicate in Jira.

Already covered there (not repeated here): one 5xx-after-commit bulk create, 5xx after
commit then 401 on the search, 401 from the links on, 429 storms that are waited out,
502 on single creates, the 'Blocks' link type missing from the start.

Here: a 429 storm that outlasts every retry; 5xx after commit on every create of a
multi-batch export; timeouts (Jira does the work, the answer comes too late) on the bulk
create, an attachment and a link, and timeouts that last; 401 from the attachments on,
still there at the first retry; the 'Blocks' link type vanishing mid-export.

The export runs on the container's embedded worker, which is pointed at a real
nats-server like every worker of the chaos tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from application.adf.ticket_document import attachment_filename
from application.progress import Progress
from domain.export import Export
from domain.session import Session, Stage
from infrastructure.jira import JiraClient, RetryPolicy
from infrastructure.nats.embedded import NatsServerProcess
from interfaces.bootstrap import Container, bootstrap
from projections import exports as exports_view
from tests.conftest import make_settings
from tests.integration.chaos.support import attachment_names
from tests.integration.export.support import (
    DEMO_EMAIL,
    DEMO_TOKEN,
    Edits,
    Sandbox,
    assert_links_once,
    assert_no_duplicates,
    exported_events,
    jira_env,
    plan_edges,
    prepare_session,
    retry_export,
    start_export,
    wait_export,
)
from tests.integration.export.test_export_fixes import long_analysis
from tests.integration.export.test_export_runs import preflight_requests

pytestmark = [pytest.mark.nats, pytest.mark.timeout(120)]

SMALL_SITE_TICKETS, SMALL_SITE_LINKS = 49, 17
# A client that gives up on an answer after half a second (Jira's own is 30 s): the
# sandbox's timeouts are then 1.5 s, not 35.
ANSWER_TIMEOUT_S, LATE_BY_S = 0.5, 1.5
QUICK_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.02, max_backoff=0.1, jitter=0.02)


@pytest.fixture
def container(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    sandbox: Sandbox,
    nats_server: NatsServerProcess,
) -> Iterator[Container]:
    """Not started: each test prepares its session first, then starts the worker.

    SQLite only: what is under test is the export's handling of Jira, the same on both
    backends (the export tests run it on both; the SIGKILL test runs on PostgreSQL)."""
    assert nats_server.url is not None
    settings = make_settings(
        "sqlite",
        tmp_path,
        request,
        TICKETFORGE_EMBEDDED_WORKERS=1,
        NATS_URL=nats_server.url,
        **jira_env(sandbox.server),
    )
    c = bootstrap(settings)
    try:
        yield c
    finally:
        c.close()


def when_issues_created(action: Callable[[], object]) -> Callable[[Progress], None]:
    """A progress listener that acts once, right after the issues were created (the
    worker calls it before its next Jira request)."""
    done: list[bool] = []

    def listener(progress: Progress) -> None:
        if progress.stage.startswith("Created") and not done:
            done.append(True)
            action()

    return listener


def with_quick_timeouts(container: Container, sandbox: Sandbox, **hooks: Any) -> None:
    """The export's Jira client, with a short answer timeout (no setting has one: see the
    report) and optional httpx event hooks."""

    def client() -> JiraClient:
        return JiraClient(
            sandbox.base_url,
            DEMO_EMAIL,
            DEMO_TOKEN,
            timeout=ANSWER_TIMEOUT_S,
            retry=QUICK_RETRY,
            event_hooks={name: [hook] for name, hook in hooks.items()},
        )

    container.exports.jira_factory = client


def late_answer_on(sandbox: Sandbox, method: str, path_end: str) -> Callable[[httpx.Request], None]:
    """An httpx request hook: the first matching request is answered late (after the
    sandbox did the work)."""
    lock = threading.Lock()
    fired: list[str] = []

    def hook(request: httpx.Request) -> None:
        if request.method != method or not request.url.path.endswith(path_end):
            return
        with lock:
            if fired:
                return
            fired.append(request.url.path)
        sandbox.faults(timeout_next=1, timeout_seconds=LATE_BY_S)

    return hook


def assert_failed(
    container: Container, session_id: UUID, export: Export, category: str
) -> dict[str, Any]:
    """Failed with `category`, in the aggregate, the session and the status read model."""
    assert export.status == "failed", export.status
    assert export.failure is not None
    assert export.failure.category == category, export.failure
    assert export.failure.recovery_actions
    assert container.app.load_session(session_id).stage == Stage.EXPORT_FAILED
    assert container.settle()
    doc = container.store.get(exports_view.TABLE, str(export.id))
    assert doc is not None
    status = exports_view.status_view(doc)
    assert status["status"] == "failed"
    assert status["error_category"] == category
    assert status["retry_available"] is True
    assert status["recovery_actions"] == export.failure.recovery_actions
    return status


def assert_completed_once_each(
    container: Container, sandbox: Sandbox, session_id: UUID, export: Export, tickets: int
) -> None:
    assert export.status == "completed", export.failure
    assert container.app.load_session(session_id).stage == Stage.COMPLETED
    issues = assert_no_duplicates(sandbox, export)
    assert len(issues) == tickets
    assert_links_once(issues, export)
    stats = sandbox.stats()
    assert stats["issues_created"] == tickets, "an issue was created twice"
    assert stats["links_created"] == len(plan_edges(export))
    assert len(export.links) == len(plan_edges(export))


# --- 429 -------------------------------------------------------------------------------


def test_429_storm_outlasting_every_retry_fails_temporary_and_the_retry_resumes(
    container: Container, sandbox: Sandbox
) -> None:
    session_id = prepare_session(container)
    container.progress_listeners.append(
        when_issues_created(
            lambda: sandbox.faults(rate_limit_storm_next=100_000, rate_limit_storm_retry_after=0.01)
        )
    )
    container.start()
    started = start_export(container, session_id)
    failed = wait_export(container, started.export_id)
    status = assert_failed(container, session_id, failed, "temporary")
    assert "429" in (failed.failure.message if failed.failure else "")
    assert len(failed.issues) == SMALL_SITE_TICKETS and not failed.links
    assert status["failed_at_ticket_order"] is not None
    assert sandbox.stats()["statuses"]["429"] > 0

    sandbox.clear_faults()
    retry_export(container, session_id)
    export = wait_export(container, started.export_id, ended=("completed",))
    assert export.retries == 1
    assert_completed_once_each(container, sandbox, session_id, export, SMALL_SITE_TICKETS)
    assert not export.fixes


# --- 5xx after commit --------------------------------------------------------------------


def test_5xx_after_commit_on_every_create_of_a_multi_batch_export_finds_each_by_its_mark(
    container: Container, sandbox: Sandbox
) -> None:
    """NestWatch: five bulk creates, every one stored by Jira and answered 503."""
    session_id = prepare_session(container, "nestwatch")
    sandbox.faults(fail_create_every=1, fail_create_status=503)
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id, timeout=60)
    assert export.retries == 0  # recovered within the run
    assert_completed_once_each(container, sandbox, session_id, export, 235)
    stats = sandbox.stats()
    assert stats["responses"]["POST /rest/api/3/issue/bulk"] == {"503": 5}
    events = exported_events(container, export.id, Export.TicketExported)
    assert len(events) == 235 and all(e.found_by_search for e in events)


# --- timeouts ----------------------------------------------------------------------------


def test_timeout_on_the_bulk_create_is_found_by_its_marks_not_created_again(
    container: Container, sandbox: Sandbox
) -> None:
    session_id = prepare_session(container)
    with_quick_timeouts(container, sandbox, request=late_answer_on(sandbox, "POST", "/issue/bulk"))
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id)
    assert_completed_once_each(container, sandbox, session_id, export, SMALL_SITE_TICKETS)
    assert sandbox.stats()["faults_injected"]["timeout"] == 1
    events = exported_events(container, export.id, Export.TicketExported)
    assert all(e.found_by_search for e in events)
    assert export.retries == 0 and not export.fixes


def test_timeouts_on_an_attachment_and_a_link_record_what_jira_did_without_doing_it_twice(
    container: Container, sandbox: Sandbox
) -> None:
    """The upload and the link are made, their answers lost: the run looks at the issue
    before sending again, records them, and asks nobody to make them by hand."""
    chosen: list[UUID] = []

    def edits(session: Session) -> Edits:
        chosen.append(session.tickets_in_export_order()[0].id)
        return {chosen[0]: {"analysis": long_analysis()}}

    session_id = prepare_session(container, edits=edits)
    attachment_late = late_answer_on(sandbox, "POST", "/attachments")
    link_late = late_answer_on(sandbox, "POST", "/issueLink")

    def both(request: httpx.Request) -> None:
        attachment_late(request)
        link_late(request)

    with_quick_timeouts(container, sandbox, request=both)
    container.start()
    export = wait_export(container, start_export(container, session_id).export_id)
    assert_completed_once_each(container, sandbox, session_id, export, SMALL_SITE_TICKETS)
    stats = sandbox.stats()
    assert stats["faults_injected"]["timeout"] == 2
    assert stats["attachments_uploaded"] == 1
    session = container.app.load_session(session_id)
    filename = attachment_filename(session.tickets[chosen[0]].config_name)
    assert export.attachments == {chosen[0]: [filename]}
    assert attachment_names(sandbox, export.issues[chosen[0]].key) == [filename]
    assert not export.fixes, [f.detail for f in export.fixes.values()]


def test_timeouts_that_last_fail_temporary_and_the_retry_records_the_links_jira_made(
    container: Container, sandbox: Sandbox
) -> None:
    session_id = prepare_session(container)
    with_quick_timeouts(container, sandbox)
    container.progress_listeners.append(
        when_issues_created(lambda: sandbox.faults(timeout_next=100_000, timeout_seconds=LATE_BY_S))
    )
    container.start()
    started = start_export(container, session_id)
    failed = wait_export(container, started.export_id, timeout=60)
    assert_failed(container, session_id, failed, "temporary")
    assert len(failed.issues) == SMALL_SITE_TICKETS and not failed.links
    made = sandbox.stats()["links_created"]
    assert made > 0  # the late answers' links exist in Jira, unrecorded

    sandbox.clear_faults()
    retry_export(container, session_id)
    export = wait_export(container, started.export_id, ended=("completed",))
    assert_completed_once_each(container, sandbox, session_id, export, SMALL_SITE_TICKETS)
    assert not export.fixes
    posted = sandbox.stats()["responses"]["POST /rest/api/3/issueLink"]
    assert sum(posted.values()) - made <= SMALL_SITE_LINKS  # the found ones not posted again


# --- 401 ---------------------------------------------------------------------------------


def test_401_from_the_attachments_on_fails_admin_required_twice_then_resumes_when_fixed(
    container: Container, sandbox: Sandbox
) -> None:
    chosen: list[UUID] = []

    def edits(session: Session) -> Edits:
        chosen.append(session.tickets_in_export_order()[3].id)
        return {chosen[0]: {"analysis": long_analysis()}}

    session_id = prepare_session(container, edits=edits)
    container.start()
    # pre-flight and the bulk create pass; from the attachment on, every request is 401
    sandbox.faults(unauthorized_from_request=preflight_requests(sandbox) + 2)
    started = start_export(container, session_id)
    failed = wait_export(container, started.export_id)
    assert_failed(container, session_id, failed, "admin_required")
    assert failed.failure is not None and failed.failure.failed_ticket_id == chosen[0]
    assert len(failed.issues) == SMALL_SITE_TICKETS and not failed.attachments

    retry_export(container, session_id)  # the token is still revoked
    again = wait_export(container, started.export_id, ended=("failed",))
    assert again.retries == 1
    assert_failed(container, session_id, again, "admin_required")

    sandbox.clear_faults()  # a new token
    retry_export(container, session_id)
    export = wait_export(container, started.export_id, ended=("completed",))
    assert export.retries == 2
    assert_completed_once_each(container, sandbox, session_id, export, SMALL_SITE_TICKETS)
    assert sandbox.stats()["attachments_uploaded"] == 1
    assert len(export.attachments) == 1 and not export.fixes


# --- link type missing -------------------------------------------------------------------


@pytest.mark.parametrize("restored", [True, False], ids=["restored", "still-missing"])
def test_blocks_link_type_vanishing_mid_export_fails_admin_required_and_the_retry_resumes(
    container: Container, sandbox: Sandbox, restored: bool
) -> None:
    """Pre-flight saw 'Blocks'; it is gone when the links go out. The retry links (type
    restored) or records one manual fix per dependency still to link (still missing)."""
    session_id = prepare_session(container)
    container.progress_listeners.append(
        when_issues_created(lambda: sandbox.faults(missing_link_types=["Blocks"]))
    )
    container.start()
    started = start_export(container, session_id)
    failed = wait_export(container, started.export_id)
    assert_failed(container, session_id, failed, "admin_required")
    assert "link type" in (failed.failure.message if failed.failure else "")
    assert sandbox.stats()["links_created"] == 0

    if restored:
        sandbox.clear_faults()
    retry_export(container, session_id)
    export = wait_export(container, started.export_id, ended=("completed",))
    assert export.status == "completed", export.failure
    issues = assert_no_duplicates(sandbox, export)
    assert sandbox.stats()["issues_created"] == SMALL_SITE_TICKETS
    if restored:
        assert_links_once(issues, export)
        assert sandbox.stats()["links_created"] == SMALL_SITE_LINKS and not export.fixes
    else:
        fixes = [f for f in export.fixes.values() if f.kind == "link"]
        assert len(fixes) == len(export.fixes) == SMALL_SITE_LINKS
        assert not export.links and sandbox.stats()["links_created"] == 0
    assert container.app.load_session(session_id).stage == Stage.COMPLETED
