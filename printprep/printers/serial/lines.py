"""The send queue of the serial host: line numbers, checksums, the send window, resends.

No I/O here: the host feeds firmware replies in (:meth:`LineQueue.on_ok`,
:meth:`LineQueue.on_resend`, ...) and asks what to write next
(:meth:`LineQueue.next_to_write`). That keeps every resend rule testable on its own.

Bookkeeping
-----------
Every line written gets a sequence number ``seq`` (0, 1, 2 ... for the whole print) and,
unless it is an unnumbered poke such as ``M105``, a line number ``N`` (reset by ``M110``,
so the same N can come back on a very long job: lines are found by seq, N maps to the
latest seq). The last ``history`` numbered lines are kept for resends.

The firmware answers every line it receives exactly once: ``ok`` when it took the line,
``Resend: N`` (plus usually an ``ok``) when it refused it. So replies pair with the lines
in flight, oldest first. The window keeps several lines in flight - as many as fit the
firmware's receive buffer (``rx_buffer_bytes``) and command buffer (``max_inflight``) - so
the link is never idle between lines.

Resend rules (domain.md §4)
---------------------------
* A request for a line the firmware already acknowledged with ``ok`` is stale: ignored.
* After a rewind to N, the lines that were in flight behind N are refused one by one,
  each with its own ``Resend: N``: those requests are swallowed, not rewound again.
* The same request repeated right away before its ``ok`` is a duplicate: ignored (once
  the firmware is known to send ``ok`` after a resend).
* A request with no ``ok`` after it (firmware that omits it) gets the ``ok`` faked after
  ``resend_ok_timeout_s`` or when the next request arrives, and the host remembers it.
* A line number outside the history, or 10 identical genuine requests in a row, end the
  print with :class:`ResendError` naming the line.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import reduce
from operator import xor

from printprep.errors import PrinterError
from printprep.printers.serial import regexes as rx

MAX_LINE_BYTES = 96


class ResendError(PrinterError):
    """The firmware asked for something the host cannot give: the print must stop."""


def checksum(data: bytes) -> int:
    """XOR of all bytes (Marlin's line checksum)."""
    return reduce(xor, data, 0)


def encode(lineno: int, command: str) -> bytes:
    """``N<lineno> <command>*<checksum>\\n`` as ASCII bytes."""
    body = f"N{lineno} {command}".encode("ascii")
    return body + b"*" + str(checksum(body)).encode() + b"\n"


def clean_command(raw: str) -> str:
    """A G-code line without its comment and surrounding blanks ('' for none)."""
    return raw.split(";", 1)[0].strip()


@dataclass
class Sent:
    """One line written to the firmware and not yet answered."""

    seq: int  # -1 for unnumbered pokes
    lineno: int | None
    nbytes: int
    gen: int  # rewind generation when written
    long: bool  # a command the firmware may take long to answer


@dataclass
class _Line:
    seq: int
    lineno: int
    data: bytes
    file_index: int | None  # 0-based index into the file's commands; None for M110
    long: bool


class LineQueue:
    """Numbering, window and resend history for one print (or one connection)."""

    def __init__(
        self,
        *,
        rx_buffer_bytes: int = 128,
        max_inflight: int = 4,
        history: int = 1000,
        max_lineno: int = 2_000_000_000,
        max_identical_resends: int = 10,
    ) -> None:
        if max_lineno < 2 * history:
            raise ValueError("max_lineno must be at least twice the history")
        self.rx_buffer_bytes = rx_buffer_bytes
        self.max_inflight = max_inflight
        self.history = history
        self.max_lineno = max_lineno
        self.max_identical_resends = max_identical_resends
        self._hist: deque[_Line] = deque()
        self._by_lineno: dict[int, int] = {}
        self._source: Iterator[str] | None = None
        self._source_done = True
        self._file_index = 0
        self._next_lineno = 0
        self.new_seq = 0  # seq of the next line taken from the source
        self.next_seq = 0  # seq of the next numbered line to write
        self.inflight: deque[Sent] = deque()
        self.gen = 0
        self.confirmed_seq = -1
        self.confirmed_file_index = -1
        self.pending_ok = False
        self.ok_after_resend = True
        self._rewind_line: int | None = None
        self._rewind_count = 0
        self.priority: deque[str] = deque()
        self._verify = False
        self._sentinel_seq: int | None = None
        self.verified = True
        self._stale_line: int | None = None
        self.paused = False
        self.resends = 0
        self.swallowed = 0
        self.stale = 0
        self.faked_oks = 0

    # -- loading --------------------------------------------------------------------------
    def reset(self, commands: Iterator[str] | None = None, *, verify: bool = False) -> None:
        """Start a new numbering at ``M110 N0`` and stream ``commands`` after it.

        Lines in flight stay counted (their replies are still coming); call
        :meth:`on_silence` as well when the firmware has forgotten them (restart, new link).
        With ``verify``, a numbered ``M400`` follows the last command, written alone once
        every other line is answered: only its ``ok`` (or the firmware asking for the line
        after it) proves that the firmware took every line, whatever replies went missing.
        """
        self._verify = verify
        self._sentinel_seq = None
        self.verified = not verify
        self._stale_line = None
        # Lines still in flight stay counted: their replies are on the way.
        self._hist.clear()
        self._by_lineno.clear()
        self.next_seq = self.new_seq
        self.pending_ok = False
        self._rewind_line = None
        self._rewind_count = 0
        self.confirmed_file_index = -1
        self._file_index = 0
        self._source = commands
        self._source_done = commands is None
        self._next_lineno = 0
        self._append(0, "M110 N0", None)  # N0 M110 N0: the firmware's counter starts here
        self._next_lineno = 1

    def _append(self, lineno: int, command: str, file_index: int | None) -> _Line:
        line = _Line(self.new_seq, lineno, encode(lineno, command), file_index,
                     bool(rx.LONG_COMMAND.match(command)))
        if len(line.data) > MAX_LINE_BYTES:
            raise PrinterError(
                f"G-code command {file_index + 1 if file_index is not None else ''} is "
                f"{len(line.data)} bytes with its line number and checksum (limit "
                f"{MAX_LINE_BYTES}): {command[:40]!r}..."
            )
        self._hist.append(line)
        self._by_lineno[lineno] = line.seq
        while len(self._hist) > self.history:
            old = self._hist.popleft()
            if self._by_lineno.get(old.lineno) == old.seq:
                del self._by_lineno[old.lineno]
        self.new_seq += 1
        return line

    def _take_new(self) -> bool:
        """Encode the next command of the source into the history; False when exhausted."""
        if self._source_done or self._source is None:
            return False
        if self._next_lineno > self.max_lineno:
            # the counter would overflow: "N<n> M110 N0" resets it, then N1 follows
            self._append(self._next_lineno, "M110 N0", None)
            self._next_lineno = 1
            return True
        try:
            command = next(self._source)
        except StopIteration:
            self._source_done = True
            if self._verify and self._sentinel_seq is None:
                self._sentinel_seq = self._append(self._next_lineno, "M400", None).seq
                self._next_lineno += 1
                return True
            return False
        self._append(self._next_lineno, command, self._file_index)
        self._file_index += 1
        self._next_lineno += 1
        return True

    def _line(self, seq: int) -> _Line:
        first = self._hist[0].seq
        return self._hist[seq - first]

    # -- writing --------------------------------------------------------------------------
    def inflight_bytes(self) -> int:
        return sum(s.nbytes for s in self.inflight)

    def _fits(self, nbytes: int) -> bool:
        if not self.inflight:
            return True
        return (len(self.inflight) < self.max_inflight
                and self.inflight_bytes() + nbytes <= self.rx_buffer_bytes)

    def next_to_write(self) -> bytes | None:
        """The next bytes to write when the window has room, else None."""
        if self.priority:
            data = (self.priority[0] + "\n").encode("ascii")
            if not self._fits(len(data)):
                return None
            command = self.priority.popleft()
            self.inflight.append(Sent(-1, None, len(data), self.gen,
                                      bool(rx.LONG_COMMAND.match(command))))
            return data
        if self.paused:
            return None
        if self.next_seq >= self.new_seq and not self._take_new():
            return None
        line = self._line(self.next_seq)
        if line.seq == self._sentinel_seq and self.inflight:
            return None  # the check line goes alone, so its reply cannot be mistaken
        if not self._fits(len(line.data)):
            return None
        self.inflight.append(Sent(line.seq, line.lineno, len(line.data), self.gen, line.long))
        self.next_seq += 1
        return line.data

    @property
    def done(self) -> bool:
        """Every line of the source written and answered."""
        return (self._source_done and self.verified and self.next_seq >= self.new_seq
                and not self.inflight and not self.priority)

    @property
    def waiting_long(self) -> bool:
        """A long command (G28, M109, ...) is among the lines in flight."""
        return any(s.long for s in self.inflight)

    # -- replies --------------------------------------------------------------------------
    def _pop(self, *, confirm: bool) -> Sent | None:
        if not self.inflight:
            return None
        sent = self.inflight.popleft()
        if confirm and sent.seq == self._sentinel_seq and not self.inflight:
            self.verified = True
        if confirm and sent.seq >= 0 and sent.seq > self.confirmed_seq:
            self.confirmed_seq = sent.seq
            try:
                fi = self._line(sent.seq).file_index
            except IndexError:
                fi = None
            if fi is not None:
                self.confirmed_file_index = max(self.confirmed_file_index, fi)
        return sent

    def on_ok(self) -> None:
        if self.pending_ok:
            # the ok that follows a resend request answers the refused line
            self.pending_ok = False
            self._pop(confirm=False)
            return
        self._pop(confirm=True)
        self._rewind_count = 0

    def fake_ok(self) -> None:
        """The firmware sent no ``ok`` after a resend request: answer the line ourselves."""
        if self.pending_ok:
            self.pending_ok = False
            self.ok_after_resend = False
            self.faked_oks += 1
            self._pop(confirm=False)

    def on_resend(self, lineno: int, last_line: int | None = None) -> str:
        """Handle ``Resend: lineno``; returns what was done (for the log).

        ``last_line`` is the ``Last Line: n`` of the error line just before, when there was
        one: the firmware's own word on what it has, which beats the host's bookkeeping.
        Raises ResendError when the line is outside the history or asked for too often.
        """
        if self.pending_ok:
            if lineno == self._rewind_line and self.ok_after_resend:
                self.swallowed += 1
                return "duplicate"
            self.fake_ok()
        authoritative = last_line is not None and last_line + 1 == lineno
        if lineno == self._next_lineno and lineno not in self._by_lineno:
            seq = self.new_seq  # the firmware has every line written so far
            if self._source_done and self._sentinel_seq is not None:
                self.verified = True
        elif lineno in self._by_lineno:
            seq = self._by_lineno[lineno]
        else:
            span = (f"lines {self._hist[0].lineno}..{self._hist[-1].lineno}"
                    if self._hist else "no lines")
            raise ResendError(
                f"firmware asked to resend line {lineno}, which is not in the resend "
                f"history ({span})"
            )
        if seq <= self.confirmed_seq and not authoritative:
            if self._stale_line != lineno:
                self._stale_line = lineno  # ignored once; asked again, it is meant
                self.stale += 1
                return "stale"
        self._stale_line = None
        if seq <= self.confirmed_seq:
            self.confirmed_seq = seq - 1  # the firmware says it does not have it
        head = self.inflight[0] if self.inflight else None
        if head is not None and head.gen < self.gen and lineno == self._rewind_line:
            self.pending_ok = True  # a line from before the rewind, refused as expected
            self.swallowed += 1
            self._answered_without_ok()
            return "swallowed"
        if lineno == self._rewind_line:
            self._rewind_count += 1
            if self._rewind_count >= self.max_identical_resends:
                raise ResendError(
                    f"firmware asked for line {lineno} {self._rewind_count} times in a row; "
                    "giving up (check the cable and the baud rate)"
                )
        else:
            self._rewind_line = lineno
            self._rewind_count = 1
        self.gen += 1
        self.next_seq = seq
        self.pending_ok = True
        self.resends += 1
        self._answered_without_ok()
        return "rewind"

    def _answered_without_ok(self) -> None:
        """Firmware known to send no ``ok`` after a resend: the request is the answer."""
        if self.pending_ok and not self.ok_after_resend:
            self.pending_ok = False
            self._pop(confirm=False)

    def on_silence(self) -> None:
        """No reply for the timeout: the firmware's buffer is empty; forget what is in flight."""
        self.pending_ok = False
        self.inflight.clear()
        if self._sentinel_seq is not None and not self.verified:
            self.next_seq = min(self.next_seq, self._sentinel_seq)  # ask again

    def poke(self, command: str = "M105") -> None:
        """Queue an unnumbered command ahead of the file (temperature poll, keepalive)."""
        self.priority.append(command)

    @property
    def lines_done(self) -> int:
        """File commands acknowledged so far."""
        return self.confirmed_file_index + 1
