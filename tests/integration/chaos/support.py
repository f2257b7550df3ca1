"""Helpers for the chaos tests: `ticketforge worker` processes on the test's own
configuration (same database, same Jira, a real NATS), what the event store held at a
given moment, and read models checked against a fresh rebuild."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from infrastructure.jira_sandbox import SandboxServer
from interfaces.bootstrap import Container
from interfaces.settings import Settings
from tests.integration.export.support import Sandbox
from tests.support.workers import worker_env as shared_worker_env

# The task lease (JetStream's ack wait): how long a task stays with a worker that stopped
# saying it works on it (a killed one). Short, so that another worker takes it over
# quickly, yet three in-progress signals long.
LEASE_S = 1.5

# Jira requests that change something (each one counted by the sandbox on arrival).
WRITE_ROUTES = (
    "POST /rest/api/3/issue",
    "POST /rest/api/3/issue/bulk",
    "POST /rest/api/3/issue/{issueIdOrKey}/attachments",
    "POST /rest/api/3/issueLink",
)


def jira_writes(stats: Mapping[str, Any]) -> int:
    requests = stats.get("requests") or {}
    return sum(int(requests.get(route, 0)) for route in WRITE_ROUTES)


def worker_env(
    settings: Settings, jira: SandboxServer, nats_url: str, lease_s: float = LEASE_S
) -> dict[str, str]:
    return shared_worker_env(settings, jira, nats_url, lease_s)


# --- the event store -------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One stored event, as the notification log holds it."""

    notification_id: int
    originator_id: UUID
    version: int
    topic: str
    state: bytes


def event_log(container: Container, after: int = 0) -> list[Recorded]:
    """Every stored event after notification `after`, in notification order."""
    recorder = container.app.recorder
    found: list[Recorded] = []
    while True:
        page = recorder.select_notifications(start=after, limit=1000, inclusive_of_start=False)
        found.extend(
            Recorded(
                n.id, UUID(str(n.originator_id)), n.originator_version, n.topic, bytes(n.state)
            )
            for n in page
        )
        if len(page) < 1000:
            return found
        after = page[-1].id


def assert_nothing_lost(earlier: Iterable[Recorded], final: Iterable[Recorded]) -> None:
    """Every event stored at an earlier moment is still there, unchanged, at its place."""
    now = {r.notification_id: r for r in final}
    lost = [r for r in earlier if now.get(r.notification_id) != r]
    assert not lost, f"{len(lost)} stored events changed or vanished, e.g. {lost[:3]}"


def assert_versions_contiguous(log: Iterable[Recorded], first_versions: Mapping[UUID, int]) -> None:
    """Per aggregate, versions follow each other with no gap and no repeat, in the log's
    order (from `first_versions[aggregate]`, the version the log's part begins after)."""
    last = dict(first_versions)
    for record in log:
        expected = last.get(record.originator_id, 0) + 1
        assert record.version == expected, (
            f"aggregate {record.originator_id}: version {record.version} stored after "
            f"{expected - 1} ({record.topic})"
        )
        last[record.originator_id] = record.version


def topic_name(topic: str) -> str:
    """`domain.export:Export.TicketExported` -> `Export.TicketExported`."""
    return topic.rpartition(":")[2]


# --- read models -------------------------------------------------------------------------


def read_models(container: Container) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of every projection the container's projector runs."""
    return {
        table: container.store.list(table)
        for projection in container.projector.projections.values()
        for table in projection.tables
    }


def assert_read_models_equal_a_rebuild(container: Container) -> None:
    """The incrementally built read models equal ones rebuilt from event 1 (each rebuilt
    beside the live copy, then swapped in; the swapped-in rows must be the same)."""
    assert container.settle(timeout=30), "the read models did not catch up"
    live = read_models(container)
    assert any(live.values())
    head = container.app.head_position()
    for name in container.projector.projections:
        assert container.projector.rebuild(name) == head
    rebuilt = read_models(container)
    for table in live:
        assert rebuilt[table] == live[table], f"read model table {table} differs from a rebuild"


# --- Jira ----------------------------------------------------------------------------------


def attachment_names(sandbox: Sandbox, key: str) -> list[str]:
    return [str(a["filename"]) for a in sandbox.issue(key, "attachment").get("attachment") or ()]
