"""`ticketforge replay [NAME]` rebuilds read models (recorded as an admin action);
unknown names are refused."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domain.admin import AdminActivity, activity_id
from interfaces.bootstrap import bootstrap
from interfaces.cli.main import app
from tests.conftest import make_settings
from tests.integration.readside.support import generated_session
from tests.integration.readside.test_leader import settings_env


def test_replay_rebuilds_the_named_read_models(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = make_settings("sqlite", tmp_path, request)
    container = bootstrap(settings)
    try:
        generated_session(container)
        container.settle()
        before = container.store.list("tickets")
        head = container.app.head_position()
    finally:
        container.close()

    env = settings_env(settings)
    result = CliRunner().invoke(app, ["replay", "tickets", "audit"], env=env)
    assert result.exit_code == 0, result.output
    assert "tickets" in result.output and "audit" in result.output

    container = bootstrap(settings)
    try:
        assert container.store.list("tickets") == before
        assert container.store.position("tickets") >= head
        activity = container.app.repository.get(activity_id(f"cli:{getpass.getuser()}"))
        assert isinstance(activity, AdminActivity) and activity.actions == 2
    finally:
        container.close()

    refused = CliRunner().invoke(app, ["replay", "nope"], env=env)
    assert refused.exit_code == 2 and "Unknown projection" in refused.output
