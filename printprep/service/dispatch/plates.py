"""Plates waiting to be cleared: a finished print keeps its printer until a person says so.

A resin (or filament) print stays on the build plate when it finishes; a printer that
started the next job on top of it would crash into it. So when a print the dispatcher
followed finishes on a printer without ``auto_clear``, the printer is *held*: it shows
``finished`` with that job and takes no job until someone calls the printer's
``clear()`` (``POST /api/printers/{name}/clear``, ``printprep printers clear NAME``, the
"Plate cleared" button). Printers with ``auto_clear`` (virtual and folder printers by
default) are cleared by the dispatcher at once.

The held plates are kept in ``<data_dir>/plates.json`` (written atomically), so a service
restart - after which a network printer may report itself idle - does not forget them.

:class:`PlateLedger` is that file; :class:`Plates` is mixed into the dispatcher.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from printprep.printers.base import Printer, PrinterStatus
from printprep.service.dispatch.prints import ActivePrint

log = logging.getLogger("printprep.dispatch")

PLATES_FILE = "plates.json"


class PlateLedger:
    """Printer name -> the plate it holds: ``{"job_ids": [...], "since": epoch s}``.

    ``path`` None keeps the ledger in memory only (a dispatcher with no data folder).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._held: dict[str, dict[str, Any]] = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("job_ids"), list) for v in data.values()
            ):
                raise ValueError("not a table of printer -> {job_ids, since}")
        except (OSError, ValueError) as exc:
            # Keep the unreadable file for a person; without it every printer looks clear,
            # which the log says loudly.
            bad = self.path.with_name(self.path.name + ".unreadable")
            log.error("%s: unreadable (%s); kept as %s, no plate is held", self.path, exc, bad)
            os.replace(self.path, bad)
            return {}
        return data

    def _write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._held, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    def held(self, name: str) -> dict[str, Any] | None:
        """The plate printer ``name`` holds, or None when it is clear."""
        with self._lock:
            plate = self._held.get(name)
            return dict(plate) if plate else None

    def hold(self, name: str, job_ids: list[str]) -> None:
        with self._lock:
            self._held[name] = {"job_ids": list(job_ids), "since": time.time()}
            self._write()

    def release(self, name: str) -> dict[str, Any] | None:
        """Forget the plate of ``name``; returns what it held (None if nothing)."""
        with self._lock:
            plate = self._held.pop(name, None)
            if plate is not None:
                self._write()
            return plate


def plates_path(config: Any) -> Path | None:
    """``<data_dir>/plates.json`` of the service config (object or mapping), if it has one."""
    data_dir = getattr(config, "data_dir", None)
    if data_dir is None and isinstance(config, Mapping):
        data_dir = config.get("data_dir")
    return None if data_dir is None else Path(data_dir) / PLATES_FILE


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

    def _plate_cleared(self, name: str, before: str) -> None:
        """``clear()`` was called on printer ``name``: release its plate, show it at once."""
        printer = self.printers[name]
        with self._lock:
            plate = self.plates.release(name)
            for job_id in (plate or {}).get("job_ids", []):
                self._event(job_id, f"plate of {name} cleared; it takes the next job")
            st = printer.status()
            self._statuses[name] = st
            self.events.publish("printer", st.to_dict())
        if plate is not None or before in ("finished", "error"):
            log.info("printer %s: cleared (was %s)", name, before)
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
