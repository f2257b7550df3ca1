"""What can go wrong talking to Jira, sorted by who can fix it.

`category` follows the export's error categories: `user_fixable` (the request's
content is wrong and a person can change it), `admin_required` (credentials,
permissions or project configuration), `temporary` (worth retrying later).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

USER_FIXABLE = "user_fixable"
ADMIN_REQUIRED = "admin_required"
TEMPORARY = "temporary"


class JiraError(Exception):
    """A Jira request failed. Jira's error body `{"errorMessages", "errors"}` is kept."""

    default_category = USER_FIXABLE
    default_recovery: tuple[str, ...] = ()

    def __init__(
        self,
        message: str,
        status: int | None = None,
        category: str | None = None,
        recovery_actions: Sequence[str] | None = None,
        field_errors: Mapping[str, str] | None = None,
        error_messages: Sequence[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.category = category or self.default_category
        self.recovery_actions = (
            list(recovery_actions) if recovery_actions is not None else list(self.default_recovery)
        )
        self.field_errors: dict[str, str] = dict(field_errors or {})
        self.error_messages: list[str] = list(error_messages or [])


class JiraAuthError(JiraError):
    """401 (credentials rejected) or 403 (a permission is missing)."""

    default_category = ADMIN_REQUIRED
    default_recovery = (
        "Check JIRA_EMAIL and JIRA_API_TOKEN (or the bearer token); create a new API token "
        "if this one was revoked",
        "Ask a Jira administrator to grant the missing project permission",
    )


class JiraNotFound(JiraError):
    """The project, issue, link type or sprint does not exist (or is not visible)."""

    default_category = ADMIN_REQUIRED
    default_recovery = (
        "Check that the Jira project still exists and that this account can browse it",
    )


class JiraFieldError(JiraError):
    """400 with per-field errors: the issue's content needs changing."""

    default_category = USER_FIXABLE
    default_recovery = ("Correct the fields Jira rejected and export again",)

    @property
    def failed_fields(self) -> tuple[str, ...]:
        return tuple(self.field_errors)


class JiraRateLimited(JiraError):
    """429 (or 503 with a wait hint) still answered after every allowed attempt."""

    default_category = TEMPORARY
    default_recovery = ("Wait a few minutes and retry the export",)

    def __init__(self, message: str, *, retry_after: float | None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class JiraUnavailable(JiraError):
    """Jira could not be reached, timed out or kept failing with 5xx."""

    default_category = TEMPORARY
    default_recovery = ("Check that Jira is reachable and retry the export",)

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class JiraOutcomeUnknown(JiraError):
    """A non-idempotent write (issue create, attachment, link) may or may not have happened.

    Never resend blindly: look for the mark the write carries (a label, an issue
    property) and only write again when it is absent.
    """

    default_category = TEMPORARY
    default_recovery = (
        "Retry the export: it searches Jira for the issue's mark before creating it again",
    )


def parse_error_body(body: object) -> tuple[list[str], dict[str, str]]:
    """Jira's `{"errorMessages": [...], "errors": {...}}`, tolerating any other shape."""
    if not isinstance(body, Mapping):
        return ([str(body)] if body else []), {}
    raw_messages = body.get("errorMessages")
    messages = [str(m) for m in raw_messages] if isinstance(raw_messages, list) else []
    raw_errors = body.get("errors")
    errors = (
        {str(k): str(v) for k, v in raw_errors.items()} if isinstance(raw_errors, Mapping) else {}
    )
    return messages, errors


def error_from_response(status: int, body: object, *, what: str) -> JiraError:
    """Map a 4xx answer to the exception family that says who can fix it.

    A create names a vanished project as a 400 on the `project` field; that is
    reported as JiraNotFound because no edit of the ticket can fix it.
    """
    messages, field_errors = parse_error_body(body)
    detail = "; ".join([*messages, *(f"{k}: {v}" for k, v in field_errors.items())])
    text = f"{what} failed with HTTP {status}" + (f": {detail}" if detail else "")
    kwargs: dict[str, Any] = {
        "status": status,
        "field_errors": field_errors,
        "error_messages": messages,
    }
    if status in (401, 403):
        return JiraAuthError(text, **kwargs)
    if status == 404 or (status == 400 and "project" in field_errors):
        return JiraNotFound(text, **kwargs)
    if status == 400 and field_errors:
        return JiraFieldError(text, **kwargs)
    if status == 413:
        return JiraError(
            text,
            recovery_actions=["Make the attachment smaller or raise Jira's attachment limit"],
            **kwargs,
        )
    return JiraError(text, **kwargs)
