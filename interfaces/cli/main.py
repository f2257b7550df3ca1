"""The `ticketforge` command line."""

from __future__ import annotations

import getpass
import logging
import sys
import threading
import time
from importlib.resources import files as package_files
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from application.admin import record_admin_action
from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from application.progress import Progress as GenerationProgress
from application.users import User, UserExistsError
from interfaces.bootstrap import BUS_PROJECTIONS, Container, bootstrap
from interfaces.cli import operations
from interfaces.settings import Settings

app = typer.Typer(help="Turn a Drupal site's configuration inventory into a Jira backlog.")
users_app = typer.Typer(help="Manage API users.")
app.add_typer(users_app, name="users")
console = Console()


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        console.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@users_app.command("create")
def users_create(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="Give the user the admin role")] = False,
) -> None:
    """Create a user and print its bearer token (alone, on the last line)."""
    container = bootstrap(_settings())
    try:
        user, token = container.users.create(name, admin)
    except UserExistsError as exc:
        console.print(f"[red]{exc}[/red]; choose another name")
        raise typer.Exit(1) from exc
    finally:
        container.close()
    console.print(f"Created user '{user.name}'{' (admin)' if user.is_admin else ''}. Token:")
    typer.echo(token)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Run the API, the projections and a worker in one process (embedded defaults)."""
    import uvicorn

    from interfaces.api.app import create_app

    logging.basicConfig(level=logging.INFO)
    container = bootstrap(_settings())
    uvicorn.run(create_app(container, manage_container=True), host=host, port=port)


def _process_settings() -> Settings:
    """Settings for one process of several: they share NATS_URL, never an embedded server."""
    return _settings().model_copy(update={"embedded_workers": 0, "embedded_nats": False})


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Run the API alone (scale it out; `projector` and `worker` processes do the rest).

    Queries wait for their read models themselves (read-your-writes), so an API
    process needs no projector thread. Set NATS_URL for work hand-off and live progress.
    """
    import uvicorn

    from interfaces.api.app import create_app

    logging.basicConfig(level=logging.INFO)
    container = bootstrap(_process_settings())
    web = create_app(
        container,
        manage_container=True,
        start=lambda c: c.start(projections=False, publish=False, workers=0),
    )
    uvicorn.run(web, host=host, port=port)


@app.command()
def worker(
    threads: Annotated[int, typer.Option(help="Tasks to run at once")] = 1,
) -> None:
    """Run work (ticket generation, exports) handed over by the API until interrupted.

    With NATS_URL the work comes from JetStream (a dead worker's task is redelivered
    to another); without it, from the database (one machine only).
    """
    logging.basicConfig(level=logging.INFO)
    container = bootstrap(_process_settings())
    over_nats = container.live_progress is not None
    # Without NATS the hand-off is a read model: this process must keep it up to date.
    container.start(projections=not over_nats, publish=False, workers=threads)
    via = "NATS JetStream" if over_nats else "the database"
    console.print(f"worker {container.worker.name} running ({via}); Ctrl-C to stop")
    sys.stdout.flush()
    _wait_forever(container)


@app.command()
def setup() -> None:
    """Create the event store's tables, the read models' tables and the NATS streams.

    Safe to run again (everything is created only if missing); exits 0 when done.
    """
    logging.basicConfig(level=logging.WARNING)
    container = bootstrap(_process_settings())
    try:
        container.app.head_position()  # the event store's tables exist from here on
        live = container.live_progress
        if live is not None:
            live.start(follow=False)
            if not live.tasks.wait_connected(30.0):
                console.print(f"[red]NATS unreachable:[/red] {live.tasks.status()['last_error']}")
                raise typer.Exit(1)
            live.tasks.ensure()
            live.publisher.ensure()
        console.print(
            "ready: event store, read models"
            + (", NATS streams" if live is not None else " (no NATS_URL: no streams)")
        )
    finally:
        container.close()


def _projector_container(only: list[str] | None) -> Container:
    try:
        return bootstrap(_process_settings(), only=only)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@app.command()
def projector(
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this projection (repeat for several)"),
    ] = None,
) -> None:
    """Keep the read models up to date until interrupted.

    Several projector processes may run: each projection is led by one of them at a
    time, and another takes over when the leader dies.
    """
    logging.basicConfig(level=logging.INFO)
    container = _projector_container(only)

    def announce(name: str, leading: bool) -> None:
        typer.echo(f"{'leading' if leading else 'standing by for'} {name}")
        sys.stdout.flush()

    container.projector.on_leadership = announce
    live = container.live_progress
    publishes = live is not None and (not only or bool(set(only) & set(BUS_PROJECTIONS)))
    names = list(container.projector.projections)
    if live is not None and publishes:
        live.follower.runner.on_leadership = announce
        names += list(live.follower.runner.projections)
    container.start(projections=True, publish=publishes, workers=0)
    typer.echo(f"projector running for {', '.join(names)}")
    sys.stdout.flush()
    _wait_forever(container)


@app.command()
def replay(
    names: Annotated[
        list[str] | None, typer.Argument(help="Projections to rebuild (default: all)")
    ] = None,
) -> None:
    """Admin: rebuild read models from event 1; each copy is swapped in atomically."""
    logging.basicConfig(level=logging.WARNING)
    container = _projector_container(names)
    try:
        actor = User(name=f"cli:{getpass.getuser()}", is_admin=True)
        table = Table(title="Rebuilt read models")
        for col in ("projection", "position", "seconds", "events/s"):
            table.add_column(col, justify="left" if col == "projection" else "right")
        for name, projection in container.projector.projections.items():
            if not projection.rebuildable:
                console.print(f"[yellow]{name} cannot be rebuilt; skipped[/yellow]")
                continue
            record_admin_action(container.app, actor, "rebuild_projection", name, {"via": "cli"})
            started = time.perf_counter()
            position = container.projector.rebuild(name)
            elapsed = time.perf_counter() - started
            table.add_row(name, str(position), f"{elapsed:.2f}", f"{position / elapsed:,.0f}")
        console.print(table)
    finally:
        container.close()


def _wait_forever(container: Container) -> None:
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        container.close()


def _sample_files(name: str) -> list[UploadedFile]:
    folder = package_files("interfaces.cli").joinpath("samples", name)
    return [
        UploadedFile(name=entry.name, content=entry.read_bytes())
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".csv")
    ]


@app.command()
def demo(
    sample: Annotated[
        str, typer.Option(help="Bundled sample: nestwatch or small-site")
    ] = "nestwatch",
    inventory: Annotated[
        Path | None, typer.Option(help="Use this inventory (CSV dir, config dir or zip) instead")
    ] = None,
    keep_running: Annotated[
        bool,
        typer.Option("--keep-running", help="Leave the API (and the Jira sandbox) up afterwards"),
    ] = False,
    host: Annotated[str, typer.Option(help="With --keep-running: interface")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="With --keep-running: port")] = 8000,
) -> None:
    """The whole workflow on a sample inventory, on embedded defaults."""
    settings = _settings()
    container = bootstrap(settings, start=True)
    try:
        started = time.perf_counter()
        user, token = _demo_user(container)
        session_id = _run_demo(container, sample, inventory, user)
        console.print(
            f"[green]Demo finished in {time.perf_counter() - started:.1f} s.[/green] "
            f"Data directory: {container.settings.data_dir}"
        )
        if keep_running:
            _keep_running(container, host, port, token, session_id)
    finally:
        container.close()


def _demo_user(container: Container) -> tuple[User, str]:
    """A new API user for this demo run (its token is shown with --keep-running)."""
    name = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    for suffix in range(100):
        try:
            return container.users.create(name if not suffix else f"{name}-{suffix}", False)
        except UserExistsError:
            continue
    raise typer.Exit(1)


def _keep_running(container: Container, host: str, port: int, token: str, session_id: UUID) -> None:
    import uvicorn

    from interfaces.api.app import create_app

    base = f"http://{host}:{port}"
    # Plain lines, not a table: every value must survive copy and paste whole.
    console.rule("[bold]The API is up (Ctrl-C to stop)")
    lines = [
        ("API", base),
        ("review console", f"{base}/  (sign in with the token below)"),
        ("interactive docs", f"{base}/docs"),
        ("token", token),
        ("this session", f"{base}/api/sessions/{session_id}"),
        ("try", f'curl -H "Authorization: Bearer {token}" {base}/api/sessions'),
    ]
    if not container.jira.configured:
        lines.append(("Jira sandbox", f"{container.jira.base_url()}/browse/DEMO-1"))
    for label, value in lines:
        console.print(f"[bold]{label:>16}[/bold]  {value}", soft_wrap=True)
    uvicorn.run(create_app(container), host=host, port=port, log_level="warning")


def _run_demo(container: Container, sample: str, inventory: Path | None, user: User) -> UUID:
    console.rule(f"[bold]User '{user.name}' created")
    if inventory is not None:
        from interfaces.bootstrap import read_inventory_path

        files = read_inventory_path(inventory)
    else:
        files = _sample_files(sample)
    parsed = parse_inventory(files)
    sessions = container.views.sessions
    created = container.app.create_session(
        name=f"Demo: {sample if inventory is None else inventory.name}",
        site={
            "site_name": "NestWatch" if sample == "nestwatch" else sample,
            "description": "A citizen-science site where volunteers report bird nests",
            "audience": "volunteer nest monitors and the project's editors",
        },
        jira_project_key="DEMO",
        issue_type="Task",
        default_labels=["ticketforge-demo"],
        user=user,
    )
    session_id = created.session_id
    console.rule(f"[bold]Session {session_id}")
    container.app.upload_inventory(session_id, parsed, user)
    table = Table(title=f"Inventory: {len(parsed.entities)} entities")
    table.add_column("file")
    table.add_column("kind")
    table.add_column("rows", justify="right")
    for f in parsed.files:
        table.add_row(str(f["file_name"]), str(f["kind"]), str(f["rows"]))
    console.print(table)
    for warning in parsed.warnings[:5]:
        console.print(f"[yellow]warning:[/yellow] {warning}")

    done = threading.Event()
    with Progress(
        TextColumn("[bold]Drafting tickets"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("draft", total=100.0, stage="queued")

        def on_progress(p: GenerationProgress) -> None:
            if p.session_id != session_id:
                return
            bar.update(task, completed=p.percentage, stage=p.stage[:50])
            if p.stage.startswith("Generation "):
                done.set()

        container.progress_listeners.append(on_progress)
        task_id, _, result = container.app.request_generation(
            session_id, container.settings.default_generator, user
        )
        container.wrote(result.position)
        while not done.wait(0.5):
            doc = sessions.document(session_id)
            run = sessions.process_status(doc) if doc is not None else None
            if run is not None and run["task_id"] == str(task_id) and run["status"] not in RUNNING:
                break
        container.progress_listeners.remove(on_progress)
    container.settle()
    session = _session(container, session_id)
    run = sessions.process_status(session)
    console.print(
        f"Generation {run['status']}: {run['generated']} tickets drafted by "
        f"'{run['generator']}', {run['failed']} failed"
    )
    ordered = _tickets(container, session)
    listing = Table(title=f"Tickets in export order ({len(ordered)}; first 15 shown)")
    for col in ("#", "group", "entity", "title", "deps"):
        listing.add_column(col)
    for i, t in enumerate(ordered[:15], 1):
        listing.add_row(
            str(i), t["group"], t["config_name"], t["title"][:60], str(len(t["depends_on"]))
        )
    console.print(listing)

    container.app.mark_ready(session_id, None, True, user)
    report = container.app.validate_tickets(session_id, None, user)
    console.print(
        f"ADF validation: {report.passed}/{report.tickets_tested} passed, {report.failed} failed"
    )
    for r in report.results:
        if r.status != "passed":
            console.print(f"  [red]{r.ticket_title}[/red]: {r.error_message} -> {r.suggested_fix}")
    session = _session(container, session_id, report.position)
    console.print(f"Export readiness: {_blockers(container, session) or 'ready'}")
    first = _tickets(container, session)[0]
    edited = container.app.edit_ticket(
        session_id,
        UUID(first["id"]),
        {"title": first["title"] + " (reviewed)"},
        first["version"],
        user,
    )
    session = _session(container, session_id, edited.position)
    console.print(
        f"After editing '{first['config_name']}': validation is "
        f"{sessions.public(session)['validation']['state']}, "
        f"export readiness: {_blockers(container, session)}"
    )
    report = container.app.validate_tickets(session_id, None, user)
    session = _session(container, session_id, report.position)
    console.print(
        f"Re-validated: {report.passed}/{report.tickets_tested} passed; "
        f"export readiness: {_blockers(container, session) or 'ready'}"
    )
    _demo_export(container, session_id, user)
    return session_id


RUNNING = ("requested", "running")


def _session(container: Container, session_id: UUID, position: int | None = None) -> dict[str, Any]:
    """The session as its read model shows it, once that has seen `position` (a command's)."""
    if position is not None:
        container.settle(position)
    doc = container.views.sessions.document(session_id)
    assert doc is not None, f"session {session_id} is not in its read model"
    return doc


def _tickets(container: Container, session: dict[str, Any]) -> list[dict[str, Any]]:
    """The session's tickets in export order."""
    listing = container.views.tickets.list(UUID(session["id"]), session["content_version"])
    return list(listing["tickets"])


def _blockers(container: Container, session: dict[str, Any]) -> list[str]:
    return list(container.views.sessions.export_readiness(session)["blockers"])


def _demo_export(container: Container, session_id: UUID, user: User) -> None:
    where = "Jira" if container.jira.configured else "the bundled Jira sandbox"
    export, _, result = container.app.request_export(session_id, user)
    container.wrote(result.position)
    with Progress(
        TextColumn(f"[bold]Exporting to {where}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("export", total=100.0, stage="queued")

        def on_progress(p: GenerationProgress) -> None:
            if p.task_id == export.task_id:
                bar.update(task, completed=p.percentage, stage=p.stage[:50])

        container.progress_listeners.append(on_progress)
        exports = container.views.exports
        while (status := exports.status(export.id)) is None or status["status"] in RUNNING:
            time.sleep(0.2)
        container.progress_listeners.remove(on_progress)
    container.settle()
    summary = exports.summary(export.id)
    assert summary is not None
    table = Table(title=f"Export summary: {summary['status']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, key in (
        ("issues created", "total_tickets_created"),
        ("dependencies linked", "dependencies_created"),
        ("attachments", "attachments_uploaded"),
        ("manual fixes needed", "manual_fixes_needed"),
        ("processing time (min)", "total_processing_time_minutes"),
    ):
        table.add_row(label, str(summary[key]))
    console.print(table)
    _demo_tables(summary)
    if summary["status"] == "failed":
        console.print(
            f"[red]Export failed ({summary['error_category']}) at ticket "
            f"{summary['failed_at_ticket_order']}:[/red] {summary['user_message']}"
        )
        for action in summary["recovery_actions"]:
            console.print(f"  - {action}")


SHOWN = 20  # rows of each table; the whole lists are in GET .../export/summary


def _demo_tables(summary: dict[str, Any]) -> None:
    issues = summary["jira_tickets"]
    keys = Table(title=f"Jira issues ({len(issues)}; first {min(SHOWN, len(issues))} shown)")
    for col in ("#", "key", "title", "URL"):
        keys.add_column(col, overflow="fold")
    for issue in issues[:SHOWN]:
        keys.add_row(str(issue["order"]), issue["jira_key"], issue["title"][:45], issue["jira_url"])
    console.print(keys)
    links = summary["dependencies"]
    linked = Table(title=f"Dependency links ({len(links)}; first {min(SHOWN, len(links))} shown)")
    for col in ("issue", "link", "issue blocked"):
        linked.add_column(col)
    for link in links[:SHOWN]:
        linked.add_row(link["blocker"], "blocks", link["blocked"])
    console.print(linked)
    fixes = summary["manual_fixes"]
    if not fixes:
        console.print("Manual fixes: none needed.")
        return
    needed = Table(title=f"Manual fixes ({len(fixes)})")
    for col in ("issue", "kind", "what to do"):
        needed.add_column(col, overflow="fold")
    for fix in fixes[:SHOWN]:
        needed.add_row(str(fix["jira_key"] or "-"), fix["issue_type"], fix["recommended_action"])
    console.print(needed)


@app.command()
def watch(
    session: Annotated[UUID, typer.Argument(help="The session to watch")],
    token: Annotated[
        str, typer.Option(envvar="TICKETFORGE_TOKEN", help="Bearer token (or TICKETFORGE_TOKEN)")
    ],
    api: Annotated[str, typer.Option(help="The API's base URL")] = "http://127.0.0.1:8000",
) -> None:
    """Live progress bars for a session's running task, ending with its summary."""
    from interfaces.cli.watch import Watcher

    raise typer.Exit(Watcher(api=api, token=token, session_id=str(session), console=console).run())


@app.command("jira-sandbox")
def jira_sandbox(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
    db: Annotated[Path | None, typer.Option(help="SQLite file for the sandbox's state")] = None,
    flavor: Annotated[
        str,
        typer.Option(
            help="cloud (REST v3, ADF) or datacenter (REST v2, wiki markup, "
            "Bearer demo-bearer-token as a personal access token)"
        ),
    ] = "cloud",
) -> None:
    """Run the bundled Jira sandbox (Jira Cloud, or Jira Data Center with --flavor datacenter)."""
    from interfaces.bootstrap import run_jira_sandbox

    if flavor not in ("cloud", "datacenter"):
        raise typer.BadParameter("--flavor is cloud or datacenter", param_hint="--flavor")
    settings = _settings()
    db_path = db or settings.data_dir / (
        "jira-sandbox.db" if flavor == "cloud" else "jira-sandbox-datacenter.db"
    )
    run_jira_sandbox(host, port, db_path, flavor)


operations.register(app)  # backup, restore, verify, rotate-key

if __name__ == "__main__":
    app()
