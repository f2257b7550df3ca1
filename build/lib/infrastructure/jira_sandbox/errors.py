"""The one way a sandbox route says no: Jira's error body and status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class ApiError(Exception):
    """Rendered as `{"errorMessages": [...], "errors": {...}}` with `status`."""

    def __init__(
        self,
        status: int,
        messages: Sequence[str] = (),
        errors: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"HTTP {status}: {list(messages)} {dict(errors or {})}")
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        return {"errorMessages": self.messages, "errors": self.errors}
