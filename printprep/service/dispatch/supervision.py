"""Printer supervision: following a started print to its end, printers going offline and
coming back, prints lost by a printer, prints left running by a previous service run,
and (re)connecting printers in their own threads.

:class:`Supervision` is mixed into :class:`~printprep.service.dispatch.loop.Dispatcher`;
it uses the dispatcher's printers, store helpers (``_transition``, ``_event``,
``_progress``, ``_safe``) and lock.
"""

from __future__ import annotations

import logging
import threading
import time

from printprep.errors import PrintprepError
from printprep.printers.base import Printer, PrinterStatus
from printprep.service.dispatch.prints import ActivePrint, attr

log = logging.getLogger("printprep.dispatch")


class Supervision:
    """Following prints and printers (mixed into the dispatcher)."""

    # -- following prints -----------------------------------------------------------------
    def _follow(self, pr: ActivePrint, printer: Printer, st: PrinterStatus, now: float) -> None:
        live = []
        for job_id in pr.job_ids:
            job_state = attr(self.store.get(job_id), "state")
            if job_state == "printing":
                live.append(job_id)
            elif len(pr.job_ids) > 1:
                self._event(
                    job_id,
                    f"job is {job_state}: its part stays on the plate on "
                    f"{printer.name}; the other parts carry on",
                )
        if not live:
            # cancelled (or moved on) from outside: stop the print nobody wants
            away = (" (offline: the cancel is sent when it is back)"
                    if st.state == "offline" else "")
            for job_id in pr.job_ids:
                self._event(job_id, f"cancelling the print on {printer.name}{away}")
            if st.state in ("printing", "paused", "busy", "idle", "offline"):
                # offline too: a printer that comes back must not carry on a cancelled job
                # (connectors that can, such as OctoPrint, keep the cancel until then)
                self._safe(printer, "cancel")
                self._remember_cancel(printer, pr.job_ids)
            self._release(pr, printer)
            return
        pr.job_ids = live
        ours = st.job_id == pr.job_id
        if st.state == "offline":
            if pr.offline_since is None:
                pr.offline_since = now
                for job_id in pr.job_ids:
                    self._event(
                        job_id,
                        f"printer {printer.name} went offline at {pr.progress_pct:.0f} %; "
                        f"waiting up to {self.settings.offline_grace_s:g} s for it",
                    )
            elif now - pr.offline_since > self.settings.offline_grace_s:
                self._lost(
                    pr,
                    printer,
                    f"printer {printer.name} stayed offline for {now - pr.offline_since:.0f} s",
                )
            return
        if pr.offline_since is not None:
            for job_id in pr.job_ids:
                self._event(job_id, f"printer {printer.name} is back ({st.state})")
            pr.offline_since = None
        if st.state in ("printing", "paused") and ours:
            if st.state != pr.last_state:
                for job_id in pr.job_ids:
                    self._event(job_id, f"print {st.state} on {printer.name}")
            pr.last_state = st.state
            if st.progress_pct is not None and st.progress_pct != pr.progress_pct:
                pr.progress_pct = st.progress_pct
                for job_id in pr.job_ids:
                    self._progress(job_id, st)
            return
        if st.state == "busy" and ours:
            return
        if st.state == "finished" and (ours or st.job_id is None):
            for job_id in pr.job_ids:
                self._progress(job_id, st, pct=100.0)
                self._transition(
                    job_id,
                    "done",
                    f"printed on {printer.name}",
                    elapsed_s=round(now - pr.started, 1),
                )
            self._release(pr, printer)
            self._finished(pr, printer)
            return
        if st.state == "error":
            reason = st.last_error or "the printer reported an error"
            for job_id in pr.job_ids:
                if st.progress_pct is not None:
                    self._progress(job_id, st)  # where it stopped
                self._transition(
                    job_id,
                    "failed",
                    f"print failed on {printer.name}: {reason}",
                    error=f"print failed on {printer.name}: {reason}",
                )
            self._release(pr, printer)
            return
        # idle / finished without our job: the printer lost it (restart, cancel at the panel)
        why = st.last_error or "it no longer has the job"
        self._lost(pr, printer, f"printer {printer.name} is {st.state}: {why}")

    def _lost(self, pr: ActivePrint, printer: Printer, why: str) -> None:
        """The printer lost the print: queue it again if nothing was printed, else ask."""
        for job_id in pr.job_ids:
            if pr.progress_pct <= 0.0:
                self._transition(
                    job_id,
                    "queued",
                    f"{why}; nothing was printed yet, so the job is queued again",
                    printer=None,
                    progress_pct=0.0,
                )
            else:
                self._transition(
                    job_id,
                    "needs_attention",
                    f"{why} at {pr.progress_pct:.0f} %; a part may be on the plate - "
                    "check the printer, then requeue or cancel the job",
                )
        self._release(pr, printer)

    def _release(self, pr: ActivePrint, printer: Printer) -> None:
        self._prints.pop(printer.name, None)

    def _recover(self) -> None:
        """Jobs left ``printing`` by a previous run: follow them again, or move them on."""
        try:
            jobs = list(self.store.list_jobs(state="printing", limit=100_000))
        except PrintprepError:
            log.exception("dispatcher: cannot list printing jobs")
            return
        for job in jobs:
            job_id = str(attr(job, "id", "job_id"))
            name = attr(job, "printer")
            pct = float(attr(job, "progress_pct", "progress", default=0.0) or 0.0)
            if name in self.printers and name not in self._prints:
                self._prints[name] = ActivePrint(job_id, name, progress_pct=pct, recovered=True)
                self._event(job_id, f"service restarted: following the print on {name} again")
            else:
                why = f"printer {name!r} is not configured any more"
                if pct <= 0:
                    self._transition(job_id, "queued", f"{why}; queued again", printer=None)
                else:
                    self._transition(job_id, "needs_attention", f"{why}; check it by hand")

    def _connect_async(self, name: str) -> threading.Thread | None:
        """Connect printer ``name`` in its own thread (at most one attempt at a time)."""
        self._next_connect[name] = time.time() + self.settings.reconnect_s
        with self._lock:
            if name in self._connecting:
                return None
            self._connecting.add(name)

        def work() -> None:
            try:
                self.printers[name].connect()
            except PrintprepError as exc:
                log.info("printer %s: %s", name, exc)
            except Exception:  # noqa: BLE001
                log.exception("printer %s: connect", name)
            finally:
                with self._lock:
                    self._connecting.discard(name)
                self.wake()

        t = threading.Thread(target=work, name=f"connect-{name}", daemon=True)
        t.start()
        return t
