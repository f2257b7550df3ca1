"""Liveness and readiness."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from interfaces.api.deps import ContainerDep
from interfaces.api.schemas.health import Health, Readiness

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0  # a probe answers in time; a database that is away can take ~20 s


class _Run:
    def __init__(self, check: Callable[[], Any]) -> None:
        self.check = check
        self.value: Any = None
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, name="readyz-check", daemon=True)

    def _run(self) -> None:
        try:
            self.value = self.check()
        except Exception as exc:
            self.error = exc
        finally:
            with _guard:
                _running.pop(_key(self.check), None)


_guard = threading.Lock()
_running: dict[tuple[int, str], _Run] = {}  # only checks still running: they hold their owner


def _key(check: Callable[[], Any]) -> tuple[int, str]:
    return id(getattr(check, "__self__", check)), getattr(check, "__name__", "")


def bounded(check: Callable[[], Any], timeout_s: float = CHECK_TIMEOUT_S) -> Any:
    """`check()` in a thread of its own, waited for at most `timeout_s`.

    A check still running when the next probe comes is waited for again, not started
    twice, so probes against a database that hangs do not pile up threads.
    """
    with _guard:
        run = _running.get(_key(check))
        if run is None:
            run = _running[_key(check)] = _Run(check)
            run.thread.start()
    run.thread.join(timeout_s)
    if run.thread.is_alive():
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    if run.error is not None:
        raise run.error
    return run.value


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: `checks` names what is not"}},
)
def readyz(container: ContainerDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    ok = True
    try:
        head = bounded(container.app.head_position)
        checks["event_store"] = {"ok": True, "head": head}
    except Exception as exc:
        ok = False
        checks["event_store"] = {"ok": False, "error": str(exc)}
    try:
        lag = bounded(container.projector.lag)
        checks["projections"] = {"ok": True, "lag": lag}
    except Exception as exc:
        ok = False
        checks["projections"] = {"ok": False, "error": str(exc)}
    checks["nats"] = _nats(container)
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)


def _nats(container: ContainerDep) -> dict[str, Any]:
    """Reported, never a reason to be not ready: live progress is an extra.

    The work and every REST read model go on without NATS (publishing waits, the
    progress projection's lag grows); taking API instances out of service because a
    shared NATS is down would turn a missing extra into an outage.
    """
    live = container.live_progress
    if live is None:
        return {"ok": False, "configured": False, "required": False}
    try:
        status = bounded(live.status)  # its progress lag reads the database
    except Exception as exc:
        return {"ok": False, "configured": True, "required": False, "error": str(exc)}
    return {"ok": bool(status["connected"]), "required": False, **status}
