"""The review console in a real browser (Debian's chromium through Playwright) against a
real `ticketforge serve`: the whole flow on the small-site sample, a concurrent edit
(the 409 dialog), the progress stream cut mid-export, admin and non-admin views, a
1,200-ticket session. Each main screen is screenshotted and scanned by axe-core."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from bench.sites import university_site
from tests.browser.conftest import Served
from tests.browser.helpers import (
    PHONE,
    SMALL_SITE,
    check_screen,
    drop_files,
    open_page,
    reviewed_session,
    server_progress,
)

pytestmark = [pytest.mark.browser, pytest.mark.nats, pytest.mark.slow, pytest.mark.timeout(300)]


def option_value(page: Any, select: str, text: str) -> str:
    value = page.locator(f"{select} option", has_text=text).first.get_attribute("value")
    assert value, text
    return str(value)


def test_the_whole_flow_from_upload_to_a_resolved_manual_fix(
    browser: Any, served: Served, screenshots: Path
) -> None:
    page = open_page(browser, served, "alice")
    check_screen(page, screenshots, "01-sessions")

    # Create a session.
    page.get_by_label("Session name").fill("Small site review")
    page.get_by_label("Site name").fill("Small site")
    page.get_by_label("Jira project key").fill("DEMO")
    page.get_by_role("button", name="Create session").click()
    page.locator("#dropzone").wait_for()
    session_id = page.url.rsplit("/s/", 1)[1]

    # Upload by drag-and-drop: a bad file is refused, its problem shown beside it.
    good = [(p.name, p.read_text()) for p in sorted(SMALL_SITE.glob("*.csv"))]
    drop_files(page, "#dropzone", [("bundles.csv", "garbage\n"), *good[1:]])
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator('#upload-files li[data-file="bundles.csv"]')).to_contain_text("refused")
    expect(page.locator('#upload-files li[data-file="bundles.csv"]')).to_contain_text("row")
    expect(page.locator("#upload-result")).to_contain_text("Nothing was imported")
    drop_files(page, "#dropzone", good)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-result")).to_contain_text("Uploaded: 49 entities")

    # Generate, watching the live progress.
    page.get_by_role("button", name="Generate tickets").click()
    expect(page.locator("#generation-progress-text")).to_contain_text("100%", timeout=60_000)
    expect(page.locator("#generation-status")).to_contain_text("completed")
    check_screen(page, screenshots, "02-inventory-and-generation")

    # Review with the keyboard alone: / to search, Enter back to the list, j/k, e to edit.
    page.get_by_role("link", name="Review", exact=True).click()
    expect(page.locator("#ticket-count")).to_contain_text("49 of 49 tickets shown")
    page.keyboard.press("/")
    page.keyboard.type("node.type.article")
    expect(page.locator("#ticket-count")).to_contain_text("1 of 49 tickets shown")
    page.keyboard.press("Enter")
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("e")
    expect(page.locator("#editor-title")).to_contain_text("Build the Article content type")

    # Edit: the preview (the ADF the server builds) follows the Markdown before saving.
    expect(page.locator("#jira-preview .summary")).to_have_text(
        "Build the Article content type (node.type.article)"
    )
    analysis = page.get_by_label("Analysis", exact=True)
    analysis.fill(analysis.input_value() + "\n\n**Reviewed** by the lead developer")
    expect(page.locator("#jira-preview strong", has_text="Reviewed")).to_be_visible()
    page.get_by_label("Priority").fill("Urgent")  # not a DEMO priority: a manual fix later
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#editor-message")).to_contain_text("Saved (version")

    # A dependency that would make a cycle is refused, and why; a good one comes and goes.
    body_field = option_value(
        page, "#add-dependency", "Add the Body field to the Article content type"
    )
    page.get_by_label("Add a dependency").select_option(body_field)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#dependency-error")).to_contain_text("cycle")
    style = option_value(page, "#add-dependency", "Create the Large (480\u00d7480) image style")
    page.get_by_label("Add a dependency").select_option(style)
    page.get_by_role("button", name="Add", exact=True).click()
    remove = page.get_by_role("button", name="Remove the dependency on", exact=False)
    expect(remove).to_have_count(1)
    check_screen(page, screenshots, "03-review", full_page=True)
    remove.click()
    expect(page.locator("#dependencies")).to_contain_text("No dependencies.")

    # Reorder within the person's order.
    client = served.client("alice")
    before = [
        t["id"]
        for t in client.get(f"/api/sessions/{session_id}/tickets?order=user").json()["tickets"]
    ]
    article = page.url.rsplit("/", 1)[1]
    page.get_by_role("button", name="Move later").click()
    expect(page.locator("#status")).to_contain_text("Moved later")
    after = [
        t["id"]
        for t in client.get(f"/api/sessions/{session_id}/tickets?order=user").json()["tickets"]
    ]
    assert after.index(article) == before.index(article) + 1

    # Ready: one ticket by the keyboard, then every ticket shown.
    page.keyboard.press("Escape")
    page.get_by_label("Search").fill("")
    page.keyboard.press("Enter")
    page.keyboard.press("r")
    expect(page.locator("#ticket-count")).to_contain_text("(1 ready;")
    page.get_by_role("button", name="Mark the shown tickets ready").click()
    expect(page.locator("#ticket-count")).to_contain_text("(49 ready;")

    # Validate, check the project, export with live progress.
    page.get_by_role("link", name="Validate & export").click()
    page.get_by_role("button", name="Validate all tickets").click()
    expect(page.locator("#validation-result")).to_contain_text("49 of 49 tickets passed")
    page.get_by_role("button", name="Check Jira project DEMO").click()
    expect(page.locator("#project-verdict")).to_contain_text("can take the export")
    expect(page.locator("#project-result")).to_contain_text("Urgent")
    served.jira_latency(400)  # an export slow enough to watch, and to cut
    page.get_by_role("button", name="Export", exact=True).click()
    steps = page.locator("#export-steps li")
    expect(steps.nth(2)).to_be_attached()
    page.screenshot(path=str(screenshots / "04-export-in-progress.png"))

    # The network blips mid-export: the bar resumes, no step lost or repeated.
    assert steps.last.get_attribute("data-type") == "export_progress", "the export ended too soon"
    assert served.proxy.cut() >= 1
    expect(page.locator("#export-live")).to_have_attribute("data-resumed", "1")
    check_screen(page, screenshots, "04-export-resumed")
    served.jira_latency(0)
    expect(page.get_by_role("heading", name="Export summary")).to_be_visible(timeout=60_000)
    expect(steps.last).to_have_attribute("data-type", "export_complete")
    shown = [int(s) for s in steps.evaluate_all("els => els.map(e => e.dataset.seq)")]
    sent = [
        m["sequence"]
        for m in server_progress(served, session_id, "alice", "export_complete")
        if m["kind"] == "export"
    ]
    assert shown == sent, (shown, sent)

    # The summary: links to the Jira issues; the manual fix, resolved.
    issues = page.locator("#jira-issues a")
    expect(issues).to_have_count(49)
    assert "/browse/DEMO-" in str(issues.first.get_attribute("href"))
    fix = page.locator("#manual-fixes li", has_text="priority")
    fix.get_by_role("textbox").fill("Set to Highest by hand")
    fix.get_by_role("button", name="Resolve").click()
    expect(page.locator("#manual-fixes")).to_contain_text(
        "resolved by alice: Set to Highest by hand"
    )
    check_screen(page, screenshots, "05-export-summary", full_page=True)
    fixes = client.get(f"/api/sessions/{session_id}/export/manual-fixes").json()
    assert fixes["open"] == 0 and fixes["total"] == 1


def test_a_concurrent_edit_opens_the_409_dialog_with_both_versions(
    browser: Any, served: Served, screenshots: Path
) -> None:
    client = served.client("alice")
    session_id, tickets = reviewed_session(client, "Concurrent edits")
    ticket = tickets[0]
    pages = [open_page(browser, served, "alice") for _ in range(2)]
    for page in pages:
        page.goto(f"{served.url}/#/s/{session_id}/review/{ticket['id']}")
        expect(page.get_by_label("Title", exact=True)).to_have_value(ticket["title"])
    first, second = pages
    first.get_by_label("Title", exact=True).fill("Title from the first tab")
    first.get_by_role("button", name="Save", exact=True).click()
    expect(first.locator("#editor-message")).to_contain_text("Saved")

    second.get_by_label("Title", exact=True).fill("Title from the second tab")
    second.get_by_role("button", name="Save", exact=True).click()
    dialog = second.get_by_role("dialog")
    expect(dialog).to_contain_text("Someone else changed this ticket")
    expect(dialog).to_contain_text("Title from the first tab")
    expect(dialog).to_contain_text("Title from the second tab")
    check_screen(second, screenshots, "06-conflict-dialog")
    dialog.get_by_role("button", name="Keep mine (save over theirs)").click()
    expect(second.locator("#editor-message")).to_contain_text("Saved")
    url = f"/api/sessions/{session_id}/tickets/{ticket['id']}"
    assert client.get(url).json()["title"] == "Title from the second tab"

    # The other choice: take theirs, and nothing of mine is saved.
    first.get_by_label("Title", exact=True).fill("A late edit")
    first.get_by_role("button", name="Save", exact=True).click()
    first.get_by_role("dialog").get_by_role("button", name="Take theirs").click()
    expect(first.get_by_label("Title", exact=True)).to_have_value("Title from the second tab")
    assert client.get(url).json()["title"] == "Title from the second tab"


def test_validation_failures_link_to_their_tickets(browser: Any, served: Served) -> None:
    client = served.client("alice")
    session_id, tickets = reviewed_session(client, "Validation failures")
    ticket = tickets[5]
    url = f"/api/sessions/{session_id}/tickets/{ticket['id']}"
    broken = client.patch(  # another client wrote a title Jira refuses: two lines
        url, json={"title": "First line\nsecond line"}, headers={"If-Match": '"1"'}
    )
    assert broken.status_code == 200, broken.text

    page = open_page(browser, served, "alice")
    page.goto(f"{served.url}/#/s/{session_id}/export")
    page.get_by_role("button", name="Validate all tickets").click()
    failures = page.locator("#validation-failures li")
    expect(failures).to_have_count(1)
    expect(failures).to_contain_text("single line")
    failures.get_by_role("link").click()
    expect(page.locator("#editor-title")).to_contain_text("First line")
    # The saved ticket's validation failed; a text field cannot hold the line break, so
    # the preview of what it shows passes, and saving it is the fix.
    expect(page.locator("#jira-preview")).to_contain_text("validation failed")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#editor-message")).to_contain_text("Saved")
    expect(page.locator("#preview-check")).to_contain_text("Check passed")
    assert "\n" not in client.get(url).json()["title"]


def test_a_non_admin_sees_no_admin_views_and_the_api_refuses_them(
    browser: Any, served: Served
) -> None:
    session_id, _ = reviewed_session(served.client("bob"), "Bob's session")
    page = open_page(browser, served, "bob")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    page.goto(f"{served.url}/#/s/{session_id}")
    expect(page.get_by_role("link", name="Review", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)
    for hidden in ("#/admin", f"#/s/{session_id}/audit"):
        page.goto(f"{served.url}/{hidden}")
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    statuses = page.evaluate(
        """async (paths) => {
            const auth = {Authorization: 'Bearer ' + sessionStorage.getItem('ticketforge.token')};
            const out = [];
            for (const path of paths) out.push((await fetch(path, {headers: auth})).status);
            return out;
        }""",
        ["/api/admin/projections", f"/api/admin/sessions/{session_id}/events"],
    )
    assert statuses == [403, 403]
    # Signing out forgets the token: the next screen is the sign-in form.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('ticketforge.token')") is None


def test_an_admin_sees_the_audit_timeline_and_a_ticket_history_diff(
    browser: Any, served: Served, screenshots: Path
) -> None:
    client = served.client("alice")
    session_id, tickets = reviewed_session(client, "Audited session")
    ticket = tickets[3]
    assert "## What to build\n" in ticket["analysis"]
    analysis = ticket["analysis"].replace("## What to build\n", "## What to build first\n", 1)
    edited = client.patch(
        f"/api/sessions/{session_id}/tickets/{ticket['id']}",
        json={"analysis": analysis},
        headers={"If-Match": f'"{ticket["version"]}"'},
    )
    assert edited.status_code == 200, edited.text

    page = open_page(browser, served, "root")
    page.get_by_role("link", name="Admin").click()
    expect(page.locator("#projections table")).to_contain_text("events")
    check_screen(page, screenshots, "07-admin-projections")
    first_projection = page.locator("#projections tbody tr").first
    first_projection.get_by_role("button", name="Rebuild").click()
    expect(page.locator("#status")).to_contain_text("Rebuild of")

    page.goto(f"{served.url}/#/s/{session_id}/audit")
    expect(page.get_by_role("heading", name="Session timeline")).to_be_visible()
    expect(page.locator(".timeline").first).to_contain_text("TicketEdited")
    expect(page.locator(".timeline").first).to_contain_text("alice")
    page.get_by_label("Ticket", exact=True).select_option(ticket["id"])
    page.get_by_role("button", name="Show the difference").click()
    expect(page.locator("#history-diff .diff .add").first).to_have_text("## What to build first")
    expect(page.locator("#history-diff .diff .del").first).to_have_text("## What to build")
    expect(page.locator("#history-diff .diff .same").first).to_be_attached()
    expect(page.locator("#history-diff")).to_contain_text("TicketEdited by alice")
    check_screen(page, screenshots, "08-audit-diff")


def test_1200_tickets_list_and_filter_in_the_browser(
    browser: Any, served: Served, screenshots: Path
) -> None:
    """The figures are logged (and saved as performance.json), not asserted by time."""
    parts = [("files", (f.name, f.content, "text/csv")) for f in university_site()]
    session_id, tickets = reviewed_session(served.client("alice"), "University", parts)
    assert len(tickets) >= 1_100
    page = open_page(browser, served, "alice")
    started = time.perf_counter()
    page.goto(f"{served.url}/#/s/{session_id}/review")
    expect(page.locator("#ticket-count")).to_contain_text(f"{len(tickets)} of {len(tickets)}")
    opened_s = time.perf_counter() - started
    figures: dict[str, Any] = {"tickets": len(tickets), "open_review_s": round(opened_s, 3)}
    figures["load_and_list_ms"] = float(
        page.locator("#ticket-list").get_attribute("data-load-ms") or 0
    )
    figures["of_which_fetch_ms"] = float(
        page.locator("#ticket-list").get_attribute("data-fetch-ms") or 0
    )
    figures["first_filter_ms"] = float(
        page.locator("#ticket-list").get_attribute("data-filter-ms") or 0
    )
    searches = {}
    for text in ("event", "field_", "views.view", "zzz-no-match", ""):
        searches[text or "(cleared)"] = page.evaluate(
            """(text) => new Promise((done) => {
                const search = document.getElementById('ticket-search');
                const t0 = performance.now();
                search.value = text;
                search.dispatchEvent(new Event('input'));
                requestAnimationFrame(() => setTimeout(() => done({
                    filter_ms: Number(document.getElementById('ticket-list').dataset.filterMs),
                    to_next_frame_ms: Math.round((performance.now() - t0) * 10) / 10,
                    shown: document.getElementById('ticket-count').textContent,
                })));
            })""",
            text,
        )
    figures["searches"] = searches
    page.get_by_label("Group", exact=True).select_option(index=1)
    figures["group_filter_ms"] = float(
        page.locator("#ticket-list").get_attribute("data-filter-ms") or 0
    )
    page.locator("#ticket-list").focus()
    for _ in range(40):
        page.keyboard.press("j")
    assert page.locator('#ticket-list [aria-selected="true"]').count() == 1
    rows_in_page = page.locator("#ticket-list .vrow").count()
    assert rows_in_page < 60, rows_in_page  # a virtual list: only the visible rows exist
    figures["rows_in_page"] = rows_in_page
    (screenshots / "performance.json").write_text(json.dumps(figures, indent=1))
    print("1,200-ticket review:", json.dumps(figures, indent=1))
    page.keyboard.press("e")
    expect(page.locator("#jira-preview .summary")).to_be_visible()
    page.locator("#ticket-list").focus()
    check_screen(page, screenshots, "09-review-1200", full_page=True)

    # Read on a phone: no screen is wider than it.
    phone = open_page(browser, served, "alice", viewport=PHONE)
    screens = {
        "10-sessions-phone": ("#/sessions", "table"),
        "10-overview-phone": (f"#/s/{session_id}", "#generation-status p"),
        "10-export-phone": (f"#/s/{session_id}/export", "#readiness p"),
        "10-review-phone": (
            f"#/s/{session_id}/review/{tickets[0]['id']}",
            "#jira-preview .summary",
        ),
    }
    for name, (route, ready) in screens.items():
        phone.goto(f"{served.url}/{route}")
        expect(phone.locator(ready).first).to_be_visible()
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        wide = phone.evaluate(
            """(limit) => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > limit + 2).slice(0, 5)
                .map(e => `${e.tagName}#${e.id}.${e.className}`)""",
            PHONE["width"],
        )
        assert width <= PHONE["width"], f"{name}: {width}px wide on a phone: {wide}"
        check_screen(phone, screenshots, name)
