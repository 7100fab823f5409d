"""The dispatcher's thread: each tick reads the printers, follows running prints
(:mod:`.supervision`) and gives free printers the best queued job of their profile, or a
plate of several (:mod:`.batching`); uploads and starts run in their own threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from printprep.errors import PrintprepError
from printprep.printers.base import Printer, PrinterStatus
from printprep.service.dispatch.batching import Batching
from printprep.service.dispatch.cancels import CANCELS_FILE, PendingCancels
from printprep.service.dispatch.events import EventHub
from printprep.service.dispatch.ledger import JsonLedger, data_file
from printprep.service.dispatch.plates import PlateLedger, Plates, plates_path
from printprep.service.dispatch.prints import ActivePrint, attr, job_archive_path, queue_order
from printprep.service.dispatch.settings import dispatch_settings
from printprep.service.dispatch.supervision import Supervision

log = logging.getLogger("printprep.dispatch")


class Dispatcher(Supervision, Plates, PendingCancels, Batching):
    """Moves queued jobs onto printers and printer outcomes back into jobs."""

    def __init__(self, store: Any, printers: Mapping[str, Printer], config: Any) -> None:
        self.store = store
        self.printers: dict[str, Printer] = dict(printers)
        self.config = config
        self.settings = dispatch_settings(config)
        self.events = EventHub()
        self._prints: dict[str, ActivePrint] = {}  # printer name -> print
        self._statuses: dict[str, PrinterStatus] = {}
        self._next_connect: dict[str, float] = {}
        self._connecting: set[str] = set()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        #: Plates waiting to be cleared (:mod:`.plates`), kept in <data_dir>/plates.json.
        self.plates = PlateLedger(plates_path(config))
        self._unwatch: list[Callable[[], None]] = []  # see start() / stop()
        #: Cancels unreachable printers have not been sent yet (:mod:`.cancels`).
        self.cancels = JsonLedger(data_file(config, CANCELS_FILE))

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Connect the printers, pick up prints left running, start the thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._watch_clears()
        self._restore_cancels()
        threads = [self._connect_async(name) for name in self.printers]
        deadline = time.monotonic() + 2.0  # quick printers are ready for the first tick
        for t in threads:
            if t is not None:
                t.join(timeout=max(0.0, deadline - time.monotonic()))
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the printers (prints on real printers carry on)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._unwatch_clears()
        for p in self.printers.values():
            try:
                p.close()
            except Exception:  # noqa: BLE001 - closing must not stop the others
                log.exception("closing printer %s", p.name)

    def wake(self) -> None:
        """Run a tick now (a job was queued or cancelled)."""
        self._wake.set()

    # -- queries for the API --------------------------------------------------------------
    def statuses(self) -> list[PrinterStatus]:
        """Latest status of every printer (as of the last tick), by name."""
        with self._lock:
            out = []
            for name, p in sorted(self.printers.items()):
                st = self._statuses.get(name) or p.status()
                out.append(st)
            return out

    def status(self, name: str) -> PrinterStatus | None:
        p = self.printers.get(name)
        if p is None:
            return None
        with self._lock:
            return self._statuses.get(name) or p.status()

    def job_on(self, name: str) -> str | None:
        with self._lock:
            pr = self._prints.get(name)
            return pr.job_id if pr else None

    def act_by(self, name: str, action: str, by: str | None) -> None:
        """Pause or resume printer ``name`` for the person ``by`` (the API token's name);
        the events of the jobs it is printing say who did it. PrinterError passes through
        (the caller answers 409)."""
        printer = self.printers[name]
        getattr(printer, action)()
        with self._lock:
            pr = self._prints.get(name)
            job_ids = list(pr.job_ids) if pr else []
            st = printer.status()  # shown at once, not at the next tick
            self._statuses[name] = st
            if pr is not None:  # the event below says it; supervision need not repeat it
                pr.last_state = st.state
            self.events.publish("printer", st.to_dict())
        done = {"pause": "paused", "resume": "resumed"}.get(action, action)
        for job_id in job_ids:
            self._event(job_id, f"print {done} on {name}{f' by {by}' if by else ''}",
                        {f"{done}_by": by} if by else None)
        log.info("printer %s: %s%s", name, done, f" by {by}" if by else "")

    # -- the loop -------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - one bad tick must not end dispatching
                log.exception("dispatcher tick failed")
            self._wake.wait(self.settings.poll_s)
            self._wake.clear()

    def tick(self) -> None:
        """One pass: statuses, running prints, new assignments."""
        with self._lock:
            now = time.time()
            if self.cancels.names():
                self._settle_cancels()
            for name, printer in self.printers.items():
                st = self._with_plate(name, printer.status())
                if st.state == "offline" and now >= self._next_connect.get(name, 0.0):
                    self._connect_async(name)  # an unreachable printer must not stall the rest
                prev = self._statuses.get(name)
                self._statuses[name] = st
                if not st.same_as(prev):
                    self.events.publish("printer", st.to_dict())
                pr = self._prints.get(name)
                if pr is not None and not pr.sending:
                    if pr.announce or pr.send_error is not None:
                        if self._sent(pr, printer):
                            continue
                    self._follow(pr, printer, st, now)
            for name, printer in sorted(self.printers.items()):
                if name in self._prints:
                    continue
                st = self._free(name, printer, self._statuses[name])
                if st is not None:
                    self._assign(printer, st)

    # -- assigning ------------------------------------------------------------------------
    def _assign(self, printer: Printer, st: PrinterStatus) -> None:
        jobs = list(self.store.queued_jobs(profile=printer.profile))
        if not jobs:
            return
        jobs.sort(key=queue_order)
        if self.settings.batching and len(jobs) > 1 and self._assign_plate(printer, st, jobs):
            return
        for job in jobs:
            job_id = str(attr(job, "id", "job_id"))
            path = job_archive_path(job)
            if path is None or not path.is_file():
                self._transition(
                    job_id,
                    "failed",
                    f"no sliced file to print (looked for {path})",
                    expect="queued",
                )
                continue
            if not self._transition(
                job_id,
                "printing",
                f"sending {path.name} to {printer.name}",
                expect="queued",
                printer=printer.name,
            ):
                continue  # someone else moved it
            meta = {"job_id": job_id, "name": path.name, "profile": printer.profile}
            pr = ActivePrint(job_id, printer.name)
            pr.announce = [(job_id, f"printing on {printer.name}", None)]
            self._send(pr, printer, st, lambda path=path, meta=meta: (path, meta))
            return

    def _send(
        self,
        pr: ActivePrint,
        printer: Printer,
        st: PrinterStatus,
        prepare: Callable[[], tuple[Path, dict[str, Any]]],
    ) -> None:
        """Build (``prepare``), send and start a print in its own thread: an upload or a
        plate being sliced must not hold up the other printers. The next ticks follow."""
        pr.sending = True
        self._prints[printer.name] = pr

        def work() -> None:
            try:
                path, meta = prepare()
                printer.send(path, meta)
                printer.start()
            except PrintprepError as exc:
                pr.send_error = str(exc)
            except Exception as exc:  # noqa: BLE001 - a connector bug must not lose the job
                log.exception("printer %s", printer.name)
                pr.send_error = f"{type(exc).__name__}: {exc}"
            finally:
                pr.sending = False
                self.wake()

        threading.Thread(target=work, name=f"send-{printer.name}", daemon=True).start()

    def _sent(self, pr: ActivePrint, printer: Printer) -> bool:
        """After a send finished: requeue on failure, else log the start. True if failed."""
        if pr.send_error is not None:
            for job_id in pr.job_ids:
                self._transition(
                    job_id,
                    "queued",
                    f"could not start on {printer.name}: {pr.send_error}",
                    printer=None,
                )
            self._next_connect[printer.name] = time.time() + self.settings.reconnect_s
            self._release(pr, printer)
            return True
        for job_id, message, data in pr.announce:
            self._event(job_id, message, data)
        pr.announce = []
        return False

    # -- store helpers --------------------------------------------------------------------
    def _transition(
        self,
        job_id: str,
        to_state: str,
        message: str,
        *,
        expect: str | None = "printing",
        **fields: Any,
    ) -> bool:
        try:
            self.store.transition(job_id, to_state, message, expect=expect, **fields)
        except PrintprepError as exc:
            log.info("job %s: %s -> %s refused: %s", job_id, expect, to_state, exc)
            return False
        self.events.publish("job", {"id": job_id, "state": to_state, "message": message})
        return True

    def _event(self, job_id: str, message: str, data: dict[str, Any] | None = None) -> None:
        try:
            self.store.add_event(job_id, message, data)
        except PrintprepError:
            log.exception("job %s: event %r", job_id, message)

    def _progress(self, job_id: str, st: PrinterStatus, pct: float | None = None) -> None:
        pct = st.progress_pct if pct is None else pct
        if st.layer is not None and st.layer_count:
            detail = f"layer {st.layer}/{st.layer_count} on {st.name}"
        elif st.line is not None and st.line_count:
            detail = f"line {st.line}/{st.line_count} on {st.name}"
        else:
            detail = f"on {st.name}"
        self.store.set_progress(job_id, pct, detail)
        self.events.publish(
            "job", {"id": job_id, "state": "printing", "progress_pct": pct, "detail": detail}
        )

    def _safe(self, printer: Printer, action: str) -> None:
        try:
            getattr(printer, action)()
        except Exception as exc:  # noqa: BLE001 - best effort, logged
            log.info("printer %s: %s: %s", printer.name, action, exc)
