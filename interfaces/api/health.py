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


@router.get("/readyz")
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
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)
