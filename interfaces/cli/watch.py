"""`ticketforge watch SESSION`: live progress bars from the API's SSE stream.

One bar per task (ticket generation, each export run). The stream is re-opened by
itself after any break, with `Last-Event-ID`, so nothing is missed or shown twice.
While live progress is unavailable (503), the REST status read models are shown
instead, and the stream is tried again. It ends with the summary of the task that
finished (complete, failed or cancelled).

It follows the session, not one task: started after ticket generation completed
(before the export is requested), it shows that and waits for the next task (the
export), then shows its bars and ends with its summary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn
from rich.table import Table

TERMINAL = {
    "processing_complete",
    "processing_failed",
    "processing_cancelled",
    "export_complete",
    "export_failed",
}
EXIT_DONE, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


@dataclass
class SseEvent:
    id: int | None = None
    event: str | None = None
    data: dict[str, Any] | None = None


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                yield SseEvent(
                    int(fields["id"]) if fields.get("id", "").isdigit() else None,
                    fields.get("event"),
                    json.loads(fields["data"]),
                )
            fields = {}
        elif not line.startswith(":"):  # a comment: keep-alive
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


@dataclass
class Watcher:
    api: str
    token: str
    session_id: str
    console: Console
    give_up_s: float | None = None  # stop retrying after this long without any answer
    last_id: int | None = None
    final: dict[str, Any] | None = None
    bars: dict[str, TaskID] = field(default_factory=dict)
    sequences: list[int] = field(default_factory=list)  # of the messages shown, in order
    # A generation that had completed before we started: its end is not what we wait for.
    done_before: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def run(self) -> int:
        backoff = 0.5
        quiet_since = time.monotonic()
        with (
            httpx.Client(base_url=self.api.rstrip("/"), headers=self.headers) as client,
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[counts]}"),
                TextColumn("{task.fields[stage]}"),
                console=self.console,
            ) as bars,
        ):
            while self.final is None:
                outcome = self._follow(client, bars)
                if outcome == "refused":
                    return EXIT_REFUSED
                if outcome == "streamed":
                    backoff, quiet_since = 0.5, time.monotonic()
                    continue
                if outcome == "unavailable" and self._from_rest(client, bars):
                    break
                if self.give_up_s is not None and time.monotonic() - quiet_since > self.give_up_s:
                    self.console.print("[red]Giving up: the API has not answered.[/red]")
                    return EXIT_FAILED
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        assert self.final is not None
        self.console.print(summary(self.final))
        return EXIT_DONE if str(self.final.get("type", "")).endswith("complete") else EXIT_FAILED

    def _follow(self, client: httpx.Client, bars: Progress) -> str:
        """Read the stream until it ends; say how it went."""
        headers = {"Accept": "text/event-stream"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        url = f"/api/sessions/{self.session_id}/progress/stream"
        timeout = httpx.Timeout(10.0, read=45.0)  # keep-alives come every 15 s
        got_any = False
        try:
            with client.stream("GET", url, headers=headers, timeout=timeout) as response:
                if response.status_code in (401, 403, 404):
                    response.read()
                    self.console.print(
                        f"[red]Refused ({response.status_code}):[/red] {_detail(response)}"
                    )
                    return "refused"
                if response.status_code == 503:
                    response.read()
                    return "unavailable"
                if response.status_code != 200:
                    response.read()
                    self.console.print(
                        f"[yellow]HTTP {response.status_code}: {_detail(response)}[/yellow]"
                    )
                    return "error"
                for event in parse_sse(response.iter_lines()):
                    if event.event == "unavailable" or event.data is None:
                        return "unavailable"
                    got_any = True
                    first = self.last_id is None and not self.sequences
                    if event.id is not None:
                        self.last_id = event.id
                    if isinstance(event.data.get("sequence"), int):
                        self.sequences.append(event.data["sequence"])
                    self._show(bars, event.data)
                    if event.data.get("type") not in TERMINAL:
                        continue
                    if first and event.data.get("type") == "processing_complete":
                        self.done_before = str(event.data.get("task_id"))
                        self.console.print(
                            "Ticket generation is complete; waiting for the export "
                            "(Ctrl-C to stop)..."
                        )
                        continue
                    if str(event.data.get("task_id")) != self.done_before:
                        self.final = event.data
                        return "streamed"
        except httpx.TransportError as exc:
            self.console.print(
                f"[yellow]Connection lost ({type(exc).__name__}); reconnecting...[/yellow]"
            )
        return "streamed" if got_any else "error"

    def _bar(self, bars: Progress, key: str, description: str) -> TaskID:
        if key not in self.bars:
            self.bars[key] = bars.add_task(description, total=100.0, counts="", stage="")
        return self.bars[key]

    def _show(self, bars: Progress, message: dict[str, Any]) -> None:
        kind = message.get("kind") or "processing"
        key = str(message.get("export_id") or message.get("task_id") or kind)
        description = (
            f"Export to {message.get('current_jira_project') or 'Jira'}"
            if kind == "export"
            else "Drafting tickets"
        )
        counts = f"{message.get('tickets_completed') or 0}/{message.get('total_tickets') or 0}"
        if message.get("tickets_failed"):
            counts += f" ({message['tickets_failed']} failed)"
        bars.update(
            self._bar(bars, key, description),
            completed=float(message.get("progress_percentage") or 0.0),
            counts=counts,
            stage=str(message.get("current_stage") or "")[:60],
        )

    def _from_rest(self, client: httpx.Client, bars: Progress) -> bool:
        """Live progress is off: show the REST status; True when it says the task is over."""
        base = f"/api/sessions/{self.session_id}"
        try:
            stage = client.get(base).json().get("stage")
            if stage in ("exporting", "completed", "export_failed"):
                message = _export_message(client.get(f"{base}/export/status").json())
            else:
                message = _processing_message(client.get(f"{base}/process/status").json())
        except (httpx.TransportError, ValueError, AttributeError):
            return False
        self._show(bars, message)
        if message["type"] in TERMINAL and (
            message["type"] != "processing_complete" or self.done_before is None
        ):
            self.final = message
            return True
        return False


def _processing_message(data: dict[str, Any]) -> dict[str, Any]:
    state = str(data.get("status"))
    outcome = {"completed": "complete", "failed": "failed", "cancelled": "cancelled"}
    return {
        "type": f"processing_{outcome.get(state, 'progress')}",
        "kind": "processing",
        "task_id": data.get("task_id"),
        "progress_percentage": data.get("percentage"),
        "tickets_completed": data.get("generated"),
        "tickets_failed": data.get("failed"),
        "total_tickets": data.get("total"),
        "tickets_created": data.get("generated") if state == "completed" else None,
        "current_stage": f"generation {state} (from the status endpoint)",
    }


def _export_message(data: dict[str, Any]) -> dict[str, Any]:
    state = str(data.get("status"))
    outcome = {"completed": "complete", "failed": "failed"}
    return {
        "type": f"export_{outcome.get(state, 'progress')}",
        "kind": "export",
        "export_id": data.get("export_id"),
        "current_jira_project": data.get("project_key"),
        "progress_percentage": data.get("progress_percentage"),
        "tickets_completed": data.get("tickets_completed"),
        "total_tickets": data.get("total_tickets"),
        "tickets_created": data.get("jira_tickets_created") if state == "completed" else None,
        "dependencies_created": data.get("dependencies_created"),
        "manual_fixes_needed": data.get("manual_fixes_needed"),
        "total_processing_time_minutes": data.get("total_processing_time_minutes"),
        "failed_at_ticket": data.get("failed_at_ticket_order"),
        "error_category": data.get("error_category"),
        "error_message": data.get("user_message"),
        "retry_available": data.get("retry_available") if state == "failed" else None,
        "recovery_actions": data.get("recovery_actions") or [],
        "current_stage": f"export {state} (from the status endpoint)",
    }


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]


def summary(message: dict[str, Any]) -> Table:
    kind = "Export" if message.get("kind") == "export" else "Ticket generation"
    outcome = str(message.get("type", "")).rsplit("_", 1)[-1]
    table = Table(title=f"{kind}: {outcome}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("tickets created", message.get("tickets_created", message.get("tickets_completed"))),
        ("tickets failed", message.get("tickets_failed")),
        ("total tickets", message.get("total_tickets")),
        ("dependencies created", message.get("dependencies_created")),
        ("manual fixes needed", message.get("manual_fixes_needed")),
        ("processing time (min)", message.get("total_processing_time_minutes")),
        ("failed at ticket", message.get("failed_at_ticket")),
        ("error category", message.get("error_category")),
        ("error", message.get("error_message")),
        ("retry available", message.get("retry_available")),
    ]
    for name, value in rows:
        if value is not None:
            table.add_row(name, str(value))
    for action in message.get("recovery_actions") or []:
        table.add_row("next step", str(action))
    return table
