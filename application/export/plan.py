"""A living backlog: what the next export must do to bring Jira in step with the session.

An export request carries forward what the session's last completed export left in
Jira (`carry_forward`): the issues and what was last sent to each (`sent`: a hash of
the ticket's text, a fingerprint of the summary and description as Jira holds them,
the labels), the links among them, and what changed since: tickets to create, issues
to update, links to add and remove, issues to mark obsolete. `dry_run` answers the
same without writing anything to Jira (it reads the issues to update, to show each
field's old and new value and the conflicts a person's edit in Jira would cause).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from application.export.descriptions import issue_text
from application.export.epics import epic_name, groups_of
from application.export.issues import session_label
from application.export.jira_errors import JiraError, JiraNotFound
from application.export.jira_types import CLOUD, DATACENTER
from application.export.port import JiraGateway
from application.export.schedule import SENDERS, estimate_export
from domain.errors import ConflictError
from domain.export import KEEP_JIRA, OBSOLETE_LABEL, OVERWRITE, Export, export_label
from domain.session import EPIC_PER_GROUP, Session, Ticket

if TYPE_CHECKING:  # the application imports this module (carry_forward)
    from application.sessions import TicketForge
    from application.users import User

TEXT_FIELDS = ("summary", "description", "labels")
IDENTITY = ("ticket_id", "key", "url", "jira_id")


# --- what was sent ------------------------------------------------------------------


def source_hash(ticket: Ticket) -> str:
    """A hash of everything of the ticket that reaches its issue's text and labels."""
    payload = [
        ticket.config_name,
        ticket.title,
        ticket.user_story,
        ticket.analysis,
        ticket.verification,
        sorted(ticket.labels),
    ]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:32]


def adf_text(node: Any) -> str:
    """The text of an ADF document, blocks on lines of their own: what a person edits.
    (Jira may normalise a document's attributes, never its text.) Data Center's wiki
    markup is text already."""
    if isinstance(node, str):
        return node
    if not isinstance(node, Mapping):
        return ""
    if node.get("type") == "text":
        return str(node.get("text") or "")
    parts = [adf_text(child) for child in node.get("content") or ()]
    inline = node.get("type") in ("paragraph", "heading", "codeBlock")
    return ("" if inline else "\n").join(p for p in parts if p)


def fingerprint(summary: str, description: Any) -> str:
    """What identifies an issue's text as Jira holds it."""
    text = f"{summary.strip()}\n{adf_text(description).strip()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def issue_labels(ticket: Ticket, session_id: UUID) -> list[str]:
    return list(dict.fromkeys([*ticket.labels, export_label(ticket.id), session_label(session_id)]))


def sent_record(ticket: Ticket, session_id: UUID, summary: str, description: Any) -> dict[str, Any]:
    """What an export records of an issue it wrote (created or updated)."""
    return {
        "source": source_hash(ticket),
        "jira": fingerprint(summary, description),
        "labels": issue_labels(ticket, session_id),
    }


# --- carrying forward ------------------------------------------------------------------


def _is_obsolete(ticket: Ticket | None) -> bool:
    return ticket is None or bool(getattr(ticket, "obsolete", False))


def export_plan_items(session: Session) -> list[dict[str, Any]]:
    """The tickets that belong in Jira now, in export order, with their dependencies
    among them and the hash of their text."""
    tickets = [t for t in session.tickets_in_export_order() if not _is_obsolete(t)]
    wanted = {t.id for t in tickets}
    return [
        {
            "ticket_id": str(t.id),
            "order": i,
            "depends_on": sorted(str(d) for d in t.depends_on if d in wanted),
            "source_hash": source_hash(t),
        }
        for i, t in enumerate(tickets, 1)
    ]


def carry_forward(
    session: Session, previous: Export | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The next export's plan and what it carries from the session's last export:
    a completed one, or a failed one that a revision of the inventory left behind (its
    recorded issues are real; those it may have made unrecorded are looked for)."""
    plan = export_plan_items(session)
    if previous is None or previous.status not in ("completed", "failed"):
        return plan, {}
    in_plan = {UUID(str(p["ticket_id"])) for p in plan}
    sent = _sent_after_choices(previous)
    # every issue earlier exports made: those of tickets in the plan, and those of
    # tickets that left it (marked obsolete, or still to be): an entity that comes back
    # gets its old issue again, never a second one
    known: dict[UUID, dict[str, Any]] = {
        t: {"ticket_id": str(t), "key": i.key, "url": i.url, "jira_id": i.jira_id}
        for t, i in previous.issues.items()
    }
    for raw in [*previous.retired.values(), *previous.to_mark_obsolete]:
        known.setdefault(UUID(str(raw["ticket_id"])), {k: raw.get(k, "") for k in IDENTITY})
    issues = [{**known[t], "sent": sent.get(t, {})} for t in known if t in in_plan]
    retired = [{**known[t], "sent": sent.get(t, {})} for t in known if t not in in_plan]
    marked = previous.obsolete
    # links in Jira: those recorded, less those removed, plus those a failed export
    # did not get to remove
    existing = (previous.links - previous.unlinked) | {
        (t, d) for t, d, _, _ in previous.pending_unlinks()
    }
    wanted = {(UUID(str(p["ticket_id"])), UUID(str(d))) for p in plan for d in p["depends_on"]}
    keys = {t: str(i["key"]) for t, i in known.items()}
    return plan, {
        "previous_export_id": str(previous.id),
        "issues": issues,
        "retired": retired,
        "links": sorted([str(t), str(d)] for t, d in existing & wanted),
        "unlink": sorted(
            [str(t), str(d), keys[d], keys[t]]
            for t, d in existing - wanted
            if t in keys and d in keys
        ),
        "obsolete": [
            {k: r[k] for k in ("ticket_id", "key", "url")}
            for r in retired
            if UUID(r["ticket_id"]) not in marked
        ],
        "obsolete_done": sorted(str(t) for t in marked if t not in in_plan),
        "force": sorted(str(t) for t in _overwrites(previous) if t in in_plan),
        # A failed export (its session revised since) may have made issues it never
        # recorded: the new export looks for them after the same watermark first.
        "recover_after": previous.key_watermark if previous.status == "failed" else None,
        # the groups' epics (epic_mode per_group): used again, never made twice
        "epics": [
            {
                "group": e.group,
                "epic_id": str(e.epic_id),
                "name": e.name,
                "key": e.key,
                "url": e.url,
                "jira_id": e.jira_id,
                "children": e.children,
            }
            for e in previous.epics.values()
        ],
    }


def _conflict_choices(previous: Export) -> dict[UUID, str]:
    """Conflicts a person resolved, by ticket: KEEP_JIRA or OVERWRITE."""
    return {
        fix.ticket_id: fix.choice
        for fix in previous.fixes.values()
        if fix.kind == "conflict" and fix.resolved and fix.ticket_id and fix.choice
    }


def _overwrites(previous: Export) -> set[UUID]:
    return {t for t, choice in _conflict_choices(previous).items() if choice == OVERWRITE}


def _sent_after_choices(previous: Export) -> dict[UUID, dict[str, Any]]:
    """What was last sent; where a person chose to keep Jira's text, Jira's text becomes
    the baseline (not updated again until our own text changes)."""
    sent = {t: dict(s) for t, s in previous.sent.items()}
    for ticket_id, choice in _conflict_choices(previous).items():
        conflict = previous.conflicts.get(ticket_id)
        if choice == KEEP_JIRA and conflict is not None:
            sent[ticket_id] = {
                **sent.get(ticket_id, {}),
                "source": conflict["ours"].get("source"),
                "jira": conflict["theirs"].get("jira"),
            }
    for ticket_id in previous.obsolete:
        labels = list(sent.get(ticket_id, {}).get("labels", []))
        sent[ticket_id] = {
            **sent.get(ticket_id, {}),
            "source": "obsolete",
            "labels": [*labels, OBSOLETE_LABEL],
        }
    return sent


# --- the dry run ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanCategory:
    items: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"count": len(self.items), "items": self.items}


def dry_run(
    session: Session,
    previous: Export | None,
    jira: Callable[[], JiraGateway] | None,
    latency_s: float = 0.1,
) -> dict[str, Any]:
    """What the next export would do, nothing written to Jira. With `jira`, the issues
    to update are read (concurrently) for their current text: an update shows each
    field's old (Jira's) and new value; an issue a person edited there is a conflict."""
    plan, carried = carry_forward(session, previous)
    shadow = Export(
        session_id=session.id,
        task_id=session.id,
        project_key=session.jira_project_key,
        issue_type=session.issue_type,
        content_version=session.content_version,
        plan=plan,
        actor="system:planner",
        carried=carried,
    )
    tickets = session.tickets
    create = [
        {"ticket_id": p["ticket_id"], "order": p["order"], "title": _title(tickets, p)}
        for p in shadow.pending_tickets()
    ]
    updates, conflicts = _updates(session, shadow, shadow.pending_updates(), jira)
    links = [
        {
            "ticket_id": str(t),
            "depends_on": str(d),
            "blocker_key": shadow.issues[d].key if d in shadow.issues else None,
            "blocked_key": shadow.issues[t].key if t in shadow.issues else None,
        }
        for t, d in shadow.pending_links()
    ]
    unlinks = [
        {"ticket_id": str(t), "depends_on": str(d), "blocker_key": b, "blocked_key": k}
        for t, d, b, k in shadow.pending_unlinks()
    ]
    obsolete = [
        {"ticket_id": o["ticket_id"], "key": o["key"], "title": _title(tickets, o)}
        for o in shadow.pending_obsolete()
    ]
    # epic_mode per_group: the groups whose epic no earlier export made
    epics = []
    if session.epic_mode == EPIC_PER_GROUP:
        groups = groups_of(tickets[UUID(str(p["ticket_id"]))] for p in plan)
        epics = [
            {"group": g, "name": epic_name(session, g), "children": n}
            for g, n in groups.items()
            if g not in shadow.epics
        ]
    estimate = estimate_export(
        issues=len(create) + len(epics),
        attachments=(),
        sprint_issues=(),
        links=[(str(d), str(t)) for t, d in shadow.pending_links()]
        + [(b, k) for _, _, b, k in shadow.pending_unlinks()],
        latency_s=latency_s,
    )
    # updates and obsolete marks: a read and a write (or two) each, SENDERS at a time
    writes = 2 * len(updates) + 3 * len(obsolete) + len(unlinks)
    seconds = estimate.duration_s + writes * latency_s / SENDERS
    return {
        "create": PlanCategory(create).to_dict(),
        "epics": PlanCategory(epics).to_dict(),
        "update": PlanCategory(updates).to_dict(),
        "link": PlanCategory(links).to_dict(),
        "unlink": PlanCategory(unlinks).to_dict(),
        "obsolete": PlanCategory(obsolete).to_dict(),
        "conflicts": PlanCategory(conflicts).to_dict(),
        "requests": estimate.total_requests + writes,
        "estimated_seconds": round(seconds, 1),
        "previous_export_id": carried.get("previous_export_id"),
    }


def _title(tickets: Mapping[UUID, Ticket], item: Mapping[str, Any]) -> str:
    ticket = tickets.get(UUID(str(item["ticket_id"])))
    return ticket.title if ticket else ""


def _updates(
    session: Session,
    shadow: Export,
    pending: Sequence[dict[str, Any]],
    jira: Callable[[], JiraGateway] | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    keys = [shadow.issues[UUID(str(p["ticket_id"]))].key for p in pending]
    current = _read_issues(jira, keys) if jira is not None and keys else {}
    updates: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    for item, key in zip(pending, keys, strict=True):
        ticket = session.tickets[UUID(str(item["ticket_id"]))]
        seen = current.get(key)
        # Data Center holds wiki text (a string) where Cloud holds an ADF document.
        wiki = seen is not None and isinstance(seen.get("description"), str)
        document = issue_text(
            DATACENTER if wiki else CLOUD,
            ticket.config_name,
            ticket.title,
            ticket.user_story,
            ticket.analysis,
            ticket.verification,
        )
        new = {
            "summary": document.summary,
            "description": adf_text(document.description),
            "labels": issue_labels(ticket, session.id),
        }
        entry: dict[str, Any] = {"ticket_id": str(ticket.id), "key": key, "title": ticket.title}
        if seen is None:
            entry["fields"] = {name: [None, new[name]] for name in TEXT_FIELDS}
            entry["jira_checked"] = False
            updates.append(entry)
            continue
        old: dict[str, Any] = {
            "summary": str(seen.get("summary") or ""),
            "description": adf_text(seen.get("description")),
            "labels": sorted(str(label) for label in seen.get("labels") or ()),
        }
        entry["fields"] = {
            name: [old[name], new[name]]
            for name in TEXT_FIELDS
            if (sorted(old[name]) if name == "labels" else old[name])
            != (sorted(new[name]) if name == "labels" else new[name])
        }
        entry["jira_checked"] = True
        sent = shadow.sent.get(ticket.id, {}).get("jira")
        edited = sent is not None and fingerprint(old["summary"], seen.get("description")) != sent
        if edited and ticket.id not in shadow.force:
            conflicts.append(entry)
        else:
            updates.append(entry)
    return updates, conflicts


def _read_issues(
    jira: Callable[[], JiraGateway], keys: Iterable[str]
) -> dict[str, Mapping[str, Any]]:
    gateway = jira()

    def read(key: str) -> tuple[str, Mapping[str, Any] | None]:
        try:
            return key, gateway.get_issue(key, TEXT_FIELDS).fields
        except JiraNotFound:
            return key, None

    try:
        with ThreadPoolExecutor(SENDERS, thread_name_prefix="plan-read") as pool:
            return {k: f for k, f in pool.map(read, list(keys)) if f is not None}
    except JiraError:
        return {}
    finally:
        gateway.close()


def plan_next_export(
    app: TicketForge, jira: Callable[[], JiraGateway] | None, session_id: UUID, user: User
) -> dict[str, Any]:
    """The dry run for a session: what `POST .../export` would do now."""
    session = app.load_session(session_id, user)
    previous = app.load_export(session.export_id) if session.export_id else None
    if previous is not None and previous.status in ("requested", "running"):
        raise ConflictError(
            "An export is running: the plan is for the next one",
            ["Wait for the export to finish, then ask again"],
        )
    return dry_run(session, previous, jira)
