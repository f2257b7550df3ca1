"""The review console: static HTML, CSS and ES modules served by the API process itself.

It is one more client of the public API (no private routes): `/` is its page and
`/console/...` its assets; every other path stays the API's. Nothing is fetched from
the network at run time and there is no build step (see `static/README.txt`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"

# The console talks to this origin only; inline scripts and styles are not needed.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def install_console(app: FastAPI) -> None:
    """Serve the console at `/` and its assets under `/console/` (after the API's routes)."""

    def index() -> FileResponse:
        return FileResponse(
            STATIC / "index.html",
            headers={"Content-Security-Policy": CONSOLE_CSP, "Cache-Control": "no-cache"},
        )

    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.mount("/console", StaticFiles(directory=STATIC), name="console")
