"""Helpers for the operations tests: a source store with history worth keeping, a
fresh target on either backend, and the API's answers compared field by field."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from application.admin import record_admin_action
from application.export.preflight import run_preflight
from application.users import User
from interfaces.api.app import create_app
from interfaces.bootstrap import Container, bootstrap
from tests.conftest import make_settings
from tests.integration.export.support import (
    PROJECT,
    Sandbox,
    jira_env,
    prepare_session,
    start_export,
    wait_export,
)


@contextmanager
def container_on(
    backend: str, root: Path, request: pytest.FixtureRequest, sandbox: Sandbox, **extra: Any
) -> Iterator[Container]:
    """A container on a fresh store (its own data directory, or its own database)."""
    root.mkdir(parents=True, exist_ok=True)
    settings = make_settings(backend, root, request, **jira_env(sandbox.server), **extra)
    container = bootstrap(settings)
    try:
        yield container
    finally:
        container.close()


def preflight_requests(sandbox: Sandbox) -> int:
    before = sandbox.stats()["total_requests"]
    assert run_preflight(sandbox.jira, PROJECT, "Task").ok
    return int(sandbox.stats()["total_requests"] - before)


def fill_history(container: Container, sandbox: Sandbox) -> dict[str, UUID]:
    """Two exported sessions: one completed with manual fixes (no "Blocks" link type),
    one failed halfway (401 once its issues existed), whose retry is left to do."""
    completed = prepare_session(container)
    container.start()
    sandbox.faults(missing_link_types=["Blocks"])
    done = wait_export(container, start_export(container, completed).export_id)
    assert done.status == "completed" and done.fixes
    sandbox.clear_faults()
    failing = prepare_session(container)
    sandbox.faults(unauthorized_from_request=preflight_requests(sandbox) + 2)
    failed = wait_export(container, start_export(container, failing).export_id)
    assert failed.status == "failed" and len(failed.issues) == 49 and not failed.links
    sandbox.clear_faults()
    admin = User("alice", is_admin=True)
    record_admin_action(container.app, admin, "rebuild_projection", "audit", {"via": "test"})
    assert container.settle()
    return {
        "completed": completed,
        "completed_export": done.id,
        "failed": failing,
        "failed_export": failed.id,
    }


def api_answers(
    container: Container, token: str, ids: dict[str, UUID], upto: int
) -> dict[str, Any]:
    """What the API answers about the history, route by route. The admin views record
    that they were looked at (after the backup, at its `upto` position): the admin
    activity is compared up to it."""
    assert container.settle()
    answers: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(container)) as client:

        def get(url: str) -> None:
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.text)
            answers[url] = response.json()

        get("/api/admin/activity?limit=1000")
        get("/api/sessions")
        for name in ("completed", "failed"):
            session = f"/api/sessions/{ids[name]}"
            for route in (
                "",
                "/entities",
                "/tickets",
                "/process/status",
                "/export/status",
                "/export/plan",
                "/export/summary",
                "/export/manual-fixes",
            ):
                get(session + route)
            get(f"/api/admin/sessions/{ids[name]}/events?limit=1000")
            get(f"/api/admin/sessions/{ids[name]}/state")
            get(f"/api/admin/exports/{ids[name + '_export']}/events?limit=1000")
            get(f"/api/admin/exports/{ids[name + '_export']}/state")
    activity = answers.pop("/api/admin/activity?limit=1000")
    answers["admin activity"] = [e for e in activity["events"] if e["position"] <= upto]
    assert answers["admin activity"]
    return answers


def differences(source: Any, target: Any, path: str = "") -> list[str]:
    """Every place where two JSON values differ, by path."""
    if isinstance(source, dict) and isinstance(target, dict):
        found = []
        for key in sorted(set(source) | set(target), key=str):
            where = f"{path}.{key}"
            if key not in target:
                found.append(f"{where}: missing after restore")
            elif key not in source:
                found.append(f"{where}: only after restore")
            else:
                found += differences(source[key], target[key], where)
        return found
    if isinstance(source, list) and isinstance(target, list):
        if len(source) != len(target):
            return [f"{path}: {len(source)} items, {len(target)} after restore"]
        found = []
        for i, (a, b) in enumerate(zip(source, target, strict=True)):
            found += differences(a, b, f"{path}[{i}]")
        return found
    return [] if source == target else [f"{path}: {source!r} became {target!r}"]
