"""``GET /api/health``: liveness and a summary, without a token (for monitors and tests)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from printprep import __version__

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", summary="Is the service up? (no token needed)")
def health(request: Request) -> dict[str, Any]:
    state = request.app.state
    pool = getattr(state, "workers", None)
    return {
        "status": "ok",
        "version": __version__,
        "database": state.store.engine.dialect.name,
        "jobs": state.store.count_by_state(),
        "workers": pool.alive() if pool is not None else 0,
        "printers": sorted(getattr(state, "printers", {}) or {}),
        "watch": str(state.settings.watch_dir) if state.settings.watch.enabled else None,
    }
