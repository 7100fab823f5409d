"""The pipeline a worker runs for one job: check -> repair -> prepare -> slice -> queued.

Each stage calls the library (``printprep.mesh``, ``printprep.casting``,
``printprep.slicing``) exactly as the CLI does, writes its artifacts into a private work
folder and renames them into the job's folder once complete, then moves the job to the
next state in one store transaction. A job cancelled (or taken back from this worker)
meanwhile refuses that transition and the worker simply stops.

Outcomes other than ``queued``:

- ``failed``: unreadable input, a stage error; ``error`` says which file and why.
- ``needs_attention``: a decision only a person can make: a mesh repair could not make
  sound, or walls below the casting minimum of the job's alloy. ``approve`` runs the job
  again past that question; ``reject`` fails it.

Stages that are not in this build (a missing library function) are skipped with an
event saying so, except slicing, without which nothing can be printed.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import os
import shutil
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from printprep.errors import MeshError, PrintprepError
from printprep.service.config import Settings
from printprep.service.store import Job, JobNotFoundError, JobStateError, Store

log = logging.getLogger("printprep.pipeline")

REPORT_NAME = "report.json"


class _Stop(Exception):
    """The job left this worker's hands (cancelled, taken back): stop quietly."""


class _Attention(Exception):
    """A person must decide; the message says what."""


def _fn(module: str, name: str) -> Any:
    """``module.name`` if this build has it, else None."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def _jsonable(obj: Any) -> Any:
    """Reports of the stages as plain JSON data."""
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: _jsonable(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not f.name.startswith("_")
        }
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return obj.name
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist() if obj.size <= 64 else f"<array {obj.shape} {obj.dtype}>"
    except ImportError:  # pragma: no cover
        pass
    return str(obj)


class JobRun:
    """One attempt at one job's pipeline (see :func:`run_job`)."""

    def __init__(self, store: Store, settings: Settings, job: Job, lost: threading.Event):
        self.store = store
        self.settings = settings
        self.job = job
        self.lost = lost
        self.state = job.state  # "checking" after the claim
        self.folder = job.folder
        self.work = self.folder / f".work-{job.attempts}"
        self.stem = _stem(job.name)
        self.report: dict[str, Any] = {}
        self.approved = bool(job.options.get("approved"))
        #: The worker holding the claim; every state change checks it still does.
        self.owner = job.claimed_by
        self._stage_t0 = time.monotonic()

    # -- moving through states -----------------------------------------------------------
    def lap(self) -> None:
        """Record the time spent in the current state into the report."""
        now = time.monotonic()
        self.report.setdefault("timings_s", {})[self.state] = round(now - self._stage_t0, 3)
        self._stage_t0 = now

    def advance(
        self, to_state: str, message: str, pct: float, *, lap: bool = True, **fields: Any
    ) -> None:
        """Move the job on (``lap=False``: the current state's time is already recorded)."""
        if self.lost.is_set():
            raise _Stop("claim lost")
        if lap:
            self.lap()
        try:
            self.job = self.store.transition(
                self.job.id, to_state, message, expect=self.state, owner=self.owner,
                progress_pct=pct, **fields,
            )
        except (JobStateError, JobNotFoundError) as exc:
            raise _Stop(str(exc)) from None
        self.state = to_state

    def progress(self, pct: float, detail: str) -> None:
        self.store.set_progress(self.job.id, pct, detail)

    def event(self, message: str, data: dict[str, Any] | None = None) -> None:
        self.store.add_event(self.job.id, message, data)

    def publish(self, *names: str) -> None:
        """Move finished files from the work folder into the job's folder (atomic each)."""
        for name in names:
            os.replace(self.work / name, self.folder / name)

    def write_report(self) -> None:
        tmp = self.work / REPORT_NAME
        tmp.write_text(json.dumps(self.report, indent=2, default=str))
        self.publish(REPORT_NAME)

    # -- the stages ----------------------------------------------------------------------
    def run(self) -> None:
        for old in self.folder.glob(".work-*"):
            shutil.rmtree(old, ignore_errors=True)
        self.work.mkdir(parents=True)
        try:
            self._run_stages()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def _run_stages(self) -> None:
        job = self.job
        profile = self._load_profile()
        material = self._load_material()
        alloy = job.alloy or self.settings.pipeline.alloy or None

        # checking
        self.progress(2, "loading the mesh")
        load_mesh = _fn("printprep.mesh", "load_mesh") or _fn("printprep.mesh.load", "load_mesh")
        if job.original_path is None or not job.original_path.is_file():
            raise MeshError("the original file is missing from the job folder",
                            where=f"job {job.id}")
        units = job.options.get("units")
        loaded = load_mesh(job.original_path, units=units) if units else load_mesh(
            job.original_path
        )
        mesh = loaded.mesh
        self.report["load"] = {
            "file": job.options.get("original_filename", job.original),
            "format": getattr(loaded, "format", None),
            "units": getattr(loaded, "units", None),
            "scale": getattr(loaded, "scale", None),
            "units_detected": getattr(loaded, "units_detected", None),
            "units_note": getattr(loaded, "units_note", None),
            "triangles": int(len(mesh.faces)),
        }
        check_mesh = _fn("printprep.mesh", "check_mesh")
        check = None
        if check_mesh is not None:
            self.progress(5, "checking the mesh")
            check = check_mesh(loaded, profile=profile, alloy=alloy)
            self.report["check"] = _jsonable(check)
        else:
            self.event("mesh check is not in this build: skipped")

        # repairing
        self.advance("repairing", "mesh checked", 15)
        final_report = check
        if self.settings.pipeline.repair and check is not None and not check.printable:
            repair_mesh = _fn("printprep.mesh", "repair_mesh")
            if repair_mesh is None:
                self.event("mesh repair is not in this build: skipped")
            else:
                self.progress(20, "repairing the mesh")
                result = repair_mesh(loaded, profile=profile, alloy=alloy)
                mesh = result.mesh
                final_report = result.report
                self.report["repair"] = {
                    "steps": _jsonable(result.steps),
                    "result": _jsonable(result.report),
                }
                save_mesh = _fn("printprep.mesh", "save_mesh")
                if save_mesh is not None:
                    name = f"{self.stem}.repaired.stl"
                    save_mesh(mesh, self.work / name)
                    self.publish(name)
        elif check is not None:
            self.event("mesh is sound: no repair needed")
        self._attention_questions(final_report, alloy)

        # preparing
        self.advance("preparing", "mesh ready for preparation", 35)
        prepare = _fn("printprep.casting", "prepare")
        write_prepared = _fn("printprep.casting", "write_prepared")
        prepared = None
        if self.settings.pipeline.prepare and not job.options.get("no_prepare"):
            if prepare is None or write_prepared is None or profile is None:
                self.event("casting preparation is not in this build: the mesh is sliced as is")
            else:
                self.progress(40, "orienting, supporting and spruing")
                opts = self._prepare_options()
                prepared = prepare(mesh, profile, opts) if opts is not None else prepare(
                    mesh, profile
                )
                self.report["prepare"] = _jsonable(getattr(prepared, "report", None))

        # slicing
        self.advance("slicing", "prepared" if prepared is not None else "preparation skipped", 60)
        self.progress(65, "slicing")
        archive = None
        if prepared is not None:
            written = write_prepared(prepared, self.work, self.stem, profile)
            self._merge_casting_report(prepared, written)
            names = [Path(p).name for kind, p in written.items() if kind != "report"]
            self.publish(*[n for n in names if (self.work / n).is_file()])
            archive = _pick_archive(names)
            mesh = getattr(prepared, "print_mesh", mesh)
        if archive is None:
            archive = self._slice(mesh, profile, material)
        self.report["archive"] = archive
        self._preview(mesh)
        self.lap()  # the report file and the job's report are the same, slicing time too
        self.write_report()
        self.advance(
            "queued",
            f"sliced to {archive}; waiting for a {job.profile} printer",
            100,
            lap=False,
            archive=archive,
            report=self.report,
            claimed_by=None,
            heartbeat_at=None,
            stage_detail=None,
        )

    def _merge_casting_report(self, prepared: Any, written: dict[str, Any]) -> None:
        """One report per job: the casting report (``<stem>.report.json`` of
        ``write_prepared``, which the CLI keeps) goes into ``report.json`` as its
        ``prepare`` section and is not published on its own.

        ``write_prepared`` completes the casting report with the slice figures and the
        file names; those replace what was recorded before it ran. The slice figures
        are also the report's ``slice`` section, as for a job sliced without casting.
        """
        casting = _jsonable(getattr(prepared, "report", None))
        if not isinstance(casting, dict):
            return
        files = casting.get("files")
        if isinstance(files, dict):  # the per-job report is report.json, in the job's folder
            casting["files"] = {k: v for k, v in files.items() if k != "report"}
        self.report["prepare"] = casting
        if "slice" in casting:
            self.report["slice"] = casting["slice"]
        own = written.get("report")
        if own is not None:
            Path(own).unlink(missing_ok=True)

    def _slice(self, mesh: Any, profile: Any, material: Any) -> str:
        slice_for_profile = _fn("printprep.slicing", "slice_for_profile")
        slice_to_archive = _fn("printprep.slicing", "slice_to_archive")
        if profile is None or (slice_for_profile is None and slice_to_archive is None):
            raise PrintprepError(
                "slicing is not available in this build (printprep.slicing.slice_for_profile)",
                where=f"job {self.job.id}",
            )
        kw: dict[str, Any] = {}
        if material is not None:
            kw["material"] = material
        if slice_for_profile is not None:
            result = slice_for_profile([mesh], profile, self.work, self.stem, **kw)
        else:
            ext = getattr(profile, "archive_format", "sl1")
            ext = "zip" if ext == "pngzip" else ext
            result = slice_to_archive([mesh], profile, self.work / f"{self.stem}.{ext}", **kw)
        self.report["slice"] = _jsonable(result)
        name = Path(result.path).name
        self.publish(name)
        return name

    def _preview(self, mesh: Any) -> None:
        """A small PNG picture of the part, unless a stage already wrote one."""
        if any(p.suffix == ".png" for p in self.folder.iterdir()):
            return
        render = _fn("printprep.casting", "render_preview") or _fn(
            "printprep.slicing", "render_preview"
        )
        if render is None:
            return
        try:
            render(mesh, self.work / "preview.png")
            self.publish("preview.png")
        except Exception as exc:  # a preview is a nicety: never fail a job for it
            log.info("job %s: preview: %s", self.job.id, exc)

    def _attention_questions(self, report: Any, alloy: str | None) -> None:
        """Stop for a person when repair could not make the mesh sound, or walls are
        below the casting minimum; an approved job goes on.

        Walls: with an alloy (the job's, else ``[pipeline] alloy``), any wall thinner than
        that alloy's casting minimum stops the job; with no alloy named, walls under the
        general minimum (0.6 mm) are warnings recorded in the report and the event log,
        and only walls under the printer's own floor (a problem of the check) stop it.
        ``report`` is the check of the mesh that goes on, made with ``alloy``.
        """
        if report is None or self.approved:
            if self.approved:
                self.event("approved earlier: going on past the open questions")
            return
        problems = [str(p) for p in (getattr(report, "problems", None) or [])]
        facts = report.to_dict() if hasattr(report, "to_dict") else {}
        sound = (
            facts.get("watertight", True)
            and facts.get("winding_consistent", True)
            and not facts.get("non_manifold_edges")
            and not facts.get("boundary_edges")
            and not facts.get("self_intersecting_faces")
        )
        thin = list(facts.get("thin_regions") or [])
        limit_mm = facts.get("wall_limit_mm")
        too_thin = [
            r for r in thin
            if alloy and limit_mm is not None and r.get("min_thickness_mm", 0) < limit_mm
        ]
        ask = None
        if not sound:
            ask = "the mesh could not be made sound automatically"
        elif too_thin:
            worst = min(too_thin, key=lambda r: r.get("min_thickness_mm", 0))
            ask = (
                f"walls below the casting minimum for {alloy}: the thinnest is "
                f"{worst['min_thickness_mm']:.2f} mm where {alloy} needs {limit_mm} mm "
                f"({len(too_thin)} thin region{'s' if len(too_thin) != 1 else ''})"
            )
        elif thin and not getattr(report, "printable", True):
            ask = "walls below what the printer can form"
        elif not getattr(report, "printable", True):
            ask = "the mesh is not printable as it is"
        elif thin:
            thinnest = min(r.get("min_thickness_mm", 0) for r in thin)
            self.event(
                f"walls down to {thinnest:.2f} mm, under the general casting minimum "
                f"{limit_mm} mm; no alloy was named, so the job goes on (name an alloy "
                "to have thin walls stop it)",
                {"thin_regions": thin},
            )
        if ask is None:
            return
        self.report["attention"] = problems
        raise _Attention(
            f"{ask}: " + ("; ".join(problems[:5]) or "see the report")
            + ". Approve to print it anyway, or reject it."
        )

    # -- inputs --------------------------------------------------------------------------
    def _load_profile(self) -> Any:
        load_profile = _fn("printprep.profiles", "load_profile")
        if load_profile is None:
            return None
        return load_profile(self.job.profile)

    def _load_material(self) -> Any:
        name = self.job.material or self.settings.pipeline.material
        load_material = _fn("printprep.profiles", "load_material")
        if not name or load_material is None:
            return None
        return load_material(name)

    def _prepare_options(self) -> Any:
        options_cls = _fn("printprep.casting", "PrepareOptions")
        wanted = self.job.options.get("prepare") or {}
        if options_cls is None:
            return None
        names = {f.name for f in dataclasses.fields(options_cls)}
        if self.job.alloy and "alloy" in names:
            wanted = {"alloy": self.job.alloy, **wanted}
        unknown = sorted(set(wanted) - names)
        if unknown:
            raise PrintprepError(
                f"unknown preparation option(s) {', '.join(unknown)}", where=f"job {self.job.id}"
            )
        return options_cls(**wanted)

    # -- endings -------------------------------------------------------------------------
    def finish_failed(self, error: str, data: dict[str, Any] | None = None) -> None:
        if self.job.original_path is not None:  # name the user's file, not our copy
            error = error.replace(
                str(self.job.original_path),
                str(self.job.options.get("original_filename", self.job.original)),
            )
        self.report["error"] = error
        try:
            self.store.transition(
                self.job.id, "failed", error, expect=self.state, owner=self.owner,
                error=error, data=data,
                report=self.report, claimed_by=None, heartbeat_at=None,
            )
        except (JobStateError, JobNotFoundError):
            return
        if self.job.source == "watch":
            from printprep.service.watch import report_failed_watch_job

            report_failed_watch_job(self.settings, self.store.get(self.job.id))

    def finish_attention(self, why: str) -> None:
        try:
            self.write_report()
        except OSError:
            pass
        try:
            self.store.transition(
                self.job.id, "needs_attention", why, expect=self.state, owner=self.owner,
                error=why,
                report=self.report, claimed_by=None, heartbeat_at=None,
            )
        except (JobStateError, JobNotFoundError):
            return


def _stem(name: str) -> str:
    from printprep.service.intake import sanitize_filename

    return sanitize_filename(name, default="part").replace(" ", "_")[:60] or "part"


def _pick_archive(names: list[str]) -> str | None:
    for suffix in (".sl1", ".sl1s", ".pwmx", ".ctb", ".zip", ".gcode", ".bgcode"):
        for n in names:
            if n.endswith(suffix):
                return n
    return None


def run_job(
    store: Store, settings: Settings, job: Job, *, lost: threading.Event | None = None
) -> None:
    """Run the pipeline for a job this worker has claimed (state ``checking``)."""
    run = JobRun(store, settings, job, lost or threading.Event())
    log.info("job %s (%s): pipeline attempt %d", job.id, job.name, job.attempts)
    try:
        run.run()
    except _Stop as exc:
        log.info("job %s: stopped: %s", job.id, exc)
    except _Attention as exc:
        run.finish_attention(str(exc))
    except PrintprepError as exc:
        run.finish_failed(f"{run.state}: {exc}")
    except MemoryError:
        run.finish_failed(f"{run.state}: out of memory")
    except Exception as exc:  # a bug in a stage: fail the job with the trace, keep the worker
        log.exception("job %s: stage %s crashed", job.id, run.state)
        run.finish_failed(
            f"{run.state}: internal error {type(exc).__name__}: {exc}",
            data={"traceback": traceback.format_exc(limit=20)},
        )
