"""Plates waiting to be cleared: a finished print keeps its printer until a person says so.

A resin (or filament) print stays on the build plate when it finishes; a printer that
started the next job on top of it would crash into it. So when a print the dispatcher
followed finishes on a printer without ``auto_clear``, the printer is *held*: it shows
``finished`` with that job and takes no job until someone calls the printer's
``clear()`` (``POST /api/printers/{name}/clear``, ``printprep printers clear NAME``, the
"Plate cleared" button). Printers with ``auto_clear`` (virtual and folder printers by
default) are cleared by the dispatcher at once.

The held plates are kept in ``<data_dir>/plates.json`` (a :class:`~.ledger.JsonLedger`),
so a service restart - after which a network printer may report itself idle - does not
forget them.

:class:`PlateLedger` is that file; :class:`Plates` is mixed into the dispatcher.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from printprep.printers.base import Printer, PrinterStatus
from printprep.service.dispatch.ledger import JsonLedger, data_file
from printprep.service.dispatch.prints import ActivePrint

log = logging.getLogger("printprep.dispatch")

PLATES_FILE = "plates.json"

#: Who is clearing a plate in this thread (:meth:`Plates.clear_by`): the printer's
#: ``clear()`` calls its listeners in the caller's thread, so the name reaches the event.
_clearing = threading.local()


class PlateLedger(JsonLedger):
    """Printer name -> the plate it holds: ``{"job_ids": [...], "since": epoch s}``."""

    def held(self, name: str) -> dict[str, Any] | None:
        """The plate printer ``name`` holds, or None when it is clear."""
        return self.get(name)

    def hold(self, name: str, job_ids: list[str]) -> None:
        self.put(name, job_ids)

    def release(self, name: str) -> dict[str, Any] | None:
        """Forget the plate of ``name``; returns what it held (None if nothing)."""
        return self.pop(name)


def plates_path(config: Any) -> Path | None:
    """``<data_dir>/plates.json`` of the service config (object or mapping), if it has one."""
    return data_file(config, PLATES_FILE)


def auto_clears(printer: Printer) -> bool:
    return bool(getattr(printer, "auto_clear", False))


class Plates:
    """Holding and clearing plates (mixed into the dispatcher; uses its lock, statuses,
    events and store helpers)."""

    def _watch_clears(self) -> None:
        """Hear every ``clear()`` of every printer, whoever calls it."""
        self._unwatch_clears()
        for name, printer in self.printers.items():
            on_clear = getattr(printer, "on_clear", None)
            if on_clear is not None:
                self._unwatch.append(
                    on_clear(lambda before, name=name: self._plate_cleared(name, before)))

    def _unwatch_clears(self) -> None:
        """Stop hearing clears (the dispatcher stops; the printers may outlive it)."""
        for remove in self._unwatch:
            if callable(remove):
                remove()
        self._unwatch = []

    def _finished(self, pr: ActivePrint, printer: Printer) -> None:
        """A followed print finished (its jobs are done): clear the plate, or hold it."""
        if auto_clears(printer):
            self._safe(printer, "clear")
            return
        self.plates.hold(printer.name, pr.job_ids)
        for job_id in pr.job_ids:
            self._event(
                job_id,
                f"the print is on the plate of {printer.name}: the printer takes its next job "
                f"once someone confirms the plate is cleared (Plate cleared on the printers "
                f"page, or printprep printers clear {printer.name})",
            )

    def clear_by(self, name: str, by: str | None) -> None:
        """Call printer ``name``'s ``clear()`` for the person ``by`` (the API token's
        name): the events of the jobs on the plate say who cleared it."""
        _clearing.by = by
        try:
            self.printers[name].clear()
        finally:
            _clearing.by = None

    def _plate_cleared(self, name: str, before: str) -> None:
        """``clear()`` was called on printer ``name``: release its plate, show it at once."""
        printer = self.printers[name]
        by = getattr(_clearing, "by", None)
        said = f"plate of {name} cleared{f' by {by}' if by else ''}; it takes the next job"
        with self._lock:
            plate = self.plates.release(name)
            for job_id in (plate or {}).get("job_ids", []):
                self._event(job_id, said, {"cleared_by": by} if by else None)
            st = printer.status()
            self._statuses[name] = st
            self.events.publish("printer", st.to_dict())
        if plate is not None or before in ("finished", "error"):
            log.info("printer %s: cleared (was %s)%s", name, before, f" by {by}" if by else "")
        self.wake()

    def _with_plate(self, name: str, st: PrinterStatus) -> PrinterStatus:
        """The printer's status as people see it: ``finished`` with the job while it holds
        a plate, even when the connector (restarted, or its server) reports idle."""
        plate = self.plates.held(name)
        if plate is None or st.state not in ("idle", "finished"):
            return st
        job_ids = plate.get("job_ids") or [None]
        return replace(st, state="finished", job_id=st.job_id or job_ids[0],
                       progress_pct=100.0, time_left_s=0.0)

    def _free(self, name: str, printer: Printer, st: PrinterStatus) -> PrinterStatus | None:
        """The status of a printer that can take a job now, else None."""
        if self.plates.held(name) is not None:
            if not auto_clears(printer):
                return None
            # held before its configuration said auto_clear: it clears itself now
            self._safe(printer, "clear")
            st = printer.status()
        if st.state == "finished" and auto_clears(printer):
            self._safe(printer, "clear")
            st = printer.status()
        return st if st.state == "idle" else None
