"""Dispatcher: queued jobs -> idle printers whose profile matches, and prints -> job states.

``Dispatcher(store, printers, config)`` runs one thread (``start()`` / ``stop()``). Each
tick (``poll_s``) it

1. reads every printer's status, reconnects offline printers (at most every
   ``reconnect_s``), and publishes changed statuses on :attr:`Dispatcher.events`;
2. follows each print it started: progress into the job, ``finished`` -> job ``done``,
   printer ``error`` -> job ``failed`` with the printer's message, a job cancelled in
   the store -> the print is cancelled;
3. gives each free printer (``idle`` or ``finished``) the best queued job for its
   profile: highest priority first, then the oldest; one job per printer.

A printer that goes offline keeps its job. When it comes back still holding the job, the
job carries on. When it comes back without it (restarted), or stays away longer than
``offline_grace_s``: a job that had not started printing (0 %) is queued again for any
matching printer; a job that had (> 0 %) goes to ``needs_attention``, because a
half-printed part may be on the plate and only a person can tell. On a service restart,
jobs left ``printing`` are picked up again the same way. Every step is written to the
job's event log.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from printprep.errors import PrintprepError
from printprep.printers.base import FREE_STATES, Printer, PrinterStatus

log = logging.getLogger("printprep.dispatch")


@dataclass(frozen=True)
class DispatchSettings:
    """Dispatcher settings (the ``[dispatch]`` section of the service config, if any)."""

    poll_s: float = 0.5
    #: How long a printer may stay offline with a job before the job is moved on.
    offline_grace_s: float = 300.0
    #: Offline printers are asked to reconnect this often.
    reconnect_s: float = 5.0
    #: Place several queued resin jobs of one profile and material on one plate.
    batching: bool = False
    #: Jobs per plate at most when batching.
    batch_max: int = 8
    #: Gap between parts on a batched plate.
    batch_gap_mm: float = 3.0


def dispatch_settings(config: Any) -> DispatchSettings:
    """Read :class:`DispatchSettings` from ``config.dispatch`` (object or mapping), if any."""
    section = getattr(config, "dispatch", None)
    if section is None and isinstance(config, Mapping):
        section = config.get("dispatch")
    if section is None:
        return DispatchSettings()
    names = {f.name for f in fields(DispatchSettings)}
    if isinstance(section, Mapping):
        values = {k: v for k, v in section.items() if k in names}
    else:
        values = {k: getattr(section, k) for k in names if hasattr(section, k)}
    return DispatchSettings(**values)


class EventHub:
    """Named events (``printer``, ``job``) fanned out to subscribers (the SSE route).

    Each subscriber gets its own bounded queue; a subscriber that does not read loses
    its oldest events rather than slowing the dispatcher.
    """

    def __init__(self, maxsize: int = 1000) -> None:
        self._subs: list[queue.Queue[tuple[str, dict[str, Any]]]] = []
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def subscribe(self) -> queue.Queue[tuple[str, dict[str, Any]]]:
        q: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(self._maxsize)
        with self._lock:
            self._subs.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[tuple[str, dict[str, Any]]]) -> None:
        with self._lock:
            if q in self._subs:
                self._subs.remove(q)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs)
        for q in subs:
            while True:
                try:
                    q.put_nowait((kind, data))
                    break
                except queue.Full:
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        pass


@dataclass
class _Print:
    """A print the dispatcher started, followed until it ends: one job, or a plate of
    several (``job_ids``; the first one's id is what the printer reports)."""

    job_id: str
    printer: str
    started: float = field(default_factory=time.time)
    progress_pct: float = 0.0
    last_state: str = "printing"
    offline_since: float | None = None
    recovered: bool = False  # picked up after a service restart
    job_ids: list[str] = field(default_factory=list)
    sending: bool = False  # the file is being built or uploaded (its own thread)
    send_error: str | None = None
    #: (job_id, message, data) to log once the print has started
    announce: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.job_ids:
            self.job_ids = [self.job_id]


def _attr(obj: Any, *names: str, default: Any = None) -> Any:
    """First present attribute (or mapping key) of ``names`` on ``obj``."""
    for n in names:
        if isinstance(obj, Mapping) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return default


def job_archive_path(job: Any) -> Path | None:
    """The sliced file of a job: the archive artifact inside the job's folder."""
    folder = _attr(job, "folder", "job_dir", "dir", "path")
    name = _attr(job, "archive", "archive_name", "artifact", "archive_path")
    if name is None:
        return None
    p = Path(name)
    if not p.is_absolute() and folder is not None:
        p = Path(folder) / p
    return p


class Dispatcher:
    """Moves queued jobs onto printers and printer outcomes back into jobs."""

    def __init__(self, store: Any, printers: Mapping[str, Printer], config: Any) -> None:
        self.store = store
        self.printers: dict[str, Printer] = dict(printers)
        self.config = config
        self.settings = dispatch_settings(config)
        self.events = EventHub()
        self._prints: dict[str, _Print] = {}  # printer name -> print
        self._statuses: dict[str, PrinterStatus] = {}
        self._next_connect: dict[str, float] = {}
        self._connecting: set[str] = set()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Connect the printers, pick up prints left running, start the thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        threads = [self._connect_async(name) for name in self.printers]
        deadline = time.monotonic() + 2.0  # quick printers are ready for the first tick
        for t in threads:
            if t is not None:
                t.join(timeout=max(0.0, deadline - time.monotonic()))
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the printers (prints on real printers carry on)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for p in self.printers.values():
            try:
                p.close()
            except Exception:  # noqa: BLE001 - closing must not stop the others
                log.exception("closing printer %s", p.name)

    def wake(self) -> None:
        """Run a tick now (a job was queued or cancelled)."""
        self._wake.set()

    # -- queries for the API --------------------------------------------------------------
    def statuses(self) -> list[PrinterStatus]:
        """Latest status of every printer (as of the last tick), by name."""
        with self._lock:
            out = []
            for name, p in sorted(self.printers.items()):
                st = self._statuses.get(name) or p.status()
                out.append(st)
            return out

    def status(self, name: str) -> PrinterStatus | None:
        p = self.printers.get(name)
        if p is None:
            return None
        with self._lock:
            return self._statuses.get(name) or p.status()

    def job_on(self, name: str) -> str | None:
        with self._lock:
            pr = self._prints.get(name)
            return pr.job_id if pr else None

    # -- the loop -------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - one bad tick must not end dispatching
                log.exception("dispatcher tick failed")
            self._wake.wait(self.settings.poll_s)
            self._wake.clear()

    def tick(self) -> None:
        """One pass: statuses, running prints, new assignments."""
        with self._lock:
            now = time.time()
            for name, printer in self.printers.items():
                st = printer.status()
                if st.state == "offline" and now >= self._next_connect.get(name, 0.0):
                    self._connect_async(name)  # an unreachable printer must not stall the rest
                prev = self._statuses.get(name)
                self._statuses[name] = st
                if not st.same_as(prev):
                    self.events.publish("printer", st.to_dict())
                pr = self._prints.get(name)
                if pr is not None and not pr.sending:
                    if pr.announce or pr.send_error is not None:
                        if self._sent(pr, printer):
                            continue
                    self._follow(pr, printer, st, now)
            for name, printer in sorted(self.printers.items()):
                if name in self._prints:
                    continue
                st = self._statuses[name]
                if st.state in FREE_STATES:
                    self._assign(printer, st)

    # -- following prints -----------------------------------------------------------------
    def _follow(self, pr: _Print, printer: Printer, st: PrinterStatus, now: float) -> None:
        live = []
        for job_id in pr.job_ids:
            job_state = _attr(self.store.get(job_id), "state")
            if job_state == "printing":
                live.append(job_id)
            elif len(pr.job_ids) > 1:
                self._event(job_id, f"job is {job_state}: its part stays on the plate on "
                                    f"{printer.name}; the other parts carry on")
        if not live:
            # cancelled (or moved on) from outside: stop the print nobody wants
            for job_id in pr.job_ids:
                self._event(job_id, f"cancelling the print on {printer.name}")
            if st.state in ("printing", "paused", "busy", "idle", "offline"):
                # offline too: a printer that comes back must not carry on a cancelled job
                self._safe(printer, "cancel")
            self._release(pr, printer)
            return
        pr.job_ids = live
        ours = st.job_id == pr.job_id
        if st.state == "offline":
            if pr.offline_since is None:
                pr.offline_since = now
                for job_id in pr.job_ids:
                    self._event(
                        job_id,
                        f"printer {printer.name} went offline at {pr.progress_pct:.0f} %; "
                        f"waiting up to {self.settings.offline_grace_s:g} s for it",
                    )
            elif now - pr.offline_since > self.settings.offline_grace_s:
                self._lost(pr, printer, f"printer {printer.name} stayed offline for "
                                        f"{now - pr.offline_since:.0f} s")
            return
        if pr.offline_since is not None:
            for job_id in pr.job_ids:
                self._event(job_id, f"printer {printer.name} is back ({st.state})")
            pr.offline_since = None
        if st.state in ("printing", "paused") and ours:
            if st.state != pr.last_state:
                for job_id in pr.job_ids:
                    self._event(job_id, f"print {st.state} on {printer.name}")
            pr.last_state = st.state
            if st.progress_pct is not None and st.progress_pct != pr.progress_pct:
                pr.progress_pct = st.progress_pct
                for job_id in pr.job_ids:
                    self._progress(job_id, st)
            return
        if st.state == "busy" and ours:
            return
        if st.state == "finished" and (ours or st.job_id is None):
            for job_id in pr.job_ids:
                self._progress(job_id, st, pct=100.0)
                self._transition(job_id, "done", f"printed on {printer.name}",
                                 elapsed_s=round(now - pr.started, 1))
            self._release(pr, printer)
            self._safe(printer, "clear")
            return
        if st.state == "error":
            reason = st.last_error or "the printer reported an error"
            for job_id in pr.job_ids:
                if st.progress_pct is not None:
                    self._progress(job_id, st)  # where it stopped
                self._transition(job_id, "failed", f"print failed on {printer.name}: {reason}",
                                 error=f"print failed on {printer.name}: {reason}")
            self._release(pr, printer)
            return
        # idle / finished without our job: the printer lost it (restart, cancel at the panel)
        why = st.last_error or "it no longer has the job"
        self._lost(pr, printer, f"printer {printer.name} is {st.state}: {why}")

    def _lost(self, pr: _Print, printer: Printer, why: str) -> None:
        """The printer lost the print: queue it again if nothing was printed, else ask."""
        for job_id in pr.job_ids:
            if pr.progress_pct <= 0.0:
                self._transition(job_id, "queued",
                                 f"{why}; nothing was printed yet, so the job is queued again",
                                 printer=None, progress_pct=0.0)
            else:
                self._transition(
                    job_id, "needs_attention",
                    f"{why} at {pr.progress_pct:.0f} %; a part may be on the plate - "
                    "check the printer, then requeue or cancel the job",
                )
        self._release(pr, printer)

    def _release(self, pr: _Print, printer: Printer) -> None:
        self._prints.pop(printer.name, None)

    # -- assigning ------------------------------------------------------------------------
    def _assign(self, printer: Printer, st: PrinterStatus) -> None:
        jobs = list(self.store.queued_jobs(profile=printer.profile))
        if not jobs:
            return
        jobs.sort(key=_queue_order)
        if self.settings.batching and len(jobs) > 1 and self._assign_plate(printer, st, jobs):
            return
        for job in jobs:
            job_id = str(_attr(job, "id", "job_id"))
            path = job_archive_path(job)
            if path is None or not path.is_file():
                self._transition(job_id, "failed",
                                 f"no sliced file to print (looked for {path})", expect="queued")
                continue
            if not self._transition(job_id, "printing", f"sending {path.name} to {printer.name}",
                                    expect="queued", printer=printer.name):
                continue  # someone else moved it
            meta = {"job_id": job_id, "name": path.name, "profile": printer.profile}
            pr = _Print(job_id, printer.name)
            pr.announce = [(job_id, f"printing on {printer.name}", None)]
            self._send(pr, printer, st, lambda path=path, meta=meta: (path, meta))
            return

    def _send(self, pr: _Print, printer: Printer, st: PrinterStatus,
              prepare: Callable[[], tuple[Path, dict[str, Any]]]) -> None:
        """Build (``prepare``), send and start a print in its own thread: an upload or a
        plate being sliced must not hold up the other printers. The next ticks follow."""
        pr.sending = True
        self._prints[printer.name] = pr

        def work() -> None:
            try:
                path, meta = prepare()
                if st.state == "finished":
                    printer.clear()
                printer.send(path, meta)
                printer.start()
            except PrintprepError as exc:
                pr.send_error = str(exc)
            except Exception as exc:  # noqa: BLE001 - a connector bug must not lose the job
                log.exception("printer %s", printer.name)
                pr.send_error = f"{type(exc).__name__}: {exc}"
            finally:
                pr.sending = False
                self.wake()

        threading.Thread(target=work, name=f"send-{printer.name}", daemon=True).start()

    def _sent(self, pr: _Print, printer: Printer) -> bool:
        """After a send finished: requeue on failure, else log the start. True if failed."""
        if pr.send_error is not None:
            for job_id in pr.job_ids:
                self._transition(job_id, "queued", f"could not start on {printer.name}: "
                                 f"{pr.send_error}", printer=None)
            self._next_connect[printer.name] = time.time() + self.settings.reconnect_s
            self._release(pr, printer)
            return True
        for job_id, message, data in pr.announce:
            self._event(job_id, message, data)
        pr.announce = []
        return False

    # -- batching (resin) -----------------------------------------------------------------
    def _assign_plate(self, printer: Printer, st: PrinterStatus, jobs: list[Any]) -> bool:
        """Put the best queued job and others of its material on one plate; False when
        there is nothing to batch (the caller then sends the best job alone)."""
        from printprep.casting import plate_layout
        from printprep.errors import CastingError
        from printprep.profiles import load_profile

        try:
            profile = load_profile(printer.profile)
        except PrintprepError:
            return False
        if getattr(profile, "kind", "") != "resin":
            return False
        lead = jobs[0]
        mates = [j for j in jobs[1:] if _attr(j, "material") == _attr(lead, "material")]
        if not mates:
            return False
        lead_mesh = _job_mesh(lead)
        if lead_mesh is None:
            return False
        chosen, meshes = [lead], [lead_mesh]
        for job in mates[: max(0, self.settings.batch_max - 1)]:
            mesh = _job_mesh(job)
            if mesh is None:
                continue
            try:
                plate_layout([*meshes, mesh], profile, gap_mm=self.settings.batch_gap_mm)
            except CastingError:
                continue  # does not fit beside the others: it waits for another plate
            chosen.append(job)
            meshes.append(mesh)
        if len(chosen) < 2:
            return False
        ids = [str(_attr(j, "id", "job_id")) for j in chosen]
        claimed, claimed_meshes = [], []
        for job_id, mesh in zip(ids, meshes, strict=True):
            if self._transition(job_id, "printing",
                                f"placed on a plate of {len(ids)} jobs for {printer.name}",
                                expect="queued", printer=printer.name):
                claimed.append(job_id)
                claimed_meshes.append(mesh)
        if not claimed:
            return True  # all moved on meanwhile; the next tick looks again
        folder = Path(_attr(lead, "folder"))
        pr = _Print(claimed[0], printer.name, job_ids=claimed)
        material = _attr(lead, "material") or None
        layer_height_mm = _layer_height_mm(lead)

        def build() -> tuple[Path, dict[str, Any]]:
            from printprep.slicing import slice_to_archive

            layout = plate_layout(claimed_meshes, profile, gap_mm=self.settings.batch_gap_mm)
            suffix = ".zip" if profile.archive_format == "pngzip" else ".sl1"
            plate = folder / f"plate-{'-'.join(i[:6] for i in claimed)}{suffix}"
            slice_to_archive(claimed_meshes, profile, plate, placements_mm=layout,
                             material=material, layer_height_mm=layer_height_mm)
            others = ", ".join(claimed)
            pr.announce = [
                (job_id, f"printing on {printer.name} on plate {plate.name} (jobs {others}); "
                         f"this part at x {x:.1f} y {y:.1f} mm",
                 {"plate": plate.name, "jobs": claimed, "placement_mm": [x, y]})
                for job_id, (x, y) in zip(claimed, layout, strict=True)
            ]
            return plate, {"job_id": claimed[0], "name": plate.name,
                           "profile": printer.profile, "job_ids": claimed}

        self._send(pr, printer, st, build)
        return True

    def _recover(self) -> None:
        """Jobs left ``printing`` by a previous run: follow them again, or move them on."""
        try:
            jobs = list(self.store.list_jobs(state="printing", limit=100_000))
        except PrintprepError:
            log.exception("dispatcher: cannot list printing jobs")
            return
        for job in jobs:
            job_id = str(_attr(job, "id", "job_id"))
            name = _attr(job, "printer")
            pct = float(_attr(job, "progress_pct", "progress", default=0.0) or 0.0)
            if name in self.printers and name not in self._prints:
                self._prints[name] = _Print(job_id, name, progress_pct=pct, recovered=True)
                self._event(job_id, f"service restarted: following the print on {name} again")
            else:
                why = f"printer {name!r} is not configured any more"
                if pct <= 0:
                    self._transition(job_id, "queued", f"{why}; queued again", printer=None)
                else:
                    self._transition(job_id, "needs_attention", f"{why}; check it by hand")

    # -- store helpers --------------------------------------------------------------------
    def _transition(self, job_id: str, to_state: str, message: str, *,
                    expect: str | None = "printing", **fields: Any) -> bool:
        try:
            self.store.transition(job_id, to_state, message, expect=expect, **fields)
        except PrintprepError as exc:
            log.info("job %s: %s -> %s refused: %s", job_id, expect, to_state, exc)
            return False
        self.events.publish("job", {"id": job_id, "state": to_state, "message": message})
        return True

    def _event(self, job_id: str, message: str, data: dict[str, Any] | None = None) -> None:
        try:
            self.store.add_event(job_id, message, data)
        except PrintprepError:
            log.exception("job %s: event %r", job_id, message)

    def _progress(self, job_id: str, st: PrinterStatus, pct: float | None = None) -> None:
        pct = st.progress_pct if pct is None else pct
        if st.layer is not None and st.layer_count:
            detail = f"layer {st.layer}/{st.layer_count} on {st.name}"
        elif st.line is not None and st.line_count:
            detail = f"line {st.line}/{st.line_count} on {st.name}"
        else:
            detail = f"on {st.name}"
        self.store.set_progress(job_id, pct, detail)
        self.events.publish("job", {"id": job_id, "state": "printing", "progress_pct": pct,
                                    "detail": detail})

    def _connect_async(self, name: str) -> threading.Thread | None:
        """Connect printer ``name`` in its own thread (at most one attempt at a time)."""
        self._next_connect[name] = time.time() + self.settings.reconnect_s
        with self._lock:
            if name in self._connecting:
                return None
            self._connecting.add(name)

        def work() -> None:
            try:
                self.printers[name].connect()
            except PrintprepError as exc:
                log.info("printer %s: %s", name, exc)
            except Exception:  # noqa: BLE001
                log.exception("printer %s: connect", name)
            finally:
                with self._lock:
                    self._connecting.discard(name)
                self.wake()

        t = threading.Thread(target=work, name=f"connect-{name}", daemon=True)
        t.start()
        return t

    def _safe(self, printer: Printer, action: str) -> None:
        try:
            getattr(printer, action)()
        except Exception as exc:  # noqa: BLE001 - best effort, logged
            log.info("printer %s: %s: %s", printer.name, action, exc)


def _job_mesh(job: Any) -> Any:
    """The mesh a job's plate part is made of (mm): its prepared print mesh, else the
    repaired mesh, else the original; None when none can be read."""
    import trimesh

    folder = Path(_attr(job, "folder"))
    for pattern in ("*.print.stl", "*.repaired.stl"):
        found = sorted(folder.glob(pattern))
        if found:
            try:
                return trimesh.load(found[0], force="mesh")
            except Exception:  # noqa: BLE001 - an unreadable artifact: try the next
                log.warning("job %s: cannot read %s", _attr(job, "id"), found[0])
    original = _attr(job, "original_path")
    if original is not None and Path(original).is_file():
        try:
            from printprep.mesh import load_mesh

            units = (_attr(job, "options") or {}).get("units")
            return load_mesh(original, units=units).mesh
        except Exception:  # noqa: BLE001
            log.warning("job %s: cannot read %s", _attr(job, "id"), original)
    return None


def _layer_height_mm(job: Any) -> float | None:
    """The layer height the job was sliced at (a plate keeps it), if its archive says."""
    path = job_archive_path(job)
    if path is None or not path.is_file():
        return None
    try:
        from printprep.slicing import read_archive

        archive = read_archive(path)
        try:
            return float(archive.layer_height_mm)
        finally:
            archive.close()
    except Exception:  # noqa: BLE001 - not a layer archive: the profile's default
        return None


def _queue_order(job: Any) -> tuple[float, float]:
    """Highest priority first, then the oldest."""
    prio = float(_attr(job, "priority", default=0) or 0)
    created = _attr(job, "created_at", "created", "received_at", default=0.0)
    if hasattr(created, "timestamp"):
        created = created.timestamp()
    return (-prio, float(created or 0.0))
