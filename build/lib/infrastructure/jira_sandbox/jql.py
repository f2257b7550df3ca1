"""The JQL subset the sandbox understands.

Clauses joined by AND, then an optional ORDER BY:

    project = DEMO AND labels = "tf-123" AND updated >= "2024-01-15 10:30" ORDER BY key

Supported: `project`, `labels`, `key`/`issuekey`, `status`, `assignee` with `=`,
`!=`, `in (...)`, `not in (...)`, `is [not] EMPTY`; `updated`/`created` with
`>`, `>=`, `<`, `<=` and a date `"yyyy-MM-dd[ HH:mm]"` or `"yyyy/MM/dd[ HH:mm]"`
(read in the user's time zone: `user_time_zone`, UTC by default); ORDER BY `key`,
`updated`, `created`. Anything else is refused
with Jira's 400, so a client never silently gets the wrong issues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

FIELDS = {
    "project": "project",
    "labels": "labels",
    "key": "key",
    "issuekey": "key",
    "status": "status",
    "assignee": "assignee",
    "updated": "updated",
    "updateddate": "updated",
    "created": "created",
    "createddate": "created",
}
LIST_FIELDS = {"project", "labels", "key", "status", "assignee"}
DATE_FIELDS = {"updated", "created"}
ORDER_FIELDS = {"key", "updated", "created"}
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|=|>|<|~)
      | (?P<punct>[(),])
      | (?P<word>[^\s"'(),=!<>~]+)
    )""",
    re.VERBOSE,
)


class JqlError(ValueError):
    """The query is outside the subset or malformed; the message is Jira's wording."""


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # "=", "!=", "in", "not in", "is empty", "is not empty", ">", ">=", "<", "<="
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class JqlQuery:
    clauses: tuple[Clause, ...]
    order_by: tuple[tuple[str, bool], ...] = field(default=())  # (field, ascending)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {position}.")
        kind = match.lastgroup or "word"
        raw = match.group(kind)
        if kind == "string":
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        tokens.append(_Token(kind, raw))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, zone: tzinfo) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.zone = zone

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise JqlError("Error in the JQL Query: the query ended unexpectedly.")
        self.index += 1
        return token

    def expect_word(self, *words: str) -> None:
        token = self.take()
        if not token.is_word(*words):
            raise JqlError(
                f"Error in the JQL Query: expected {words[0].upper()} but got '{token.text}'."
            )

    def parse(self) -> JqlQuery:
        clauses: list[Clause] = []
        token = self.peek()
        if token is not None and not token.is_word("order"):
            clauses.append(self.clause())
            while (token := self.peek()) is not None and token.is_word("and"):
                self.take()
                clauses.append(self.clause())
        order: list[tuple[str, bool]] = []
        token = self.peek()
        if token is not None and token.is_word("order"):
            self.take()
            self.expect_word("by")
            order.append(self.order_item())
            while (
                (token := self.peek()) is not None and token.kind == "punct" and token.text == ","
            ):
                self.take()
                order.append(self.order_item())
        token = self.peek()
        if token is not None:
            if token.is_word("or", "not") or token.text in "()":
                raise JqlError(
                    f"Error in the JQL Query: '{token.text}' is not supported by the sandbox "
                    "(only clauses joined by AND)."
                )
            raise JqlError(f"Error in the JQL Query: unexpected '{token.text}'.")
        return JqlQuery(tuple(clauses), tuple(order))

    def field_name(self) -> str:
        token = self.take()
        name = FIELDS.get(token.text.lower())
        if token.kind not in ("word", "string") or name is None:
            raise JqlError(
                f"Field '{token.text}' does not exist or you do not have permission to view it."
            )
        return name

    def clause(self) -> Clause:
        name = self.field_name()
        token = self.take()
        if token.is_word("is"):
            negated = (nxt := self.take()).is_word("not")
            if negated:
                nxt = self.take()
            if not nxt.is_word("empty", "null") or name not in LIST_FIELDS:
                raise JqlError(f"Error in the JQL Query: unsupported IS clause on '{name}'.")
            return Clause(name, "is not empty" if negated else "is empty")
        if token.is_word("not"):
            self.expect_word("in")
            return Clause(name, "not in", self.value_list(name))
        if token.is_word("in"):
            return Clause(name, "in", self.value_list(name))
        if token.kind != "op" or token.text == "~":
            raise JqlError(f"Error in the JQL Query: unsupported operator '{token.text}'.")
        allowed = {"=", "!="} if name in LIST_FIELDS else {">", ">=", "<", "<="}
        if token.text not in allowed:
            raise JqlError(
                f"The operator '{token.text}' is not supported by the '{name}' field "
                "in the sandbox."
            )
        return Clause(name, token.text, (self.value(name),))

    def value(self, name: str) -> str:
        token = self.take()
        if token.kind not in ("word", "string"):
            raise JqlError(f"Error in the JQL Query: expected a value for '{name}'.")
        return str(parse_date(token.text, self.zone)) if name in DATE_FIELDS else token.text

    def value_list(self, name: str) -> tuple[str, ...]:
        opening = self.take()
        if opening.text != "(":
            raise JqlError("Error in the JQL Query: expected '(' after IN.")
        values = [self.value(name)]
        while (token := self.take()).text == ",":
            values.append(self.value(name))
        if token.text != ")":
            raise JqlError("Error in the JQL Query: expected ')' to close the list.")
        return tuple(values)

    def order_item(self) -> tuple[str, bool]:
        name = self.field_name()
        if name not in ORDER_FIELDS:
            raise JqlError(f"Field '{name}' cannot be used in ORDER BY in the sandbox.")
        token = self.peek()
        if token is not None and token.is_word("asc", "desc"):
            self.take()
            return name, token.text.lower() == "asc"
        return name, True


def parse_date(text: str, zone: tzinfo = UTC) -> int:
    """A JQL date as epoch milliseconds; Jira reads it in the searching user's time zone."""
    for fmt in DATE_FORMATS:
        try:
            moment = datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
        return int(moment.timestamp() * 1000)
    raise JqlError(
        f"Date value '{text}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
        "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd'."
    )


def parse_jql(text: str, zone: tzinfo = UTC) -> JqlQuery:
    """Parse a query; dates are read in `zone` (the user's time zone, as Jira does)."""
    return _Parser(text, zone).parse()
