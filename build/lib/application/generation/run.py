"""One generation run: draft a ticket per entity with bounded concurrency, record each at once.

The run is resumable: entities that already have a ticket (or a recorded failure) in
this run are skipped, so a worker that picks up a task after a crash continues it.
Cancellation is an event on the session; the runner sees it at its next write and
stops submitting entities.

Runs are fenced like export runs: a start records `GenerationStarted` with run number
1, a worker taking the task over `GenerationResumed` with the next one, and a run whose
number is no longer the session's stops.
A worker that lost its lease (paused, cut off) and comes back therefore records
nothing more, and, as it looks for a newer run before every draft, it pays the LLM
for no entity the new run drafts. Only a call already sent when the takeover happens
can be paid twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from uuid import UUID

from application.generation.port import Draft, DraftError, DraftRequest, TicketDrafter
from application.generation.related import RelatedIndex
from application.progress import Progress, ProgressCallback
from application.sessions import TicketForge
from application.unit_of_work import Held
from domain.errors import ConflictError
from domain.inventory import InventoryEntity
from domain.session import GenerationRun, Session

log = logging.getLogger(__name__)

WORKER_ACTOR = "system:generator"

# Events after which a run must not draft anything more (a newer run of the task is
# told apart by its number).
_ENDED = (Session.GenerationCompleted, Session.GenerationFailed, Session.GenerationCancelled)


class GenerationSuperseded(Exception):
    """Another run of this task has started (this one's lease ran out): let go."""


class GenerationRunner:
    def __init__(
        self,
        app: TicketForge,
        drafter_for: Callable[[str], TicketDrafter],
        concurrency: int = 8,
    ) -> None:
        self.app = app
        self.drafter_for = drafter_for
        self.concurrency = max(1, concurrency)

    def run(
        self,
        session_id: UUID,
        task_id: UUID,
        progress: ProgressCallback | None = None,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> str:
        """Run the task to its end; return the final run status."""
        session = self.app.load_session(session_id)
        run = session.generation
        if run is None or run.task_id != task_id or run.status not in ("requested", "running"):
            return run.status if run is not None and run.task_id == task_id else "unknown"
        drafter = self.drafter_for(run.generator)
        entities = session.entities_in_order()
        # A run drafts what the request left to draft (all, or a revision's share); a
        # resumed run keeps the total it started with.
        total = run.total if run.status == "running" else len(session.entities_to_draft())
        held = Held(self.app, session)
        try:
            number = self._start(held, task_id, total)
        except ConflictError:  # the task ended meanwhile
            ended = self.app.load_session(session_id).generation
            return ended.status if ended is not None else "unknown"
        try:
            return self._run(held, task_id, number, drafter, entities, progress, keep_going)
        except Exception:
            if self._superseded(held, number):  # whatever broke, it is the new run's task now
                log.info("generation %s: run %d was superseded", task_id, number, exc_info=True)
                return "superseded"
            raise

    def _start(self, held: Held[Session], task_id: UUID, total: int) -> int:
        """Record this run's start, or its resumption by this worker; return its number."""
        numbers: list[int] = []

        def command(session: Session) -> None:
            current = session.check_generation_task(task_id)
            if current.status == "requested":
                session.start_generation(task_id, total, WORKER_ACTOR, run=current.runs + 1)
                numbers.append(current.runs)
            else:
                numbers.append(session.resume_generation(task_id, WORKER_ACTOR))

        held.apply(command)
        return numbers[-1]

    def _superseded(self, held: Held[Session], number: int) -> bool:
        """Whether the session moved on from run `number`: another run started or took
        over, or the task ended. Reads only the events after our copy, usually none."""
        newer = self.app.events.get(held.id, gt=held.aggregate.version)
        return any(
            isinstance(e, _ENDED)
            or (
                isinstance(e, Session.GenerationStarted | Session.GenerationResumed)
                and e.run != number
            )
            for e in newer
        )

    def _run(
        self,
        held: Held[Session],
        task_id: UUID,
        number: int,
        drafter: TicketDrafter,
        entities: list[InventoryEntity],
        progress: ProgressCallback | None,
        keep_going: Callable[[], bool],
    ) -> str:
        session = held.aggregate
        session_id = session.id
        run = session.check_generation_task(task_id)
        order = {e.config_name: i for i, e in enumerate(entities, 1)}
        # A resumed run skips what earlier runs of this task recorded: a recorded draft
        # leaves `entities_to_draft()`, a recorded failure is in the run's errors.
        failed = {e["config_name"] for e in run.errors}
        todo = [e for e in session.entities_to_draft() if e.config_name not in failed]
        index = RelatedIndex(entities)
        started = time.monotonic()
        total = run.total
        counts = {"generated": run.generated, "failed": len(failed)}
        earlier = run.generated + len(failed)

        def report(stage: str) -> None:
            if progress is None:
                return
            finished = counts["generated"] + counts["failed"]
            rate = (finished - earlier) / max(time.monotonic() - started, 1e-6)
            remaining = total - finished
            progress(
                Progress(
                    session_id=session_id,
                    task_id=task_id,
                    percentage=round(100.0 * finished / total, 1) if total else 100.0,
                    stage=stage,
                    completed=counts["generated"],
                    failed=counts["failed"],
                    total=total,
                    eta_seconds=round(remaining / rate, 1) if rate > 0 else None,
                )
            )

        def draft(entity: InventoryEntity) -> Draft:
            if self._superseded(held, number):  # before paying for the call
                raise GenerationSuperseded
            return drafter.draft(DraftRequest(session.site, entity, index.for_entity(entity)))

        stopped = False  # cancelled by a user, or this worker must let go of the task
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="draft") as pool:
            pending: dict[Future[Draft], InventoryEntity] = {}
            queue = list(reversed(todo))
            while queue or pending:
                while queue and len(pending) < self.concurrency and not stopped:
                    entity = queue.pop()
                    pending[pool.submit(draft, entity)] = entity
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: order[pending[f].config_name]):
                    entity = pending.pop(future)
                    if stopped:
                        continue
                    recorded = self._record(held, task_id, number, entity, future, order)
                    if recorded is None:
                        stopped = True
                        continue
                    counts["generated" if recorded else "failed"] += 1
                    report(f"Drafted {entity.label or entity.config_name}")
                if not stopped and not keep_going():
                    stopped = True
            for future in pending:
                future.cancel()
        final = self.app.load_session(session_id)
        status = final.generation.status if final.generation else "unknown"
        if final.generation is not None and final.generation.runs != number:
            log.info(
                "generation %s: run %d took over; run %d stops",
                task_id,
                final.generation.runs,
                number,
            )
            return "superseded"
        if status == "running" and not stopped:
            return self._finish(Held(self.app, final), task_id, number, report)
        if status == "running":
            log.info("generation %s interrupted; another worker will resume it", task_id)
            return "interrupted"
        report(f"Generation {status}")
        return status

    def _record(
        self,
        held: Held[Session],
        task_id: UUID,
        number: int,
        entity: InventoryEntity,
        future: Future[Draft],
        order: dict[str, int],
    ) -> bool | None:
        """Record a ticket (True) or a failure (False); None when the run was stopped."""
        try:
            result = future.result()
            error = None
        except GenerationSuperseded:
            return None
        except DraftError as exc:
            result, error = None, exc
        except Exception as exc:  # a drafter bug must not lose the run: record it per entity
            log.exception("drafting %s failed", entity.config_name)
            result, error = None, DraftError(f"{type(exc).__name__}: {exc}", "internal")

        def command(session: Session) -> None:
            check_run(session, task_id, number)
            if result is not None:
                session.record_ticket(
                    task_id,
                    entity,
                    result.as_fields(),
                    result.generator,
                    dict(result.usage),
                    order[entity.config_name],
                    WORKER_ACTOR,
                )
            else:
                assert error is not None
                session.record_ticket_failure(
                    task_id, entity.config_name, str(error), error.category, WORKER_ACTOR
                )

        try:
            held.apply(command)
        except (ConflictError, GenerationSuperseded):
            return None
        return result is not None

    def _finish(
        self, held: Held[Session], task_id: UUID, number: int, report: Callable[[str], None]
    ) -> str:
        def command(session: Session) -> None:
            run = check_run(session, task_id, number)
            if run.total and run.failed == run.total:
                session.fail_generation(
                    task_id,
                    f"All {run.total} entities failed to draft; see the errors",
                    "temporary",
                    WORKER_ACTOR,
                )
            else:
                session.complete_generation(task_id, WORKER_ACTOR)

        try:
            held.apply(command)
        except (ConflictError, GenerationSuperseded):
            pass
        run = held.aggregate.generation
        status = run.status if run is not None else "unknown"
        report("Generation completed" if status == "completed" else f"Generation {status}")
        return status

    def fail(self, session_id: UUID, task_id: UUID, error: str) -> None:
        """Record that the run broke down (an unexpected error outside one entity)."""

        def command(session: Session) -> None:
            session.fail_generation(task_id, error, "temporary", WORKER_ACTOR)

        try:
            Held(self.app, self.app.load_session(session_id)).apply(command)
        except ConflictError:
            pass


def check_run(session: Session, task_id: UUID, number: int) -> GenerationRun:
    """The task's run, if it is still run `number`; else `GenerationSuperseded`."""
    run = session.check_generation_task(task_id)
    if run.runs != number:
        raise GenerationSuperseded
    return run
