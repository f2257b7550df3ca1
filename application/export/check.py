"""Checking a Jira project up front, with the reasons an export to it would fail."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from application.export.port import JiraGateway
from application.export.preflight import Preflight, run_preflight


def check_project(
    jira: Callable[[], JiraGateway],
    project_key: str,
    issue_type: str,
    *,
    assignees: Iterable[str] = (),
    sprints: Iterable[str] = (),
) -> Preflight:
    """The export's own pre-flight checks, run alone (nothing is created in Jira).

    Auth and network errors propagate as `JiraError`; every other reason is in the
    answer's `problems` (the export would not start) or `warnings` (it would fall back).
    """
    gateway = jira()
    try:
        return run_preflight(gateway, project_key, issue_type, assignees=assignees, sprints=sprints)
    finally:
        gateway.close()
