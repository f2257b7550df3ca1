"""Finding the issues an export made but never recorded, without trusting the search index.

When Jira's answer to a create is lost (timeout, 5xx after commit, a worker killed
before it recorded), the issues may exist. Jira Cloud's JQL index is eventually
consistent (seconds to minutes), so a search for our marks can miss them and a new
create would duplicate them. Reading an issue by key is consistent, and keys in a
project are allocated in order: so before creating we know the highest key in the
project, and afterwards we read the keys after it one by one (a few at a time) until
several in a row do not exist, adopting those carrying our mark. The search is the
second source (it finds issues moved out of the key range, or made before the
watermark was known).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

from application.export.jira_errors import JiraNotFound
from application.export.jira_types import CreatedIssue, FoundIssue
from application.export.port import JiraGateway, jql_quote

log = logging.getLogger(__name__)

PROBE_MISSES = 5  # keys in a row that do not exist before the scan stops
PROBE_CONCURRENCY = 8
SEARCH_CHUNK = 40


def key_number(key: str, project_key: str) -> int | None:
    """42 for `DEMO-42` in project DEMO; None for a key of another project."""
    match = re.fullmatch(rf"{re.escape(project_key)}-(\d+)", key)
    return int(match.group(1)) if match else None


class IssueFinder:
    """Looks for the issues carrying wanted marks (label -> ticket id) in one project."""

    def __init__(self, jira: JiraGateway, project_key: str) -> None:
        self.jira = jira
        self.project_key = project_key

    # --- the watermark ---------------------------------------------------------------

    def highest_key_number(self) -> int:
        """The highest key number the search shows in the project (0 when empty). The
        index may lag: then this is lower than the truth, which only makes a later scan
        read a few more keys (never skip one of ours)."""
        jql = f"project = {jql_quote(self.project_key)} ORDER BY key DESC"
        for issue in self.jira.iter_search(jql, ("labels",), 1):
            return key_number(issue.key, self.project_key) or 0
        return 0

    # --- reading by key ----------------------------------------------------------------

    def read(self, numbers: Sequence[int]) -> dict[int, FoundIssue | None]:
        """GET each key (concurrently): the issue, or None where it does not exist."""

        def one(number: int) -> FoundIssue | None:
            try:
                issue = self.jira.get_issue(f"{self.project_key}-{number}", ("labels",))
            except JiraNotFound:
                return None
            # A moved issue answers under its new key: not in our range any more.
            return issue if key_number(issue.key, self.project_key) == number else None

        if len(numbers) == 1:
            return {numbers[0]: one(numbers[0])}
        with ThreadPoolExecutor(PROBE_CONCURRENCY, thread_name_prefix="probe") as pool:
            return dict(zip(numbers, pool.map(one, numbers), strict=True))

    def scan(
        self, after: int, wanted: Mapping[str, UUID], skip: Iterable[int] = (), upto: int = 0
    ) -> list[tuple[UUID, CreatedIssue]]:
        """Read every key above `after` (but those in `skip`: known already) up to `upto`,
        then on until PROBE_MISSES keys in a row do not exist; the wanted marks found."""
        skipped = set(skip)
        found: list[tuple[UUID, CreatedIssue]] = []
        seen: set[UUID] = set()
        number, misses = after, 0
        while number < upto or misses < PROBE_MISSES:
            batch: list[int] = []
            while len(batch) < PROBE_CONCURRENCY:
                number += 1
                if number not in skipped:
                    batch.append(number)
            issues = self.read(batch)
            for n in batch:
                issue = issues[n]
                if issue is None:
                    misses += 1 if n > upto else 0
                    continue
                misses = 0
                for ticket_id, created in self._marked(issue, wanted):
                    if ticket_id not in seen:
                        seen.add(ticket_id)
                        found.append((ticket_id, created))
        return found

    # --- attachments and links, read back by key ----------------------------------------

    def attached(self, key: str, filename: str) -> bool:
        """Whether the issue has an attachment of that name (an upload whose answer was
        lost may have happened: a blind resend makes a second copy)."""
        issue = self.jira.get_issue(key, ("attachment",))
        return any(
            isinstance(a, Mapping) and a.get("filename") == filename
            for a in issue.fields.get("attachment") or ()
        )

    def blockers_of(self, blocked_key: str) -> list[str]:
        """The keys of the issues Jira shows blocking `blocked_key` (its inward "Blocks")."""
        issue = self.jira.get_issue(blocked_key, ("issuelinks",))
        return [
            str(other)
            for link in issue.fields.get("issuelinks") or ()
            if (link.get("type") or {}).get("name") == "Blocks"
            and (other := (link.get("inwardIssue") or {}).get("key")) is not None
        ]

    def blocks_link_ids(self, blocker_key: str, blocked_key: str) -> list[str]:
        """The ids of the "Blocks" links by which `blocker_key` blocks `blocked_key`."""
        issue = self.jira.get_issue(blocked_key, ("issuelinks",))
        return [
            str(link.get("id"))
            for link in issue.fields.get("issuelinks") or ()
            if (link.get("type") or {}).get("name") == "Blocks"
            and (link.get("inwardIssue") or {}).get("key") == blocker_key
            and link.get("id")
        ]

    def blockers_of_each(self, keys: Sequence[str], concurrency: int) -> list[list[str]]:
        """`blockers_of` for many issues: one GET each (consistent, unlike the search),
        `concurrency` at a time, so a resume does not pay one round trip per issue."""
        if not keys:
            return []
        with ThreadPoolExecutor(concurrency, thread_name_prefix="link-check") as pool:
            return list(pool.map(self.blockers_of, keys))

    # --- the search (the second source) ---------------------------------------------------

    def search(self, wanted: Mapping[str, UUID]) -> list[tuple[UUID, CreatedIssue]]:
        """Issues in the project carrying the mark (label) of a wanted ticket."""
        labels = sorted(wanted)
        found: list[tuple[UUID, CreatedIssue]] = []
        seen: set[UUID] = set()
        for start in range(0, len(labels), SEARCH_CHUNK):
            chunk = labels[start : start + SEARCH_CHUNK]
            jql = (
                f"project = {jql_quote(self.project_key)} AND labels in "
                f"({', '.join(jql_quote(label) for label in chunk)}) ORDER BY key"
            )
            for issue in self.jira.search(jql, ("labels",)):
                for ticket_id, created in self._marked(issue, wanted):
                    if ticket_id not in seen:
                        seen.add(ticket_id)
                        found.append((ticket_id, created))
        return found

    def _marked(
        self, issue: FoundIssue, wanted: Mapping[str, UUID]
    ) -> Iterable[tuple[UUID, CreatedIssue]]:
        for label in issue.labels:
            ticket_id = wanted.get(label)
            if ticket_id is not None:
                created = CreatedIssue(
                    id=issue.id,
                    key=issue.key,
                    self_url="",
                    browse_url=self.jira.browse_url(issue.key),
                )
                yield ticket_id, created
