"""`ticketforge jira-sandbox --flavor`: cloud or datacenter, anything else refused with a
message saying what to pass (the server itself is exercised by the integration tests)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from infrastructure.jira_sandbox.__main__ import main as sandbox_main
from interfaces.cli.main import app


def test_an_unknown_flavour_is_refused_with_the_choices() -> None:
    result = CliRunner().invoke(app, ["jira-sandbox", "--flavor", "onprem"])
    assert result.exit_code == 2
    assert "cloud or datacenter" in result.output


def test_the_module_entry_point_refuses_it_too(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        sandbox_main(["--flavor", "onprem"])
    assert exited.value.code == 2
    assert "datacenter" in capsys.readouterr().err
