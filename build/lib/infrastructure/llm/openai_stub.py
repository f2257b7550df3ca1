"""A small OpenAI-compatible server to draft against without a real model.

Tests and benchmarks run `OpenAIDrafter` through the real `openai` client against
this server on loopback, so the HTTP, retry and fallback paths are the real ones.
It speaks the subset we use (`GET /v1/models`, `POST /v1/chat/completions` with
`usage`) and can be scripted per request:

- `latency_s`: every chat call waits this long (asynchronously, so many calls are
  served at once; `max_concurrency` records how many overlapped);
- faults, taken in order by the first request whose prompt contains `match`
  (or any request when `match` is None), each for `times` requests:
  `rate_limit` (429 with `retry-after` / `retry-after-ms`), `hang` (no answer for
  `hang_s`, longer than the client's timeout), `server_error` (`status`, 500 by
  default), `malformed` (content that is not JSON), `missing_field`,
  `long_title` (a 300-character title), `empty` (an empty content), `content`
  (the given `content` verbatim);
- `structured_output=False`: a server without structured output, refusing
  `response_format` of type `json_schema` with a 400 (`json_object=False` refuses
  that too).

The default answer is a valid ticket for the entity named in the prompt
(`config_name: ...`). Every request is recorded for assertions.

    with StubServer(StubState(latency_s=0.2)) as stub:
        drafter = OpenAIDrafter("key", stub.base_url, "stub-model")
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

FaultKind = Literal[
    "rate_limit",
    "hang",
    "server_error",
    "malformed",
    "missing_field",
    "long_title",
    "empty",
    "content",
]


@dataclass
class Fault:
    """One scripted misbehaviour; see the module docstring."""

    kind: FaultKind
    match: str | None = None
    times: int = 1
    retry_after: str | None = "1"
    retry_after_ms: str | None = None
    hang_s: float = 30.0
    status: int = 500
    content: str = ""


@dataclass
class RecordedRequest:
    path: str
    model: str = ""
    response_format: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    fault: str | None = None
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages)


class StubState:
    """The server's script and its record; safe to change from the test thread."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        structured_output: bool = True,
        json_object: bool = True,
        api_key: str | None = None,
        models: tuple[str, ...] = ("stub-model",),
    ) -> None:
        self.latency_s = latency_s
        self.structured_output = structured_output
        self.json_object = json_object
        self.api_key = api_key
        self.models = models
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_concurrency = 0
        self.closing = threading.Event()

    def add_fault(self, kind: FaultKind, *, match: str | None = None, **options: Any) -> Fault:
        fault = Fault(kind=kind, match=match, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, prompt: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and (fault.match is None or fault.match in prompt):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_concurrency = max(self._max_concurrency, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def max_concurrency(self) -> int:
        with self._lock:
            return self._max_concurrency

    def reset_record(self) -> None:
        with self._lock:
            self._requests.clear()
            self._max_concurrency = self._in_flight


def _error(status: int, message: str, kind: str, *, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return JSONResponse(body, status_code=status)


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


_CONFIG_NAME = re.compile(r"^config_name:\s*(\S+)", re.MULTILINE)
_LABEL = re.compile(r"^label:\s*(.+)$", re.MULTILINE)


def default_ticket(prompt: str) -> dict[str, str]:
    """A valid ticket for the entity named in the prompt."""
    found = _CONFIG_NAME.search(prompt)
    config_name = found.group(1) if found else "unknown.entity"
    label_found = _LABEL.search(prompt)
    label = label_found.group(1).strip() if label_found else config_name
    return {
        "title": f"Build {label} ({config_name})",
        "user_story": f"As a site editor, I want {label}, so that visitors are served well.",
        "analysis": f"## What to build\n\nConfigure `{config_name}` ({label}).",
        "verification": f"- [ ] `{config_name}` exists\n- [ ] config export includes it",
    }


def _content_for(fault: Fault | None, prompt: str, response_format: str | None) -> str:
    ticket = default_ticket(prompt)
    if fault is not None:
        if fault.kind == "malformed":
            return '{"title": "Build it", "user_story": "As a user'
        if fault.kind == "missing_field":
            del ticket["verification"]
        elif fault.kind == "long_title":
            ticket["title"] = "Build " + "x" * 294
        elif fault.kind == "empty":
            return ""
        elif fault.kind == "content":
            return fault.content
    text = json.dumps(ticket)
    if response_format is None:
        # What a model without structured output tends to answer.
        return f"Here is the ticket:\n```json\n{text}\n```"
    return text


def create_stub_app(state: StubState) -> FastAPI:
    """The OpenAI-compatible app serving `state`'s script."""
    app = FastAPI(title="ticketforge OpenAI stub")

    def unauthorized(request: Request) -> JSONResponse | None:
        if state.api_key is None:
            return None
        if request.headers.get("authorization", "") != f"Bearer {state.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error")
        return None

    @app.get("/v1/models")
    async def list_models(request: Request) -> JSONResponse:
        state.record(RecordedRequest(path="/v1/models"))
        refused = unauthorized(request)
        if refused is not None:
            return refused
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "stub"} for m in state.models
        ]
        return JSONResponse({"object": "list", "data": data})

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        body = await request.json()
        messages = list(body.get("messages", []))
        rf = body.get("response_format")
        rf_type = rf.get("type") if isinstance(rf, dict) else None
        recorded = RecordedRequest(
            path="/v1/chat/completions",
            model=str(body.get("model", "")),
            response_format=rf_type,
            messages=messages,
            body=body,
        )
        state.record(recorded)
        refused = unauthorized(request)
        if refused is not None:
            recorded.status = 401
            return refused
        if (rf_type == "json_schema" and not state.structured_output) or (
            rf_type == "json_object" and not state.json_object
        ):
            recorded.status = 400
            return _error(
                400,
                f"response_format of type '{rf_type}' is not supported by this server",
                "invalid_request_error",
                param="response_format",
            )
        state.enter()
        try:
            prompt = recorded.prompt
            fault = state.take_fault(prompt)
            recorded.fault = fault.kind if fault else None
            if state.latency_s > 0:
                await asyncio.sleep(state.latency_s)
            if fault is not None and fault.kind == "rate_limit":
                recorded.status = 429
                response = _error(429, "Rate limit reached, retry later.", "requests")
                if fault.retry_after is not None:
                    response.headers["retry-after"] = fault.retry_after
                if fault.retry_after_ms is not None:
                    response.headers["retry-after-ms"] = fault.retry_after_ms
                return response
            if fault is not None and fault.kind == "server_error":
                recorded.status = fault.status
                return _error(fault.status, "The server had an error.", "server_error")
            if fault is not None and fault.kind == "hang":
                deadline = time.monotonic() + fault.hang_s
                while time.monotonic() < deadline and not state.closing.is_set():
                    if await request.is_disconnected():
                        break
                    await asyncio.sleep(0.05)
            content = _content_for(fault, prompt, rf_type)
            completion_tokens = _tokens(content)
            prompt_tokens = _tokens(prompt)
            return JSONResponse(
                {
                    "id": f"chatcmpl-stub-{len(state.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": recorded.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                }
            )
        finally:
            state.leave()

    return app


class StubServer:
    """Runs the stub app with uvicorn in a background thread on a free loopback port."""

    def __init__(self, state: StubState | None = None, host: str = "127.0.0.1") -> None:
        self.state = state or StubState()
        self.host = host
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ending in `/v1`."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self, timeout_s: float = 10.0) -> StubServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(
            create_stub_app(self.state),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
            backlog=512,
        )
        server = uvicorn.Server(config)
        self._server = server
        self.state.closing.clear()
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="openai-stub", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError("the OpenAI stub server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.state.closing.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
