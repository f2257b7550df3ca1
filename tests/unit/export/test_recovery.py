"""Finding what an export made but never recorded (`application.export.recovery`), and
whole export runs (`application.export.run.ExportRunner`) when Jira's answers get lost,
on the in-memory Jira (`tests.support.jira_fake`) and the in-memory event store: no
network, no database, milliseconds a test.

The same scenarios run against the real sandbox in `tests/integration/export`; here
they are cheap enough to pin each rule of recovery down on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.adf.ticket_document import attachment_filename
from application.export.issues import session_label
from application.export.jira_types import NewIssue
from application.export.recovery import (
    PROBE_CONCURRENCY,
    PROBE_MISSES,
    SEARCH_CHUNK,
    IssueFinder,
)
from application.export.run import ExportRunner
from application.generation.offline import OfflineDrafter
from application.generation.run import GenerationRunner
from application.inventory.model import ParsedInventory
from application.sessions import TicketForge
from application.users import User
from domain.export import Export, export_label
from domain.inventory import InventoryEntity, Kind
from tests.support.jira_fake import InMemoryJira

PROJECT = "DEMO"
FIVE_MINUTES_MS = 300_000
ALICE = User("alice")


@pytest.fixture
def jira() -> InMemoryJira:
    return InMemoryJira()


@pytest.fixture
def finder(jira: InMemoryJira) -> IssueFinder:
    return IssueFinder(jira, PROJECT)


def marked(ticket_id: UUID, *more: str) -> NewIssue:
    """An issue as an export makes it: carrying the ticket's mark."""
    return NewIssue(PROJECT, f"made for {ticket_id}", labels=(export_label(ticket_id), *more))


def someone_elses(summary: str = "someone else's", *labels: str) -> NewIssue:
    return NewIssue(PROJECT, summary, labels=labels)


def wanted(*ticket_ids: UUID) -> dict[str, UUID]:
    return {export_label(t): t for t in ticket_ids}


def keys_found(found: Sequence[tuple[UUID, Any]]) -> dict[UUID, str]:
    return {ticket_id: issue.key for ticket_id, issue in found}


def gap(jira: InMemoryJira, size: int) -> None:
    """`size` keys in a row that no longer exist (their issues deleted)."""
    made = [jira.create_issue(someone_elses("deleted later")).key for _ in range(size)]
    for key in made:
        jira.delete_issue(key)


# --- the watermark ----------------------------------------------------------------------------


def test_the_highest_key_number_of_an_empty_project_is_zero(finder: IssueFinder) -> None:
    assert finder.highest_key_number() == 0


def test_the_highest_key_number_is_this_projects(jira: InMemoryJira, finder: IssueFinder) -> None:
    jira.create_issues([someone_elses(f"n{n}") for n in range(10)])
    jira.create_issues([NewIssue("TF", f"t{n}") for n in range(30)])
    assert finder.highest_key_number() == 10  # DEMO-10 after DEMO-9, and TF-30 is not ours


def test_the_highest_key_number_behind_a_lagging_search_is_lower_never_higher(
    jira: InMemoryJira, finder: IssueFinder
) -> None:
    jira.create_issues([someone_elses(f"n{n}") for n in range(3)])
    jira.faults(search_lag_ms=FIVE_MINUTES_MS)
    assert finder.highest_key_number() == 0
    jira.faults(search_lag_ms=0)
    assert finder.highest_key_number() == 3


# --- reading the keys one by one ---------------------------------------------------------


def test_a_scan_adopts_the_marked_issues_after_the_watermark_and_nobody_elses(
    jira: InMemoryJira, finder: IssueFinder
) -> None:
    before, first, second, not_wanted = uuid4(), uuid4(), uuid4(), uuid4()
    jira.create_issue(marked(before))  # DEMO-1: at the watermark, not after it
    jira.create_issue(marked(first))  # DEMO-2
    jira.create_issue(someone_elses("between ours", "tf-0123456789abcdef0123"))  # DEMO-3
    jira.create_issue(marked(second))  # DEMO-4
    jira.create_issue(marked(not_wanted))  # DEMO-5: a mark, but not one we look for
    jira.faults(search_lag_ms=FIVE_MINUTES_MS)  # reading by key does not lag

    found = finder.scan(1, wanted(before, first, second))
    assert keys_found(found) == {first: "DEMO-2", second: "DEMO-4"}
    issue = dict(found)[first]
    assert (issue.id, issue.browse_url) == ("10001", jira.browse_url("DEMO-2"))


def test_a_scan_does_not_read_the_keys_it_is_told_are_known(
    jira: InMemoryJira, finder: IssueFinder
) -> None:
    known, unknown = uuid4(), uuid4()
    jira.create_issue(marked(known))  # DEMO-1, recorded already
    jira.create_issue(marked(unknown))  # DEMO-2
    assert keys_found(finder.scan(0, wanted(known, unknown), skip=[1])) == {unknown: "DEMO-2"}


def test_a_scan_reads_through_a_gap_shorter_than_probe_misses(
    jira: InMemoryJira, finder: IssueFinder
) -> None:
    ours = uuid4()
    jira.create_issues([someone_elses(f"n{n}") for n in range(6)])  # a gap across a batch's end
    gap(jira, PROBE_MISSES - 1)
    jira.create_issue(marked(ours))
    assert keys_found(finder.scan(0, wanted(ours))) == {ours: f"DEMO-{6 + PROBE_MISSES}"}


def test_a_scan_stops_after_probe_misses_unless_upto_says_keys_lie_beyond(
    jira: InMemoryJira, finder: IssueFinder
) -> None:
    ours = uuid4()
    jira.create_issue(someone_elses())  # DEMO-1
    gap(jira, PROBE_MISSES + PROBE_CONCURRENCY)
    number = 2 + PROBE_MISSES + PROBE_CONCURRENCY
    assert jira.create_issue(marked(ours)).key == f"DEMO-{number}"

    assert finder.scan(1, wanted(ours)) == []  # the gap looks like the end of the project
    assert keys_found(finder.scan(1, wanted(ours), upto=number)) == {ours: f"DEMO-{number}"}


def test_a_scan_leaves_an_issue_moved_out_of_the_project_and_reads_on(
    jira: InMemoryJira, finder: IssueFinder
) -> None:
    moved, stayed = uuid4(), uuid4()
    jira.create_issue(marked(moved))  # DEMO-1, moved to TF: its old key answers as TF-1
    jira.create_issue(marked(stayed))  # DEMO-2
    assert jira.move_issue("DEMO-1", "TF") == "TF-1"
    assert jira.get_issue("DEMO-1", ("labels",)).key == "TF-1"
    assert keys_found(finder.scan(0, wanted(moved, stayed))) == {stayed: "DEMO-2"}


def test_a_ticket_marked_on_two_issues_is_adopted_once_the_first(
    jira: InMemoryJira, finder: IssueFinder
) -> None:
    ours = uuid4()
    jira.create_issues([marked(ours), marked(ours)])
    assert len(finder.scan(0, wanted(ours))) == 1
    assert keys_found(finder.scan(0, wanted(ours))) == {ours: "DEMO-1"}
    assert len(finder.search(wanted(ours))) == 1
    assert keys_found(finder.search(wanted(ours))) == {ours: "DEMO-1"}


# --- the search: the second source ---------------------------------------------------------


def test_the_search_finds_marks_anywhere_in_the_project_in_chunks(
    jira: InMemoryJira, finder: IssueFinder
) -> None:
    tickets = [uuid4() for _ in range(SEARCH_CHUNK + 5)]  # two JQL queries
    jira.create_issues([marked(t) for t in tickets[:45]])
    jira.create_issues([someone_elses(f"n{n}") for n in range(3)])
    jira.create_issue(NewIssue("TF", "other project", labels=(export_label(tickets[-1]),)))
    found = keys_found(finder.search(wanted(*tickets)))
    assert found == {t: f"DEMO-{n}" for n, t in enumerate(tickets[:45], 1)}
    assert finder.scan(10, wanted(tickets[0])) == []  # below the watermark: the search only


def test_the_search_does_not_see_what_its_index_has_not_caught_up_with(
    jira: InMemoryJira, finder: IssueFinder
) -> None:
    ours = uuid4()
    jira.faults(search_lag_ms=FIVE_MINUTES_MS)
    jira.create_issue(marked(ours))
    assert finder.search(wanted(ours)) == []
    assert keys_found(finder.scan(0, wanted(ours))) == {ours: "DEMO-1"}


# --- attachments and links, read back by key -------------------------------------------------


def test_attached_reads_the_issues_attachments_by_name(
    jira: InMemoryJira, finder: IssueFinder
) -> None:
    key = jira.create_issue(someone_elses()).key
    assert not finder.attached(key, "a-description.md")
    jira.add_attachment(key, "a-description.md", b"text", "text/markdown")
    assert finder.attached(key, "a-description.md")
    assert not finder.attached(key, "b-description.md")


def test_blockers_are_the_inward_blocks_links_only(jira: InMemoryJira, finder: IssueFinder) -> None:
    a, b, c, d = (jira.create_issue(someone_elses(n)).key for n in "abcd")
    jira.link_blocks(a, c)  # a blocks c
    jira.create_link("Relates", b, c)  # not a dependency
    jira.link_blocks(c, d)  # c blocks d: an outward link of c
    assert finder.blockers_of(c) == [a]
    assert finder.blockers_of_each([c, d, a], 2) == [[a], [c], []]
    assert finder.blockers_of_each([], 2) == []
    assert len(finder.blocks_link_ids(a, c)) == 1
    assert finder.blocks_link_ids(b, c) == []


# --- whole runs ------------------------------------------------------------------------------


@dataclass
class Backlog:
    """A session on the in-memory event store, ready to export to the fake Jira."""

    app: TicketForge
    jira: InMemoryJira
    session_id: UUID
    runner: ExportRunner

    def request(self) -> UUID:
        export, already, _ = self.app.request_export(self.session_id, ALICE)
        assert not already
        return export.id

    def export(self, export_id: UUID) -> Export:
        return self.app.load_export(export_id)

    def tickets(self, export_id: UUID) -> list[UUID]:
        return [UUID(str(p["ticket_id"])) for p in self.export(export_id).plan]

    def edges(self, export_id: UUID) -> set[tuple[UUID, UUID]]:
        """(dependent, dependency) of every dependency in the plan."""
        plan = self.export(export_id).plan
        return {(UUID(str(p["ticket_id"])), UUID(str(d))) for p in plan for d in p["depends_on"]}

    def found_by_search(self, export_id: UUID) -> int:
        events = self.app.events.get(export_id)
        return sum(1 for e in events if isinstance(e, Export.TicketExported) and e.found_by_search)

    def assert_each_ticket_once(self, export_id: UUID) -> None:
        """Exactly one issue in Jira per ticket, the one recorded."""
        export = self.export(export_id)
        in_jira = {t: self.jira.keys_labelled(export_label(t)) for t in self.tickets(export_id)}
        assert in_jira == {t: [issue.key] for t, issue in export.issues.items()}

    def assert_links_once(self, export_id: UUID) -> None:
        """One "Blocks" link per dependency, the dependency blocking the dependent."""
        issues = self.export(export_id).issues
        wanted = sorted((issues[dep].key, issues[t].key) for t, dep in self.edges(export_id))
        assert sorted(self.jira.blocks_links()) == wanted


def bundle(name: str, *depends_on: str) -> InventoryEntity:
    return InventoryEntity(
        config_name=f"node.type.{name}",
        kind=Kind.BUNDLES,
        label=name.title(),
        attributes={"entity_type": "node", "machine_name": name},
        depends_on=tuple(f"node.type.{d}" for d in depends_on),
    )


def backlog(
    jira: InMemoryJira,
    entities: Sequence[InventoryEntity],
    *,
    epic_key: str | None = None,
    edits: dict[str, dict[str, Any]] | None = None,
) -> Backlog:
    """Generated offline, edited, ready and validated, as a person would leave it."""
    app = TicketForge(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    session_id = app.create_session(
        name="unit",
        site={"site_name": "Unit"},
        jira_project_key=PROJECT,
        issue_type="Task",
        user=ALICE,
        epic_key=epic_key,
    ).session_id
    files: list[dict[str, object]] = [
        {"file_name": "bundles.csv", "kind": "bundles", "rows": len(entities)}
    ]
    app.upload_inventory(session_id, ParsedInventory(files, list(entities)), ALICE)
    task_id, _, _ = app.request_generation(session_id, "offline", ALICE)
    drafter = OfflineDrafter()
    assert GenerationRunner(app, lambda _: drafter).run(session_id, task_id) == "completed"
    by_name = {t.config_name: t.id for t in app.load_session(session_id).tickets.values()}
    for name, changes in (edits or {}).items():
        app.edit_ticket(session_id, by_name[name], changes, None, ALICE)
    app.mark_ready(session_id, None, True, ALICE)
    assert app.validate_tickets(session_id, None, ALICE).all_passed
    runner = ExportRunner(app, lambda: jira, settle_s=())
    return Backlog(app, jira, session_id, runner)


SMALL_SITE = [
    bundle("article"),
    bundle("page"),
    bundle("event", "article"),
    bundle("venue"),
    bundle("talk", "event", "venue"),
    bundle("speaker", "talk"),
    bundle("sponsor", "event"),
    bundle("news", "article", "page"),
]


@pytest.fixture
def site(jira: InMemoryJira) -> Iterator[Backlog]:
    yield backlog(jira, SMALL_SITE)


def test_an_export_makes_one_issue_per_ticket_and_links_dependencies_as_blocks(
    site: Backlog,
) -> None:
    export_id = site.request()
    assert site.runner.run(export_id) == "completed"
    export = site.export(export_id)
    assert len(export.issues) == len(SMALL_SITE) == site.jira.issues_created
    assert export.links == site.edges(export_id) and len(export.links) == 7
    site.assert_each_ticket_once(export_id)
    site.assert_links_once(export_id)
    assert site.found_by_search(export_id) == 0
    assert export.key_watermark == 0
    assert site.app.load_session(site.session_id).stage == "completed"


def test_a_lost_bulk_answer_behind_a_lagging_search_is_found_by_key_and_not_made_twice(
    site: Backlog,
) -> None:
    site.jira.create_issue(someone_elses("before the export"))  # DEMO-1: the watermark
    site.jira.faults(fail_create_next=1, search_lag_ms=FIVE_MINUTES_MS)
    export_id = site.request()
    assert site.runner.run(export_id) == "completed"
    assert site.jira.issues_created == 1 + len(SMALL_SITE)
    site.assert_each_ticket_once(export_id)
    site.assert_links_once(export_id)
    assert site.found_by_search(export_id) == len(SMALL_SITE)
    export = site.export(export_id)
    assert export.key_watermark == 0  # the search lagged: lower than the truth, never higher
    assert "DEMO-1" not in {i.key for i in export.issues.values()}


def test_a_lost_answer_to_a_later_bulk_create_is_found_after_the_recorded_keys(
    jira: InMemoryJira,
) -> None:
    """Two bulk creates (50, then 10 tickets); the second one's answer is lost: its keys
    are read after the highest recorded one."""
    chain = [bundle(f"b{n:02d}", *([f"b{n - 1:02d}"] if n else [])) for n in range(60)]
    many = backlog(jira, chain)
    jira.faults(fail_create_every=2, search_lag_ms=FIVE_MINUTES_MS)
    export_id = many.request()
    assert many.runner.run(export_id) == "completed"
    assert jira.issues_created == 60
    many.assert_each_ticket_once(export_id)
    many.assert_links_once(export_id)
    assert many.found_by_search(export_id) == 10
    export = many.export(export_id)
    found = {i.key for i in export.issues.values() if i.found_by_search}
    assert found == {f"DEMO-{n}" for n in range(51, 61)}


def test_lost_answers_to_single_creates_are_found_by_key(jira: InMemoryJira) -> None:
    """The epic does not exist: the bulk create refuses every `parent`, so each ticket is
    created alone without it; two of those creates are stored but answered 502."""
    lone = backlog(jira, SMALL_SITE[:4], epic_key="DEMO-999")
    jira.faults(fail_create_next=2, fail_create_status=502, search_lag_ms=FIVE_MINUTES_MS)
    export_id = lone.request()
    assert lone.runner.run(export_id) == "completed"
    assert jira.issues_created == 4
    lone.assert_each_ticket_once(export_id)
    assert lone.found_by_search(export_id) == 2
    fixes = lone.export(export_id).fixes.values()
    assert sorted(f.kind for f in fixes) == ["parent"] * 4  # no fix recorded twice


def test_a_run_that_died_unrecorded_is_adopted_by_the_next_run(site: Backlog) -> None:
    """Run 1 noted the watermark and made the issues, then died before recording any;
    others' issues sit among ours. Run 2, the search 5 minutes behind, reads the keys
    after the watermark and adopts exactly its own."""
    jira = site.jira
    jira.create_issue(someone_elses("before"))  # DEMO-1
    export_id = site.request()
    assert site.runner.run(export_id, "w1", None, lambda: False) == "interrupted"
    first = site.export(export_id)
    assert first.key_watermark == 1 and not first.issues

    tickets = site.tickets(export_id)
    made = [marked(t, session_label(site.session_id)) for t in tickets]
    jira.create_issues(made[:3])  # DEMO-2..4
    jira.create_issue(someone_elses("between, with another export's mark", export_label(uuid4())))
    jira.create_issues(made[3:])  # DEMO-6..
    jira.faults(search_lag_ms=FIVE_MINUTES_MS)

    assert site.runner.run(export_id, "w2") == "completed"
    assert jira.issues_created == 2 + len(tickets)  # nothing made anew
    site.assert_each_ticket_once(export_id)
    site.assert_links_once(export_id)
    export = site.export(export_id)
    assert site.found_by_search(export_id) == len(tickets)
    assert {i.key for i in export.issues.values()}.isdisjoint({"DEMO-1", "DEMO-5"})
    assert export.runs == 2


def test_a_resumed_run_reads_every_key_up_to_its_highest_recorded_one(site: Backlog) -> None:
    """Run 1 recorded one issue of its last bulk create, not the two before it, and died.
    Below them lies a gap longer than PROBE_MISSES (issues someone deleted): run 2 reads
    through it because keys above it are known to exist."""
    jira = site.jira
    export_id = site.request()
    assert site.runner.run(export_id, "w1", None, lambda: False) == "interrupted"
    tickets = site.tickets(export_id)
    gap(jira, PROBE_MISSES + PROBE_CONCURRENCY)  # DEMO-1..13
    unrecorded = jira.create_issues([marked(t) for t in tickets[:2]]).created
    recorded = jira.create_issue(marked(tickets[2]))

    def record(export: Export) -> None:
        export.record_issue(tickets[2], recorded.key, recorded.browse_url, recorded.id, "test")

    site.app.update_export(site.session_id, ALICE, record)
    jira.faults(search_lag_ms=FIVE_MINUTES_MS)  # the search is no help
    assert site.runner.run(export_id, "w2") == "completed"
    site.assert_each_ticket_once(export_id)
    export = site.export(export_id)
    assert [export.issues[t].key for t in tickets[:2]] == [i.key for i in unrecorded.values()]
    assert site.found_by_search(export_id) == 2
    assert jira.issues_created == PROBE_MISSES + PROBE_CONCURRENCY + len(tickets)


def test_an_attachment_a_dead_run_uploaded_is_not_uploaded_again(jira: InMemoryJira) -> None:
    long_text = "\n\n".join(f"Paragraph {n}: " + "words " * 60 for n in range(120))
    long = backlog(jira, SMALL_SITE[:2], edits={"node.type.article": {"analysis": long_text}})
    export_id = long.request()
    assert long.runner.run(export_id, "w1", None, lambda: False) == "interrupted"
    article, page = long.tickets(export_id)
    filename = attachment_filename("node.type.article")
    made = jira.create_issue(marked(article))
    jira.add_attachment(made.key, filename, b"the full description", "text/markdown")
    jira.create_issue(marked(page))

    assert long.runner.run(export_id, "w2") == "completed"
    assert jira.attachment_names(made.key) == [filename]
    assert long.export(export_id).attachments == {article: [filename]}


def test_an_attachment_is_uploaded_once_in_a_fresh_run(jira: InMemoryJira) -> None:
    long_text = "\n\n".join(f"Paragraph {n}: " + "words " * 60 for n in range(120))
    long = backlog(jira, SMALL_SITE[:2], edits={"node.type.article": {"analysis": long_text}})
    export_id = long.request()
    assert long.runner.run(export_id) == "completed"
    article = long.export(export_id).issues[long.tickets(export_id)[0]]
    assert jira.attachment_names(article.key) == [attachment_filename("node.type.article")]


def test_without_a_blocks_link_type_each_dependency_is_a_manual_fix(site: Backlog) -> None:
    site.jira.faults(missing_link_types=["Blocks"])
    export_id = site.request()
    assert site.runner.run(export_id) == "completed"
    export = site.export(export_id)
    assert not export.links and site.jira.blocks_links() == []
    assert [f.kind for f in export.fixes.values()] == ["link"] * len(site.edges(export_id))


def test_a_rejected_account_fails_the_export_for_an_admin_and_creates_nothing(
    site: Backlog,
) -> None:
    site.jira.faults(unauthorized_from_request=1)
    export_id = site.request()
    assert site.runner.run(export_id) == "failed"
    export = site.export(export_id)
    assert export.failure is not None and export.failure.category == "admin_required"
    assert site.jira.issues_created == 0
    assert site.app.load_session(site.session_id).stage == "export_failed"


def test_a_project_the_account_cannot_write_to_fails_the_preflight(jira: InMemoryJira) -> None:
    viewer = jira.as_account("viewer@example.com")
    site = backlog(viewer, SMALL_SITE[:2])
    export_id = site.request()
    assert site.runner.run(export_id) == "failed"
    failure = site.export(export_id).failure
    assert failure is not None and "CREATE_ISSUES" in failure.message
    assert jira.issues_created == 0


def test_a_reexport_run_that_died_unrecorded_is_adopted_by_the_next_run(jira: InMemoryJira) -> None:
    """After a completed export the inventory gains an entity; the re-export's first run
    makes its issue and dies before recording it; the next one, behind a lagging search,
    must adopt it."""
    site = backlog(jira, SMALL_SITE[:3])
    assert site.runner.run(site.request()) == "completed"
    app, session_id = site.app, site.session_id
    revised = ParsedInventory(
        [{"file_name": "bundles.csv", "kind": "bundles", "rows": 4}],
        [*SMALL_SITE[:3], bundle("extra")],
    )
    app.upload_inventory(session_id, revised, ALICE)
    task_id, _, _ = app.request_generation(session_id, "offline", ALICE)
    drafter = OfflineDrafter()
    assert GenerationRunner(app, lambda _: drafter).run(session_id, task_id) == "completed"
    app.mark_ready(session_id, None, True, ALICE)
    assert app.validate_tickets(session_id, None, ALICE).all_passed

    export_id = site.request()
    assert site.runner.run(export_id, "w1", None, lambda: False) == "interrupted"
    (new,) = [t for t in site.tickets(export_id) if not site.export(export_id).issues.get(t)]
    jira.create_issue(marked(new, session_label(session_id)))  # made by run 1, not recorded
    jira.faults(search_lag_ms=FIVE_MINUTES_MS)
    assert site.runner.run(export_id, "w2") == "completed"
    assert jira.keys_labelled(export_label(new)) == ["DEMO-4"]
