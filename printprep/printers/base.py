"""The printer interface every connector implements, and the status model they share.

A printer receives a finished file (an SL1/PNG-zip archive or a G-code file) plus a little
metadata (the job id, a display name), prints it and reports a :class:`PrinterStatus`.
Connectors never see the job store: the dispatcher (``printprep.service.dispatch``) reads
their status and moves jobs.

States (``PrinterStatus.state``):

========== ===========================================================================
offline    not reachable (never connected, cable pulled, server down)
idle       reachable and ready for a job
busy       reachable but doing something that is not a print (homing, uploading)
printing   printing ``job_id``
paused     a print of ``job_id`` is paused
finished   the last print completed; it takes no new job until the plate is cleared
error      the printer reported an error (``last_error``); ``clear()`` returns it to idle
========== ===========================================================================

``clear()`` is the one way a person says "the plate is clear" (or "the error is dealt
with"): the API (``POST /api/printers/{name}/clear``), ``printprep printers clear NAME``
and the printers page all call it, and so does the dispatcher for printers configured with
``auto_clear``. Whoever follows the printer (the dispatcher) hears of it through
:meth:`BasePrinter.on_clear`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from printprep.errors import PrinterError


class PrinterUnreachableError(PrinterError):
    """The printer (or the server in front of it) did not answer: connection refused,
    reset or timed out. What was asked may be worth asking again once it is back."""


STATES = ("offline", "idle", "busy", "printing", "paused", "finished", "error")
#: States in which a printer can take a new job.
FREE_STATES = ("idle", "finished")
#: States in which a printer holds a job it is working on.
ACTIVE_STATES = ("busy", "printing", "paused")


@dataclass(frozen=True)
class PrinterStatus:
    """A snapshot of one printer, the same shape for every kind of connector.

    Attributes
    ----------
    state : one of :data:`STATES`
    progress_pct : 0-100 or None when unknown
    layer, layer_count : current layer (0-based) and total for resin archives
    line, line_count : G-code lines acknowledged and total for filament prints
    temperatures : {"tool0": 210.0, "bed": 60.0, ...} in degrees C, when known
    time_left_s : estimated seconds left, when known
    job_id : the job on the printer (printing, paused, finished or failed), if any
    last_error : the last error message the printer reported
    last_seen : UNIX time (s) of the last successful contact
    """

    name: str
    state: str = "offline"
    progress_pct: float | None = None
    layer: int | None = None
    layer_count: int | None = None
    line: int | None = None
    line_count: int | None = None
    temperatures: dict[str, float] = field(default_factory=dict)
    time_left_s: float | None = None
    job_id: str | None = None
    last_error: str | None = None
    last_seen: float | None = None
    kind: str = ""
    profile: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def same_as(self, other: PrinterStatus | None) -> bool:
        """True when ``other`` differs only in ``last_seen`` (for change notifications)."""
        if other is None:
            return False
        return replace(self, last_seen=None) == replace(other, last_seen=None)


@runtime_checkable
class Printer(Protocol):
    """What the dispatcher, the API and the CLI need from a printer connector."""

    name: str
    profile: str
    kind: str

    def connect(self) -> None:
        """Open the connection (idempotent). Raises PrinterError when unreachable."""

    def status(self) -> PrinterStatus:
        """Current status; never raises (an unreachable printer is ``offline``)."""

    def send(self, path: Path, meta: Mapping[str, Any]) -> None:
        """Transfer the file of job ``meta["job_id"]`` to the printer (does not start)."""

    def start(self) -> None:
        """Start printing the file last sent."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def cancel(self) -> None: ...

    def clear(self) -> None:
        """Acknowledge a finished or failed print: the printer becomes idle."""

    def close(self) -> None:
        """Release the connection and any threads."""


class BasePrinter:
    """Shared bookkeeping for connectors: the status under a lock, state checks.

    Subclasses call :meth:`_update` to change fields of the status; it keeps ``last_seen``
    and refuses unknown states.
    """

    kind = "base"
    #: Clear the plate by itself when a print finishes (no person needed). Off for real
    #: printers: a resin plate holds the print until someone takes it off. The
    #: ``auto_clear`` config key sets it per printer.
    auto_clear = False

    def __init__(self, name: str, profile: str) -> None:
        self.name = name
        self.profile = profile
        self._lock = threading.RLock()
        self._status = PrinterStatus(name=name, kind=self.kind, profile=profile)
        self._clear_listeners: list[Callable[[str], None]] = []

    def on_clear(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(state_before)`` after every :meth:`clear`, outside the lock.

        Returns a function that stops the calls (a dispatcher that stops calls it).
        """
        self._clear_listeners.append(listener)

        def remove() -> None:
            if listener in self._clear_listeners:
                self._clear_listeners.remove(listener)

        return remove

    # -- status ---------------------------------------------------------------------------
    def status(self) -> PrinterStatus:
        with self._lock:
            return self._status

    def _update(self, *, seen: bool = True, **fields: Any) -> PrinterStatus:
        state = fields.get("state")
        if state is not None and state not in STATES:
            raise ValueError(f"printer {self.name}: unknown state {state!r}")
        with self._lock:
            if seen:
                fields["last_seen"] = time.time()
            self._status = replace(self._status, **fields)
            return self._status

    def _require_state(self, action: str, *allowed: str) -> PrinterStatus:
        st = self.status()
        if st.state not in allowed:
            raise PrinterError(
                f"cannot {action} while {st.state} (needs {' or '.join(allowed)})",
                where=f"printer {self.name}",
            )
        return st

    def _error(self, message: str) -> PrinterError:
        return PrinterError(message, where=f"printer {self.name}")

    def _unreachable(self, message: str) -> PrinterUnreachableError:
        return PrinterUnreachableError(message, where=f"printer {self.name}")

    # -- defaults -------------------------------------------------------------------------
    def clear(self) -> None:
        """The plate is cleared (or the error dealt with): ``finished``/``error`` -> idle.

        Listeners (:meth:`on_clear`) hear of every call, whatever the state: a printer
        that forgot its finished print (restarted) is still cleared for the dispatcher.
        Subclasses that override it call ``super().clear()`` outside their lock.
        """
        with self._lock:
            before = self._status.state
            if before in ("finished", "error"):
                self._update(state="idle", job_id=None, progress_pct=None, time_left_s=None)
        self._cleared(before)

    def _cleared(self, before: str) -> None:
        for listener in list(self._clear_listeners):
            listener(before)

    def pending_cancel(self) -> dict[str, Any] | None:
        """A cancel this printer could not be sent yet (it was unreachable), as plain JSON
        data the dispatcher keeps across a restart; None when there is none."""
        return None

    def resume_cancel(self, pending: Mapping[str, Any]) -> None:
        """Take back a :meth:`pending_cancel` kept by a previous run (before connecting)."""

    def close(self) -> None:
        """Nothing to release by default."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ({self.profile})>"


class PollingPrinter(BasePrinter):
    """A connector whose status comes from polling a remote host on its own thread.

    Subclasses set ``poll_s`` and ``timeout_s``, implement :meth:`poll` (read the remote
    state once, never raise) and call :meth:`_start_polling` at the end of ``connect``.
    """

    poll_s: float
    timeout_s: float

    def __init__(self, name: str, profile: str) -> None:
        super().__init__(name, profile)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def poll(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _start_polling(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"{self.kind}-{self.name}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def close(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=self.timeout_s + 1)
        self._thread = None
        self._update(state="offline", seen=False)
