"""Configuration from the environment: empty values mean "not configured"."""

from __future__ import annotations

from pathlib import Path

import pytest

from interfaces.settings import Settings


def test_variables_passed_through_empty_count_as_unset(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        TICKETFORGE_DATA_DIR=str(tmp_path),
        OPENAI_BASE_URL="",
        OPENAI_API_KEY=" ",
        NATS_URL="",
        JIRA_BASE_URL="",
        CIPHER_KEY="",
    )
    assert settings.openai_base_url is None and settings.openai_api_key is None
    assert settings.nats_url is None and settings.jira_base_url is None
    assert settings.cipher_key is None
    assert not settings.llm_configured
    assert settings.default_generator == "offline"


def test_set_values_are_kept(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        TICKETFORGE_DATA_DIR=str(tmp_path),
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        NATS_URL="nats://127.0.0.1:4222",
    )
    assert settings.openai_base_url == "http://127.0.0.1:9/v1"
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings.llm_configured


def test_production_refuses_sqlite_and_an_empty_password(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PERSISTENCE_MODULE must be postgres"):
        Settings(  # type: ignore[call-arg]
            TICKETFORGE_DATA_DIR=str(tmp_path), TICKETFORGE_ENV="production"
        )


def test_jira_timeout_reaches_the_client(tmp_path: Path) -> None:
    from interfaces.bootstrap import JiraConnector

    settings = Settings(  # type: ignore[call-arg]
        TICKETFORGE_DATA_DIR=str(tmp_path),
        JIRA_BASE_URL="https://example.atlassian.net",
        JIRA_EMAIL="someone@example.com",
        JIRA_API_TOKEN="not-a-real-token",
        JIRA_TIMEOUT="4.5",
    )
    client = JiraConnector(settings)()
    try:
        assert client._http.timeout.read == 4.5  # type: ignore[attr-defined]
    finally:
        client.close()  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="JIRA_TIMEOUT"):
        Settings(TICKETFORGE_DATA_DIR=str(tmp_path), JIRA_TIMEOUT="0")  # type: ignore[call-arg]


def test_a_data_center_pat_and_the_flavour_reach_the_client(tmp_path: Path) -> None:
    from interfaces.bootstrap import JiraConnector

    base = {"TICKETFORGE_DATA_DIR": str(tmp_path), "JIRA_BASE_URL": "https://jira.example.edu"}
    settings = Settings(**base, JIRA_PAT="a-pat", JIRA_FLAVOR="Data Center")  # type: ignore[arg-type]
    assert settings.jira_configured and settings.jira_flavor == "datacenter"
    client = JiraConnector(settings)()
    try:
        assert client.flavor == "datacenter" and client.api == "/rest/api/2"  # type: ignore[attr-defined]
        assert client._http.headers["Authorization"] == "Bearer a-pat"  # type: ignore[attr-defined]
    finally:
        client.close()
    # unset: detected from serverInfo on the first request (no request made here)
    assert Settings(**base, JIRA_PAT="a-pat").jira_flavor == "auto"  # type: ignore[arg-type]
    # a URL without credentials is refused, not quietly the sandbox
    with pytest.raises(ValueError, match="JIRA_BASE_URL is set but its credentials are not"):
        Settings(**base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="JIRA_BASE_URL is set but its credentials are not"):
        Settings(**base, JIRA_EMAIL="someone@example.edu")  # type: ignore[arg-type]
    assert not Settings(TICKETFORGE_DATA_DIR=str(tmp_path)).jira_configured  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="JIRA_FLAVOR"):
        Settings(**base, JIRA_FLAVOR="onprem")  # type: ignore[arg-type]
