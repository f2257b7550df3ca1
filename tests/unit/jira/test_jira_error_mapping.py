"""Jira's error bodies become exceptions that say who can fix the problem."""

from __future__ import annotations

import pytest

from application.export.jira_errors import (
    ADMIN_REQUIRED,
    USER_FIXABLE,
    JiraAuthError,
    JiraError,
    JiraFieldError,
    JiraNotFound,
    error_from_response,
    parse_error_body,
)


@pytest.mark.parametrize(
    ("status", "body", "family", "category"),
    [
        (
            401,
            {"errorMessages": ["Not authenticated"], "errors": {}},
            JiraAuthError,
            ADMIN_REQUIRED,
        ),
        (403, "XSRF check failed", JiraAuthError, ADMIN_REQUIRED),
        (
            404,
            {"errorMessages": ["No project could be found"], "errors": {}},
            JiraNotFound,
            ADMIN_REQUIRED,
        ),
        (
            400,
            {"errorMessages": [], "errors": {"project": "Specify a valid project"}},
            JiraNotFound,
            ADMIN_REQUIRED,
        ),
        (
            400,
            {"errorMessages": [], "errors": {"assignee": "User cannot be assigned"}},
            JiraFieldError,
            USER_FIXABLE,
        ),
        (400, {"errorMessages": ["Error in the JQL Query"], "errors": {}}, JiraError, USER_FIXABLE),
        (413, {"errorMessages": ["Too large"], "errors": {}}, JiraError, USER_FIXABLE),
    ],
)
def test_status_and_body_choose_the_family(
    status: int, body: object, family: type[JiraError], category: str
) -> None:
    error = error_from_response(status, body, what="Create issue in DEMO")
    assert type(error) is family
    assert (error.status, error.category) == (status, category)
    assert str(error).startswith(f"Create issue in DEMO failed with HTTP {status}")
    assert error.recovery_actions or family is JiraError


def test_field_errors_are_kept_by_field() -> None:
    body = {
        "errorMessages": ["Bad"],
        "errors": {"priority": "invalid", "customfield_10020": "no sprint"},
    }
    error = error_from_response(400, body, what="Create issue")
    assert isinstance(error, JiraFieldError)
    assert error.failed_fields == ("priority", "customfield_10020")
    assert error.error_messages == ["Bad"]
    assert "customfield_10020: no sprint" in str(error)


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        ({"errorMessages": ["a"], "errors": {"f": "b"}}, (["a"], {"f": "b"})),
        ({"errorMessages": "not a list", "errors": ["not a map"]}, ([], {})),
        ("plain text", (["plain text"], {})),
        (None, ([], {})),
    ],
)
def test_any_error_body_shape_is_tolerated(
    body: object, parsed: tuple[list[str], dict[str, str]]
) -> None:
    assert parse_error_body(body) == parsed


def test_the_positional_signature_matches_the_agreed_interface() -> None:
    error = JiraError("boom", 400, "temporary", ["retry"], {"f": "x"}, ["m"])
    assert (error.message, error.status, error.category) == ("boom", 400, "temporary")
    assert (error.recovery_actions, error.field_errors, error.error_messages) == (
        ["retry"],
        {"f": "x"},
        ["m"],
    )
