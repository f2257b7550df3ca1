"""Secrets stay secret (PRODUCT.md, Events: "never hold secrets").

A whole workflow runs through the API with real-looking secrets configured (a Jira
API token, an OpenAI key) against the Jira sandbox and the OpenAI stub, which accept
exactly those, with the error paths that are most likely to leak them (Jira refusing
the token mid-export, the LLM failing a draft). Then every byte ticketforge stored
(the event store and the read models: the raw SQLite files, or every row of every
table on PostgreSQL) and everything it logged (at DEBUG) is searched for the secrets,
for the Basic credentials made of them, and for the users' bearer tokens, which are
stored only as SHA-256 hashes.

With CIPHER_KEY, the event database file holds no plaintext of a ticket either
(tests/integration/storage/test_storage_events.py checks the events' rows; here the
raw file, its WAL and snapshots included, after a full workflow with an export).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventsourcing.cipher import AESCipher

from infrastructure.jira_sandbox import Credentials, SandboxServer, create_sandbox_app
from infrastructure.llm.openai_stub import StubServer, StubState
from interfaces.settings import Settings
from tests.e2e.conftest import SMALL_SITE_CSV, Api
from tests.integration.export.support import DEMO_EMAIL, TEST_LIMITS

JIRA_TOKEN = "ATATT3xFfGF0-canary-jira-token-Zq81Wv5"
OPENAI_KEY = "sk-proj-canary-openai-key-Ry7Pq2Lm9"
JIRA_BASIC = base64.b64encode(f"{DEMO_EMAIL}:{JIRA_TOKEN}".encode()).decode()
EXPORT_TIMEOUT_S = 30.0


@pytest.fixture
def jira(tmp_path: Path) -> Iterator[SandboxServer]:
    """A sandbox that takes our Jira token (and no other) for demo@example.com."""
    app = create_sandbox_app(
        tmp_path / "jira-sandbox.db",
        limits=TEST_LIMITS,
        credentials=Credentials(basic={DEMO_EMAIL: JIRA_TOKEN}, bearer={}),
    )
    server = SandboxServer(app).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llm() -> Iterator[StubServer]:
    """The OpenAI stub, answering only requests that carry our key."""
    with StubServer(StubState(api_key=OPENAI_KEY)) as server:
        yield server


def secret_env(jira: SandboxServer, llm: StubServer, **extra: str) -> dict[str, str]:
    return {
        "JIRA_BASE_URL": jira.base_url,
        "JIRA_EMAIL": DEMO_EMAIL,
        "JIRA_API_TOKEN": JIRA_TOKEN,
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_MODEL": "stub-model",
        "TICKETFORGE_GENERATOR": "openai",
        **extra,
    }


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def wait_export(api: Api, session_id: str, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + EXPORT_TIMEOUT_S
    while True:
        status = ok(api.get(f"/api/sessions/{session_id}/export/status"))
        if status["task_id"] == task_id and status["status"] in ("completed", "failed"):
            return dict(status)
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def run_workflow(
    api: Api, jira: SandboxServer, llm: StubServer, edit: dict[str, str] | None = None
) -> tuple[str, list[Any]]:
    """Create, upload, draft with the LLM (one draft failing), review, export (Jira
    refusing the token on the first attempt), sync back, check a project, look at the
    audit trail. Returns the session id and every API answer's text."""
    answers: list[Any] = []
    session_id = api.create_session(jira_project_key="DEMO")["id"]
    api.upload(session_id, SMALL_SITE_CSV)
    llm.state.add_fault("malformed", match="image.style.", times=100)  # no retry backoff
    answers.append(ok(api.post(f"/api/sessions/{session_id}/process"), 202))
    status = api.wait_processed(session_id)
    assert status["status"] == "completed", status
    assert status["failed"] >= 1, status  # the failing draft went through its error path
    assert llm.state.chat_requests, "the LLM was not used"
    llm.state.clear_faults()
    tickets = api.tickets(session_id)
    first = tickets[0]
    answers.append(
        ok(
            api.patch(
                f"/api/sessions/{session_id}/tickets/{first['id']}",
                json=edit or {"priority": "High"},
                headers={"If-Match": str(first["version"])},
            )
        )
    )
    ok(api.post(f"/api/sessions/{session_id}/tickets/ready", json={}))
    answers.append(ok(api.post(f"/api/sessions/{session_id}/adf-validation", json={})))

    faults = httpx.post(f"{jira.base_url}/_sandbox/faults", json={"unauthorized_from_request": 5})
    faults.raise_for_status()
    started = ok(api.post(f"/api/sessions/{session_id}/export"), 202)
    failed = wait_export(api, session_id, started["task_id"])
    assert failed["status"] == "failed", failed
    answers.append(failed)
    cleared = httpx.post(f"{jira.base_url}/_sandbox/faults", json={"unauthorized_from_request": 0})
    cleared.raise_for_status()
    retried = ok(api.post(f"/api/sessions/{session_id}/export/retry"), 202)
    done = wait_export(api, session_id, retried["task_id"])
    assert done["status"] == "completed", done

    answers.append(ok(api.post(f"/api/sessions/{session_id}/export/sync")))
    answers.append(ok(api.get(f"/api/sessions/{session_id}/export/summary")))
    answers.append(ok(api.post("/api/jira/validate-project", json={"project_key": "DEMO"})))
    answers.append(ok(api.get(f"/api/admin/sessions/{session_id}/events", user="root")))
    answers.append(ok(api.get(f"/api/admin/sessions/{session_id}/state", user="root")))
    export_id = api.session(session_id)["export_id"]
    answers.append(ok(api.get(f"/api/admin/exports/{export_id}/events", user="root")))
    answers.append(ok(api.get(f"/api/admin/exports/{export_id}/state", user="root")))
    return session_id, answers


def stored_bytes(settings: Settings) -> bytes:
    """Everything ticketforge keeps: the files of its data directory (the SQLite event
    store and read models, WAL included) and, on PostgreSQL, every row of every table."""
    chunks = [p.read_bytes() for p in sorted(settings.data_dir.rglob("*")) if p.is_file()]
    if settings.uses_postgres:
        import psycopg

        with psycopg.connect(settings.postgres_conninfo()) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            ).fetchall()
            for (table,) in tables:
                rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
                for row in rows:
                    for value in row:
                        chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(chunks)


def assert_nowhere(secret: str, places: dict[str, bytes]) -> None:
    for where, content in places.items():
        assert secret.encode() not in content, f"{secret[:12]}... found in {where}"


def test_no_secret_is_stored_logged_or_answered(
    api_with: Callable[..., Api],
    jira: SandboxServer,
    llm: StubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    api = api_with(**secret_env(jira, llm))

    _, answers = run_workflow(api, jira, llm)
    api.container.settle()

    places = {
        "the database": stored_bytes(api.container.settings),
        "the logs": caplog.text.encode(),
        "the API's answers": repr(answers).encode(),
    }
    assert b"node.type.article" in places["the database"], "the scan would not see plaintext"
    for secret in (JIRA_TOKEN, OPENAI_KEY, JIRA_BASIC, *api.tokens.values()):
        assert_nowhere(secret, places)


def test_bearer_tokens_are_stored_only_as_hashes(api: Api) -> None:
    with api.container.store.db.read() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT name, token_hash FROM tf_users ORDER BY name")
        rows = cur.fetchall()

    assert [name for name, _ in rows] == ["alice", "bob", "root"]
    for name, token_hash in rows:
        token = api.tokens[name]
        assert token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in token_hash
    database = stored_bytes(api.container.settings)
    for token in api.tokens.values():
        assert token.encode() not in database


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_with_a_cipher_key_the_event_database_file_holds_no_ticket_text(
    api_with: Callable[..., Api], jira: SandboxServer, llm: StubServer
) -> None:
    api = api_with(**secret_env(jira, llm, CIPHER_KEY=AESCipher.create_key(32)))
    canary_title = "Canary title 4b7e1 of a reviewed ticket"
    canary_story = "Canary user story c91d0: as an editor I want plaintext kept away"
    session_id, _ = run_workflow(
        api, jira, llm, edit={"title": canary_title, "user_story": canary_story}
    )
    tickets = api.tickets(session_id)
    assert canary_title in [t["title"] for t in tickets]
    texts = [t["title"] for t in tickets] + [t["user_story"] for t in tickets] + [canary_story]

    data_dir = api.container.settings.data_dir
    event_files = sorted(data_dir.glob("events.db*"))  # the WAL too: not checkpointed yet
    assert event_files, sorted(data_dir.iterdir())
    raw = b"".join(p.read_bytes() for p in event_files)
    leaked = [text for text in texts if text.encode() in raw]
    assert leaked == [], f"plaintext in the encrypted event database: {leaked[:3]}"
    assert b"node.type.article" not in raw
    readmodels = b"".join(p.read_bytes() for p in data_dir.glob("readmodels.db*"))
    assert canary_title.encode() in readmodels, "the scan would not see plaintext (control)"
