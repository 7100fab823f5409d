"""OctoPrint printer (type ``octoprint``): upload G-code, start, follow, pause, cancel.

Talks to OctoPrint's REST API through octorest, with two things octorest does not do:
every call has a timeout (``timeout_s``), and ``upload(select=, print=)`` is not relied on
(octorest drops those flags: the file is selected and started in separate calls). Its bare
``RuntimeError``s and requests' exceptions become :class:`~printprep.errors.PrinterError`
naming the printer, the URL and what OctoPrint said (a rejected API key says so).

A poll thread reads ``/api/connection`` and ``/api/job`` every ``poll_s`` and maps
OctoPrint's state onto :class:`~printprep.printers.base.PrinterStatus`: Printing ->
printing, Paused/Pausing -> paused, Operational after our file reached 100 % -> finished,
Error -> error, Closed/Offline or an unreachable server -> offline. When ``serial_port``
is set and OctoPrint is not connected to its printer, printprep asks it to connect.

A print cancelled while OctoPrint cannot be reached (network down, server restarting)
is remembered as a *pending cancel*: the first poll that reaches OctoPrint again and
finds it still printing that file sends the cancel. OctoPrint itself keeps printing
through an outage, so without this a cancelled job would print to the end.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import requests
from octorest import OctoRest

from printprep.errors import PrinterError
from printprep.printers.base import FREE_STATES, PollingPrinter

T = TypeVar("T")
GCODE_SUFFIXES = (".gcode", ".gco", ".g")


class _TimeoutSession(requests.Session):
    """A requests session whose every request has a timeout."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)


def _explain(exc: Exception) -> str:
    """A one-line reason from octorest's RuntimeError or a requests exception."""
    text = str(exc)
    m = re.search(r"\((\d{3})\)\s*$", text)
    if m:
        code = int(m.group(1))
        if code == 403:
            return "OctoPrint rejected the API key (403): check api_key"
        if code == 409:
            return "OctoPrint refused: the printer is not in a state for this (409)"
        if code == 415:
            return "OctoPrint refused the file type (415): it prints G-code only"
        body = text.split(" was not OK: ", 1)[-1]
        return f"OctoPrint answered {code}: {body[:200]}"
    if isinstance(exc, requests.Timeout):
        return f"no answer within the timeout ({exc.__class__.__name__})"
    if isinstance(exc, requests.ConnectionError):
        return "cannot reach the server (connection refused or no route)"
    return f"{exc.__class__.__name__}: {text[:200]}"


class OctoPrintPrinter(PollingPrinter):
    """A printer behind an OctoPrint server."""

    kind = "octoprint"

    def __init__(self, name: str, profile: str, *, url: str, api_key: str,
                 timeout_s: float = 10.0, poll_s: float = 1.0, serial_port: str | None = None,
                 serial_baudrate: int | None = None) -> None:
        super().__init__(name, profile)
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.serial_port = serial_port
        self.serial_baudrate = serial_baudrate
        self._client: OctoRest | None = None
        self._remote: str | None = None  # path of our file on OctoPrint
        self._job_id: str | None = None
        self._started = False
        self._started_at = 0.0
        self._seen_active = False
        self.start_grace_s = 10.0
        self._poll_lock = threading.Lock()
        #: Remote path of a print cancelled while OctoPrint was unreachable (see poll).
        self._pending_cancel: str | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> OctoPrintPrinter:
        return cls(cfg["name"], cfg["profile"], url=cfg["url"], api_key=cfg["api_key"],
                   timeout_s=cfg["timeout_s"], poll_s=cfg["poll_s"],
                   serial_port=cfg.get("serial_port"),
                   serial_baudrate=cfg.get("serial_baudrate"))

    # -- calls ----------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (RuntimeError, requests.RequestException, ValueError) as exc:
            raise self._error(f"{what} at {self.url}: {_explain(exc)}") from None

    def _api(self) -> OctoRest:
        if self._client is None:
            session = _TimeoutSession(self.timeout_s)
            self._client = self._call(
                "connecting", lambda: OctoRest(url=self.url, apikey=self.api_key,
                                               session=session))
        return self._client

    # -- Printer --------------------------------------------------------------------------
    def connect(self) -> None:
        """Check the server and key, connect OctoPrint to its printer if asked to, poll."""
        try:
            client = self._api()
            conn = self._call("reading the connection", client.connection_info)
        except PrinterError as exc:
            self._update(state="offline", seen=False, last_error=str(exc))
            raise
        state = conn["current"]["state"]
        if self.serial_port and state.startswith(("Closed", "Offline")):
            kw: dict[str, Any] = {"port": self.serial_port}
            if self.serial_baudrate:
                kw["baudrate"] = self.serial_baudrate
            self._call("connecting OctoPrint to its printer", lambda: client.connect(**kw))
            t0 = time.monotonic()
            while time.monotonic() - t0 < self.timeout_s:
                state = self._call("reading the connection", client.state)
                if state == "Operational":
                    break
                time.sleep(0.1)
        self.poll()
        self._start_polling()

    def send(self, path: Path, meta: Mapping[str, Any]) -> None:
        path = Path(path)
        self._require_state("receive a file", *FREE_STATES)
        if path.suffix.lower() not in GCODE_SUFFIXES:
            raise self._error(f"{path.name}: OctoPrint prints G-code files only "
                              f"({', '.join(GCODE_SUFFIXES)})")
        if not path.is_file():
            raise self._error(f"{path}: file not found")
        job_id = meta.get("job_id")
        remote_name = f"printprep-{job_id}-{path.name}" if job_id else path.name
        client = self._api()
        self._update(state="busy", job_id=job_id)
        try:
            with open(path, "rb") as fh:
                answer = self._call(f"uploading {path.name}",
                                    lambda: client.upload((remote_name, fh)))
        except PrinterError:
            self._update(state="idle", job_id=None)
            raise
        local = (answer or {}).get("files", {}).get("local", {})
        self._remote = local.get("path") or local.get("name") or remote_name
        self._job_id = job_id
        self._started = False
        self._update(state="idle", job_id=job_id, progress_pct=0.0, last_error=None)

    def start(self) -> None:
        self._require_state("start", "idle")
        if self._remote is None:
            raise self._error("cannot start: no file was sent")
        client = self._api()
        remote = self._remote
        self._call(f"selecting {remote}", lambda: client.select(remote))
        self._call(f"starting {remote}", client.start)
        with self._lock:
            self._started = True
            self._started_at = time.monotonic()
            self._seen_active = False
            self._update(state="printing", job_id=self._job_id, progress_pct=0.0)

    def pause(self) -> None:
        self._require_state("pause", "printing")
        self._call("pausing", self._api().pause)
        self._update(state="paused")

    def resume(self) -> None:
        self._require_state("resume", "paused")
        self._call("resuming", self._api().resume)
        self._update(state="printing")

    def cancel(self) -> None:
        """Cancel the print. When OctoPrint cannot be reached, the cancel is kept and sent
        as soon as it answers again (:meth:`poll`); the status says so meanwhile."""
        st = self.status()
        remote = self._remote
        pending = False
        if st.state in ("printing", "paused", "busy"):
            try:
                self._api().cancel()
            except (requests.ConnectionError, requests.Timeout):
                pending = remote is not None
            except (RuntimeError, requests.RequestException, ValueError) as exc:
                raise self._error(f"cancelling at {self.url}: {_explain(exc)}") from None
        elif st.state == "offline" and remote is not None and (self._started or st.job_id):
            pending = True
        with self._lock:
            self._started = False
            self._remote = None
            self._job_id = None
            if pending:
                self._pending_cancel = remote
            note = (f"cancel pending: OctoPrint at {self.url} cannot be reached; the print "
                    "is cancelled as soon as it answers") if pending else "cancelled"
            self._update(state="offline" if pending or st.state == "offline" else "idle",
                         seen=not pending, job_id=None, progress_pct=None, time_left_s=None,
                         last_error=note)

    def clear(self) -> None:
        with self._lock:
            self._started = False
            self._remote = None
            self._job_id = None
        super().clear()

    def pending_cancel(self) -> dict[str, Any] | None:
        remote = self._pending_cancel
        return None if remote is None else {"remote": remote}

    def resume_cancel(self, pending: Mapping[str, Any]) -> None:
        remote = pending.get("remote")
        if isinstance(remote, str) and remote:
            with self._lock:
                self._pending_cancel = remote
                self._update(seen=False, last_error=(
                    f"cancel pending (from before a restart of printprep): {remote} is "
                    "cancelled as soon as OctoPrint answers"))

    # -- polling --------------------------------------------------------------------------
    def poll(self) -> None:
        """Read OctoPrint's state once and update the status (never raises)."""
        with self._poll_lock:
            try:
                client = self._api()
                conn = self._call("reading the connection", client.connection_info)
                state = conn["current"]["state"]
                job = self._call("reading the job", client.job_info)
                temps = self._temperatures(client) if state.startswith(
                    ("Operational", "Printing", "Paused", "Pausing", "Finishing")) else {}
            except PrinterError as exc:
                self._client = None if "API key" in str(exc) else self._client
                note = self._status.last_error if self._pending_cancel else str(exc)
                self._update(state="offline", seen=False, last_error=note)
                return
            if self._pending_cancel is not None and self._send_pending_cancel(client, state, job):
                return
            self._apply(state, job)
            if temps:
                self._update(temperatures=temps)

    def _send_pending_cancel(self, client: OctoRest, octo_state: str,
                             job: Mapping[str, Any]) -> bool:
        """OctoPrint answers again after a cancel it could not be sent: cancel the print
        if it is still ours. True when the cancel went out (the status says busy)."""
        pending = self._pending_cancel
        file_info = (job.get("job") or {}).get("file") or {}
        active = octo_state.lower().startswith(
            ("printing", "paused", "pausing", "resuming", "starting", "finishing"))
        if not active or file_info.get("path") not in (pending, None):
            self._pending_cancel = None  # it ended meanwhile, or prints something else
            self._update(last_error=f"the cancelled print of {pending} was no longer running "
                                    f"when OctoPrint answered again ({octo_state})")
            return False
        try:
            self._call(f"cancelling {pending} (pending since OctoPrint was unreachable)",
                       client.cancel)
        except PrinterError as exc:
            self._update(state="busy", last_error=f"{exc}; trying again")
            return True
        self._pending_cancel = None
        self._update(state="busy", job_id=None, progress_pct=None, time_left_s=None,
                     last_error=f"cancelled {pending} on reconnect (cancelled while OctoPrint "
                                "was unreachable)")
        return True

    def _temperatures(self, client: OctoRest) -> dict[str, float]:
        """{"tool0": 210.0, "tool0_target": 210.0, "bed": ...} from /api/printer."""
        try:
            data = client.printer(exclude=["sd", "state"])
        except (RuntimeError, requests.RequestException, ValueError):
            return {}  # 409 while the printer connection is being set up
        out: dict[str, float] = {}
        for sensor, reading in (data.get("temperature") or {}).items():
            if not isinstance(reading, dict):
                continue
            if reading.get("actual") is not None:
                out[sensor] = float(reading["actual"])
            if reading.get("target") is not None:
                out[f"{sensor}_target"] = float(reading["target"])
        return out

    def _apply(self, octo_state: str, job: Mapping[str, Any]) -> None:
        progress = job.get("progress") or {}
        completion = progress.get("completion")
        file_info = (job.get("job") or {}).get("file") or {}
        ours = self._remote is not None and file_info.get("path") in (self._remote, None) \
            and file_info.get("name") in (Path(self._remote).name, None)
        fields: dict[str, Any] = {}
        if completion is not None:
            fields["progress_pct"] = float(completion)
        if progress.get("printTimeLeft") is not None:
            fields["time_left_s"] = float(progress["printTimeLeft"])
        with self._lock:
            current = self._status.state
            s = octo_state.lower()
            if s.startswith(("printing", "finishing", "starting")):
                new = "printing"
            elif s.startswith(("paused", "pausing", "resuming")):
                new = "paused"
            elif s.startswith("cancelling"):
                new = "busy"
            elif s.startswith("operational"):
                if self._started and ours and completion is not None and completion >= 100.0:
                    new = "finished"
                    self._started = False
                elif self._started and self._seen_active:
                    # back to operational short of 100 %: cancelled at OctoPrint
                    new = "idle"
                    self._started = False
                    self._remote = None
                    fields.update(job_id=None, last_error="the print was cancelled in OctoPrint")
                elif self._started and time.monotonic() - self._started_at < self.start_grace_s:
                    new = "printing"  # OctoPrint has not picked the job up yet
                elif self._started:
                    new = "error"
                    self._started = False
                    fields["last_error"] = (f"OctoPrint did not start the print within "
                                            f"{self.start_grace_s:g} s")
                elif current == "finished":
                    new = "finished"
                else:
                    new = "idle"
            elif s.startswith("error") or "error" in s:
                new = "error"
                fields["last_error"] = f"OctoPrint: {octo_state}"
            else:  # Closed, Offline, Opening serial port, Connecting, Detecting ...
                new = "offline" if not s.startswith(("opening", "connecting", "detecting")) \
                    else "busy"
                if new == "offline":
                    fields["last_error"] = f"OctoPrint is not connected to its printer ({octo_state})"
            if new in ("printing", "paused") and self._started and s.startswith(
                    ("printing", "paused", "pausing", "finishing")):
                self._seen_active = True
            if new == "finished" and current != "finished":
                fields["progress_pct"] = 100.0
                fields["time_left_s"] = 0.0
            self._update(state=new, **fields)
