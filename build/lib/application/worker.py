"""A worker: claims queued tasks, keeps their lease alive, and runs them.

Several workers (threads or processes, on one machine or many) may share a queue;
a task is run by one of them at a time, and a dead worker's task is taken over
when its lease runs out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from uuid import uuid4

from application.tasks import ClaimedTask, TaskQueue

log = logging.getLogger(__name__)

TaskHandler = Callable[[ClaimedTask, Callable[[], bool]], None]


def new_worker_name() -> str:
    """A name for a worker, unique enough to tell its leases (and runs) from others'."""
    return f"worker-{uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        queue: TaskQueue,
        handlers: Mapping[str, TaskHandler],
        *,
        name: str | None = None,
        lease_s: float = 30.0,
        poll_s: float = 0.5,
    ) -> None:
        self.queue = queue
        self.handlers = dict(handlers)
        self.name = name or new_worker_name()
        self.lease_s = lease_s
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def run_once(self) -> bool:
        """Claim and run one task; False when there was none."""
        task = self.queue.claim(self.name, list(self.handlers), self.lease_s)
        if task is None:
            return False
        lost = threading.Event()
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(self.lease_s / 6):  # several tries per half lease
                try:
                    if not self.queue.renew(task.task_id, self.name, self.lease_s):
                        lost.set()
                        return
                except Exception:
                    log.exception("lease renewal failed for task %s", task.task_id)

        beat = threading.Thread(target=heartbeat, name=f"{self.name}-lease", daemon=True)
        beat.start()
        ended = False
        try:
            self.handlers[task.kind](task, lambda: not (lost.is_set() or self._stop.is_set()))
            ended = not self._stop.is_set()  # else interrupted: it is to be resumed
        except Exception:
            log.exception("task %s (%s) failed; it will be retried", task.task_id, task.kind)
        finally:
            done.set()
            beat.join()
            if not lost.is_set():
                self.queue.release(task.task_id, self.name, done=ended)
        return True

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("worker %s could not claim a task", self.name)
                worked = False
            if not worked and not self.queue.waits_for_work:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def start(self, threads: int = 1) -> None:
        for i in range(threads):
            thread = threading.Thread(target=self.run_forever, name=f"{self.name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
