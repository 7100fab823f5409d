"""Serial printer (type ``serial``): a Marlin/RepRap host streaming G-code over pyserial.

Layers: :mod:`.transport` (the port), :mod:`.lines` (numbering, window, resend history),
:mod:`.parser` with :mod:`.regexes` (reply lines -> records), :mod:`.gcode` (reading a
file), :mod:`.recovery` (failures and reconnection), and this module, which owns the state
and one thread per printer that reads replies, reacts to them and keeps the firmware's
buffer full.

Connecting opens the port, resets the line counter (``N0 M110 N0``) and asks ``M115`` for
the firmware name and capabilities; with ``Cap:AUTOREPORT_TEMP:1`` the firmware is asked to
report temperatures itself (``M155 S2``), otherwise the host polls ``M105``.

What ends a print: a fatal firmware error (``Error:Printer halted``...) or a firmware reset
(``start``) -> state ``error`` naming the line; a resend the history cannot serve -> ``error``;
no reply after ``max_pokes`` timeouts -> ``error``. A pulled cable makes the printer
``offline`` with its job kept; the host reopens the port every ``reconnect_s``. If the
firmware did not restart meanwhile the print carries on from the line the firmware asks
for, otherwise the printer comes back ``idle`` with the print lost and the reason in
``last_error``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from printprep.printers.base import FREE_STATES, BasePrinter
from printprep.printers.serial.gcode import CANCEL_GCODE, read_gcode
from printprep.printers.serial.lines import LineQueue, ResendError
from printprep.printers.serial.parser import Reply, parse_line
from printprep.printers.serial.recovery import Recovery
from printprep.printers.serial.transport import LinkLost, Transport

log = logging.getLogger("printprep.serial")

#: Reply kinds that show the firmware is working through our commands (timeout clock).
_REPLIES = frozenset({"ok", "resend", "busy", "wait", "start", "error", "fatal"})

class SerialPrinter(Recovery, BasePrinter):
    """A printer on a serial port speaking Marlin/RepRap G-code."""

    kind = "serial"

    def __init__(
        self,
        name: str,
        profile: str,
        *,
        port: str,
        baudrate: int = 115200,
        timeout_s: float = 30.0,
        busy_timeout_s: float = 3.0,
        rx_buffer_bytes: int = 128,
        max_inflight: int = 4,
        poll_s: float = 1.0,
        reconnect_s: float = 2.0,
        temp_poll_s: float = 5.0,
        max_pokes: int = 5,
        resend_ok_timeout_s: float = 0.5,
        history: int = 1000,
        max_lineno: int = 2_000_000_000,
        long_timeout_s: float = 600.0,
    ) -> None:
        super().__init__(name, profile)
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.busy_timeout_s = busy_timeout_s
        self.poll_s = poll_s
        self.reconnect_s = reconnect_s
        self.temp_poll_s = temp_poll_s
        self.max_pokes = max_pokes
        self.resend_ok_timeout_s = resend_ok_timeout_s
        self.long_timeout_s = long_timeout_s
        self.transport = Transport(port, baudrate, where=f"printer {name}")
        self.lq = LineQueue(rx_buffer_bytes=rx_buffer_bytes, max_inflight=max_inflight,
                            history=history, max_lineno=max_lineno)
        self.firmware: str | None = None
        self.capabilities: dict[str, bool] = {}
        self.log: list[str] = []  # recent notable protocol events, newest last
        #: the run of unobeyed resend requests the last log entry sums up: (what, first
        #: line, count, the entry as written)
        self._resend_run: tuple[str, int | None, int, str] | None = None
        self._commands: list[str] | None = None
        self._job_id: str | None = None
        self._phase = "closed"  # closed | handshake | ready | printing | reconnecting
        self._handshake_done = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._buf = b""
        self._last_rx = 0.0
        self._last_line_hint: int | None = None
        self._last_reply = 0.0  # last reply that answers a command (ok, resend, busy...)
        self._busy_seen = False
        self._pokes = 0
        self._last_temp_poll = 0.0
        self._last_status = 0.0
        self._print_t0 = 0.0
        self._lost_at: int | None = None
        self._reconnect_at = 0.0
        self._reconnect_opened = 0.0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> SerialPrinter:
        keys = ("port", "baudrate", "timeout_s", "busy_timeout_s", "rx_buffer_bytes",
                "max_inflight", "poll_s")
        return cls(cfg["name"], cfg["profile"], **{k: cfg[k] for k in keys})

    # -- Printer --------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the port and handshake (M110, M115); raises PrinterError on failure."""
        if self._thread is not None and self._thread.is_alive():
            return
        self.transport.open()
        self._stop.clear()
        self._handshake_done.clear()
        with self._lock:
            self._begin_handshake()
        self._thread = threading.Thread(target=self._run, name=f"serial-{self.name}",
                                        daemon=True)
        self._thread.start()
        wait_s = min(self.timeout_s, 10.0)
        if not self._handshake_done.wait(wait_s):
            self.close()
            raise self._error(f"no reply from the firmware on {self.port} within {wait_s:g} s "
                              f"(is it a G-code printer at {self.baudrate} baud?)")

    def send(self, path: Path, meta: Mapping[str, Any]) -> None:
        path = Path(path)
        self._require_state("receive a file", *FREE_STATES)
        commands = read_gcode(path, where=f"printer {self.name}")
        with self._lock:
            self._require_state("receive a file", *FREE_STATES)
            self._commands = commands
            self._job_id = meta.get("job_id")
            self._update(state="idle", job_id=self._job_id, progress_pct=0.0, line=0,
                         line_count=len(commands), last_error=None, time_left_s=None)

    def start(self) -> None:
        with self._lock:
            self._require_state("start", "idle")
            if self._commands is None:
                raise self._error("cannot start: no file was sent")
            self.lq.reset(iter(self._commands), verify=True)
            self.lq.paused = False
            self._phase = "printing"
            self._print_t0 = time.monotonic()
            self._update(state="printing", job_id=self._job_id, progress_pct=0.0, line=0)
            self._note(f"printing {len(self._commands)} commands")
            self._pump()

    def pause(self) -> None:
        with self._lock:
            self._require_state("pause", "printing")
            self.lq.paused = True
            self._update(state="paused")

    def resume(self) -> None:
        with self._lock:
            self._require_state("resume", "paused")
            self.lq.paused = False
            self._update(state="printing")
            self._pump()

    def cancel(self) -> None:
        with self._lock:
            st = self._require_state("cancel", "printing", "paused", "idle", "offline")
            if st.state == "offline":
                self._phase = "closed" if self._phase != "reconnecting" else self._phase
                self._drop_job("cancelled while offline", state="offline")
                return
            self._stream_control(CANCEL_GCODE)
            self._drop_job("cancelled", state="idle")

    def clear(self) -> None:
        with self._lock:
            before = self._status.state
            if before in ("finished", "error"):
                if self.transport.is_open:
                    self._stream_control(())
                self._drop_job(None, state="idle" if self.transport.is_open else "offline")
        self._cleared(before)

    def close(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5.0)
        self._thread = None
        self.transport.close()
        with self._lock:
            self._phase = "closed"
            self._update(state="offline", seen=False)

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.transport.is_open:
                self._reconnect_step()
                continue
            try:
                data = self.transport.read()
            except LinkLost as exc:
                with self._lock:
                    self._link_lost(str(exc))
                continue
            now = time.monotonic()
            with self._lock:
                try:
                    if data:
                        self._last_rx = now
                        self._buf += data
                        *lines, self._buf = self._buf.split(b"\n")
                        for raw in lines:
                            text = raw.decode("ascii", "replace").strip()
                            if text:
                                self._handle(parse_line(text), now)
                    self._check_quiet(now)
                    self._pump()
                    self._progress(now)
                except LinkLost as exc:
                    self._link_lost(str(exc))
                except Exception as exc:  # noqa: BLE001 - the reader must survive a bug
                    log.exception("printer %s", self.name)
                    self._fail(f"internal error in the serial host: {exc}")

    def _begin_handshake(self) -> None:
        """Fresh start with the firmware: nothing of ours is in its buffers any more."""
        self._phase = "handshake"
        self._buf = b""
        self._busy_seen = False
        self._last_rx = self._last_reply = time.monotonic()
        self.lq.on_silence()
        self.lq.reset(None)
        self.lq.poke("M115")
        self._pump()

    def _handle(self, r: Reply, now: float) -> None:
        if r.temperatures:
            temps = {k: v for k, v in r.temperatures.items()}
            self._update(temperatures=temps)
        kind = r.kind
        if kind in _REPLIES:
            self._last_reply = now
            self._pokes = 0
        if kind == "ok":
            self.lq.on_ok()
            if self._phase == "handshake" and self.lq.done:
                self._finish_handshake()
        elif kind == "resend":
            last_line, self._last_line_hint = self._last_line_hint, None
            try:
                what = self.lq.on_resend(r.line or 0, last_line)
            except ResendError as exc:
                if self._phase == "printing":
                    self._fail(str(exc))
                else:
                    self._note(f"ignored: {exc}")
                    self.lq.on_silence()
                return
            if what != "rewind":
                self._note_resend(what, r.line)
        elif kind == "busy":
            self._busy_seen = True
        elif kind == "wait":
            if self.lq.inflight:
                self.lq.on_silence()
        elif kind == "start":
            self._firmware_restarted()
        elif kind == "fatal":
            self._fail(f"firmware error: {r.message}")
        elif kind == "error":
            self._last_line_hint = r.line
            if r.line is None:  # Last Line errors are followed by a resend request
                self._note(f"firmware error: {r.message}")
                self._update(last_error=r.message)
        elif kind == "firmware":
            self.firmware = r.message
        elif kind == "capability":
            self.capabilities[r.message] = bool(r.line)
        elif kind == "action":
            self._note(f"firmware action: {r.message}")
            if r.message.startswith("pause") and self._status.state == "printing":
                self.lq.paused = True
                self._update(state="paused")
            elif r.message.startswith("resume") and self._status.state == "paused":
                self.lq.paused = False
                self._update(state="printing")
            elif r.message.startswith("cancel") and self._status.state in ("printing",
                                                                           "paused"):
                self._drop_job("cancelled at the printer", state="idle")

    def _finish_handshake(self) -> None:
        if self.capabilities.get("AUTOREPORT_TEMP"):
            self.lq.poke("M155 S2")
        resuming = self._lost_at is not None and self._commands is not None
        if resuming and self._status.job_id is not None:
            self._phase = "printing"
            self._note(f"reconnected: carrying on the print from line {self._lost_at}")
            self._lost_at = None
            self._update(state="paused" if self.lq.paused else "printing")
        else:
            self._phase = "ready"
            if self._status.state != "error":  # an error waits for clear()
                self._update(state="idle")
        self._handshake_done.set()

    def _check_quiet(self, now: float) -> None:
        quiet_s = now - self._last_reply
        if self.lq.pending_ok and quiet_s > self.resend_ok_timeout_s:
            self.lq.fake_ok()
        if self._phase == "reconnect-check":
            if now - self._reconnect_opened > self.reconnect_settle_s:
                self._resume_after_reconnect()
            return
        if self.lq.inflight:
            if self.lq.waiting_long and not self._busy_seen:
                limit = max(self.timeout_s, self.long_timeout_s)
            else:
                limit = self.busy_timeout_s if self._busy_seen else self.timeout_s
            if quiet_s > limit * (self._pokes + 1):
                self._pokes += 1
                if self._pokes > self.max_pokes:
                    self._fail(f"no reply from the firmware for {quiet_s:.0f} s "
                               f"({self.max_pokes} M105 pokes)")
                    return
                self._note(f"no reply for {quiet_s:.1f} s: poking with M105")
                self.lq.on_silence()
                self.lq.poke("M105")
        elif (self._phase in ("ready", "printing") and not self.capabilities.get(
                "AUTOREPORT_TEMP") and now - self._last_temp_poll > self.temp_poll_s):
            self._last_temp_poll = now
            self.lq.poke("M105")

    def _pump(self) -> None:
        if not self.transport.is_open or self._phase == "reconnect-check":
            return
        while (data := self.lq.next_to_write()) is not None:
            self.transport.write(data)
        if self._phase == "printing" and self.lq.done and self._status.state == "printing":
            self._phase = "ready"
            self._update(state="finished", progress_pct=100.0, line=self.lq.lines_done,
                         time_left_s=0.0)
            self._note("print finished")

    def _progress(self, now: float) -> None:
        if self._phase != "printing" or now - self._last_status < 0.1:
            return
        self._last_status = now
        total = len(self._commands or ()) or 1
        done = self.lq.lines_done
        elapsed = now - self._print_t0
        left = elapsed / done * (total - done) if done else None
        self._update(progress_pct=100.0 * done / total, line=done, time_left_s=left)

    def _stream_control(self, commands: tuple[str, ...]) -> None:
        """Replace whatever is streaming by a few control commands (cancel, reset)."""
        self.lq.reset(iter(commands))
        self.lq.paused = False
        self._phase = "ready"
        self._pump()

    def _note_resend(self, what: str, line: int | None) -> None:
        """Note a resend request that was not obeyed (``what``: swallowed, ignored...).
        A run of them, one per line of a burst, is one entry whose line range and count
        grow ("swallowed resend requests for lines 1419-1435 (x17)"): the burst after a
        replugged cable must not push the events that matter out of the log."""
        head = f"{what} resend request"
        last = self.log[-1] if self.log else ""
        if self._resend_run is not None and self._resend_run[0] == what and last == self._resend_run[3]:
            _, first, count, _ = self._resend_run
            message = f"{head}s for lines {first}-{line} (x{count + 1})"
            log.info("printer %s: %s for line %s", self.name, head, line)
            self.log[-1] = message
            self._resend_run = (what, first, count + 1, message)
            return
        self._note(f"{head} for line {line}")
        self._resend_run = (what, line, 1, self.log[-1])

    def _note(self, message: str) -> None:
        """Keep a notable protocol event (the newest 200). A message repeating the one
        before is counted on it ("... (x3)") rather than added again: a burst of
        identical resend requests must not push the events that matter out of the log."""
        log.info("printer %s: %s", self.name, message)
        last = self.log[-1] if self.log else ""
        if last == message or (last.startswith(message + " (x") and last.endswith(")")):
            count = int(last[len(message) + 3:-1]) if last != message else 1
            self.log[-1] = f"{message} (x{count + 1})"
            return
        self.log.append(message)
        del self.log[:-200]
