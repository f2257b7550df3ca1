"""What the browser tests share: signing in, the API behind the page, axe, screenshots."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from tests.browser.conftest import AXE, Served

SMALL_SITE = Path(__file__).resolve().parents[2] / "samples" / "small-site" / "inventory"
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
_AXE_SOURCE: str | None = None


def open_page(browser: Any, served: Served, user: str, viewport: dict[str, int] = WIDE) -> Any:
    """A new browser context (its own sessionStorage), signed in as `user` through the form."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(f"{served.url}/")
    page.get_by_label("API token").fill(served.tokens[user])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Sessions", exact=True).wait_for()
    return page


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical WCAG A/AA violations axe-core finds in the page as it is."""
    global _AXE_SOURCE
    if _AXE_SOURCE is None:
        _AXE_SOURCE = AXE.read_text(encoding="utf-8")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_AXE_SOURCE + "\n;undefined")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {
                runOnly: {type: 'tag', values: [
                    'wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
                resultTypes: ['violations'],
            });
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def check_screen(page: Any, shots: Path, name: str, full_page: bool = False) -> None:
    """Save a screenshot of the screen and assert axe finds nothing serious in it."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=full_page)
    violations = axe_violations(page)
    (shots / f"{name}.axe.json").write_text(json.dumps(violations, indent=1))
    assert violations == [], f"{name}: {json.dumps(violations, indent=1)}"
    assert page.errors == [], page.errors


def csv_parts(directory: Path = SMALL_SITE) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("files", (p.name, p.read_bytes(), "text/csv")) for p in sorted(directory.glob("*.csv"))
    ]


def reviewed_session(
    client: httpx.Client, name: str, parts: list[Any] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """A session with its tickets drafted (offline), made through the API: (id, tickets)."""
    session = client.post(
        "/api/sessions",
        json={"name": name, "site_context": {"site_name": "Small"}, "jira_project_key": "DEMO"},
    )
    assert session.status_code == 201, session.text
    session_id = session.json()["id"]
    upload = client.post(f"/api/sessions/{session_id}/files", files=parts or csv_parts())
    assert upload.status_code == 201, upload.text
    assert client.post(f"/api/sessions/{session_id}/process").status_code == 202
    deadline = time.monotonic() + 120
    while True:
        status = client.get(f"/api/sessions/{session_id}/process/status").json()
        if status["status"] in ("completed", "failed", "cancelled"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["status"] == "completed", status
    tickets = client.get(f"/api/sessions/{session_id}/tickets").json()["tickets"]
    return session_id, tickets


def drop_files(page: Any, selector: str, files: list[tuple[str, str]]) -> None:
    """Drag-and-drop these (name, text) files onto the element, as a person would."""
    page.evaluate(
        """([selector, files]) => {
            const data = new DataTransfer();
            for (const [name, text] of files) {
                data.items.add(new File([text], name, {type: 'text/csv'}));
            }
            const zone = document.querySelector(selector);
            for (const type of ['dragenter', 'dragover', 'drop']) {
                const init = {dataTransfer: data, bubbles: true, cancelable: true};
                zone.dispatchEvent(new DragEvent(type, init));
            }
        }""",
        [selector, files],
    )


def server_progress(
    served: Served, session_id: str, user: str, until_type: str
) -> list[dict[str, Any]]:
    """Every progress message of the session, read from its SSE stream from the start,
    up to the first of type `until_type` (whether the server ends the stream after each
    terminal message or keeps it open)."""
    messages: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {served.tokens[user]}"}
    url = f"{served.direct}/api/sessions/{session_id}/progress/stream"
    last = "0"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with httpx.stream("GET", url, params={"after": last}, headers=headers, timeout=30) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("id:"):
                    last = line[3:].strip()
                elif line.startswith("data:"):
                    message = json.loads(line[5:])
                    messages.append(message)
                    if message.get("type") == until_type:
                        return messages
    raise AssertionError(f"no {until_type} message in 60 s: {messages[-3:]}")
