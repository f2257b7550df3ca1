"""The sandbox's Jira site in SQLite: seeded projects, users, sprints, and the issues made.

One connection guarded by a lock serves every request thread; each write is one
transaction. `db_path=None` keeps everything in memory.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infrastructure.jira_sandbox.jql import JqlError, JqlQuery

# -- the site's fixed catalog ---------------------------------------------------------


@dataclass(frozen=True)
class IssueTypeDef:
    id: str
    name: str
    description: str
    hierarchy_level: int = 0


@dataclass(frozen=True)
class StatusDef:
    id: str
    name: str
    category_id: int
    category_key: str
    category_name: str
    color: str


ISSUE_TYPES = (
    IssueTypeDef("10000", "Epic", "A big user story that needs to be broken down.", 1),
    IssueTypeDef("10001", "Task", "A small, distinct piece of work."),
    IssueTypeDef("10002", "Story", "A user story: functionality told from a user's view."),
    IssueTypeDef(
        "10003", "Bug", "A problem which impairs or prevents the functions of the product."
    ),
)
STATUSES = (
    StatusDef("10000", "To Do", 2, "new", "To Do", "blue-gray"),
    StatusDef("3", "In Progress", 4, "indeterminate", "In Progress", "yellow"),
    StatusDef("10001", "Done", 3, "done", "Done", "green"),
)
INITIAL_STATUS = STATUSES[0]
RESOLUTIONS = {"Done": "10000", "Won't Do": "10001", "Duplicate": "10002"}
PERMISSIONS = {
    "BROWSE_PROJECTS": ("10", "Browse Projects"),
    "CREATE_ISSUES": ("11", "Create Issues"),
    "EDIT_ISSUES": ("12", "Edit Issues"),
    "ASSIGN_ISSUES": ("13", "Assign Issues"),
    "ASSIGNABLE_USER": ("17", "Assignable User"),
    "CREATE_ATTACHMENTS": ("19", "Create Attachments"),
    "LINK_ISSUES": ("21", "Link Issues"),
    "ADD_COMMENTS": ("15", "Add Comments"),
    "SCHEDULE_ISSUES": ("28", "Schedule Issues"),
    "TRANSITION_ISSUES": ("46", "Transition Issues"),
    "ADMINISTER_PROJECTS": ("23", "Administer Projects"),
}
ALL_PROJECT_PERMISSIONS = tuple(PERMISSIONS)
SPRINT_FIELD = "customfield_10020"
ENVIRONMENT_FIELD = "customfield_10040"
# Data Center's Jira Software epic fields (ids vary per site: found by their type in /field).
EPIC_LINK_FIELD = "customfield_10100"
EPIC_NAME_FIELD = "customfield_10102"
EPIC_LINK_TYPE = "com.pyxis.greenhopper.jira:gh-epic-link"
EPIC_NAME_TYPE = "com.pyxis.greenhopper.jira:gh-epic-label"
CLOUD = "cloud"
DATACENTER = "datacenter"
FLAVORS = (CLOUD, DATACENTER)
#: (project key, issue type id) -> custom fields required on create, beyond the system ones.
EXTRA_REQUIRED_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("TF", "10003"): (ENVIRONMENT_FIELD,)
}


def account_id_for(email: str) -> str:
    """Stable, Atlassian-looking account ids so a re-seeded site keeps its people."""
    return "712020:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"jira-sandbox:{email.lower()}"))


@dataclass(frozen=True)
class SeedUser:
    email: str
    display_name: str
    active: bool = True
    #: project key -> permissions; ASSIGNABLE_USER makes them assignable there.
    permissions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


SEED_USERS = (
    SeedUser(
        "demo@example.com",
        "Demo Admin",
        permissions={"DEMO": ALL_PROJECT_PERMISSIONS, "TF": ALL_PROJECT_PERMISSIONS},
    ),
    SeedUser(
        "alice@example.com",
        "Alice Builder",
        permissions={"DEMO": ALL_PROJECT_PERMISSIONS, "TF": ALL_PROJECT_PERMISSIONS},
    ),
    SeedUser("bob@example.com", "Bob Reviewer", permissions={"DEMO": ALL_PROJECT_PERMISSIONS}),
    SeedUser("carol@example.com", "Carol Themer", permissions={"DEMO": ALL_PROJECT_PERMISSIONS}),
    SeedUser("dave@example.com", "Dave Outsider", permissions={"TF": ALL_PROJECT_PERMISSIONS}),
    SeedUser("viewer@example.com", "Vic Viewer", permissions={"DEMO": ("BROWSE_PROJECTS",)}),
    SeedUser("former@example.com", "Fran Former", active=False),
)
SEED_PROJECTS = (("10000", "DEMO", "Demo project"), ("10001", "TF", "Ticketforge project"))
SEED_PRIORITIES = (
    ("1", "Highest", False, "This problem will block progress.", "#d04437"),
    ("2", "High", False, "Serious problem that could block progress.", "#f15C75"),
    ("3", "Medium", True, "Has the potential to affect progress.", "#f79232"),
    ("4", "Low", False, "Minor problem or easily worked around.", "#707070"),
    ("5", "Lowest", False, "Trivial problem with little or no impact on progress.", "#999999"),
)
SEED_LINK_TYPES = (
    ("10000", "Blocks", "is blocked by", "blocks"),
    ("10001", "Duplicates", "is duplicated by", "duplicates"),
    ("10003", "Relates", "relates to", "relates to"),
)
# (board id, project, name) and (sprint id, board id, name, state)
SEED_BOARDS = ((1, "DEMO", "DEMO board"), (2, "TF", "TF board"))
SEED_SPRINTS = (
    (1, 1, "DEMO Sprint 0", "closed"),
    (2, 1, "DEMO Sprint 1", "active"),
    (3, 1, "DEMO Sprint 2", "future"),
    (4, 2, "TF Sprint 1", "active"),
    (5, 2, "TF Sprint 2", "future"),
)


@dataclass(frozen=True)
class CommentRow:
    id: int
    issue_id: int
    author: str
    body: dict[str, Any] | str
    created: int


SCHEMA = """
CREATE TABLE IF NOT EXISTS users(
    account_id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS projects(
    id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL, lead TEXT NOT NULL,
    next_number INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS project_permissions(
    project_key TEXT NOT NULL, account_id TEXT NOT NULL, permission TEXT NOT NULL,
    PRIMARY KEY(project_key, account_id, permission));
CREATE TABLE IF NOT EXISTS priorities(
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, is_default INTEGER NOT NULL,
    description TEXT NOT NULL, color TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS link_types(
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, inward TEXT NOT NULL, outward TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS boards(
    id INTEGER PRIMARY KEY, project_key TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sprints(
    id INTEGER PRIMARY KEY, board_id INTEGER NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS issues(
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, project_key TEXT NOT NULL,
    number INTEGER NOT NULL, issue_type_id TEXT NOT NULL, summary TEXT NOT NULL,
    description TEXT, assignee TEXT, reporter TEXT NOT NULL, priority_id TEXT NOT NULL,
    parent_id INTEGER, sprint_id INTEGER, status_id TEXT NOT NULL, resolution TEXT,
    custom_fields TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS issues_by_project ON issues(project_key, number);
CREATE INDEX IF NOT EXISTS issues_by_updated ON issues(updated);
CREATE TABLE IF NOT EXISTS issue_labels(
    issue_id INTEGER NOT NULL, label TEXT NOT NULL, PRIMARY KEY(issue_id, label));
CREATE INDEX IF NOT EXISTS labels_by_label ON issue_labels(label);
CREATE TABLE IF NOT EXISTS issue_properties(
    issue_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY(issue_id, key));
CREATE TABLE IF NOT EXISTS attachments(
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, filename TEXT NOT NULL,
    mime_type TEXT NOT NULL, size INTEGER NOT NULL, content BLOB NOT NULL,
    author TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS issue_links(
    id INTEGER PRIMARY KEY, type_id TEXT NOT NULL, inward_id INTEGER NOT NULL,
    outward_id INTEGER NOT NULL, UNIQUE(type_id, inward_id, outward_id));
CREATE TABLE IF NOT EXISTS comments(
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, author TEXT NOT NULL,
    body TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
TABLES = (
    "users",
    "projects",
    "project_permissions",
    "priorities",
    "link_types",
    "boards",
    "sprints",
    "issues",
    "issue_labels",
    "issue_properties",
    "attachments",
    "issue_links",
    "comments",
    "meta",
)
FIRST_ISSUE_ID = 10000
FIRST_ATTACHMENT_ID = 10000
FIRST_LINK_ID = 10000

# -- rows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRow:
    account_id: str
    email: str
    display_name: str
    active: bool

    @property
    def name(self) -> str:
        """The Data Center username: the email's local part (`alice`)."""
        return self.email.split("@", maxsplit=1)[0].lower()

    @property
    def key(self) -> str:
        """Data Center's stable user key (`JIRAUSER…`), derived from the account id."""
        return "JIRAUSER" + str(int(self.account_id.rsplit("-", 1)[-1][:6], 16))


@dataclass(frozen=True)
class ProjectRow:
    id: str
    key: str
    name: str
    lead: str


@dataclass(frozen=True)
class PriorityRow:
    id: str
    name: str
    is_default: bool
    description: str
    color: str


@dataclass(frozen=True)
class LinkTypeRow:
    id: str
    name: str
    inward: str
    outward: str


@dataclass(frozen=True)
class BoardRow:
    id: int
    project_key: str
    name: str


@dataclass(frozen=True)
class SprintRow:
    id: int
    board_id: int
    name: str
    state: str


@dataclass(frozen=True)
class IssueDraft:
    """A validated create request, ready to store."""

    project_key: str
    issue_type_id: str
    summary: str
    description: dict[str, Any] | str | None
    labels: tuple[str, ...]
    assignee: str | None
    priority_id: str
    parent_id: int | None
    sprint_id: int | None
    custom_fields: dict[str, Any]
    properties: dict[str, Any]


@dataclass(frozen=True)
class IssueRow:
    id: int
    key: str
    project_key: str
    number: int
    issue_type_id: str
    summary: str
    description: dict[str, Any] | str | None
    assignee: str | None
    reporter: str
    priority_id: str
    parent_id: int | None
    sprint_id: int | None
    status_id: str
    resolution: str | None
    custom_fields: dict[str, Any]
    created: int
    updated: int
    labels: tuple[str, ...]


@dataclass(frozen=True)
class AttachmentRow:
    id: int
    issue_id: int
    filename: str
    mime_type: str
    size: int
    author: str
    created: int


@dataclass(frozen=True)
class LinkView:
    """A link seen from one issue: `phrase` + `other` reads as this issue's relation."""

    id: int
    type: LinkTypeRow
    other: IssueRow
    other_is_outward: bool

    @property
    def phrase(self) -> str:
        return self.type.outward if self.other_is_outward else self.type.inward


def now_ms() -> int:
    return int(time.time() * 1000)


class SandboxStore:
    def __init__(self, db_path: Path | None = None) -> None:
        self._lock = threading.RLock()
        target = str(db_path) if db_path is not None else ":memory:"
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        if db_path is not None:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._conn.executescript(SCHEMA)
        if self._meta("seeded") is None:
            self._seed()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _row(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _meta(self, key: str) -> str | None:
        row = self._row("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    # -- seeding ------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every issue and re-seed the catalog."""
        with self._tx() as cur:
            for table in TABLES:
                cur.execute(f"DELETE FROM {table}")
        self._seed()

    def _seed(self) -> None:
        admin = account_id_for(SEED_USERS[0].email)
        with self._tx() as cur:
            for project_id, key, name in SEED_PROJECTS:
                cur.execute(
                    "INSERT INTO projects VALUES (?, ?, ?, ?, 1)", (project_id, key, name, admin)
                )
            for user in SEED_USERS:
                self._insert_user(cur, user.email, user.display_name, user.active)
                for project, permissions in user.permissions.items():
                    cur.executemany(
                        "INSERT INTO project_permissions VALUES (?, ?, ?)",
                        [(project, account_id_for(user.email), p) for p in permissions],
                    )
            cur.executemany("INSERT INTO priorities VALUES (?, ?, ?, ?, ?)", SEED_PRIORITIES)
            cur.executemany("INSERT INTO link_types VALUES (?, ?, ?, ?)", SEED_LINK_TYPES)
            cur.executemany("INSERT INTO boards VALUES (?, ?, ?)", SEED_BOARDS)
            cur.executemany("INSERT INTO sprints VALUES (?, ?, ?, ?)", SEED_SPRINTS)
            cur.execute("INSERT INTO meta VALUES ('seeded', ?)", (str(now_ms()),))

    @staticmethod
    def _insert_user(cur: sqlite3.Cursor, email: str, display_name: str, active: bool) -> str:
        account_id = account_id_for(email)
        cur.execute(
            "INSERT OR IGNORE INTO users VALUES (?, ?, ?, ?)",
            (account_id, email, display_name, int(active)),
        )
        return account_id

    def ensure_user(self, email: str, projects: Iterable[str] = ("DEMO", "TF")) -> str:
        """A user for a configured credential; new ones get every permission on `projects`."""
        existing = self.user_by_email(email)
        if existing is not None:
            return existing.account_id
        with self._tx() as cur:
            account_id = self._insert_user(
                cur, email, email.split("@", maxsplit=1)[0].title(), True
            )
            cur.executemany(
                "INSERT OR IGNORE INTO project_permissions VALUES (?, ?, ?)",
                [(p, account_id, perm) for p in projects for perm in ALL_PROJECT_PERMISSIONS],
            )
        return account_id

    # -- people, projects, catalog --------------------------------------------------

    @staticmethod
    def _user(row: sqlite3.Row) -> UserRow:
        return UserRow(row["account_id"], row["email"], row["display_name"], bool(row["active"]))

    def user(self, account_id: str) -> UserRow | None:
        row = self._row("SELECT * FROM users WHERE account_id = ?", (account_id,))
        return None if row is None else self._user(row)

    def user_by_name(self, name: str) -> UserRow | None:
        """A Data Center username -> the user (see `UserRow.name`)."""
        row = self._row("SELECT * FROM users WHERE lower(email) LIKE ?", (f"{name.lower()}@%",))
        return None if row is None else self._user(row)

    def user_by_email(self, email: str) -> UserRow | None:
        row = self._row("SELECT * FROM users WHERE email = ?", (email,))
        return None if row is None else self._user(row)

    def find_users(self, query: str, limit: int) -> list[UserRow]:
        pattern = f"%{query.lower()}%"
        rows = self._rows(
            "SELECT * FROM users WHERE lower(display_name) LIKE ? OR lower(email) LIKE ? "
            "ORDER BY display_name LIMIT ?",
            (pattern, pattern, limit),
        )
        return [self._user(r) for r in rows]

    def assignable_users(self, project_key: str, query: str, limit: int) -> list[UserRow]:
        pattern = f"%{query.lower()}%"
        rows = self._rows(
            "SELECT u.* FROM users u JOIN project_permissions p ON p.account_id = u.account_id "
            "WHERE p.project_key = ? AND p.permission = 'ASSIGNABLE_USER' AND u.active = 1 "
            "AND (lower(u.display_name) LIKE ? OR lower(u.email) LIKE ?) "
            "ORDER BY u.display_name LIMIT ?",
            (project_key, pattern, pattern, limit),
        )
        return [self._user(r) for r in rows]

    def is_assignable(self, account_id: str, project_key: str) -> bool:
        return self.has_permission(account_id, project_key, "ASSIGNABLE_USER") and bool(
            (user := self.user(account_id)) and user.active
        )

    def project(self, key_or_id: str) -> ProjectRow | None:
        row = self._row(
            "SELECT * FROM projects WHERE key = ? OR id = ?", (key_or_id.upper(), key_or_id)
        )
        return None if row is None else ProjectRow(row["id"], row["key"], row["name"], row["lead"])

    def permissions(self, account_id: str, project_key: str) -> set[str]:
        rows = self._rows(
            "SELECT permission FROM project_permissions WHERE account_id = ? AND project_key = ?",
            (account_id, project_key),
        )
        return {str(r["permission"]) for r in rows}

    def has_permission(self, account_id: str, project_key: str, permission: str) -> bool:
        return permission in self.permissions(account_id, project_key)

    def priorities(self) -> list[PriorityRow]:
        return [
            PriorityRow(r["id"], r["name"], bool(r["is_default"]), r["description"], r["color"])
            for r in self._rows("SELECT * FROM priorities ORDER BY id")
        ]

    def link_types(self) -> list[LinkTypeRow]:
        return [
            LinkTypeRow(r["id"], r["name"], r["inward"], r["outward"])
            for r in self._rows("SELECT * FROM link_types ORDER BY name")
        ]

    def boards(self, project_key: str) -> list[BoardRow]:
        rows = self._rows("SELECT * FROM boards WHERE project_key = ? ORDER BY id", (project_key,))
        return [BoardRow(r["id"], r["project_key"], r["name"]) for r in rows]

    def board(self, board_id: int) -> BoardRow | None:
        row = self._row("SELECT * FROM boards WHERE id = ?", (board_id,))
        return None if row is None else BoardRow(row["id"], row["project_key"], row["name"])

    def sprints(self, board_id: int, states: Iterable[str]) -> list[SprintRow]:
        wanted = tuple(states)
        marks = ",".join("?" * len(wanted))
        rows = self._rows(
            f"SELECT * FROM sprints WHERE board_id = ? AND state IN ({marks}) ORDER BY id",
            (board_id, *wanted),
        )
        return [SprintRow(r["id"], r["board_id"], r["name"], r["state"]) for r in rows]

    def sprint(self, sprint_id: int) -> SprintRow | None:
        row = self._row("SELECT * FROM sprints WHERE id = ?", (sprint_id,))
        return (
            None
            if row is None
            else SprintRow(row["id"], row["board_id"], row["name"], row["state"])
        )

    # -- issues ---------------------------------------------------------------------

    def _issue(self, row: sqlite3.Row) -> IssueRow:
        labels = self._rows(
            "SELECT label FROM issue_labels WHERE issue_id = ? ORDER BY label", (row["id"],)
        )
        return IssueRow(
            id=row["id"],
            key=row["key"],
            project_key=row["project_key"],
            number=row["number"],
            issue_type_id=row["issue_type_id"],
            summary=row["summary"],
            description=json.loads(row["description"]) if row["description"] else None,
            assignee=row["assignee"],
            reporter=row["reporter"],
            priority_id=row["priority_id"],
            parent_id=row["parent_id"],
            sprint_id=row["sprint_id"],
            status_id=row["status_id"],
            resolution=row["resolution"],
            custom_fields=json.loads(row["custom_fields"]),
            created=row["created"],
            updated=row["updated"],
            labels=tuple(str(r["label"]) for r in labels),
        )

    def issue(self, key_or_id: str | int) -> IssueRow | None:
        text = str(key_or_id)
        if text.isdigit():
            row = self._row("SELECT * FROM issues WHERE id = ?", (int(text),))
        else:
            row = self._row("SELECT * FROM issues WHERE key = ?", (text.upper(),))
        return None if row is None else self._issue(row)

    def recent_issues(self, limit: int) -> list[IssueRow]:
        rows = self._rows("SELECT * FROM issues ORDER BY id DESC LIMIT ?", (limit,))
        return [self._issue(r) for r in rows]

    def count_issues(self) -> int:
        row = self._row("SELECT COUNT(*) AS n FROM issues")
        return int(row["n"]) if row else 0

    def insert_issue(self, draft: IssueDraft, reporter: str) -> IssueRow:
        stamp = now_ms()
        with self._tx() as cur:
            number = cur.execute(
                "SELECT next_number FROM projects WHERE key = ?", (draft.project_key,)
            ).fetchone()["next_number"]
            cur.execute(
                "UPDATE projects SET next_number = next_number + 1 WHERE key = ?",
                (draft.project_key,),
            )
            issue_id = cur.execute(
                "SELECT COALESCE(MAX(id) + 1, ?) AS id FROM issues", (FIRST_ISSUE_ID,)
            ).fetchone()["id"]
            cur.execute(
                "INSERT INTO issues VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                (
                    issue_id,
                    f"{draft.project_key}-{number}",
                    draft.project_key,
                    number,
                    draft.issue_type_id,
                    draft.summary,
                    json.dumps(draft.description) if draft.description is not None else None,
                    draft.assignee,
                    reporter,
                    draft.priority_id,
                    draft.parent_id,
                    draft.sprint_id,
                    INITIAL_STATUS.id,
                    json.dumps(draft.custom_fields),
                    stamp,
                    stamp,
                ),
            )
            cur.executemany(
                "INSERT OR IGNORE INTO issue_labels VALUES (?, ?)",
                [(issue_id, label) for label in draft.labels],
            )
            cur.executemany(
                "INSERT OR REPLACE INTO issue_properties VALUES (?, ?, ?)",
                [(issue_id, k, json.dumps(v)) for k, v in draft.properties.items()],
            )
            row = cur.execute("SELECT * FROM issues WHERE id = ?", (issue_id,)).fetchone()
            return self._issue(row)

    UPDATABLE = frozenset({"status_id", "resolution", "assignee"})

    def update_issue(self, issue_id: int, changes: Mapping[str, Any]) -> None:
        """Someone worked on the issue in Jira: status, resolution or assignee changed."""
        unknown = set(changes) - self.UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        columns = ["updated", *changes]
        assignments = ", ".join(f"{column} = ?" for column in columns)
        with self._tx() as cur:
            cur.execute(
                f"UPDATE issues SET {assignments} WHERE id = ?",
                (now_ms(), *changes.values(), issue_id),
            )

    def edit_issue(
        self,
        issue_id: int,
        *,
        summary: str | None = None,
        description: Mapping[str, Any] | str | None = None,
        set_description: bool = False,
        labels: Iterable[str] | None = None,
        add_labels: Iterable[str] = (),
        remove_labels: Iterable[str] = (),
    ) -> None:
        """`PUT /issue/{key}` (or a person editing the issue): text and labels."""
        with self._tx() as cur:
            if summary is not None:
                cur.execute("UPDATE issues SET summary = ? WHERE id = ?", (summary, issue_id))
            if set_description:
                text = json.dumps(description) if description is not None else None
                cur.execute("UPDATE issues SET description = ? WHERE id = ?", (text, issue_id))
            if labels is not None:
                cur.execute("DELETE FROM issue_labels WHERE issue_id = ?", (issue_id,))
                add_labels = [*labels, *add_labels]
            cur.executemany(
                "INSERT OR IGNORE INTO issue_labels VALUES (?, ?)",
                [(issue_id, label) for label in add_labels],
            )
            cur.executemany(
                "DELETE FROM issue_labels WHERE issue_id = ? AND label = ?",
                [(issue_id, label) for label in remove_labels],
            )
            cur.execute("UPDATE issues SET updated = ? WHERE id = ?", (now_ms(), issue_id))

    def add_comment(self, issue_id: int, author: str, body: Mapping[str, Any] | str) -> CommentRow:
        stamp = now_ms()
        with self._tx() as cur:
            comment_id = cur.execute(
                "SELECT COALESCE(MAX(id) + 1, 10000) AS id FROM comments"
            ).fetchone()["id"]
            cur.execute(
                "INSERT INTO comments VALUES (?, ?, ?, ?, ?)",
                (comment_id, issue_id, author, json.dumps(body), stamp),
            )
            cur.execute("UPDATE issues SET updated = ? WHERE id = ?", (stamp, issue_id))
        return CommentRow(
            comment_id, issue_id, author, body if isinstance(body, str) else dict(body), stamp
        )

    def comments(self, issue_id: int) -> list[CommentRow]:
        return [
            CommentRow(r["id"], r["issue_id"], r["author"], json.loads(r["body"]), r["created"])
            for r in self._rows(
                "SELECT * FROM comments WHERE issue_id = ? ORDER BY id", (issue_id,)
            )
        ]

    def link(self, link_id: int) -> sqlite3.Row | None:
        return self._row("SELECT * FROM issue_links WHERE id = ?", (link_id,))

    def delete_link(self, link_id: int) -> bool:
        """Remove the link; False when it did not exist."""
        with self._tx() as cur:
            row = cur.execute("SELECT * FROM issue_links WHERE id = ?", (link_id,)).fetchone()
            if row is None:
                return False
            cur.execute("DELETE FROM issue_links WHERE id = ?", (link_id,))
            cur.execute(
                "UPDATE issues SET updated = ? WHERE id IN (?, ?)",
                (now_ms(), row["inward_id"], row["outward_id"]),
            )
        return True

    def issue_property(self, issue_id: int, key: str) -> tuple[bool, Any]:
        row = self._row(
            "SELECT value FROM issue_properties WHERE issue_id = ? AND key = ?", (issue_id, key)
        )
        return (False, None) if row is None else (True, json.loads(row["value"]))

    def move_to_sprint(self, sprint_id: int, issue_ids: Iterable[int]) -> None:
        stamp = now_ms()
        with self._tx() as cur:
            cur.executemany(
                "UPDATE issues SET sprint_id = ?, updated = ? WHERE id = ?",
                [(sprint_id, stamp, issue_id) for issue_id in issue_ids],
            )

    # -- attachments and links -------------------------------------------------------

    def add_attachment(
        self, issue_id: int, filename: str, mime_type: str, content: bytes, author: str
    ) -> AttachmentRow:
        stamp = now_ms()
        with self._tx() as cur:
            attachment_id = cur.execute(
                "SELECT COALESCE(MAX(id) + 1, ?) AS id FROM attachments", (FIRST_ATTACHMENT_ID,)
            ).fetchone()["id"]
            cur.execute(
                "INSERT INTO attachments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attachment_id,
                    issue_id,
                    filename,
                    mime_type,
                    len(content),
                    content,
                    author,
                    stamp,
                ),
            )
            cur.execute("UPDATE issues SET updated = ? WHERE id = ?", (stamp, issue_id))
        return AttachmentRow(
            attachment_id, issue_id, filename, mime_type, len(content), author, stamp
        )

    @staticmethod
    def _attachment(row: sqlite3.Row) -> AttachmentRow:
        return AttachmentRow(
            row["id"],
            row["issue_id"],
            row["filename"],
            row["mime_type"],
            row["size"],
            row["author"],
            row["created"],
        )

    def attachments(self, issue_id: int) -> list[AttachmentRow]:
        rows = self._rows(
            "SELECT id, issue_id, filename, mime_type, size, author, created FROM attachments "
            "WHERE issue_id = ? ORDER BY id",
            (issue_id,),
        )
        return [self._attachment(r) for r in rows]

    def attachment_content(self, attachment_id: int) -> tuple[AttachmentRow, bytes] | None:
        row = self._row("SELECT * FROM attachments WHERE id = ?", (attachment_id,))
        return None if row is None else (self._attachment(row), bytes(row["content"]))

    def add_link(self, type_id: str, inward_id: int, outward_id: int) -> bool:
        """Store the link; False when exactly this link already existed."""
        stamp = now_ms()
        with self._tx() as cur:
            link_id = cur.execute(
                "SELECT COALESCE(MAX(id) + 1, ?) AS id FROM issue_links", (FIRST_LINK_ID,)
            ).fetchone()["id"]
            cur.execute(
                "INSERT OR IGNORE INTO issue_links VALUES (?, ?, ?, ?)",
                (link_id, type_id, inward_id, outward_id),
            )
            created = cur.rowcount == 1
            if created:
                cur.execute(
                    "UPDATE issues SET updated = ? WHERE id IN (?, ?)",
                    (stamp, inward_id, outward_id),
                )
        return created

    def links_of(self, issue_id: int) -> list[LinkView]:
        types = {t.id: t for t in self.link_types()}
        rows = self._rows(
            "SELECT * FROM issue_links WHERE inward_id = ? OR outward_id = ? ORDER BY id",
            (issue_id, issue_id),
        )
        views: list[LinkView] = []
        for row in rows:
            other_is_outward = row["inward_id"] == issue_id
            other = self.issue(row["outward_id"] if other_is_outward else row["inward_id"])
            if other is not None and row["type_id"] in types:
                views.append(LinkView(row["id"], types[row["type_id"]], other, other_is_outward))
        return views

    # -- search ---------------------------------------------------------------------

    def search(
        self,
        query: JqlQuery,
        account_id: str,
        offset: int,
        limit: int,
        lag_ms: float = 0.0,
        reconcile: Sequence[int] = (),
    ) -> tuple[list[IssueRow], bool]:
        """One page of matching issues the account may browse, and whether more follow.
        `lag_ms`: issues created more recently than that are not indexed yet, except
        those whose ids are in `reconcile` (Jira's `reconcileIssues`: read-after-write)."""
        where = [
            "i.project_key IN (SELECT project_key FROM project_permissions "
            "WHERE account_id = ? AND permission = 'BROWSE_PROJECTS')"
        ]
        params: list[Any] = [account_id]
        if lag_ms > 0:
            known = ",".join("?" * len(reconcile))
            where.append(
                f"(i.created <= ? OR i.id IN ({known}))" if reconcile else "i.created <= ?"
            )
            params.append(now_ms() - int(lag_ms))
            params.extend(int(i) for i in reconcile)
        for clause in query.clauses:
            sql, values = self._clause_sql(clause.field, clause.op, clause.values)
            where.append(sql)
            params.extend(values)
        order = [self._order_sql(name, ascending) for name, ascending in query.order_by]
        order.append("i.id ASC")
        rows = self._rows(
            f"SELECT i.* FROM issues i WHERE {' AND '.join(where)} "
            f"ORDER BY {', '.join(order)} LIMIT ? OFFSET ?",
            (*params, limit + 1, offset),
        )
        return [self._issue(r) for r in rows[:limit]], len(rows) > limit

    def count_matching(self, query: JqlQuery, account_id: str, lag_ms: float = 0.0) -> int:
        """How many issues match (Data Center's search answers a `total`)."""
        count, offset = 0, 0
        while True:
            page, more = self.search(query, account_id, offset, 1000, lag_ms)
            count += len(page)
            offset += len(page)
            if not more:
                return count

    @staticmethod
    def _order_sql(name: str, ascending: bool) -> str:
        direction = "ASC" if ascending else "DESC"
        if name == "key":
            return f"i.project_key {direction}, i.number {direction}"
        return f"i.{name} {direction}"

    def _clause_sql(self, name: str, op: str, values: tuple[str, ...]) -> tuple[str, list[Any]]:
        if name in ("updated", "created"):
            return f"i.{name} {op} ?", [int(values[0])]
        if name == "labels":
            has = "EXISTS (SELECT 1 FROM issue_labels l WHERE l.issue_id = i.id{})"
            if op in ("is empty", "is not empty"):
                return ("NOT " if op == "is empty" else "") + has.format(""), []
            marks = ",".join("?" * len(values))
            negate = "NOT " if op in ("!=", "not in") else ""
            return negate + has.format(f" AND l.label IN ({marks})"), list(values)
        column, resolved = self._resolve(name, values)
        if op == "is empty":
            return f"{column} IS NULL", []
        if op == "is not empty":
            return f"{column} IS NOT NULL", []
        marks = ",".join("?" * len(resolved))
        negate = "NOT " if op in ("!=", "not in") else ""
        return f"{column} {negate}IN ({marks})", resolved

    def _resolve(self, name: str, values: tuple[str, ...]) -> tuple[str, list[Any]]:
        """The column a JQL field reads and its values in stored form."""
        if name == "project":
            keys = []
            for value in values:
                project = self.project(value)
                if project is None:
                    raise JqlError(f"The value '{value}' does not exist for the field 'project'.")
                keys.append(project.key)
            return "i.project_key", keys
        if name == "key":
            return "i.key", [v.upper() for v in values]
        if name == "status":
            by_name = {s.name.lower(): s.id for s in STATUSES}
            ids = []
            for value in values:
                if value.lower() not in by_name:
                    raise JqlError(f"The value '{value}' does not exist for the field 'status'.")
                ids.append(by_name[value.lower()])
            return "i.status_id", ids
        return "i.assignee", list(values)
