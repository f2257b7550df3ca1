"""The sandbox's pages: `/browse/KEY` (an issue as a person checks it), plain HTML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from infrastructure.jira_sandbox.state import SandboxDep
from infrastructure.jira_sandbox.store import (
    ISSUE_TYPES,
    STATUSES,
    AttachmentRow,
    IssueRow,
    LinkView,
)
from infrastructure.jira_sandbox.wiki_render import wiki_to_adf

_BLOCKS = {
    "paragraph": "p",
    "bulletList": "ul",
    "orderedList": "ol",
    "listItem": "li",
    "blockquote": "blockquote",
    "table": "table",
    "tableRow": "tr",
    "tableHeader": "th",
    "tableCell": "td",
    "panel": "div",
}

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #172b4d; }
.key { color: #5e6c84; } .label { background: #dfe1e6; border-radius: 3px; padding: 0 .4em; }
pre { background: #f4f5f7; padding: .5em; overflow-x: auto; } dt { font-weight: bold; }
"""


def adf_to_html(node: Mapping[str, Any] | str | None) -> str:
    """ADF rendered plainly: structure kept, marks dropped, unknown nodes by their children.
    A Data Center description (wiki markup) is rendered through its structure."""
    if node is None:
        return "<p><em>No description</em></p>"
    if isinstance(node, str):  # wiki markup, read back as Jira's renderer reads it
        return adf_to_html(wiki_to_adf(node))
    kind = node.get("type")
    children = "".join(
        adf_to_html(child) for child in node.get("content") or () if isinstance(child, Mapping)
    )
    if kind == "text":
        return escape(str(node.get("text", "")))
    if kind == "hardBreak":
        return "<br>"
    if kind == "rule":
        return "<hr>"
    if kind == "heading":
        level = min(max(int((node.get("attrs") or {}).get("level", 2)), 1), 6)
        return f"<h{level}>{children}</h{level}>"
    if kind == "codeBlock":
        return f"<pre><code>{children}</code></pre>"
    tag = _BLOCKS.get(str(kind))
    return f"<{tag}>{children}</{tag}>" if tag else children


def render_issue_page(
    issue: IssueRow,
    *,
    issue_type: str,
    status: str,
    assignee: str | None,
    links: Sequence[LinkView],
    attachments: Sequence[AttachmentRow],
) -> str:
    labels = " ".join(f'<span class="label">{escape(x)}</span>' for x in issue.labels) or "None"
    link_items = "".join(
        f'<li>{escape(link.phrase)} <a href="/browse/{escape(link.other.key)}">'
        f"{escape(link.other.key)}</a> {escape(link.other.summary)}</li>"
        for link in links
    )
    attachment_items = "".join(
        f'<li><a href="/secure/attachment/{a.id}/{quote(a.filename)}">{escape(a.filename)}</a>'
        f" ({a.size} bytes)</li>"
        for a in attachments
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>[{escape(issue.key)}] {escape(issue.summary)}</title><style>{_STYLE}</style></head>
<body>
<p class="key">{escape(issue.project_key)} /
<a href="/browse/{escape(issue.key)}">{escape(issue.key)}</a></p>
<h1 id="summary">{escape(issue.summary)}</h1>
<dl>
<dt>Type</dt><dd>{escape(issue_type)}</dd>
<dt>Status</dt><dd>{escape(status)}</dd>
<dt>Assignee</dt><dd>{escape(assignee or "Unassigned")}</dd>
<dt>Labels</dt><dd id="labels">{labels}</dd>
</dl>
<h2>Description</h2>
<div id="description">{adf_to_html(issue.description)}</div>
<h2>Issue links</h2>
<ul id="links">{link_items or "<li>None</li>"}</ul>
<h2>Attachments</h2>
<ul id="attachments">{attachment_items or "<li>None</li>"}</ul>
</body></html>
"""


# -- the pages ------------------------------------------------------------------------------

pages = APIRouter(include_in_schema=False)


@pages.get("/", response_class=HTMLResponse)
def index(sandbox: SandboxDep) -> str:
    rows = "".join(
        f'<li><a href="/browse/{i.key}">{i.key}</a></li>' for i in sandbox.store.recent_issues(50)
    )
    return (
        "<!doctype html><title>Jira sandbox</title><h1>Jira sandbox</h1>"
        f"<p>Projects: DEMO, TF. Recent issues:</p><ul>{rows or '<li>None yet</li>'}</ul>"
    )


@pages.get("/browse/{key}", response_class=HTMLResponse)
def browse(key: str, sandbox: SandboxDep) -> HTMLResponse:
    issue = sandbox.store.issue(key)
    if issue is None:
        return HTMLResponse(f"<h1>{escape(key.upper())} does not exist</h1>", status_code=404)
    assignee = sandbox.store.user(issue.assignee) if issue.assignee else None
    html = render_issue_page(
        issue,
        issue_type=next(t.name for t in ISSUE_TYPES if t.id == issue.issue_type_id),
        status=next(s.name for s in STATUSES if s.id == issue.status_id),
        assignee=assignee.display_name if assignee else None,
        links=sandbox.store.links_of(issue.id),
        attachments=sandbox.store.attachments(issue.id),
    )
    return HTMLResponse(html)


@pages.get("/secure/attachment/{attachmentId}/{filename}")
def download(attachmentId: int, filename: str, sandbox: SandboxDep) -> Response:
    found = sandbox.store.attachment_content(attachmentId)
    if found is None:
        return Response("Not found", status_code=404)
    row, content = found
    return Response(content, media_type=row.mime_type)
