"""A Marlin-like firmware on a real pty, for the serial host's tests and benchmark.

The simulator owns the master side of ``os.openpty()``; the host opens the slave through
a symlink (``sim.port``) so a "re-plugged cable" can come back at the same path.

It behaves like Marlin's queue.cpp where the host can tell:

* bytes arrive at the link's pace (``baudrate / 10`` bytes/s) into a receive buffer of
  ``rx_buffer_bytes``; bytes that find it full are lost, as on a real UART;
* complete lines move into a command buffer of ``bufsize`` commands; a numbered line must
  carry ``N = last + 1`` (unless it is ``M110``) and a correct checksum, or it is refused
  with ``Error:..., Last Line: n`` / ``Resend: n+1`` / ``ok``;
* every accepted command is executed in turn (``exec_s``; ``G4 P<ms>``, ``G28``: longer,
  with ``echo:busy: processing`` every ``busy_interval_s``) and answered with ``ok``;
* ``M115`` answers FIRMWARE_NAME and ``Cap:`` lines; ``M155 S<n>`` auto-reports
  temperatures; ``M105`` answers ``ok T:... B:...``.

Faults (all off by default): ``corrupt_lines`` / ``corrupt_rate`` flip a bit of an
arriving line (first arrival only); ``drop_ok_lines`` swallow the ``ok`` of a line;
``duplicate_resend_lines`` send each resend request twice; ``ok_after_resend=False``
omits the ``ok`` after a resend request; ``stale_resend_after`` sends, after accepting
line n, a request for a line it already had; ``rewind_at={n: m}`` makes it forget lines
after accepting n and ask for m again (a genuine request, possibly outside the history); ``reset_at_line`` restarts the firmware
(``start``); ``fatal_at_line`` halts it (``Error:Printer halted. kill() called!``);
``pull_at_line`` closes the pty (cable pulled) and, after ``replug_after_s``, opens a new
one at the same path, restarted or not (``reset_on_replug``).

``sim.executed`` lists the numbered commands accepted, in order: the host is right when
it equals the file's commands.
"""

from __future__ import annotations

import os
import random
import select
import threading
import time
import tty
from collections import deque
from functools import reduce
from operator import xor
from pathlib import Path


class FirmwareSim:
    def __init__(
        self,
        workdir: Path,
        *,
        baudrate: int = 115200,
        pace: bool = True,
        rx_buffer_bytes: int = 128,
        bufsize: int = 4,
        exec_s: float = 0.0,
        long_s: float = 0.0,
        busy_interval_s: float = 2.0,
        autoreport: bool = True,
        corrupt_lines: tuple[int, ...] = (),
        corrupt_rate: float = 0.0,
        seed: int = 1,
        drop_ok_lines: tuple[int, ...] = (),
        duplicate_resend_lines: tuple[int, ...] = (),
        ok_after_resend: bool = True,
        stale_resend_after: tuple[int, ...] = (),
        rewind_at: dict[int, int] | None = None,
        reset_at_line: int | None = None,
        fatal_at_line: int | None = None,
        pull_at_line: int | None = None,
        replug_after_s: float | None = None,
        reset_on_replug: bool = True,
    ) -> None:
        self.workdir = Path(workdir)
        self.port = str(self.workdir / "ttyPRINTER")
        self.bytes_per_s = baudrate / 10.0
        self.pace = pace
        self.rx_buffer_bytes = rx_buffer_bytes
        self.bufsize = bufsize
        self.exec_s = exec_s
        self.long_s = long_s
        self.busy_interval_s = busy_interval_s
        self.autoreport = autoreport
        self.corrupt_lines = set(corrupt_lines)
        self.corrupt_rate = corrupt_rate
        self.rng = random.Random(seed)
        self.drop_ok_lines = set(drop_ok_lines)
        self.duplicate_resend_lines = set(duplicate_resend_lines)
        self.ok_after_resend = ok_after_resend
        self.stale_resend_after = set(stale_resend_after)
        self.rewind_at = dict(rewind_at or {})
        self.reset_at_line = reset_at_line
        self.fatal_at_line = fatal_at_line
        self.pull_at_line = pull_at_line
        self.replug_after_s = replug_after_s
        self.reset_on_replug = reset_on_replug
        # observable results
        self.executed: list[str] = []
        self.received_lines: list[bytes] = []
        self.errors_sent = 0
        self.overflow_bytes = 0
        self.corrupted = 0
        self.events: list[str] = []
        # state
        self._master = -1
        self._slave = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reset_state()
        self._halted = False
        self._seen_corrupt: set[int] = set()
        self._pending_start = False

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FirmwareSim:
        self._open_pty()
        self._thread = threading.Thread(target=self._run, name="firmware-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_pty()

    def __enter__(self) -> FirmwareSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open_pty(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tmp = self.port + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.ttyname(self._slave), tmp)
        os.replace(tmp, self.port)

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1

    def _reset_state(self) -> None:
        self.last_n = 0
        self._wire = bytearray()  # sent by the host, not yet arrived (in transit)
        self._rx = bytearray()  # the firmware's receive buffer
        self._cmdq: deque[tuple[str, int | None]] = deque()
        self._cmd_t: deque[float] = deque()  # when each queued command arrived
        self._line_t = time.monotonic()
        self._last_finish = 0.0
        self._busy_until = 0.0
        self._next_busy = 0.0
        self._credit = 0.0
        self._autoreport_s = 0.0
        self._next_report = 0.0
        self._last_t = time.monotonic()
        self._current: tuple[str, int | None] | None = None

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            if self._master < 0:
                time.sleep(0.01)
                continue
            try:
                readable, _, _ = select.select([self._master], [], [], 0.0005)
            except (OSError, ValueError):
                continue
            if readable:
                try:
                    data = os.read(self._master, 65536)
                except OSError:
                    data = b""
                if data:
                    self._wire += data
                    if self._pending_start:
                        self._pending_start = False
                        self._reply("start")
                        self._reply("echo:Marlin sim restarted")
            now = time.monotonic()
            self._arrive(now)
            while True:  # catch up: commands whose time has come, then the lines behind
                self._parse_rx(now)
                if not self._execute(now):
                    break
            if self._autoreport_s and now >= self._next_report and not self._halted:
                self._next_report = now + self._autoreport_s
                self._reply(" T:210.0 /210.0 B:60.0 /60.0 @:64 B@:32")

    def _arrive(self, now: float) -> None:
        dt = now - self._last_t
        self._last_t = now
        if not self._wire:
            self._credit = 0.0
            return
        if not self.pace:
            n = len(self._wire)
        else:
            self._credit += dt * self.bytes_per_s
            n = min(int(self._credit), len(self._wire))
            self._credit -= n
        if n <= 0:
            return
        chunk = self._wire[:n]
        del self._wire[:n]
        room = self.rx_buffer_bytes - len(self._rx)
        if len(chunk) > room:
            self.overflow_bytes += len(chunk) - max(room, 0)
            chunk = chunk[: max(room, 0)]
        self._rx += chunk

    def _parse_rx(self, now: float) -> None:
        while len(self._cmdq) < self.bufsize:
            end = self._rx.find(b"\n")
            if end < 0:
                return
            raw = bytes(self._rx[:end]).strip(b"\r")
            # when its last byte came off the link (bytes behind it arrived after it)
            behind = len(self._rx) - end - 1
            self._line_t = now - behind / self.bytes_per_s if self.pace else now
            del self._rx[: end + 1]
            if self._halted or not raw.strip():
                continue
            self.received_lines.append(raw)
            raw = self._maybe_corrupt(raw)
            self._accept(raw)

    def _maybe_corrupt(self, raw: bytes) -> bytes:
        n = _line_number(raw)
        if n is None or n in self._seen_corrupt:
            return raw
        hit = n in self.corrupt_lines or (self.corrupt_rate and
                                          self.rng.random() < self.corrupt_rate)
        if not hit:
            return raw
        self._seen_corrupt.add(n)
        self.corrupted += 1
        i = self.rng.randrange(1, len(raw))
        b = bytearray(raw)
        b[i] ^= 0x02
        return bytes(b)

    def _accept(self, raw: bytes) -> None:
        """Marlin's checks on one line; accepted commands go to the command buffer."""
        text = raw.decode("ascii", "replace").strip()
        if text.startswith("N"):
            head, _, rest = text.partition(" ")
            try:
                n = int(head[1:])
            except ValueError:
                self._refuse("No Line Number with checksum")
                return
            body, star, cs = rest.rpartition("*") if "*" in rest else (rest, "", "")
            command = body.strip() if star else rest.strip()
            is_m110 = command.startswith("M110")
            if n != self.last_n + 1 and not is_m110:
                self._refuse("Line Number is not Last Line Number+1")
                return
            if not star:
                self._refuse("No Checksum with line number")
                return
            want = reduce(xor, raw.rpartition(b"*")[0], 0)
            try:
                got = int(cs)
            except ValueError:
                got = -1
            if got != want:
                self._refuse("checksum mismatch")
                return
            self.last_n = n
            if is_m110:
                parts = command.split()
                for p in parts[1:]:
                    if p.startswith("N"):
                        self.last_n = int(p[1:])
            else:
                self.executed.append(command)
            self._cmdq.append((command, n))
            self._cmd_t.append(self._line_t)
            self._after_accept(n)
        elif "*" in text:
            self._refuse("No Line Number with checksum")
        else:
            self._cmdq.append((text, None))
            self._cmd_t.append(self._line_t)

    def _refuse(self, why: str) -> None:
        self.errors_sent += 1
        self._reply(f"Error:{why}, Last Line: {self.last_n}")
        self._reply(f"Resend: {self.last_n + 1}")
        if (self.last_n + 1) in self.duplicate_resend_lines:
            self._reply(f"Resend: {self.last_n + 1}")
        if self.ok_after_resend:
            self._reply("ok")

    def _after_accept(self, n: int) -> None:
        if n in self.stale_resend_after:
            self.stale_resend_after.discard(n)
            self.events.append(f"stale resend after {n}")
            self._reply(f"Resend: {max(n - 3, 1)}")
        if n in self.rewind_at:
            # the firmware "forgets" lines and asks again from an older one
            target = self.rewind_at.pop(n)
            self.last_n = target - 1
            if self.executed:
                self.executed.append(f"<rewound to {target}>")
            self._refuse("Line Number is not Last Line Number+1")
        if n == self.reset_at_line:
            self.reset_at_line = None
            self.events.append(f"reset at {n}")
            self._reset_state()
            self._reply("start")
        elif n == self.fatal_at_line:
            self.fatal_at_line = None
            self.events.append(f"fatal at {n}")
            self._halted = True
            self._cmdq.clear()
            self._cmd_t.clear()
            self._reply("Error:Printer halted. kill() called!")
        elif n == self.pull_at_line:
            self.pull_at_line = None
            self.events.append(f"cable pulled at {n}")
            self._close_pty()
            if self.replug_after_s is not None:
                threading.Timer(self.replug_after_s, self._replug).start()

    def _replug(self) -> None:
        if self._stop.is_set():
            return
        if self.reset_on_replug:
            self._reset_state()
            self._pending_start = True
        else:
            self._wire.clear()
            self._rx.clear()
        self._open_pty()
        self.events.append("replugged")

    def _execute(self, now: float) -> bool:
        """Run the command at the head of the queue; True when one finished.

        Times are the firmware's own: a command starts when it arrived or when the one
        before finished, whichever is later, so a late loop of this process (a busy test
        machine) does not make the simulated firmware slower than it is.
        """
        if self._halted:
            return False
        if self._current is None:
            if not self._cmdq:
                return False
            self._current = self._cmdq[0]
            command = self._current[0]
            duration = self.exec_s
            if command.startswith("G28"):
                duration = max(self.long_s, duration)
            elif command.startswith("G4"):
                for p in command.split()[1:]:
                    if p.startswith("P"):
                        duration = float(p[1:]) / 1000.0
                    elif p.startswith("S"):
                        duration = float(p[1:])
            start = max(self._last_finish, self._cmd_t[0])
            self._busy_until = start + duration
            self._next_busy = start + self.busy_interval_s
        if now < self._busy_until:
            if now >= self._next_busy:
                self._next_busy = now + self.busy_interval_s
                self._reply("echo:busy: processing")
            return False
        command, n = self._cmdq.popleft()
        self._cmd_t.popleft()
        self._current = None
        self._last_finish = self._busy_until
        self._answer(command, n)
        return True

    def _answer(self, command: str, n: int | None) -> None:
        word = command.split(" ", 1)[0]
        if word == "M115":
            self._reply("FIRMWARE_NAME:Marlin 2.1.2 (printprep sim) SOURCE_CODE_URL:local "
                        "PROTOCOL_VERSION:1.0 MACHINE_TYPE:sim EXTRUDER_COUNT:1")
            self._reply(f"Cap:AUTOREPORT_TEMP:{int(self.autoreport)}")
            self._reply("Cap:EEPROM:1")
        elif word == "M155":
            for p in command.split()[1:]:
                if p.startswith("S"):
                    self._autoreport_s = float(p[1:])
        elif word == "M105":
            self._reply("ok T:210.0 /210.0 B:60.0 /60.0 @:64 B@:32")
            return
        if n is not None and n in self.drop_ok_lines:
            self.drop_ok_lines.discard(n)
            self.events.append(f"dropped ok of {n}")
            return
        self._reply("ok")

    def _reply(self, text: str) -> None:
        if self._master < 0:
            return
        try:
            os.write(self._master, (text + "\n").encode("ascii"))
        except OSError:
            pass


def _line_number(raw: bytes) -> int | None:
    if not raw.startswith(b"N"):
        return None
    head = raw.split(b" ", 1)[0][1:]
    return int(head) if head.isdigit() else None
