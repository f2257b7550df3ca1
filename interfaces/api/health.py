"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from interfaces.api.deps import ContainerDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"description": "Not ready: `checks` names what is not", "content": {}}},
)
def readyz(container: ContainerDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    ok = True
    try:
        head = container.app.head_position()
        checks["event_store"] = {"ok": True, "head": head}
    except Exception as exc:
        ok = False
        checks["event_store"] = {"ok": False, "error": str(exc)}
    try:
        lag = container.projector.lag()
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
        status = live.status()
    except Exception as exc:
        return {"ok": False, "configured": True, "required": False, "error": str(exc)}
    return {"ok": bool(status["connected"]), "required": False, **status}
