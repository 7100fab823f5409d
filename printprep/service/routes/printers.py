"""``/api/printers``: live status of every printer, and the few actions a person takes.

``GET /api/printers`` and ``GET /api/printers/{name}`` show the dispatcher's latest view
(state, progress, layer or line, temperatures, time left, job, last error, last seen).
``POST /api/printers/{name}/clear`` acknowledges a finished or failed print (the plate is
cleared) so the printer takes the next job; ``pause`` and ``resume`` act on its print.
Cancelling goes through the job (``POST /api/jobs/{id}/cancel``): the dispatcher stops
the print.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from printprep.errors import PrinterError
from printprep.service.deps import StoreDep, TokenName

router = APIRouter(prefix="/api/printers", tags=["printers"])


def printer_view(request: Request, store: Any, name: str) -> dict[str, Any]:
    """One printer's status as the API shows it, with its job's name when it has one."""
    dispatcher = getattr(request.app.state, "dispatcher", None)
    printers = request.app.state.printers
    if name not in printers:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"no printer named {name!r} (known: {', '.join(printers) or 'none'})")
    st = dispatcher.status(name) if dispatcher is not None else printers[name].status()
    out = st.to_dict()
    job_id = st.job_id or (dispatcher.job_on(name) if dispatcher is not None else None)
    out["job_id"] = job_id
    out["job_name"] = None
    if job_id:
        try:
            out["job_name"] = store.get(job_id).name
        except Exception:  # noqa: BLE001 - a job of another service or since deleted
            out["job_name"] = None
    return out


@router.get("", summary="Live status of every printer")
def list_printers(request: Request, store: StoreDep, _: TokenName) -> dict[str, Any]:
    names = sorted(request.app.state.printers)
    return {"printers": [printer_view(request, store, n) for n in names]}


@router.get("/{name}", summary="Live status of one printer")
def get_printer(name: str, request: Request, store: StoreDep, _: TokenName) -> dict[str, Any]:
    return printer_view(request, store, name)


def _act(
    request: Request, store: Any, name: str, action: str, who: str | None = None
) -> dict[str, Any]:
    """Call ``action`` on printer ``name`` for the caller ``who`` (the token's name): 404
    for an unknown printer, 409 when it refuses; returns its status after the action.

    A clear goes through the dispatcher when there is one, so the events of the jobs on
    the plate say who cleared it ("plate of sl1s cleared by anna; it takes the next job").
    """
    printer_view(request, store, name)  # 404 for unknown names
    printer = request.app.state.printers[name]
    dispatcher = getattr(request.app.state, "dispatcher", None)
    try:
        if action == "clear" and dispatcher is not None:
            dispatcher.clear_by(name, who)
        elif dispatcher is not None:
            dispatcher.act_by(name, action, who)
        else:
            getattr(printer, action)()
    except PrinterError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if dispatcher is not None:
        dispatcher.wake()
    return printer_view(request, store, name)


@router.post("/{name}/clear", summary="Acknowledge a finished or failed print (plate cleared)")
def clear_printer(name: str, request: Request, store: StoreDep, who: TokenName) -> dict[str, Any]:
    return _act(request, store, name, "clear", who)


@router.post("/{name}/pause", summary="Pause the print on this printer")
def pause_printer(name: str, request: Request, store: StoreDep, who: TokenName) -> dict[str, Any]:
    return _act(request, store, name, "pause", who)


@router.post("/{name}/resume", summary="Resume the paused print on this printer")
def resume_printer(name: str, request: Request, store: StoreDep, who: TokenName) -> dict[str, Any]:
    return _act(request, store, name, "resume", who)
