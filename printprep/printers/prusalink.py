"""PrusaLink printer (type ``prusalink``): Prusa SL1/SL1S resin printers and Prusa filament
printers on the network.

Authentication is ``X-Api-Key`` (``api_key``) or HTTP digest (``user`` / ``password``).
On connect, ``GET /api/version`` tells whether the printer takes
``PUT /api/v1/files/<storage>/<name>`` (``capabilities.upload-by-put``); then the file is
uploaded and started in one request with ``Print-After-Upload: ?1``. Otherwise the
OctoPrint-compatible ``POST /api/files/<storage>`` (multipart ``file``, ``print=true``)
is used. Both happen in ``start()``: ``send()`` checks the file and remembers it.

Status comes from ``GET /api/v1/status`` (printer state, job progress, time remaining,
temperatures), or ``/api/printer`` + ``/api/job`` on firmware without the v1 API. Every
request has the timeout ``timeout_s``.

A print cancelled while the printer cannot be reached is a *pending cancel*, sent by the
first poll that reaches the printer again and finds it still printing that job (the
printer prints on through a network outage).
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from requests.auth import HTTPDigestAuth

from printprep.errors import PrinterError
from printprep.printers.base import FREE_STATES, PollingPrinter, PrinterUnreachableError
from printprep.printers.folder import safe_name

#: PrusaLink v1 printer states -> printprep states.
_V1_STATES = {
    "IDLE": "idle", "READY": "idle", "BUSY": "busy", "PRINTING": "printing",
    "PAUSED": "paused", "FINISHED": "finished", "STOPPED": "idle", "ERROR": "error",
    "ATTENTION": "error",
}
_SUFFIXES = (".sl1", ".sl1s", ".gcode", ".bgcode", ".gco")


class PrusaLinkPrinter(PollingPrinter):
    """A printer running PrusaLink (or PrusaConnect's local API)."""

    kind = "prusalink"

    def __init__(self, name: str, profile: str, *, url: str, api_key: str | None = None,
                 user: str | None = None, password: str | None = None,
                 storage: str = "local", timeout_s: float = 30.0, poll_s: float = 1.0) -> None:
        super().__init__(name, profile)
        self.url = url.rstrip("/")
        self.storage = storage
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.session = requests.Session()
        if api_key:
            self.session.headers["X-Api-Key"] = api_key
        else:
            self.session.auth = HTTPDigestAuth(user or "", password or "")
        self.upload_by_put = False
        self.v1_status = True
        self._pending: tuple[Path, str | None] | None = None
        self._remote: str | None = None
        self._v1_job_id: int | None = None
        self._started = False
        self._started_at = 0.0
        self.start_grace_s = 15.0
        #: (v1 job id, remote file name) of a print cancelled while unreachable.
        self._pending_cancel: tuple[int | None, str | None] | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> PrusaLinkPrinter:
        return cls(cfg["name"], cfg["profile"], url=cfg["url"], api_key=cfg["api_key"],
                   user=cfg["user"], password=cfg["password"], storage=cfg["storage"],
                   timeout_s=cfg["timeout_s"], poll_s=cfg["poll_s"])

    # -- HTTP -----------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204),
                 **kw: Any) -> requests.Response:
        kw.setdefault("timeout", self.timeout_s)
        try:
            r = self.session.request(method, f"{self.url}{path}", **kw)
        except requests.Timeout:
            raise self._unreachable(f"{method} {path}: no answer from {self.url} within "
                                    f"{self.timeout_s:g} s") from None
        except requests.RequestException as exc:
            raise self._unreachable(f"{method} {path}: cannot reach {self.url} "
                                    f"({exc.__class__.__name__})") from None
        if r.status_code in (401, 403):
            raise self._error(f"{method} {path}: PrusaLink refused the credentials "
                              f"({r.status_code}): check api_key or user/password")
        if r.status_code not in ok:
            raise self._error(f"{method} {path}: PrusaLink answered {r.status_code}: "
                              f"{r.text[:200]}")
        return r

    # -- Printer --------------------------------------------------------------------------
    def connect(self) -> None:
        try:
            version = self._request("GET", "/api/version").json()
        except ValueError:
            problem = self._error(f"GET /api/version: {self.url} does not answer JSON: "
                                  "is this a PrusaLink printer?")
            self._update(state="offline", seen=False, last_error=str(problem))
            raise problem from None
        except PrinterError as exc:
            self._update(state="offline", seen=False, last_error=str(exc))
            raise
        caps = version.get("capabilities") or {}
        self.upload_by_put = bool(caps.get("upload-by-put"))
        self.poll()
        self._start_polling()

    def send(self, path: Path, meta: Mapping[str, Any]) -> None:
        path = Path(path)
        self._require_state("receive a file", *FREE_STATES)
        if not path.is_file():
            raise self._error(f"{path}: file not found")
        if path.suffix.lower() not in _SUFFIXES and not path.suffix.lower() == ".zip":
            raise self._error(f"{path.name}: PrusaLink prints {', '.join(_SUFFIXES)} files")
        with self._lock:
            self._pending = (path, meta.get("job_id"))
            self._update(state="idle", job_id=meta.get("job_id"), progress_pct=0.0,
                         last_error=None)

    def start(self) -> None:
        """Upload the file and start it (one request when the printer allows it)."""
        self._require_state("start", "idle")
        if self._pending is None:
            raise self._error("cannot start: no file was sent")
        src, job_id = self._pending
        prefix = f"printprep-{job_id}-" if job_id else ""
        name = safe_name(prefix + src.name)
        self._update(state="busy", job_id=job_id)
        try:
            with open(src, "rb") as fh:
                if self.upload_by_put:
                    quoted = urllib.parse.quote(name)
                    self._request(
                        "PUT", f"/api/v1/files/{self.storage}/{quoted}", data=fh,
                        headers={"Content-Type": "application/octet-stream",
                                 "Print-After-Upload": "?1", "Overwrite": "?1",
                                 "Content-Length": str(src.stat().st_size)},
                        ok=(200, 201, 204))
                else:
                    self._request("POST", f"/api/files/{self.storage}",
                                  files={"file": (name, fh, "application/octet-stream")},
                                  data={"print": "true"}, ok=(200, 201))
        except PrinterError:
            self._update(state="idle")
            raise
        with self._lock:
            self._remote = name
            self._pending = None
            self._started = True
            self._started_at = time.monotonic()
            self._update(state="printing", job_id=job_id, progress_pct=0.0)

    def _job_command(self, action: str) -> None:
        if self.v1_status and self._v1_job_id is not None:
            method, path = {
                "pause": ("PUT", f"/api/v1/job/{self._v1_job_id}/pause"),
                "resume": ("PUT", f"/api/v1/job/{self._v1_job_id}/resume"),
                "cancel": ("DELETE", f"/api/v1/job/{self._v1_job_id}"),
            }[action]
            self._request(method, path)
        else:
            body = {"command": "cancel"} if action == "cancel" else {
                "command": "pause", "action": action}
            self._request("POST", "/api/job", json=body)

    def pause(self) -> None:
        self._require_state("pause", "printing")
        self._job_command("pause")
        self._update(state="paused")

    def resume(self) -> None:
        self._require_state("resume", "paused")
        self._job_command("resume")
        self._update(state="printing")

    def cancel(self) -> None:
        """Cancel the print. When the printer cannot be reached, the cancel is kept and
        sent as soon as it answers again (:meth:`poll`); the status says so meanwhile."""
        st = self.status()
        pending = False
        if st.state in ("printing", "paused"):
            try:
                self._job_command("cancel")
            except PrinterUnreachableError:
                pending = True
        elif st.state == "offline" and (self._started or st.job_id):
            pending = True
        with self._lock:
            if pending:
                self._pending_cancel = (self._v1_job_id, self._remote)
            self._started = False
            self._pending = None
            note = (f"cancel pending: {self.url} cannot be reached; the print is cancelled "
                    "as soon as the printer answers") if pending else "cancelled"
            self._update(state="offline" if pending or st.state == "offline" else "idle",
                         seen=not pending, job_id=None, progress_pct=None, last_error=note)

    def clear(self) -> None:
        with self._lock:
            self._started = False
            self._remote = None
        super().clear()

    def pending_cancel(self) -> dict[str, Any] | None:
        pending = self._pending_cancel
        return None if pending is None else {"job_id": pending[0], "remote": pending[1]}

    def resume_cancel(self, pending: Mapping[str, Any]) -> None:
        job_id, remote = pending.get("job_id"), pending.get("remote")
        if isinstance(job_id, int) or isinstance(remote, str):
            with self._lock:
                self._pending_cancel = (job_id if isinstance(job_id, int) else None,
                                        remote if isinstance(remote, str) else None)
                self._update(seen=False, last_error=(
                    "cancel pending (from before a restart of printprep): the print is "
                    "cancelled as soon as the printer answers"))

    # -- status ---------------------------------------------------------------------------
    def poll(self) -> None:
        """Read the printer's status once (never raises)."""
        try:
            if self.v1_status:
                r = self._request("GET", "/api/v1/status", ok=(200, 404))
                if r.status_code == 404:
                    self.v1_status = False
                else:
                    data = r.json()
                    if self._pending_cancel is None or not self._cancel_pending_v1(data):
                        self._apply_v1(data)
                    return
            printer = self._request("GET", "/api/printer", ok=(200, 409)).json()
            job = self._request("GET", "/api/job").json()
            if self._pending_cancel is None or not self._cancel_pending_legacy(printer, job):
                self._apply_legacy(printer, job)
        except (PrinterError, ValueError) as exc:
            note = self._status.last_error if self._pending_cancel else str(exc)
            self._update(state="offline", seen=False, last_error=note)

    # -- a cancel sent late ---------------------------------------------------------------
    def _cancel_pending_v1(self, data: Mapping[str, Any]) -> bool:
        raw = str((data.get("printer") or {}).get("state", "")).upper()
        job_id = (data.get("job") or {}).get("id")
        want = self._pending_cancel[0] if self._pending_cancel else None
        same = want is None or job_id is None or int(job_id) == want
        if job_id is not None and same:
            self._v1_job_id = int(job_id)
        return self._send_pending_cancel(raw in ("PRINTING", "PAUSED"), same, raw)

    def _cancel_pending_legacy(self, printer: Mapping[str, Any], job: Mapping[str, Any]) -> bool:
        flags = ((printer.get("state") or {}).get("flags")) or {}
        name = ((job.get("job") or {}).get("file") or {}).get("name")
        want = self._pending_cancel[1] if self._pending_cancel else None
        same = want is None or name is None or name == want
        active = bool(flags.get("printing") or flags.get("paused") or flags.get("pausing"))
        return self._send_pending_cancel(active, same, str(job.get("state", "")))

    def _send_pending_cancel(self, active: bool, same: bool, raw: str) -> bool:
        """The printer answers again after a cancel it could not be sent: cancel the print
        if it is still the one cancelled. True when the cancel went out (status busy)."""
        if not (active and same):
            self._pending_cancel = None  # it ended meanwhile, or prints something else
            self._update(last_error="the cancelled print was no longer running when the "
                                    f"printer answered again ({raw or 'unknown state'})")
            return False
        try:
            self._job_command("cancel")
        except PrinterError as exc:
            self._update(state="busy", last_error=f"{exc}; trying again")
            return True
        self._pending_cancel = None
        self._update(state="busy", job_id=None, progress_pct=None, time_left_s=None,
                     last_error="cancelled on reconnect (cancelled while the printer could "
                                "not be reached)")
        return True

    def _apply_v1(self, data: Mapping[str, Any]) -> None:
        printer = data.get("printer") or {}
        job = data.get("job") or {}
        fields: dict[str, Any] = {}
        temps = {}
        for src, dst in (("temp_nozzle", "tool0"), ("target_nozzle", "tool0_target"),
                         ("temp_bed", "bed"), ("target_bed", "bed_target")):
            if printer.get(src) is not None:
                temps[dst] = float(printer[src])
        if temps:
            fields["temperatures"] = temps
        if job.get("id") is not None:
            self._v1_job_id = int(job["id"])
        if job.get("progress") is not None:
            fields["progress_pct"] = float(job["progress"])
        if job.get("time_remaining") is not None:
            fields["time_left_s"] = float(job["time_remaining"])
        self._set_state(_V1_STATES.get(str(printer.get("state", "")).upper(), "busy"), fields,
                        str(printer.get("state", "")))

    def _apply_legacy(self, printer: Mapping[str, Any], job: Mapping[str, Any]) -> None:
        flags = ((printer.get("state") or {}).get("flags")) or {}
        progress = job.get("progress") or {}
        fields: dict[str, Any] = {}
        if progress.get("completion") is not None:
            pct = float(progress["completion"])
            fields["progress_pct"] = pct * 100 if pct <= 1.0 and job.get("state") else pct
        if progress.get("printTimeLeft") is not None:
            fields["time_left_s"] = float(progress["printTimeLeft"])
        if flags.get("error"):
            new = "error"
        elif flags.get("paused") or flags.get("pausing"):
            new = "paused"
        elif flags.get("printing"):
            new = "printing"
        elif flags.get("ready") or flags.get("operational"):
            new = "idle"
        else:
            new = "busy"
        self._set_state(new, fields, str(job.get("state", "")))

    def _set_state(self, new: str, fields: dict[str, Any], raw: str) -> None:
        with self._lock:
            current = self._status.state
            if new == "error":
                fields["last_error"] = f"PrusaLink reports {raw or 'an error'}"
            if self._started and new == "idle" and current in ("printing", "paused"):
                if raw.upper() == "STOPPED":
                    self._started = False
                    fields.update(job_id=None, last_error="the print was stopped at the printer")
                elif (fields.get("progress_pct") or 0) >= 100:
                    new = "finished"
                elif time.monotonic() - self._started_at < self.start_grace_s:
                    new = "printing"  # the printer is not reporting the new job yet
                else:
                    self._started = False
                    fields.update(job_id=None, last_error=(
                        "the printer went idle without reporting the print finished"))
            if new == "finished":
                self._started = False
                fields["progress_pct"] = 100.0
                fields["time_left_s"] = 0.0
            if new == "idle" and current == "finished":
                new = "finished"  # until clear(): the plate holds the print
            self._update(state=new, **fields)
