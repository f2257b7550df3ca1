"""Shared fixtures: a throwaway PostgreSQL cluster and containers on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from interfaces.bootstrap import Container, bootstrap
from interfaces.settings import Settings
from tests.support.postgres import ThrowawayPostgres

pytest_plugins = ["tests.support.sandbox_fixtures", "tests.support.nats_fixtures"]

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SPECS = REPO / "specs"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[ThrowawayPostgres]:
    cluster = ThrowawayPostgres().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def make_settings(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, **extra: object
) -> Settings:
    values: dict[str, object] = {
        "TICKETFORGE_DATA_DIR": str(tmp_path / "data"),
        "TICKETFORGE_GENERATOR": "offline",
        "TICKETFORGE_EMBEDDED_WORKERS": 1,
        "TICKETFORGE_EMBEDDED_NATS": False,
    }
    if backend == "postgres":
        cluster: ThrowawayPostgres = request.getfixturevalue("postgres_cluster")
        values.update(
            PERSISTENCE_MODULE="postgres",
            POSTGRES_DBNAME=cluster.create_database(),
            POSTGRES_HOST="127.0.0.1",
            POSTGRES_PORT=cluster.port,
            POSTGRES_USER=cluster.user,
        )
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return make_settings(backend, tmp_path, request)


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    c = bootstrap(settings)
    try:
        yield c
    finally:
        c.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshots",
        default=None,
        help="Where the browser suite (tests/browser) saves its screenshots (default: a tmp dir)",
    )
