"""Live progress latency: event stored -> SSE client received, during a NestWatch export.

The production path end to end, on this machine: the Jira sandbox in a process of its
own (as `bench.export`: Jira Cloud's default limits, 50 ms per request), and one
process like `ticketforge serve` (SQLite event store and read models in a temporary
directory, an embedded `nats-server` with JetStream, the projector, one worker, the
progress follower publishing to JetStream, and the API under uvicorn on a free
loopback port). The SSE clients run in another process (they must not share the
server's GIL), kept cheap so that they measure the server: one asyncio loop with N raw
sockets (HTTP/1.1 by hand, no JSON while receiving) on
`GET /api/sessions/{id}/progress/stream?until=task`, each resuming with `Last-Event-ID`
from the session's current state so that it receives exactly the export's messages.
`--clients 0` runs the export without watchers: the baseline of "watching slows the
work". `--cluster N` runs N clients over two `ticketforge api` processes on PostgreSQL
and an external nats-server, with a `ticketforge projector` and a worker (all real
processes, `tests/support/cluster.py`); there only arrival - event time is measured.

The session is uploaded, generated (offline drafter), marked ready and validated
first, not timed. Once every client's stream is open (the `retry:` line comes after
the subscription), the export is requested and each client records, per message,
`time.time()` when its `data:` line arrives.

Joining a message to its event: every message carries the event's `time` (the domain
event's `timestamp`, set when the aggregate records it, just before the save) and its
`event` class. Latency = arrival - `time`, on the same clock: the headline figure.
It includes the moment between recording the event and committing it, so it is an
upper bound of "stored -> received". As a check, this process also times every commit
(a wrapper around the recorder's `insert_events`, which returns the notification ids
after the transaction commits) and maps each message to its notification id by
(`event`, `time`) through the notification log: "commit -> received".

Goals (issue 16): p99 <= 50 ms with 1 client, <= 100 ms with 50, <= 500 ms with 200
over two API processes; every client every message once, in order; the export's wall
time with 50 watchers within 10% of its time with none.

Where the time goes (`main` prints it; wrappers that only read the clock): commit ->
the follower's pass starts -> it hands the message to the bus (`PublishBatch.send`) ->
JetStream's acknowledgement (and the batch's wait for all of them before its position
commits) -> the API hands the SSE event to uvicorn (a wrapper around
`interfaces.api.progress._sse`, restored after the run) -> the client's arrival; the
CPU time of the server process (API, worker, projections: one GIL, as in `ticketforge
serve`) and of the clients', deliveries per second, CPU per 1,000 deliveries.

    .venv/bin/python -m bench.progress [--site nestwatch] [--clients 0 1 50] [--cluster 200]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from bench.export import EMAIL, TOKEN, USER, free_port, sandbox_process
from bench.report import Figure, compare
from infrastructure.eventstore import ApplicationEventSource
from interfaces.api import progress as progress_api
from interfaces.bootstrap import Container, bootstrap
from interfaces.settings import Settings
from projections.progress import TERMINAL_TYPES

ROOT = Path(__file__).resolve().parents[1]
SITES = {"nestwatch": "NestWatch", "small-site": "Small site"}
GOAL_P99_MS = 50.0
OPEN_CONCURRENCY = 20  # streams being opened at once (each makes a NATS connection)


# --- the SSE clients (another process) -----------------------------------------------


@dataclass(frozen=True)
class ClientPlan:
    url: str
    token: str
    session_id: str
    after: int  # the stream sequence of the session's current state
    clients: int
    out: str  # JSON file for the records
    timeout_s: float
    more_urls: tuple[str, ...] = ()  # other API processes: clients go round robin


async def _one_stream(
    plan: ClientPlan,
    gate: asyncio.Semaphore,
    opened: list[int],
    all_open: asyncio.Event,
    url: str,
) -> dict[str, Any]:
    """One SSE client on a raw asyncio socket (HTTP/1.1, chunked): (arrival, SSE id,
    data) per message, until a terminal message. Kept cheap on purpose, so that the
    figures are the server's: no HTTP library, no JSON while receiving."""
    records: list[tuple[float, int, str]] = []
    error = None
    host, _, port = url.removeprefix("http://").partition(":")
    path = f"/api/sessions/{plan.session_id}/progress/stream?until=task"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {plan.token}\r\nAccept: text/event-stream\r\n"
        f"Last-Event-ID: {plan.after}\r\n\r\n"
    ).encode()
    writer = None
    released = False
    try:
        await gate.acquire()
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"{status.decode().strip()}")
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
                chunked = True
        buffer = b""
        done = False
        while not done:
            if chunked:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    break
                data = (await reader.readexactly(size + 2))[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    break
            arrival = time.time()
            buffer += data
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                seq, kind, payload = 0, b"", b""
                for line in event.split(b"\n"):
                    if line.startswith(b"data:"):
                        payload = line[5:].strip()
                    elif line.startswith(b"id:"):
                        seq = int(line[3:])
                    elif line.startswith(b"event:"):
                        kind = line[6:].strip()
                    elif line.startswith(b"retry:") and not released:
                        # Sent once the subscription exists.
                        gate.release()
                        released = True
                        opened[0] += 1
                        if opened[0] == plan.clients:
                            all_open.set()
                if payload:
                    records.append((arrival, seq, payload.decode()))
                    if kind.decode() in TERMINAL_TYPES:
                        done = True
    except Exception as exc:  # reported with the records
        error = f"{type(exc).__name__}: {exc}"
        if not released:
            gate.release()
        all_open.set()  # never wait for a stream that failed
    finally:
        if writer is not None:
            writer.close()
    return {"records": records, "error": error}


async def _run_clients(plan: ClientPlan, ready: MpEvent) -> None:
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    opened, all_open = [0], asyncio.Event()
    urls = (plan.url, *plan.more_urls)
    streams = [
        asyncio.create_task(_one_stream(plan, gate, opened, all_open, urls[i % len(urls)]))
        for i in range(plan.clients)
    ]
    await all_open.wait()
    ready.set()
    done, pending = await asyncio.wait(streams, timeout=plan.timeout_s)
    for task in pending:
        task.cancel()
    cpu_s = time.process_time()  # receiving only: not the decoding below
    results = [t.result() for t in done]
    results += [{"records": [], "error": "timed out"} for _ in pending]
    clients = []
    for result in results:
        messages = []
        for arrival, seq, data in result["records"]:
            message = json.loads(data)
            messages.append(
                [arrival, seq, message["sequence"], message["event"], message["time"],
                 message["type"]]
            )  # fmt: skip
        clients.append({"messages": messages, "error": result["error"]})
    Path(plan.out).write_text(json.dumps({"opened": opened[0], "clients": clients, "cpu_s": cpu_s}))


def client_process(plan: ClientPlan, ready: MpEvent) -> None:
    """The entry point of the clients' process."""
    asyncio.run(_run_clients(plan, ready))


# --- the server side (this process) ----------------------------------------------------


class ApiServer:
    """The API under uvicorn in a thread of this process, as in `ticketforge serve`."""

    def __init__(self, container: Container) -> None:
        import uvicorn

        from interfaces.api.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(container),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="api", daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise SystemExit("the API server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


class Clocks:
    """When each notification id was committed, and when its message was published.

    Commits: a wrapper around the recorder's `insert_events` (it returns the ids once
    the transaction has committed). Publishes: a wrapper around the progress
    publisher's `publish` (it returns once JetStream has acknowledged the message;
    the message id is `<session_id>:<notification id>`). Both only read the clock.

    With `wake`, every commit also wakes the progress follower: a what-if for a
    product change (the follower is otherwise woken only by commands of this
    process, and polls every 0.1 s), not the product as it is.
    """

    def __init__(self, container: Container, wake: bool = False) -> None:
        self.committed: dict[int, float] = {}
        self.published: dict[int, float] = {}
        self.publish_calls_ms: list[float] = []  # how long each `publish` took
        recorder = container.app.recorder
        insert = recorder.insert_events
        live = container.live_progress
        assert live is not None

        def timed_insert(stored_events: Any, **kwargs: Any) -> Any:
            ids = insert(stored_events, **kwargs)
            now = time.time()
            for nid in ids or ():
                self.committed[nid] = now
            if wake:
                live.notify()
            return ids

        publisher = live.publisher
        publish = publisher.publish

        def timed_publish(subject: str, message: dict[str, Any], msg_id: str) -> None:
            started = time.time()
            publish(subject, message, msg_id)
            now = time.time()
            self.published[int(msg_id.rpartition(":")[2])] = now
            self.publish_calls_ms.append((now - started) * 1000)

        # Batches sent as produced: each message's acknowledgement, and each batch's
        # wait for all of them (just before its position commits).
        def acked(msg_id: str) -> None:
            self.published[int(msg_id.rpartition(":")[2])] = time.time()

        open_batch = publisher.open_batch

        def timed_open_batch() -> Any:
            batch = open_batch()
            wait, send = batch.wait, batch.send
            sizes = self.batch_sizes

            def timed_send(subject: str, message: dict[str, Any], msg_id: str) -> None:
                self.sent_at[int(msg_id.rpartition(":")[2])] = time.time()
                send(subject, message, msg_id)

            batch.send = timed_send  # type: ignore[method-assign]

            def timed_wait() -> None:
                started = time.time()
                wait()
                self.publish_calls_ms.append((time.time() - started) * 1000)
                sizes.append(batch._sent)

            batch.wait = timed_wait  # type: ignore[method-assign]
            return batch

        self.batch_sizes: list[int] = []
        self.sent_at: dict[int, float] = {}  # when the follower handed it to the bus
        recorder.insert_events = timed_insert  # type: ignore[method-assign]
        publisher.publish = timed_publish  # type: ignore[method-assign]
        publisher.open_batch = timed_open_batch  # type: ignore[method-assign]
        publisher.on_ack = acked

        # The progress follower's passes (each reads a batch, publishes, commits).
        self.pumps: list[tuple[float, float]] = []
        follower = live.follower
        catch_up = follower.catch_up

        def timed_catch_up() -> int:
            started = time.time()
            try:
                return catch_up()
            finally:
                self.pumps.append((started, time.time()))

        follower.catch_up = timed_catch_up  # type: ignore[method-assign]

        # When the API hands each SSE event to uvicorn, per message `sequence`.
        self.sent: dict[int, list[float]] = {}
        self._sse = progress_api._sse

        def timed_sse(item: Any) -> bytes:
            text = self._sse(item)
            self.sent.setdefault(int(item.message["sequence"]), []).append(time.time())
            return text

        progress_api._sse = timed_sse

    def close(self) -> None:
        progress_api._sse = self._sse


def ready_session(container: Container, site: str) -> UUID:
    sample = ROOT / "samples" / site / "inventory"
    files = [UploadedFile(p.name, p.read_bytes()) for p in sorted(sample.glob("*.csv"))]
    app = container.app
    sid = app.create_session(
        name="bench progress",
        site={"site_name": SITES.get(site, site)},
        jira_project_key="DEMO",
        issue_type="Task",
        user=USER,
    ).session_id
    app.upload_inventory(sid, parse_inventory(files), USER)
    task_id, _, _ = app.request_generation(sid, "offline", USER)
    status = container.generation.run(sid, task_id)
    if status != "completed":
        raise SystemExit(f"generation ended {status}")
    app.mark_ready(sid, None, True, USER)
    report = app.validate_tickets(sid, None, USER)
    if not report.all_passed:
        raise SystemExit(f"validation failed for {report.failed} tickets")
    return sid


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def current_state_id(url: str, token: str, sid: UUID) -> int:
    """The SSE `id:` of the session's latest message (its generation's completion)."""
    headers = {"Authorization": f"Bearer {token}"}
    path = f"{url}/api/sessions/{sid}/progress/stream"
    with httpx.stream("GET", path, headers=headers, timeout=30) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("id:"):
                return int(line[3:])
    raise SystemExit("the progress stream has no current state")


def event_ids(container: Container) -> dict[tuple[str, str], int]:
    """(event class, timestamp) -> notification id, for the whole notification log."""
    source = ApplicationEventSource(container.app)
    head, after, found = source.head(), 0, {}
    while after < head:
        batch = source.read(after, 1000, head)
        if not batch:
            break
        for nid, event in batch:
            stamp = getattr(event, "timestamp", None)
            if stamp is not None:
                found[(type(event).__qualname__, stamp.isoformat())] = nid
        after = batch[-1][0]
    return found


# --- one run -------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q% of the values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Run:
    site: str
    clients: int
    tickets: int
    export_status: str
    export_s: float
    published: int  # distinct messages of the export (sequences any client saw)
    per_client: list[int]  # messages each client received
    complete_clients: int  # every message, in order, ending with the terminal one
    errors: list[str]
    latencies_ms: list[float]  # event timestamp -> arrival, every delivery
    commit_latencies_ms: list[float]  # commit -> arrival, deliveries joined to a commit
    publish_ms: list[float]  # per message: commit -> published (JetStream's ack)
    to_send_ms: list[float]  # per message: commit -> the follower hands it to the bus
    send_ack_ms: list[float]  # per message: handed to the bus -> JetStream's ack
    after_publish_ms: list[float]  # per delivery: published -> arrival
    publish_calls_ms: list[float]  # each publish call, to JetStream's ack (all messages)
    unjoined: int  # deliveries whose event was not found in the log / commit clock
    spread_ms: list[float]  # per message: last client's arrival - first client's
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    wake: bool
    waited_ms: list[float]  # per message: commit -> start of the follower's pass
    pass_ms: list[float]  # the follower's passes that published export messages
    handed_ms: list[float]  # per delivery: published -> the API hands it to uvicorn
    in_transit_ms: list[float]  # per delivery: handed to uvicorn -> arrival at the client
    server_cpu_s: float  # this process (API, worker, projections), export start -> end
    client_cpu_s: float  # the clients' process, receiving
    window_s: float = 0.0  # first arrival -> last arrival

    def p(self, q: float, commit: bool = False) -> float:
        return percentile(self.commit_latencies_ms if commit else self.latencies_ms, q)

    @property
    def deliveries(self) -> int:
        return len(self.latencies_ms)

    @property
    def all_delivered(self) -> bool:
        if self.clients == 0:
            return True
        return not self.errors and self.complete_clients == self.clients and self.published > 0

    @property
    def per_second(self) -> float:
        """Deliveries per second, from the first arrival to the last."""
        return self.deliveries / self.window_s if self.window_s > 0 else math.nan

    def cpu_per_1000(self, cpu_s: float) -> float:
        return cpu_s / self.deliveries * 1000 if self.deliveries else math.nan

    @property
    def goal_ms(self) -> float:
        return goal_for(self.clients)

    @property
    def met(self) -> bool:
        return self.all_delivered and (self.clients == 0 or self.p(99) <= self.goal_ms)


def goal_for(clients: int) -> float:
    """The issue's goals: p99 <= 50 ms for 1 client, 100 ms for 50, 500 ms for 200."""
    return GOAL_P99_MS if clients <= 1 else 100.0 if clients <= 50 else 500.0


def measure(
    site: str, clients: int, latency_ms: float, *, wake: bool = False, timeout_s: float = 600
) -> Run:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with sandbox_process(tmp, latency_ms) as jira_url:
            settings = Settings(
                TICKETFORGE_DATA_DIR=str(tmp / "data"),
                TICKETFORGE_GENERATOR="offline",
                TICKETFORGE_EMBEDDED_NATS=True,
                JIRA_BASE_URL=jira_url,
                JIRA_EMAIL=EMAIL,
                JIRA_API_TOKEN=TOKEN,
            )
            container = bootstrap(settings)
            try:
                return _measure(container, tmp, site, clients, wake, timeout_s)
            finally:
                container.close()


def _measure(
    container: Container, tmp: Path, site: str, clients: int, wake: bool, timeout_s: float
) -> Run:
    sid = ready_session(container, site)
    _, token = container.users.create(USER.name, False)  # the session's owner
    clocks = Clocks(container, wake=wake)
    try:
        return _measure_with(container, tmp, site, clients, wake, timeout_s, sid, token, clocks)
    finally:
        clocks.close()


def _measure_with(
    container: Container,
    tmp: Path,
    site: str,
    clients: int,
    wake: bool,
    timeout_s: float,
    sid: UUID,
    token: str,
    clocks: Clocks,
) -> Run:
    container.start()
    live = container.live_progress
    assert live is not None
    if live.embedded_error:
        raise SystemExit(f"nats-server did not start: {live.embedded_error}")
    wait_until(lambda: live.follower.lag() == 0, 60, "the generation's progress messages")
    with ApiServer(container) as api:
        after = current_state_id(api.url, token, sid)
        out = tmp / "clients.json"
        plan = ClientPlan(api.url, token, str(sid), after, clients, str(out), timeout_s)
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        process = context.Process(target=client_process, args=(plan, ready), name="sse-clients")
        if clients:
            process.start()
        else:  # the export alone: the baseline of "watching slows the work"
            ready.set()
            out.write_text(json.dumps({"opened": 0, "clients": [], "cpu_s": 0.0}))
        try:
            if not ready.wait(120):
                raise SystemExit(f"the {clients} SSE clients did not connect in 120 s")
            load_before = os.getloadavg()
            cpu_before = time.process_time()
            started = time.perf_counter()
            export, _, result = container.app.request_export(sid, USER)
            container.wrote(result.position)
            while True:
                current = container.app.load_export(export.id)
                if current.status in ("completed", "failed"):
                    break
                if time.perf_counter() - started > timeout_s:
                    raise SystemExit(f"the export did not finish in {timeout_s:g} s")
                time.sleep(0.05)
            export_s = time.perf_counter() - started
            if clients:
                process.join(timeout_s)
            load_after = os.getloadavg()
            server_cpu_s = time.process_time() - cpu_before
        finally:
            if clients and process.is_alive():
                process.terminate()
                process.join(10)
        if not out.exists():
            raise SystemExit(f"the SSE clients' process ended {process.exitcode} without results")
        data = json.loads(out.read_text())
    ids = event_ids(container)
    return summarise(
        site=site,
        clients=clients,
        tickets=len(current.plan),
        export_status=current.status,
        export_s=export_s,
        data=data,
        ids=ids,
        clocks=clocks,
        load=(load_before, load_after),
        wake=wake,
        cpu=(server_cpu_s, float(data.get("cpu_s", math.nan))),
    )


def summarise(
    *,
    site: str,
    clients: int,
    tickets: int,
    export_status: str,
    export_s: float,
    data: dict[str, Any],
    ids: dict[tuple[str, str], int],
    clocks: Clocks,
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
    wake: bool,
    cpu: tuple[float, float],
) -> Run:
    latencies, commit_latencies, errors = [], [], []
    to_publish: list[float] = []  # per message: commit -> JetStream's ack
    to_send: list[float] = []
    send_ack: list[float] = []
    after_publish: list[float] = []  # per delivery: JetStream's ack -> arrival
    seen: set[int] = set()
    unjoined = 0
    per_client, complete = [], 0
    arrivals: dict[int, list[float]] = {}
    sequences: set[int] = set()
    for client in data["clients"]:
        if client["error"]:
            errors.append(client["error"])
        messages = client["messages"]
        per_client.append(len(messages))
        for arrival, _sse_id, sequence, event, stamp, _type in messages:
            latencies.append((arrival - datetime.fromisoformat(stamp).timestamp()) * 1000)
            nid = ids.get((event, stamp))
            if nid is not None and nid in clocks.committed and nid in clocks.published:
                commit_latencies.append((arrival - clocks.committed[nid]) * 1000)
                after_publish.append((arrival - clocks.published[nid]) * 1000)
                if nid not in seen:
                    seen.add(nid)
                    to_publish.append((clocks.published[nid] - clocks.committed[nid]) * 1000)
                    if nid in clocks.sent_at:
                        to_send.append((clocks.sent_at[nid] - clocks.committed[nid]) * 1000)
                        send_ack.append((clocks.published[nid] - clocks.sent_at[nid]) * 1000)
            else:
                unjoined += 1
            arrivals.setdefault(sequence, []).append(arrival)
            sequences.add(sequence)
    if sequences:
        expected = list(range(min(sequences), max(sequences) + 1))
        for client in data["clients"]:
            got = [m[2] for m in client["messages"]]
            if got == expected and client["messages"][-1][5] in TERMINAL_TYPES:
                complete += 1
    spread = [(max(a) - min(a)) * 1000 for a in arrivals.values() if len(a) > 1]
    every = [t for times in arrivals.values() for t in times]
    window = max(every) - min(every) if every else 0.0
    # The follower: how long a message's event waited for the pass that published it,
    # and how long the passes that published export messages took.
    starts = [start for start, _ in clocks.pumps]
    waited, passes = [], set()
    for nid in seen:
        index = bisect.bisect_right(starts, clocks.published[nid]) - 1
        if index >= 0:
            waited.append((starts[index] - clocks.committed[nid]) * 1000)
            passes.add(index)
    pass_ms = [(clocks.pumps[i][1] - clocks.pumps[i][0]) * 1000 for i in sorted(passes)]
    # Server side vs transport and client: pair each message's API hand-offs with its
    # arrivals in time order (the k-th hand-off with the k-th arrival).
    handed, in_transit = [], []
    nid_of = {seq: nid for seq, nid in _sequence_nids(data, ids).items()}
    for sequence, times in arrivals.items():
        sent = sorted(clocks.sent.get(sequence, []))
        nid = nid_of.get(sequence)
        if nid in clocks.published:
            handed += [(t - clocks.published[nid]) * 1000 for t in sent]
        in_transit += [(a - t) * 1000 for a, t in zip(sorted(times), sent, strict=False)]
    return Run(
        site=site,
        clients=clients,
        tickets=tickets,
        export_status=export_status,
        export_s=export_s,
        published=len(sequences),
        per_client=per_client,
        complete_clients=complete,
        errors=errors,
        latencies_ms=latencies,
        commit_latencies_ms=commit_latencies,
        publish_ms=to_publish,
        to_send_ms=to_send,
        send_ack_ms=send_ack,
        publish_calls_ms=clocks.publish_calls_ms,
        after_publish_ms=after_publish,
        unjoined=unjoined,
        spread_ms=spread,
        load_before=load[0],
        load_after=load[1],
        wake=wake,
        handed_ms=handed,
        waited_ms=waited,
        pass_ms=pass_ms,
        in_transit_ms=in_transit,
        server_cpu_s=cpu[0],
        client_cpu_s=cpu[1],
        window_s=window,
    )


def _sequence_nids(data: dict[str, Any], ids: dict[tuple[str, str], int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for client in data["clients"]:
        for _arrival, _sse_id, sequence, event, stamp, _type in client["messages"]:
            nid = ids.get((event, stamp))
            if nid is not None:
                found[sequence] = nid
    return found


# --- the production topology: PostgreSQL, NATS, 2 API processes --------------------------


class NoClocks:
    """Other processes' work is not instrumented: only arrival - event time is measured."""

    committed: dict[int, float] = {}
    published: dict[int, float] = {}
    sent_at: dict[int, float] = {}
    pumps: list[tuple[float, float]] = []
    sent: dict[int, list[float]] = {}
    publish_calls_ms: list[float] = []


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_cluster(site: str, clients: int, latency_ms: float, timeout_s: float = 600) -> Run:
    """`clients` SSE clients spread over two `ticketforge api` processes, on PostgreSQL and
    an external nats-server, with one `ticketforge projector` (which publishes progress)
    and one worker: all real processes (`tests/support/cluster.py`)."""
    from tests.support.cluster import Cluster, ready_session, wait_for
    from tests.support.postgres import ThrowawayPostgres

    postgres = ThrowawayPostgres().start()
    try:
        with tempfile.TemporaryDirectory(prefix="tf-progress-") as tmp_dir:
            tmp = Path(tmp_dir)
            cluster = Cluster(
                tmp / "cluster", postgres, lease_s=10.0, sandbox_latency_ms=latency_ms
            )
            try:
                cluster.start(apis=2, workers=1, projectors=1)
                client = cluster.client(0)
                sid = ready_session(client, site)
                tickets = int(client.get(f"/api/sessions/{sid}/tickets").json()["total"])
                urls = [cluster.api_url(p) for p in cluster.role("api")]
                time.sleep(1.0)  # the generation's last messages published
                after = current_state_id(urls[0], cluster.token, UUID(sid))
                out = tmp / "clients.json"
                plan = ClientPlan(
                    urls[0], cluster.token, sid, after, clients, str(out), timeout_s,
                    more_urls=tuple(urls[1:]),
                )  # fmt: skip
                context = multiprocessing.get_context("spawn")
                ready = context.Event()
                process = context.Process(target=client_process, args=(plan, ready))
                process.start()
                try:
                    if not ready.wait(180):
                        raise SystemExit(f"the {clients} SSE clients did not connect in 180 s")
                    servers = [p.popen.pid for p in cluster.processes if p.role != "sandbox"]
                    cpu_before = sum(_cpu_s(pid) for pid in servers)
                    load_before = os.getloadavg()
                    started = time.perf_counter()
                    requested = client.post(f"/api/sessions/{sid}/export")
                    if requested.status_code != 202:
                        raise SystemExit(f"export refused: {requested.text}")
                    final = wait_for(
                        client,
                        f"/api/sessions/{sid}/export/status",
                        lambda b: b["status"] in ("completed", "failed"),
                        timeout_s,
                        "export",
                    )
                    export_s = time.perf_counter() - started
                    process.join(timeout_s)
                    load_after = os.getloadavg()
                    server_cpu_s = sum(_cpu_s(pid) for pid in servers) - cpu_before
                finally:
                    if process.is_alive():
                        process.terminate()
                        process.join(10)
                    client.close()
                data = json.loads(out.read_text())
            finally:
                cluster.stop()
    finally:
        postgres.stop()
    return summarise(
        site=f"{site} (PostgreSQL, 2 APIs)",
        clients=clients,
        tickets=tickets,
        export_status=str(final["status"]),
        export_s=export_s,
        data=data,
        ids={},
        clocks=NoClocks(),  # type: ignore[arg-type]
        load=(load_before, load_after),
        wake=False,
        cpu=(server_cpu_s, float(data.get("cpu_s", math.nan))),
    )


# --- report --------------------------------------------------------------------------


def _load(run: Run) -> str:
    return f"{run.load_before[0]:.1f} -> {run.load_after[0]:.1f} ({os.cpu_count()} CPUs)"


def results(quick: bool = False) -> list[Figure]:
    """For `bench/run`: NestWatch with 1 and 50 clients, and 200 across two API processes
    on PostgreSQL (quick: the small site, 1 and 50)."""
    site = "small-site" if quick else "nestwatch"
    figures = []
    plan = [(1, False), (50, False)] + ([] if quick else [(200, True)])
    for clients, cluster in plan:
        run = measure_cluster(site, clients, 50.0) if cluster else measure(site, clients, 50.0)
        where = " (2 APIs, PostgreSQL)" if cluster else ""
        figures.append(
            compare(
                f"{SITES[site]} export: event stored -> SSE received, p99, {clients} "
                f"client{'s' if clients > 1 else ''}{where}",
                run.p(99),
                "ms",
                below=goal_for(clients),
                notes=f"p50 {run.p(50):.1f} ms, max {max(run.latencies_ms, default=math.nan):.1f}"
                f" ms; commit -> received p50/p99 {run.p(50, True):.1f}/{run.p(99, True):.1f} "
                f"ms; {run.published} messages x {clients} = {run.deliveries} deliveries; "
                f"export {run.export_status} in {run.export_s:.1f} s; load {_load(run)}",
            )
        )
        figures.append(
            compare(
                f"{SITES[site]} export, {clients} SSE client{'s' if clients > 1 else ''}: "
                "clients missing a message",
                run.clients - run.complete_clients,
                max_value=0,
                goal="0",
                notes="; ".join(sorted(set(run.errors)))[:200],
            )
        )
    return figures


def print_table(runs: list[Run]) -> None:
    def ms(value: float) -> str:
        return f"{value:.1f} ms"

    rows: list[tuple[str, list[str]]] = [
        ("SSE clients", [str(r.clients) for r in runs]),
        ("site / tickets", [f"{r.site} / {r.tickets}" for r in runs]),
        ("export status, wall", [f"{r.export_status}, {r.export_s:.1f} s" for r in runs]),
        ("messages of the export", [str(r.published) for r in runs]),
        ("deliveries (all clients)", [str(r.deliveries) for r in runs]),
        (
            "per client min / max",
            [f"{min(r.per_client, default=0)} / {max(r.per_client, default=0)}" for r in runs],
        ),
        ("clients with all, in order", [f"{r.complete_clients} of {r.clients}" for r in runs]),
        ("client errors", [str(len(r.errors)) for r in runs]),
        ("event time -> received p50", [ms(r.p(50)) for r in runs]),
        ("event time -> received p99", [ms(r.p(99)) for r in runs]),
        ("event time -> received max", [ms(max(r.latencies_ms, default=math.nan)) for r in runs]),
        ("commit -> received p50", [ms(r.p(50, True)) for r in runs]),
        ("commit -> received p99", [ms(r.p(99, True)) for r in runs]),
        (
            "  of which commit -> published p50 / p99",
            [
                f"{percentile(r.publish_ms, 50):.1f} / {percentile(r.publish_ms, 99):.1f} ms"
                for r in runs
            ],
        ),
        (
            "    commit -> its pass starts (< 0: already running) p50 / p99",
            [
                f"{percentile(r.waited_ms, 50):.1f} / {percentile(r.waited_ms, 99):.1f} ms"
                for r in runs
            ],
        ),
        (
            "    commit -> handed to the bus (pass computed it) p50 / p99",
            [
                f"{percentile(r.to_send_ms, 50):.1f} / {percentile(r.to_send_ms, 99):.1f} ms"
                for r in runs
            ],
        ),
        (
            "    handed to the bus -> JetStream's ack p50 / p99",
            [
                f"{percentile(r.send_ack_ms, 50):.1f} / {percentile(r.send_ack_ms, 99):.1f} ms"
                for r in runs
            ],
        ),
        (
            "    follower passes: count, p50 / max",
            [
                f"{len(r.pass_ms)}, {percentile(r.pass_ms, 50):.1f} / "
                f"{max(r.pass_ms, default=math.nan):.1f} ms"
                for r in runs
            ],
        ),
        (
            "    a batch's wait for its acks (before commit) p50 / p99",
            [
                f"{percentile(r.publish_calls_ms, 50):.1f} / "
                f"{percentile(r.publish_calls_ms, 99):.1f} ms"
                for r in runs
            ],
        ),
        (
            "  of which published -> received p50 / p99",
            [
                f"{percentile(r.after_publish_ms, 50):.1f} / "
                f"{percentile(r.after_publish_ms, 99):.1f} ms"
                for r in runs
            ],
        ),
        (
            "    published -> API hands to uvicorn p50 / p99",
            [
                f"{percentile(r.handed_ms, 50):.1f} / {percentile(r.handed_ms, 99):.1f} ms"
                for r in runs
            ],
        ),
        (
            "    handed -> client received p50 / p99",
            [
                f"{percentile(r.in_transit_ms, 50):.1f} / {percentile(r.in_transit_ms, 99):.1f} ms"
                for r in runs
            ],
        ),
        ("deliveries not joined to a commit", [str(r.unjoined) for r in runs]),
        (
            "CPU s: server process / client process",
            [f"{r.server_cpu_s:.1f} / {r.client_cpu_s:.1f}" for r in runs],
        ),
        (
            "fan-out spread p50 / p99",
            [
                f"{percentile(r.spread_ms, 50):.1f} / {percentile(r.spread_ms, 99):.1f} ms"
                if r.spread_ms
                else "-"
                for r in runs
            ],
        ),
        (
            "deliveries/s (first -> last arrival)",
            [f"{r.per_second:.0f}" if r.deliveries else "-" for r in runs],
        ),
        (
            "CPU ms per 1,000 deliveries: server / clients",
            [
                f"{r.cpu_per_1000(r.server_cpu_s) * 1000:.0f} / "
                f"{r.cpu_per_1000(r.client_cpu_s) * 1000:.0f}"
                if r.deliveries
                else "-"
                for r in runs
            ],
        ),
        ("load average (1 min) during", [_load(r) for r in runs]),
        (
            "goal p99 (1: 50 ms, 50: 100 ms, 200: 500 ms) met?",
            [
                "-" if r.clients == 0 else f"{'yes' if r.met else 'NO'} (<= {r.goal_ms:g} ms)"
                for r in runs
            ],
        ),
    ]
    alone = [r for r in runs if r.clients == 0]
    if alone:
        base = alone[0].export_s
        rows.insert(
            3,
            (
                "export wall vs no watcher (goal <= 1.10 at 50)",
                [f"{r.export_s / base:.2f}" for r in runs],
            ),
        )
    if any(r.wake for r in runs):
        rows.insert(0, ("WHAT-IF: follower woken on every commit", ["yes"] * len(runs)))
    width = max(len(name) for name, _ in rows)
    cols = [max(len(row[1][i]) for row in rows) for i in range(len(runs))]
    print(f"{'measure'.ljust(width)} | " + " | ".join("value".ljust(c) for c in cols))
    print(f"{'-' * width}-+-" + "-+-".join("-" * c for c in cols))
    for name, values in rows:
        print(
            f"{name.ljust(width)} | "
            + " | ".join(v.ljust(c) for v, c in zip(values, cols, strict=True))
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", choices=sorted(SITES), default="nestwatch")
    parser.add_argument("--clients", type=int, nargs="*", default=[0, 1, 50])
    parser.add_argument("--latency", type=float, default=50.0, help="ms per sandbox request")
    parser.add_argument(
        "--wake-on-commit",
        action="store_true",
        help="a second wake-up per commit (the product wakes the follower on commit since "
        "issue 16; kept to compare with older runs)",
    )
    parser.add_argument(
        "--cluster",
        type=int,
        nargs="*",
        default=[200],
        help="client counts across 2 API processes on PostgreSQL + NATS (none: --cluster)",
    )
    args = parser.parse_args(argv)
    runs = []
    for clients in args.clients:
        print(f"measuring {clients} client(s) ...", file=sys.stderr, flush=True)
        runs.append(measure(args.site, clients, args.latency, wake=args.wake_on_commit))
    for clients in args.cluster:
        print(f"measuring {clients} client(s), 2 APIs ...", file=sys.stderr, flush=True)
        runs.append(measure_cluster(args.site, clients, args.latency))
    print_table(runs)
    ok = all(r.met for r in runs)
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
