"""``GET /api/events``: server-sent events for the web page (printer status, job changes).

Event types:

``printer``  a printer's status changed (the same fields as ``GET /api/printers/{name}``);
             every printer's current status is sent first when a stream opens
``job``      a job changed state or logged an event: ``{"id", "state", "message", "at"}``
             (the event's id is the SSE ``id:``, so a reconnecting EventSource resumes
             after it with ``Last-Event-ID``)
``progress`` a printing job's progress: ``{"id", "progress_pct", "detail"}``

Job events come from the job store, so state changes made by pipeline workers in other
processes appear too. A stream ends after ``max_s`` seconds (default 25); EventSource
reconnects by itself (``retry: 1000``), which keeps a server shutdown from waiting on
open streams.
"""

from __future__ import annotations

import asyncio
import json
import queue
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from printprep.service.deps import StoreDep, TokenName

router = APIRouter(prefix="/api", tags=["events"])

_TICK_S = 0.25
_KEEPALIVE_S = 10.0


def _sse(kind: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()


async def _stream(request: Request, store: Any, after_id: int, max_s: float
                  ) -> AsyncIterator[bytes]:
    dispatcher = getattr(request.app.state, "dispatcher", None)
    hub_q: queue.Queue | None = dispatcher.events.subscribe() if dispatcher else None
    try:
        yield b"retry: 1000\n\n"
        if dispatcher is not None:
            for st in dispatcher.statuses():
                yield _sse("printer", st.to_dict())
        if after_id < 0:  # start from now
            after_id = await asyncio.to_thread(store.last_event_id)
        t_end = time.monotonic() + max_s
        last_sent = time.monotonic()
        while time.monotonic() < t_end:
            if await request.is_disconnected():
                return
            while hub_q is not None:
                try:
                    kind, data = hub_q.get_nowait()
                except queue.Empty:
                    break
                if kind == "printer":
                    yield _sse("printer", data)
                    last_sent = time.monotonic()
                elif kind == "job" and "progress_pct" in data:
                    yield _sse("progress", {"id": data["id"], "progress_pct": data["progress_pct"],
                                            "detail": data.get("detail")})
                    last_sent = time.monotonic()
            events = await asyncio.to_thread(store.recent_events, after_id=after_id, limit=200)
            for ev in events:
                after_id = ev.id
                yield _sse("job", {"id": ev.job_id, "state": ev.state, "message": ev.message,
                                   "at": ev.at}, ev.id)
                last_sent = time.monotonic()
            if time.monotonic() - last_sent > _KEEPALIVE_S:
                yield b": keepalive\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(_TICK_S)
    finally:
        if hub_q is not None and dispatcher is not None:
            dispatcher.events.unsubscribe(hub_q)


@router.get("/events", summary="Server-sent events: printer status and job changes")
def events(
    request: Request,
    store: StoreDep,
    _: TokenName,
    max_s: float = Query(25.0, gt=0, le=3600, description="close the stream after this long"),
) -> StreamingResponse:
    last = request.headers.get("last-event-id", "").strip()
    after_id = int(last) if last.isdigit() else -1
    return StreamingResponse(
        _stream(request, store, after_id, max_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
