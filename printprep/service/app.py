"""The FastAPI app factory and its lifespan.

``create_app(settings)`` builds a thin app: one router per resource from
``printprep.service.routes``. Its lifespan opens the long-lived pieces in order, and
closes them in reverse:

1. the job store (and, on first start with no token, one token printed once; job
   folders an interrupted upload left without a job are removed);
2. ``app.state.printers``: printer name -> Printer, from ``[[printers]]`` through
   ``printprep.printers.registry.create_printer``;
3. the :class:`~printprep.service.dispatch.Dispatcher` (queued job -> printer);
4. the pipeline worker processes (``[workers] count``; they drain on shutdown);
5. the watch folder.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from printprep import __version__
from printprep.errors import ConfigError, PrintprepError, ProfileError
from printprep.service.config import Settings, load_settings
from printprep.service.intake import remove_orphan_folders
from printprep.service.store import JobNotFoundError, JobStateError, Store

log = logging.getLogger("printprep.service")


def build_printers(settings: Settings) -> dict[str, Any]:
    """name -> Printer for every ``[[printers]]`` entry.

    A bad entry (unknown key, unknown profile) is a :class:`ConfigError` that stops
    startup; a missing printers module (this build has none yet) leaves no printers.
    """
    try:
        from printprep.printers.registry import create_printer
    except ImportError as exc:
        log.warning("printers are not available in this build (%s); no printers", exc)
        return {}
    printers: dict[str, Any] = {}
    for i, entry in enumerate(settings.printers):
        try:
            printers[entry["name"]] = create_printer(dict(entry))
        except (ConfigError, ProfileError):
            raise
        except PrintprepError as exc:
            raise ConfigError(
                str(exc), where=f"{settings.source or 'defaults'}: printers[{i}]"
            ) from None
    return printers


def ensure_first_token(store: Store, *, stream: Any = None) -> str | None:
    """On a store with no token, create one and print it once; return it (else None)."""
    if store.count_tokens():
        return None
    token = store.create_token("initial")
    out = stream or sys.stdout
    print(
        "printprep: first start: created API token 'initial' (shown only once, keep it):\n"
        f"    {token}",
        file=out,
        flush=True,
    )
    return token


class UploadLimitMiddleware:
    """413 for request bodies larger than the upload limit, before or while reading.

    A declared Content-Length over the limit is refused at once; a chunked body is
    counted as it streams and the response is replaced by 413 once it overflows.
    """

    #: Room for the multipart headers and form fields around the file.
    SLACK_BYTES = 256 * 1024

    def __init__(self, app: Any, limit_bytes: int) -> None:
        self.app = app
        self.limit_bytes = limit_bytes + self.SLACK_BYTES
        self.limit_mb = limit_bytes / 1048576

    async def _send_413(self, send: Any) -> None:
        body = (
            b'{"detail":"request body larger than the upload limit of '
            + f"{self.limit_mb:g}".encode()
            + b' MB"}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit_bytes:
            await self._send_413(send)
            return
        seen = 0
        overflow = False

        async def counting_receive() -> Any:
            nonlocal seen, overflow
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit_bytes:
                    overflow = True
                    return {"type": "http.disconnect"}
            return message

        started = False

        async def guarded_send(message: Any) -> None:
            nonlocal started
            if overflow and not started:
                started = True
                await self._send_413(send)
                return
            if overflow:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not overflow:
                raise
        if overflow and not started:
            await self._send_413(send)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(JobNotFoundError)
    async def _not_found(_: Request, exc: JobNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(JobStateError)
    async def _conflict(_: Request, exc: JobStateError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "state": exc.state}, status_code=409)

    @app.exception_handler(PrintprepError)
    async def _invalid(_: Request, exc: PrintprepError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)


def create_app(
    settings: Settings | None = None,
    *,
    printers: dict[str, Any] | None = None,
    start_workers: bool = True,
) -> FastAPI:
    """The service app. ``printers``: already-built printers (else built at startup);
    ``start_workers=False``: no worker processes (tests, or workers run elsewhere)."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from printprep.service.dispatch import Dispatcher
        from printprep.service.watch import Watcher
        from printprep.service.worker import WorkerPool, reclaim_dead

        store = Store.from_settings(settings)
        app.state.store = store
        ensure_first_token(store)
        remove_orphan_folders(store)
        reclaim_dead(store, settings)
        app.state.printers = printers if printers is not None else build_printers(settings)
        app.state.dispatcher = Dispatcher(store, app.state.printers, settings)
        app.state.workers = WorkerPool(settings)
        app.state.watcher = Watcher(store, settings)
        app.state.dispatcher.start()
        if start_workers:
            app.state.workers.start()
        if settings.watch.enabled:
            app.state.watcher.start()
        log.info(
            "printprep %s: data %s, %d worker(s), printers: %s",
            __version__,
            settings.data_dir,
            app.state.workers.count if start_workers else 0,
            ", ".join(app.state.printers) or "none",
        )
        try:
            yield
        finally:
            app.state.watcher.stop()
            app.state.workers.stop(settings.workers.drain_timeout_s)
            app.state.dispatcher.stop()
            for printer in app.state.printers.values():
                try:
                    printer.close()
                except Exception as exc:  # a printer that fails to close must not block
                    log.warning("closing printer %s: %s", getattr(printer, "name", "?"), exc)
            store.close()

    app = FastAPI(
        title="printprep",
        version=__version__,
        description="Print preparation and printer control for lost-wax jewelry casting.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(UploadLimitMiddleware, limit_bytes=settings.upload_limit_bytes)
    _install_error_handlers(app)
    from printprep.service.routes import (
        events,
        health,
        jobs,
        preview,
        profiles,
    )
    from printprep.service.routes import printers as printer_routes
    from printprep.service.routes import web as web_routes

    for module in (health, jobs, profiles, printer_routes, events, preview, web_routes):
        app.include_router(module.router)
    return app
