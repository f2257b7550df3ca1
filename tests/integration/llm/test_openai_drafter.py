"""OpenAIDrafter through the real `openai` client against the stub server on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from application.generation.port import DraftError, DrafterUnavailable, DraftRequest
from application.generation.prompt import TICKET_JSON_SCHEMA
from domain.inventory import InventoryEntity, Kind
from infrastructure.llm import OpenAIDrafter, RetryPolicy
from infrastructure.llm.openai_stub import StubServer, StubState

FAST = RetryPolicy(max_retries=3, initial_delay_s=0.02, max_delay_s=0.1, max_total_wait_s=5)
MakeDrafter = Callable[..., OpenAIDrafter]
SITE = {"site_name": "NestWatch", "audience": "volunteer nest monitors"}


def entity(name: str = "article") -> InventoryEntity:
    return InventoryEntity(
        f"node.type.{name}",
        Kind.BUNDLES,
        name.capitalize(),
        {"entity_type": "node", "machine_name": name, "label": name.capitalize()},
    )


def request(name: str = "article") -> DraftRequest:
    return DraftRequest(SITE, entity(name))


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer(StubState()) as server:
        yield server


class Sleeps(list[float]):
    """Records the retry waits, and waits them for real."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_drafter(stub: StubServer, sleeps: Sleeps) -> Iterator[Callable[..., OpenAIDrafter]]:
    made: list[OpenAIDrafter] = []

    def make(**options: object) -> OpenAIDrafter:
        values: dict[str, object] = {
            "api_key": "test-key",
            "base_url": stub.base_url,
            "model": "stub-model",
            "timeout_s": 2,
            "retry_policy": FAST,
            "sleep": sleeps,
        }
        values.update(options)
        drafter = OpenAIDrafter(**values)  # type: ignore[arg-type]
        made.append(drafter)
        return drafter

    yield make
    for drafter in made:
        drafter.close()


def test_drafts_a_ticket_with_structured_output_and_usage(
    stub: StubServer, make_drafter: MakeDrafter
) -> None:
    drafter = make_drafter()
    assert drafter.name == "openai:stub-model"
    result = drafter.draft(request())
    assert result.title == "Build Article (node.type.article)"
    assert result.generator == "openai:stub-model"
    assert all(result.as_fields().values())
    [call] = stub.state.chat_requests
    assert call.model == "stub-model"
    assert call.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "ticket", "schema": TICKET_JSON_SCHEMA, "strict": True},
    }
    assert "config_name: node.type.article" in call.prompt
    assert result.usage["prompt_tokens"] > 0
    assert result.usage["completion_tokens"] > 0
    assert result.usage["total_tokens"] == (
        result.usage["prompt_tokens"] + result.usage["completion_tokens"]
    )
    assert drafter.usage_totals() == result.usage


def test_rate_limit_is_retried_after_the_time_the_server_asks(
    stub: StubServer, make_drafter: MakeDrafter, sleeps: Sleeps
) -> None:
    stub.state.add_fault("rate_limit", retry_after="0.4")
    started = time.monotonic()
    result = make_drafter().draft(request())
    assert result.title.endswith("(node.type.article)")
    assert [r.status for r in stub.state.chat_requests] == [429, 200]
    assert len(sleeps) == 1
    assert 0.4 <= sleeps[0] <= 0.45  # retry-after plus at most 10 % jitter
    assert time.monotonic() - started >= 0.4


def test_retry_after_ms_wins_over_retry_after(
    stub: StubServer, make_drafter: MakeDrafter, sleeps: Sleeps
) -> None:
    stub.state.add_fault("rate_limit", retry_after="30", retry_after_ms="150")
    make_drafter().draft(request())
    assert 0.15 <= sleeps[0] <= 0.17


def test_a_retry_after_beyond_the_wait_cap_fails_at_once(
    stub: StubServer, make_drafter: MakeDrafter, sleeps: Sleeps
) -> None:
    stub.state.add_fault("rate_limit", retry_after="60")
    with pytest.raises(DraftError) as caught:
        make_drafter().draft(request())
    assert caught.value.category == "temporary"
    assert "429" in str(caught.value)
    assert sleeps == []
    assert len(stub.state.chat_requests) == 1


def test_rate_limits_are_retried_with_backoff_until_the_retry_limit(
    stub: StubServer, make_drafter: MakeDrafter, sleeps: Sleeps
) -> None:
    stub.state.add_fault("rate_limit", retry_after=None, times=10)
    with pytest.raises(DraftError) as caught:
        make_drafter().draft(request())
    assert caught.value.category == "temporary"
    assert "after 4 attempts" in str(caught.value)
    assert len(stub.state.chat_requests) == 4  # the first try and max_retries=3 retries
    assert len(sleeps) == 3
    # exponential: each wait lies in [base/2, base] for base = 0.02, 0.04, 0.08
    for wait, base in zip(sleeps, (0.02, 0.04, 0.08), strict=True):
        assert base / 2 <= wait <= base


def test_timeouts_are_retried_then_reported_as_temporary(
    stub: StubServer, make_drafter: MakeDrafter, sleeps: Sleeps
) -> None:
    stub.state.add_fault("hang", hang_s=10, times=10)
    drafter = make_drafter(timeout_s=0.3, retry_policy=RetryPolicy(2, 0.02, 0.1, 5))
    started = time.monotonic()
    with pytest.raises(DraftError) as caught:
        drafter.draft(request())
    assert caught.value.category == "temporary"
    assert "timed out" in str(caught.value)
    assert len(stub.state.chat_requests) == 3
    assert len(sleeps) == 2
    assert time.monotonic() - started < 3


def test_a_timeout_then_an_answer_succeeds(stub: StubServer, make_drafter: MakeDrafter) -> None:
    stub.state.add_fault("hang", hang_s=10)
    result = make_drafter(timeout_s=0.3).draft(request())
    assert result.title == "Build Article (node.type.article)"
    assert len(stub.state.chat_requests) == 2


def test_server_errors_are_retried(stub: StubServer, make_drafter: MakeDrafter) -> None:
    stub.state.add_fault("server_error", status=503, times=2)
    make_drafter().draft(request())
    assert [r.status for r in stub.state.chat_requests] == [503, 503, 200]


def test_malformed_json_is_retried_once_with_the_error(
    stub: StubServer, make_drafter: MakeDrafter
) -> None:
    stub.state.add_fault("malformed")
    drafter = make_drafter()
    result = drafter.draft(request())
    assert result.title == "Build Article (node.type.article)"
    first, second = stub.state.chat_requests
    assert second.messages[:-2] == first.messages
    assert second.messages[-2]["role"] == "assistant"
    assert second.messages[-2]["content"].startswith('{"title": "Build it"')
    assert second.messages[-1] == {
        "role": "user",
        "content": "Your previous answer was invalid: the answer is not a JSON object; "
        "answer again with only the JSON object.",
    }
    # both answers were paid for
    assert result.usage == drafter.usage_totals()
    assert result.usage["prompt_tokens"] > 2 * (len(first.prompt) // 4)


def test_malformed_twice_is_an_invalid_response(
    stub: StubServer, make_drafter: MakeDrafter
) -> None:
    stub.state.add_fault("malformed", times=2)
    with pytest.raises(DraftError) as caught:
        make_drafter().draft(request())
    assert caught.value.category == "invalid_response"
    assert "not a JSON object" in str(caught.value)
    assert len(stub.state.chat_requests) == 2


def test_missing_field_is_corrected(stub: StubServer, make_drafter: MakeDrafter) -> None:
    stub.state.add_fault("missing_field")
    result = make_drafter().draft(request())
    assert result.verification
    correction = stub.state.chat_requests[1].messages[-1]["content"]
    assert 'missing field "verification"' in correction


def test_title_too_long_twice_is_an_invalid_response(
    stub: StubServer, make_drafter: MakeDrafter
) -> None:
    stub.state.add_fault("long_title", times=2)
    with pytest.raises(DraftError) as caught:
        make_drafter().draft(request())
    assert caught.value.category == "invalid_response"
    assert '"title" is 300 characters long, at most 255 allowed' in str(caught.value)


def test_title_too_long_once_is_corrected(stub: StubServer, make_drafter: MakeDrafter) -> None:
    stub.state.add_fault("long_title")
    result = make_drafter().draft(request())
    assert len(result.title) <= 255


def test_faults_can_target_one_entity(stub: StubServer, make_drafter: MakeDrafter) -> None:
    stub.state.add_fault("malformed", match="node.type.page", times=5)
    drafter = make_drafter()
    assert drafter.draft(request("article")).title.endswith("(node.type.article)")
    with pytest.raises(DraftError):
        drafter.draft(request("page"))


def test_server_without_structured_output_falls_back_and_remembers(
    make_drafter: MakeDrafter,
) -> None:
    with StubServer(StubState(structured_output=False)) as server:
        drafter = make_drafter(base_url=server.base_url)
        assert drafter.draft(request()).title == "Build Article (node.type.article)"
        assert drafter.structured_output_mode == "json_object"
        drafter.draft(request("page"))
        formats = [(r.response_format, r.status) for r in server.state.chat_requests]
        assert formats == [("json_schema", 400), ("json_object", 200), ("json_object", 200)]


def test_server_without_any_json_mode_gets_plain_prompting(make_drafter: MakeDrafter) -> None:
    with StubServer(StubState(structured_output=False, json_object=False)) as server:
        drafter = make_drafter(base_url=server.base_url)
        result = drafter.draft(request())  # the answer comes in a ```json fence
        assert result.title == "Build Article (node.type.article)"
        assert drafter.structured_output_mode == "none"
        assert "response_format" not in server.state.chat_requests[-1].body


def test_a_pinned_mode_does_not_fall_back(make_drafter: MakeDrafter) -> None:
    with StubServer(StubState(structured_output=False)) as server:
        drafter = make_drafter(base_url=server.base_url, structured_output="json_schema")
        with pytest.raises(DraftError) as caught:
            drafter.draft(request())
        assert caught.value.category == "invalid_response"
        assert "response_format" in str(caught.value)
        assert drafter.structured_output_mode == "json_schema"


def test_fallback_is_safe_under_concurrency(make_drafter: MakeDrafter) -> None:
    with StubServer(StubState(structured_output=False, latency_s=0.05)) as server:
        drafter = make_drafter(base_url=server.base_url)
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(drafter.draft, [request(f"t{i}") for i in range(16)]))
        assert [r.title for r in results] == [f"Build T{i} (node.type.t{i})" for i in range(16)]
        assert drafter.structured_output_mode == "json_object"


def test_a_rejected_key_is_not_retried(make_drafter: MakeDrafter, sleeps: Sleeps) -> None:
    with StubServer(StubState(api_key="right")) as server:
        drafter = make_drafter(base_url=server.base_url, api_key="wrong")
        with pytest.raises(DraftError) as caught:
            drafter.draft(request())
        assert caught.value.category == "admin_required"
        assert len(server.state.chat_requests) == 1
        assert sleeps == []


def test_health_check_ok(stub: StubServer, make_drafter: MakeDrafter) -> None:
    make_drafter().check_health()
    assert [r.path for r in stub.state.requests] == ["/v1/models"]


def test_health_check_of_a_stopped_server(make_drafter: MakeDrafter) -> None:
    server = StubServer().start()
    drafter = make_drafter(base_url=server.base_url)
    server.stop()
    with pytest.raises(DrafterUnavailable, match="Cannot reach the LLM server"):
        drafter.check_health()


def test_health_check_with_a_wrong_key(make_drafter: MakeDrafter) -> None:
    with StubServer(StubState(api_key="right")) as server:
        drafter = make_drafter(base_url=server.base_url, api_key="wrong")
        with pytest.raises(DrafterUnavailable, match="rejected the API key"):
            drafter.check_health()
        make_drafter(base_url=server.base_url, api_key="right").check_health()


def test_health_check_with_a_wrong_base_url(stub: StubServer, make_drafter: MakeDrafter) -> None:
    drafter = make_drafter(base_url=stub.base_url.removesuffix("/v1"))
    with pytest.raises(DrafterUnavailable, match="OPENAI_BASE_URL"):
        drafter.check_health()


def test_sixteen_threads_draft_at_once(make_drafter: MakeDrafter) -> None:
    with StubServer(StubState(latency_s=0.2)) as server:
        drafter = make_drafter(base_url=server.base_url)
        drafter.check_health()
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(drafter.draft, [request(f"c{i}") for i in range(16)]))
        assert [r.title for r in results] == [f"Build C{i} (node.type.c{i})" for i in range(16)]
        assert server.state.max_concurrency >= 8
        assert drafter.usage_totals()["total_tokens"] == sum(
            r.usage["total_tokens"] for r in results
        )


def test_backoff_policy() -> None:
    policy = RetryPolicy(max_retries=5, initial_delay_s=1, max_delay_s=8)
    assert [policy.backoff(n, lambda: 0.0) for n in range(1, 6)] == [0.5, 1, 2, 4, 4]
    assert [policy.backoff(n, lambda: 1.0) for n in range(1, 6)] == [1, 2, 4, 8, 8]
