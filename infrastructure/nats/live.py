"""NATS as one part of the container: the server (embedded or not), the progress
publisher, the work queue, the follower that runs `ProgressProjection` and
`TaskDispatchProjection` (both publish before their position commits), and the
progress feed for the API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from infrastructure.nats.embedded import NatsServerProcess
from infrastructure.nats.publisher import NatsProgressPublisher
from infrastructure.nats.stream import ProgressStream
from infrastructure.nats.subscriber import NatsProgressFeed
from infrastructure.nats.tasks import NatsTaskQueue
from projections.base import EventSource, ProjectionRunner
from projections.progress import ProgressFollower, ProgressProjection
from projections.store import LeaderLock, ReadModelStore
from projections.task_dispatch import TaskDispatchProjection

log = logging.getLogger(__name__)

BATCH_SIZE = 200  # a batch holds its read-model transaction while it publishes


class LiveProgress:
    def __init__(
        self,
        *,
        url: str | None,
        embedded_dir: Path | None,
        stream: ProgressStream,
        source: EventSource,
        store: ReadModelStore,
        task_lease_s: float = 30.0,
        leases: LeaderLock | None = None,
    ) -> None:
        self._url = url
        self.embedded = NatsServerProcess(embedded_dir) if url is None and embedded_dir else None
        self.embedded_error: str | None = None
        self.publisher = NatsProgressPublisher(self.url, stream, on_connected=self._resume)
        self.tasks = NatsTaskQueue(self.url, lease_s=task_lease_s)
        # Our own server syncs its store to disk periodically (see `embedded.py`): after an
        # OS crash it may come back without its last tasks, so they are handed out again.
        self.tasks.redispatch_on_start = self.embedded is not None
        projections = [
            ProgressProjection(self.publisher, max_age_s=stream.max_age_s),
            TaskDispatchProjection(self.tasks),
        ]
        # With `leases`, one process at a time publishes (others stand by).
        runner = ProjectionRunner(source, store, projections, batch_size=BATCH_SIZE, leases=leases)
        self.follower = ProgressFollower(runner)
        self.feed = NatsProgressFeed(self.url, stream)

    def _resume(self) -> None:
        self.follower.resume()

    def url(self) -> str | None:
        if self._url:
            return self._url
        if self.embedded is not None and self.embedded.running:
            return self.embedded.url
        return None

    def start(self, *, follow: bool = True) -> None:
        """Connect (starting the embedded server first); with `follow`, publish too."""
        if self.embedded is not None:
            try:
                self.embedded.start()
                self.embedded_error = None
            except Exception as exc:  # the work goes on; only live progress is missing
                self.embedded_error = str(exc)
                log.error("embedded nats-server did not start; no live progress: %s", exc)
        self.publisher.start()
        self.tasks.start()
        if follow:
            self.follower.start()

    def notify(self) -> None:
        self.follower.notify()

    def close(self) -> None:
        self.follower.stop()
        self.tasks.close()
        self.publisher.close()
        if self.embedded is not None:
            self.embedded.stop()

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "configured": True,
            "mode": "external" if self._url else "embedded",
            **self.publisher.status(),
            "progress_lag": self.follower.lag(),
            "progress_paused": self.follower.outage,
            "tasks": self.tasks.status(),
        }
        if self.embedded is not None:
            status["embedded"] = {
                "running": self.embedded.running,
                "pid": self.embedded.pid,
                "store": str(self.embedded.store_dir),
                "error": self.embedded_error,
            }
        return status
