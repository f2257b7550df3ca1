"""What we ask a language model, and how we read and check its answer.

Pure text work, shared by every LLM drafter. The prompt is kept compact because
every entity costs tokens: fixed rules once in the system message, then only
the non-empty data of the entity and one line per related entity.
"""

from __future__ import annotations

import json
from typing import Any

from application.generation.port import DraftRequest
from domain.inventory import InventoryEntity, Kind

TITLE_MAX = 255
TICKET_FIELDS = ("title", "user_story", "analysis", "verification")

TICKET_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": TITLE_MAX},
        "user_story": {"type": "string"},
        "analysis": {"type": "string"},
        "verification": {"type": "string"},
    },
    "required": list(TICKET_FIELDS),
    "additionalProperties": False,
}

MAX_ATTRIBUTE_CHARS = 1500
"""An attribute longer than this (a huge permission list) is cut, saying how much was left out."""
MAX_RELATED_LINES = 120

SYSTEM_PROMPT = """\
You write Jira implementation tickets for building a Drupal site's configuration, \
one ticket per configuration entity.
Reply with only a JSON object: \
{"title": string, "user_story": string, "analysis": string, "verification": string}.
- title: imperative, at most 255 characters, ends with the config name in parentheses.
- user_story: "As a <role>, I want <goal>, so that <benefit>", for the site's audience.
- analysis: Markdown. What to build and where in Drupal; the entity's data \
(for a bundle a table of its fields: field, label, type, required, cardinality, target); \
dependencies by config name with labels.
- verification: Markdown checklist ("- [ ] ...") of concrete, testable acceptance checks.
Use only the facts given; do not invent fields, permissions or settings."""


def _clip(value: str, limit: int = MAX_ATTRIBUTE_CHARS) -> str:
    text = " ".join(value.split())
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def _related_line(entity: InventoryEntity) -> str:
    line = f"- {entity.config_name}: {entity.label or entity.machine_name} ({entity.kind.value})"
    if entity.kind is Kind.FIELDS:
        attrs = entity.attributes
        facts = [
            attrs.get("field_type", ""),
            "required" if attrs.get("required", "").lower() == "true" else "",
            f"cardinality {attrs['cardinality']}" if attrs.get("cardinality") else "",
            f"target {_clip(attrs['target'], 200)}" if attrs.get("target") else "",
        ]
        shown = ", ".join(f for f in facts if f)
        if shown:
            line += f" [{shown}]"
    return line


def build_messages(request: DraftRequest) -> list[dict[str, str]]:
    """The chat messages asking for one ticket: the rules, then the entity's facts."""
    entity = request.entity
    site = request.site
    lines = []
    site_name = " ".join(site.get("site_name", "").split())
    if site_name:
        lines.append(f"Site: {site_name}")
    for key in ("description", "audience"):
        value = _clip(site.get(key, ""), 500)
        if value:
            lines.append(f"{key.capitalize()}: {value}")
    lines.append("")
    lines.append(f"Entity: {entity.kind.value} (group {entity.group.value})")
    lines.append(f"config_name: {entity.config_name}")
    if entity.label:
        lines.append(f"label: {' '.join(entity.label.split())}")
    for key, value in entity.attributes.items():
        if key != "label" and value.strip():
            lines.append(f"{key}: {_clip(value)}")
    if entity.depends_on:
        lines.append(f"depends_on: {'; '.join(entity.depends_on)}")
    if request.related:
        lines.append("")
        lines.append("Related:")
        lines.extend(_related_line(e) for e in request.related[:MAX_RELATED_LINES])
        if len(request.related) > MAX_RELATED_LINES:
            lines.append(f"- … and {len(request.related) - MAX_RELATED_LINES} more")
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines).strip()},
    ]


def correction_message(problems: list[str]) -> dict[str, str]:
    """The follow-up message after an invalid answer."""
    return {
        "role": "user",
        "content": (
            f"Your previous answer was invalid: {'; '.join(problems)}; "
            "answer again with only the JSON object."
        ),
    }


def _strip_fence(text: str) -> str | None:
    start = text.find("```")
    if start < 0:
        return None
    body_start = text.find("\n", start)
    if body_start < 0:
        return None
    end = text.find("```", body_start)
    return text[body_start + 1 : end if end >= 0 else len(text)]


def parse_draft(text: str) -> dict[str, Any]:
    """The JSON object in a model's answer, tolerating ```json fences and prose around it.

    Raises ValueError when the answer holds no JSON object. The values are returned
    as parsed: `check_draft` says whether they make a ticket.
    """
    stripped = text.strip()
    candidates = [stripped]
    fenced = _strip_fence(stripped)
    if fenced is not None:
        candidates.append(fenced.strip())
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    position = stripped.find("{")
    while position >= 0:
        try:
            value, _ = decoder.raw_decode(stripped, position)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        position = stripped.find("{", position + 1)
    raise ValueError("the answer is not a JSON object")


def check_draft(data: object) -> list[str]:
    """Why `data` is not a valid ticket; empty when it is."""
    if not isinstance(data, dict):
        return ["the answer is not a JSON object"]
    problems = []
    for name in TICKET_FIELDS:
        if name not in data:
            problems.append(f'missing field "{name}"')
            continue
        value = data[name]
        if not isinstance(value, str):
            problems.append(f'field "{name}" must be a string, not {type(value).__name__}')
        elif not value.strip():
            problems.append(f'field "{name}" is empty')
    title = data.get("title")
    if isinstance(title, str) and len(title) > TITLE_MAX:
        problems.append(f'"title" is {len(title)} characters long, at most {TITLE_MAX} allowed')
    return problems
