"""Cancels waiting for an unreachable printer, kept across a restart of the service.

A job cancelled while its printer cannot be reached is cancelled by the connector as soon
as the printer answers again (OctoPrint and PrusaLink printers print on through a
network outage). The connector keeps that pending cancel in memory; the dispatcher also
writes it to ``<data_dir>/cancels.json`` (printer name -> the connector's
``pending_cancel()`` and the jobs), hands it back to the new connector when the service
starts again (``resume_cancel()``, before connecting), and logs in each job's history
how it ended once the connector has none left.

:class:`PendingCancels` is mixed into the dispatcher (uses its printers and ``_event``).
"""

from __future__ import annotations

import logging

from printprep.printers.base import Printer
from printprep.service.dispatch.ledger import JsonLedger

log = logging.getLogger("printprep.dispatch")

CANCELS_FILE = "cancels.json"


class PendingCancels:
    """Keeping pending cancels (mixed into the dispatcher)."""

    cancels: JsonLedger

    def _restore_cancels(self) -> None:
        """Give each printer back the cancel a previous run could not send it."""
        for name in self.cancels.names():
            entry = self.cancels.get(name) or {}
            printer = self.printers.get(name)
            resume = getattr(printer, "resume_cancel", None)
            if printer is None or resume is None or not entry.get("pending"):
                self.cancels.pop(name)
                for job_id in entry.get("job_ids", []):
                    self._event(job_id, f"the cancel pending for printer {name!r} is dropped: "
                                        "it is not configured any more; check it by hand")
                continue
            resume(entry["pending"])
            log.info("printer %s: cancel pending since before the restart: %s", name, entry)

    def _remember_cancel(self, printer: Printer, job_ids: list[str]) -> None:
        """After ``cancel()``: keep the cancel the printer could not be sent yet."""
        pending = getattr(printer, "pending_cancel", lambda: None)()
        if pending:
            self.cancels.put(printer.name, job_ids, pending=pending)

    def _settle_cancels(self) -> None:
        """Forget the cancels the printers no longer hold (sent, or the print ended)."""
        for name in self.cancels.names():
            printer = self.printers.get(name)
            if printer is not None and getattr(printer, "pending_cancel", lambda: None)():
                continue
            entry = self.cancels.pop(name) or {}
            how = printer.status().last_error if printer is not None else None
            for job_id in entry.get("job_ids", []):
                self._event(job_id, f"pending cancel on {name} settled: "
                                    f"{how or 'the printer holds it no more'}")
