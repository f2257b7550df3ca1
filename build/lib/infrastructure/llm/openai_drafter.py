"""`TicketDrafter` on any OpenAI-compatible chat completions server.

One sync `openai.OpenAI` client is shared by all threads (the generation run calls
`draft` from a pool). The client's own retries are off: the retry policy is ours
(`RetryPolicy`, run by tenacity), so it is explicit, bounded and testable.

Structured output is negotiated once per drafter: ask for a strict JSON schema,
and if the server refuses `response_format`, fall back to JSON mode and then to
plain prompting; the mode that works is kept for later calls. Whatever the mode,
every answer is checked, and an invalid one gets exactly one corrective retry.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import openai
from tenacity import RetryCallState, Retrying, retry_if_exception

from application.generation.port import Draft, DraftError, DrafterUnavailable, DraftRequest
from application.generation.prompt import (
    TICKET_JSON_SCHEMA,
    build_messages,
    check_draft,
    correction_message,
    parse_draft,
)

try:
    import httpx2 as _http  # the HTTP library of openai >= 3
except ImportError:  # pragma: no cover - older openai releases use httpx
    import httpx as _http  # type: ignore[no-redef]

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
    from openai.types.chat.completion_create_params import ResponseFormat

log = logging.getLogger(__name__)
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"

StructuredOutput = Literal["auto", "json_schema", "json_object", "none"]
_MODES: tuple[str, ...] = ("json_schema", "json_object", "none")
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
_FALLBACK_HINTS = (
    "response_format",
    "response format",
    "json_schema",
    "json_object",
    "structured output",
    "unsupported",
    "not supported",
)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient failures (429, timeouts, 5xx, connection errors).

    The n-th retry waits what the server asked for (`retry-after-ms`, `retry-after`)
    or else `min(max_delay_s, initial_delay_s * 2**(n-1))`, half of it fixed and half
    random (jitter, so parallel callers spread out). It stops after `max_retries`
    retries, or before the summed waits would pass `max_total_wait_s`.
    """

    max_retries: int = 4
    initial_delay_s: float = 1.0
    max_delay_s: float = 30.0
    max_total_wait_s: float = 120.0

    def backoff(self, retry_number: int, rng: Callable[[], float] = random.random) -> float:
        base = min(self.max_delay_s, self.initial_delay_s * 2.0 ** max(retry_number - 1, 0))
        return base / 2 + base / 2 * rng()


def retry_after_s(exc: BaseException) -> float | None:
    """The wait a 429/503 answer asks for, from `retry-after-ms` or `retry-after`."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value.strip() else None
        if parsed is None:
            return None
        return max(parsed.timestamp() - time.time(), 0.0)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying soon: rate limits, timeouts, connection errors, server errors."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 429:
            return not _quota_exhausted(exc)
        return exc.status_code in (408, 409) or exc.status_code >= 500
    return False


def _quota_exhausted(exc: openai.APIStatusError) -> bool:
    """OpenAI answers 429 `insufficient_quota` when billing stops: waiting will not help."""
    return "insufficient_quota" in f"{exc.body} {exc.message}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "the request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"connection error ({cause or exc})"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _log_retry(state: RetryCallState, what: str) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        "LLM call for %s failed (%s); retry %d in %.1fs",
        what,
        _describe(exc) if exc is not None else "?",
        state.attempt_number,
        state.upcoming_sleep,
    )


class OpenAIDrafter:
    """Drafts tickets with a chat model; safe to share between threads."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        model: str,
        timeout_s: float = 60,
        max_retries: int = 4,
        structured_output: StructuredOutput = "auto",
        *,
        retry_policy: RetryPolicy | None = None,
        max_connections: int = 64,
        health_timeout_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if structured_output not in ("auto", *_MODES):
            raise ValueError(f"unknown structured_output mode {structured_output!r}")
        self.model = model
        self.policy = retry_policy or RetryPolicy(max_retries=max_retries)
        self._structured_output = structured_output
        self._mode: str = "json_schema" if structured_output == "auto" else structured_output
        self._health_timeout_s = health_timeout_s
        self._sleep = sleep
        self._rng = rng
        self._lock = threading.Lock()
        self._totals = dict.fromkeys(_USAGE_KEYS, 0)
        # Up to `max_connections` calls in flight at once (the run uses up to 16);
        # a smaller pool would queue calls inside httpx and count against the timeout.
        http_client = openai.DefaultHttpxClient(
            limits=_http.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            timeout=timeout_s,
        )
        self._client = openai.OpenAI(
            # Local servers (vLLM, Ollama, llama.cpp) take any key, but the client needs one.
            api_key=api_key or "not-needed",
            base_url=base_url or OPENAI_DEFAULT_BASE_URL,  # never the env var left empty
            timeout=timeout_s,
            max_retries=0,
            http_client=http_client,
        )

    # ------------------------------------------------------------ TicketDrafter

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def check_health(self) -> None:
        where = str(self._client.base_url)
        client = self._client.with_options(timeout=self._health_timeout_s, max_retries=0)
        try:
            client.models.list()
        except openai.AuthenticationError as exc:
            raise DrafterUnavailable(
                f"The LLM server at {where} rejected the API key (HTTP 401): check OPENAI_API_KEY"
            ) from exc
        except openai.PermissionDeniedError as exc:
            raise DrafterUnavailable(
                f"The LLM server at {where} refused access (HTTP 403): {exc.message}"
            ) from exc
        except openai.NotFoundError as exc:
            raise DrafterUnavailable(
                f"The LLM server at {where} has no /models endpoint (HTTP 404): "
                "check OPENAI_BASE_URL (it usually ends in /v1)"
            ) from exc
        except openai.APITimeoutError as exc:
            raise DrafterUnavailable(
                f"The LLM server at {where} did not answer within {self._health_timeout_s:g}s"
            ) from exc
        except openai.APIConnectionError as exc:
            raise DrafterUnavailable(
                f"Cannot reach the LLM server at {where}: {exc.__cause__ or exc}; "
                "check OPENAI_BASE_URL and that the server is running"
            ) from exc
        except openai.APIStatusError as exc:
            raise DrafterUnavailable(
                f"The LLM server at {where} answered HTTP {exc.status_code}: {exc.message}"
            ) from exc

    def draft(self, request: DraftRequest) -> Draft:
        config_name = request.entity.config_name
        messages = build_messages(request)
        usage = dict.fromkeys(_USAGE_KEYS, 0)
        problems: list[str] = []
        for attempt in range(2):
            text = self._complete(messages, usage, config_name)
            data, problems = self._read(text)
            if not problems:
                return Draft(
                    title=str(data["title"]).strip(),
                    user_story=str(data["user_story"]).strip(),
                    analysis=str(data["analysis"]).strip(),
                    verification=str(data["verification"]).strip(),
                    generator=self.name,
                    usage=usage,
                )
            log.info("invalid answer for %s (try %d): %s", config_name, attempt + 1, problems)
            messages = [
                *messages,
                {"role": "assistant", "content": text},
                correction_message(problems),
            ]
        raise DraftError(
            f"The model's answer for {config_name} was invalid twice: {'; '.join(problems)}",
            category="invalid_response",
        )

    # ------------------------------------------------------------------ extras

    @property
    def structured_output_mode(self) -> str:
        """The `response_format` mode in use: json_schema, json_object or none."""
        with self._lock:
            return self._mode

    def usage_totals(self) -> dict[str, int]:
        """Tokens used by every call of this drafter, including invalid answers."""
        with self._lock:
            return dict(self._totals)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIDrafter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- internals

    @staticmethod
    def _read(text: str) -> tuple[dict[str, Any], list[str]]:
        if not text.strip():
            return {}, ["the answer was empty"]
        try:
            data = parse_draft(text)
        except ValueError as exc:
            return {}, [str(exc)]
        return data, check_draft(data)

    def _complete(self, messages: list[dict[str, str]], usage: dict[str, int], what: str) -> str:
        """One answer's text, negotiating structured output and retrying transient errors."""
        while True:
            mode = self.structured_output_mode
            try:
                completion = self._create_with_retries(messages, mode, what)
            except openai.APIStatusError as exc:
                if self._falls_back(mode, exc):
                    continue
                raise self._permanent_error(exc, what) from exc
            except openai.OpenAIError as exc:  # e.g. an answer that is not a chat completion
                raise DraftError(
                    f"LLM call for {what} failed: {_describe(exc)}", category="invalid_response"
                ) from exc
            self._add_usage(completion, usage)
            choice = completion.choices[0] if completion.choices else None
            message = choice.message if choice is not None else None
            if message is not None and message.refusal:
                return f"(refused: {message.refusal})"
            return (message.content if message is not None else None) or ""

    def _create_with_retries(
        self, messages: list[dict[str, str]], mode: str, what: str
    ) -> ChatCompletion:
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            wait=self._wait,
            stop=self._stop,
            sleep=self._sleep,
            before_sleep=lambda state: _log_retry(state, what),
            reraise=True,
        )
        try:
            return retrying(self._create, messages, mode)
        except (openai.APIConnectionError, openai.APIStatusError) as exc:
            if not is_transient(exc):
                raise
            stats = retrying.statistics
            raise DraftError(
                f"LLM call for {what} failed after {stats.get('attempt_number', 1)} attempts "
                f"and {stats.get('idle_for', 0):.1f}s of waiting: {_describe(exc)}",
                category="temporary",
            ) from exc

    def _create(self, messages: list[dict[str, str]], mode: str) -> ChatCompletion:
        chat_messages = cast("list[ChatCompletionMessageParam]", messages)
        if mode == "none":
            return self._client.chat.completions.create(model=self.model, messages=chat_messages)
        response_format: dict[str, Any] = {"type": mode}
        if mode == "json_schema":
            response_format["json_schema"] = {
                "name": "ticket",
                "schema": TICKET_JSON_SCHEMA,
                "strict": True,
            }
        return self._client.chat.completions.create(
            model=self.model,
            messages=chat_messages,
            response_format=cast("ResponseFormat", response_format),
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = retry_after_s(exc) if exc is not None else None
        if asked is not None:
            # A little jitter on top, so that parallel callers do not come back together.
            return asked + min(1.0, asked * 0.1) * self._rng()
        return self.policy.backoff(state.attempt_number, self._rng)

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number > self.policy.max_retries:
            return True
        return state.idle_for + state.upcoming_sleep > self.policy.max_total_wait_s

    def _falls_back(self, mode: str, exc: openai.APIStatusError) -> bool:
        """Switch to the next structured-output mode when the server refused this one."""
        if self._structured_output != "auto" or mode == "none":
            return False
        if exc.status_code not in (400, 404, 415, 422, 501):
            return False
        text = f"{exc.message} {exc.body}".lower()
        if not any(hint in text for hint in _FALLBACK_HINTS):
            return False
        following = _MODES[_MODES.index(mode) + 1]
        with self._lock:
            if self._mode == mode:
                self._mode = following
                log.warning(
                    "LLM server refused response_format %s (HTTP %d: %s); using %s from now on",
                    mode,
                    exc.status_code,
                    exc.message,
                    following,
                )
        return True

    @staticmethod
    def _permanent_error(exc: openai.APIStatusError, what: str) -> DraftError:
        status = exc.status_code
        if status in (401, 403, 404) or _quota_exhausted(exc):
            hint = {
                401: "the API key was rejected",
                403: "access was refused",
                404: "the model or endpoint does not exist",
            }.get(status, "the account's quota is exhausted")
            return DraftError(
                f"LLM call for {what} failed: {hint} (HTTP {status}: {exc.message})",
                category="admin_required",
            )
        return DraftError(
            f"LLM server refused the request for {what} (HTTP {status}: {exc.message})",
            category="invalid_response",
        )

    def _add_usage(self, completion: ChatCompletion, usage: dict[str, int]) -> None:
        reported = completion.usage
        if reported is None:
            return
        counts = {key: int(getattr(reported, key, 0) or 0) for key in _USAGE_KEYS}
        with self._lock:
            for key, value in counts.items():
                usage[key] += value
                self._totals[key] += value
