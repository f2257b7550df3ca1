"""All configuration, from the environment (names fixed in PRODUCT.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=True)

    environment: Literal["development", "production"] = Field(
        "development", alias="TICKETFORGE_ENV"
    )
    data_dir: Path = Field(Path(".ticketforge"), alias="TICKETFORGE_DATA_DIR")

    persistence_module: str = Field("sqlite", alias="PERSISTENCE_MODULE")
    postgres_dbname: str = Field("ticketforge", alias="POSTGRES_DBNAME")
    postgres_host: str = Field("127.0.0.1", alias="POSTGRES_HOST")
    postgres_port: int = Field(5432, alias="POSTGRES_PORT")
    postgres_user: str = Field("ticketforge", alias="POSTGRES_USER")
    postgres_password: SecretStr = Field(SecretStr(""), alias="POSTGRES_PASSWORD")
    cipher_key: SecretStr | None = Field(None, alias="CIPHER_KEY")
    # Only `ticketforge rotate-key` reads it: the key it re-encrypts every event with.
    cipher_key_new: SecretStr | None = Field(None, alias="CIPHER_KEY_NEW")

    nats_url: str | None = Field(None, alias="NATS_URL")
    # Without NATS_URL, `serve` and `demo` run a nats-server of their own (off: no live progress).
    embedded_nats: bool = Field(True, alias="TICKETFORGE_EMBEDDED_NATS")
    progress_max_age_s: float = Field(24 * 3600.0, alias="TICKETFORGE_PROGRESS_MAX_AGE_S", gt=0)
    progress_max_msgs: int = Field(10_000, alias="TICKETFORGE_PROGRESS_MAX_MSGS", ge=10)

    jira_base_url: str | None = Field(None, alias="JIRA_BASE_URL")
    jira_email: str | None = Field(None, alias="JIRA_EMAIL")
    jira_api_token: SecretStr | None = Field(None, alias="JIRA_API_TOKEN")
    # A Data Center personal access token (sent as `Authorization: Bearer`), instead of
    # JIRA_EMAIL + JIRA_API_TOKEN.
    jira_pat: SecretStr | None = Field(None, alias="JIRA_PAT")
    # `auto`: read from `GET /rest/api/2/serverInfo` (`deploymentType`).
    jira_flavor: Literal["auto", "cloud", "datacenter"] = Field("auto", alias="JIRA_FLAVOR")
    jira_timeout_s: float = Field(30.0, alias="JIRA_TIMEOUT", gt=0)

    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    openai_model: str = Field("gpt-4o-mini", alias="OPENAI_MODEL")
    openai_timeout_s: float = Field(60.0, alias="OPENAI_TIMEOUT", gt=0)
    generator: Literal["auto", "offline", "openai"] = Field("auto", alias="TICKETFORGE_GENERATOR")
    generation_concurrency: int = Field(8, alias="TICKETFORGE_GENERATION_CONCURRENCY", ge=1, le=64)

    max_upload_bytes: int = Field(50 * 1024 * 1024, alias="TICKETFORGE_MAX_UPLOAD_BYTES", gt=0)
    embedded_workers: int = Field(1, alias="TICKETFORGE_EMBEDDED_WORKERS", ge=0)
    task_lease_s: float = Field(30.0, alias="TICKETFORGE_TASK_LEASE_S", gt=0)

    @field_validator(
        "nats_url",
        "jira_base_url",
        "jira_email",
        "jira_api_token",
        "jira_pat",
        "openai_api_key",
        "openai_base_url",
        "cipher_key",
        "cipher_key_new",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`VAR=` (as compose passes an unset variable through) means not configured."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def uses_postgres(self) -> bool:
        return "postgres" in self.persistence_module

    @property
    def jira_configured(self) -> bool:
        """A real Jira: its URL and a PAT, or an email (username) and API token."""
        return bool(
            self.jira_base_url and (self.jira_pat or (self.jira_email and self.jira_api_token))
        )

    @field_validator("jira_flavor", mode="before")
    @classmethod
    def _flavor_words(cls, value: object) -> object:
        """`JIRA_FLAVOR=` means auto; `Data Center`, `server`, `dc` mean datacenter."""
        if isinstance(value, str):
            word = value.strip().lower().replace(" ", "").replace("_", "").replace("-", "")
            if not word:
                return "auto"
            if word in ("dc", "server", "datacenter"):
                return "datacenter"
            return word
        return value

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def default_generator(self) -> str:
        if self.generator == "offline" or (self.generator == "auto" and not self.llm_configured):
            return "offline"
        return f"openai:{self.openai_model}"

    @model_validator(mode="after")
    def _refuse_half_a_jira(self) -> Settings:
        """A Jira URL without its credentials is a mistake, not a wish for the sandbox:
        exporting a real backlog into the sandbox would look like success."""
        if self.jira_base_url and not self.jira_configured:
            raise ValueError(
                "JIRA_BASE_URL is set but its credentials are not: set JIRA_PAT (a Jira "
                "Data Center personal access token), or both JIRA_EMAIL and JIRA_API_TOKEN "
                "(Jira Cloud); unset JIRA_BASE_URL to export to the bundled sandbox"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            problems = []
            if not self.uses_postgres:
                problems.append("PERSISTENCE_MODULE must be postgres in production")
            if not self.postgres_password.get_secret_value():
                problems.append("POSTGRES_PASSWORD must be set in production")
            if problems:
                raise ValueError("; ".join(problems))
        return self

    def postgres_conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            dbname=self.postgres_dbname,
            host=self.postgres_host,
            port=self.postgres_port,
            user=self.postgres_user,
            password=self.postgres_password.get_secret_value() or None,
        )

    def eventsourcing_env(self) -> dict[str, str]:
        """The `eventsourcing` library's own settings, derived from ours."""
        # No aggregate cache: the library caches the very object a command (or a long
        # generation/export run) keeps mutating, so a reader could copy it mid-change or
        # see an event that failed to save. Loading replays at most one snapshot interval.
        env: dict[str, str] = {}
        if self.uses_postgres:
            env.update(
                PERSISTENCE_MODULE="eventsourcing.postgres",
                POSTGRES_DBNAME=self.postgres_dbname,
                POSTGRES_HOST=self.postgres_host,
                POSTGRES_PORT=str(self.postgres_port),
                POSTGRES_USER=self.postgres_user,
                POSTGRES_PASSWORD=self.postgres_password.get_secret_value(),
                # While the server is away, a call fails after about ten waits of this
                # long (the library retries ten times) instead of ten of 30 s; each
                # connection is checked as it is handed out, so a restart's cut ones are
                # replaced, not tried.
                POSTGRES_CONNECT_TIMEOUT="1",
                POSTGRES_PRE_PING="y",
                # The projections rely on notification ids committing in order (the
                # library's plain insert locks the table for that); its stored-function
                # insert does not, and an id committed late would be skipped for good.
                POSTGRES_ENABLE_DB_FUNCTIONS="n",
            )
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            env.update(
                PERSISTENCE_MODULE="eventsourcing.sqlite",
                SQLITE_DBNAME=str(self.data_dir / "events.db"),
                SQLITE_LOCK_TIMEOUT="30",
            )
        if self.cipher_key is not None and self.cipher_key.get_secret_value():
            env.update(
                CIPHER_TOPIC="eventsourcing.cipher:AESCipher",
                CIPHER_KEY=self.cipher_key.get_secret_value(),
                COMPRESSOR_TOPIC="eventsourcing.compressor:ZlibCompressor",
            )
        return env
