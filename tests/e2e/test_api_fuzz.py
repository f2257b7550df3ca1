"""schemathesis against the app's own OpenAPI document: no 5xx, answers as documented.

Every operation of `/openapi.json` is called in-process (ASGI) with generated valid
(positive) and invalid (negative) data, as a user (alice) or, on the admin routes,
as an admin. Path ids are mostly swapped for ones that exist (a reviewed session of
the small site, its tickets, its export once the fuzzing started one), so requests
reach past the 404 into the real work: edits, dependencies, validation, exports to
the bundled sandbox, rebuilds.

Checked: no server error, and status code, content type, headers and body as the
document declares them (errors included: `ErrorBody` for every 4XX/5XX). Not
checked: schemathesis's `negative_data_rejection` (FastAPI takes the last of a
repeated query parameter and pydantic reads a number as a timestamp, both on
purpose) and `positive_data_acceptance` (a valid request may well be a 404 or 409).

Bounded for the normal suite: a few derandomized examples per operation, on SQLite.
For a deeper local run: TICKETFORGE_FUZZ_EXAMPLES=150 TICKETFORGE_FUZZ_RANDOM=1.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from interfaces.api.app import create_app
from interfaces.bootstrap import bootstrap
from interfaces.settings import Settings
from projections import exports as exports_view
from projections import sessions as sessions_view
from tests.e2e.conftest import Api, assert_error, open_api

# The SSE stream never ends while its session lives; tests/integration/progress covers it.
STREAMING = r"/progress/stream$"
MAX_EXAMPLES = int(os.environ.get("TICKETFORGE_FUZZ_EXAMPLES", "25"))
DERANDOMIZE = not os.environ.get("TICKETFORGE_FUZZ_RANDOM")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class World:
    api: Api
    session_id: str
    ticket_ids: list[str]
    projections: list[str]

    def token(self, admin: bool) -> str:
        return self.api.tokens["root" if admin else "alice"]

    def ids(self) -> dict[str, list[str]]:
        """Real ids for each path parameter, as they are now (an export may have started)."""
        store = self.api.container.store
        session = store.get(sessions_view.TABLE, self.session_id) or {}
        export_id = session.get("export_id")
        export = store.get(exports_view.TABLE, export_id) if export_id else None
        return {
            "session_id": [self.session_id],
            "ticket_id": self.ticket_ids,
            "depends_on": self.ticket_ids,
            "export_id": [export_id] if export_id else [],
            "fix_id": list(export["fixes"]) if export else [],
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = Path(tmp_path_factory.mktemp("fuzz")) / "data"
    container = bootstrap(
        Settings(  # type: ignore[call-arg]
            TICKETFORGE_DATA_DIR=str(data),
            TICKETFORGE_GENERATOR="offline",
            TICKETFORGE_EMBEDDED_WORKERS=1,
            TICKETFORGE_EMBEDDED_NATS=False,
        )
    )
    opened = open_api(container)
    try:
        api = next(opened)
        session_id, tickets = api.reviewed_session()
        yield World(
            api, session_id, [t["id"] for t in tickets], sorted(container.projector.projections)
        )
    finally:
        opened.close()
        container.close()


@pytest.fixture(scope="module")
def api_schema(world: World) -> Any:
    app = create_app(world.api.container)
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex=STREAMING)


def _choose(generated: object, choices: list[str], keep: int = 4) -> object:
    """Mostly one of `choices` (so that the request gets past the 404 into the real
    work); the generated value one time in `keep`, or when there is no choice."""
    digest = hashlib.sha256(repr(generated).encode()).digest()
    if not choices or digest[0] % keep == 0:
        return generated
    return choices[digest[1] % len(choices)]


def _is_uuid(value: object) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


def _real(generated: object, choices: list[str]) -> object:
    """A generated UUID swapped for a real id; anything else (a negative case) kept."""
    return _choose(generated, choices) if _is_uuid(generated) else generated


def _aim(case: Any, world: World) -> None:
    ids = world.ids()
    params = case.path_parameters or {}
    for name, value in params.items():
        if name == "name":
            params[name] = _choose(value, world.projections, keep=8)
        elif name in ids:
            params[name] = _real(value, ids[name])
    body = case.body
    if isinstance(body, dict):
        if "depends_on" in body:
            body["depends_on"] = _real(body["depends_on"], ids["ticket_id"])
        if isinstance(body.get("ticket_ids"), list):
            body["ticket_ids"] = [_real(t, ids["ticket_id"]) for t in body["ticket_ids"]]
    headers = {
        k: v
        for k, v in (case.headers or {}).items()
        if k.lower() not in ("authorization", "if-match")
    }
    if_match = (case.headers or {}).get("if-match")
    if if_match is not None:
        headers["if-match"] = _choose(if_match, ['"1"', '"2"', 'W/"3"', "4"], keep=3)
    admin = case.path.startswith("/api/admin")
    headers["authorization"] = f"Bearer {world.token(admin)}"
    case.headers = headers


def _fuzz(operation: Any, mode: GenerationMode, world: World) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=DERANDOMIZE,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        _aim(case, world)
        case.call_and_validate(checks=CHECKS)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_answers_generated_requests_as_documented(
    api_schema: Any, world: World, mode: GenerationMode
) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        try:
            _fuzz(operation, mode, world)
        except Unsatisfiable:
            # /healthz and /readyz take nothing that could be made invalid.
            assert mode is GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}:\n{exc}")
    assert not failures, "\n\n".join(failures)


def test_nul_characters_are_refused_and_the_read_models_keep_going(
    api: Api, reviewed: tuple[str, list[Any]]
) -> None:
    """Found with PostgreSQL: a U+0000 in a stored text stopped the read models for good
    (jsonb cannot hold it). Refused at the door now, wherever text comes in."""
    session_id, tickets = reviewed
    path = f"/api/sessions/{session_id}/tickets/{tickets[0]['id']}"
    head = api.container.app.head_position()
    session = {"name": "A\x00B", "site_context": {"site_name": "S"}, "jira_project_key": "NU"}

    refused = [
        api.post("/api/sessions", json=session),
        api.patch(path, json={"title": "x\x00"}, headers={"If-Match": '"1"'}),
        api.patch(path, json={"labels": ["ok", "n\x00"]}, headers={"If-Match": '"1"'}),
        api.get("/api/admin/activity?actor=%00", user="root"),
    ]

    for response in refused:
        assert_error(response, 422, "NUL")
    assert api.container.app.head_position() == head
    fine = api.patch(path, json={"title": "literally \\u0000"}, headers={"If-Match": '"1"'})
    assert fine.status_code == 200, fine.text
    assert api.get(path).json()["title"] == "literally \\u0000"
    assert api.container.settle(timeout=10)
