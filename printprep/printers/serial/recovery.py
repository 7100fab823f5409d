"""Failures and reconnection of the serial host: fatal errors and firmware restarts end
the print; a pulled cable makes the printer offline, the port is reopened every
``reconnect_s`` and the print carries on if the firmware did not restart meanwhile.

:class:`Recovery` is mixed into :class:`~printprep.printers.serial.printer.SerialPrinter`
and works on its state (``_phase``, ``lq``, ``transport``, ``_status``) under its lock.
"""

from __future__ import annotations

import time
from typing import Any

from printprep.printers.serial.transport import LinkLost


class Recovery:
    """Ending, losing and regaining a print (mixed into the serial printer)."""

    reconnect_settle_s = 1.0

    def _fail(self, message: str) -> None:
        line = self.lq.lines_done
        total = len(self._commands or ())
        where = f" at line {line} of {total}" if self._phase == "printing" else ""
        self._note(f"error{where}: {message}")
        self._phase = "ready"
        self.lq.reset(None)
        self._update(state="error", last_error=f"{message}{where}")

    def _firmware_restarted(self) -> None:
        if self._phase == "printing":
            self._fail("the firmware restarted (start): print aborted")
            self._begin_handshake()
        elif self._phase == "handshake":
            self._begin_handshake()
        elif self._phase == "reconnect-check":
            lost = self._lost_at
            self._lost_at = None
            self._begin_handshake()
            self._drop_job(f"the connection was lost at line {lost} and the printer "
                           "restarted: print lost", state="idle", keep_phase=True)
        else:
            self._begin_handshake()

    def _link_lost(self, message: str) -> None:
        self.transport.close()
        self._note(message)
        if self._phase == "printing" or self._status.state in ("printing", "paused"):
            self._lost_at = self.lq.lines_done
        self._phase = "reconnecting"
        self._reconnect_at = time.monotonic() + self.reconnect_s
        self._update(state="offline", seen=False, last_error=message)

    def _reconnect_step(self) -> None:
        if self._phase == "closed" or time.monotonic() < self._reconnect_at:
            time.sleep(0.05)
            return
        self._reconnect_at = time.monotonic() + self.reconnect_s
        try:
            self.transport.open()
        except LinkLost:
            return
        with self._lock:
            self._note(f"reopened {self.port}")
            self._buf = b""
            self._last_rx = self._last_reply = time.monotonic()
            if self._lost_at is not None and self._status.job_id is not None:
                # ask, then listen: a firmware that restarted says "start"
                self._phase = "reconnect-check"
                self._reconnect_opened = time.monotonic()
                self.lq.on_silence()
                try:
                    self.transport.write(b"M105\n")
                except LinkLost:
                    return
            else:
                self._begin_handshake()

    def _resume_after_reconnect(self) -> None:
        """No ``start`` after reopening: the firmware kept its state; carry on."""
        self._phase = "printing"
        self._note(f"reconnected without a firmware restart: carrying on from line "
                   f"{self._lost_at}")
        self._lost_at = None
        self._update(state="paused" if self.lq.paused else "printing", last_error=None)
        self.lq.poke("M105")

    def _drop_job(self, reason: str | None, *, state: str, keep_phase: bool = False) -> None:
        self._commands = None
        self._job_id = None
        if not keep_phase and self._phase == "printing":
            self._phase = "ready"
        fields: dict[str, Any] = {"state": state, "job_id": None, "progress_pct": None,
                                  "time_left_s": None}
        if reason is not None:
            fields["last_error"] = reason
            self._note(reason)
        self._update(seen=state != "offline", **fields)
