"""One attempt at one job: the stages in order, each ending in one store transition.

:class:`JobRun` holds the attempt's state (the job as last stored, the state it is in,
the claim, the report being built) and moves the job on with :meth:`JobRun.advance`;
:func:`run_job` turns how the attempt ended into the job's outcome.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from printprep.errors import MeshError, PrintprepError
from printprep.service.config import Settings
from printprep.service.pipeline import stages
from printprep.service.pipeline.artifacts import Artifacts, job_stem, pick_archive
from printprep.service.pipeline.attention import Attention, question
from printprep.service.pipeline.report import jsonable, load_section, merge_casting_report
from printprep.service.store import Job, JobNotFoundError, JobStateError, Store

log = logging.getLogger("printprep.pipeline")


class Stop(Exception):
    """The job left this worker's hands (cancelled, taken back): stop quietly."""


class JobRun:
    """One attempt at one job's pipeline (see :func:`run_job`)."""

    def __init__(self, store: Store, settings: Settings, job: Job, lost: threading.Event):
        self.store = store
        self.settings = settings
        self.job = job
        self.lost = lost
        self.state = job.state  # "checking" after the claim
        self.files = Artifacts(job.folder, job.attempts)
        self.stem = job_stem(job.name)
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
            raise Stop("claim lost")
        if lap:
            self.lap()
        try:
            self.job = self.store.transition(
                self.job.id, to_state, message, expect=self.state, owner=self.owner,
                progress_pct=pct, **fields,
            )
        except (JobStateError, JobNotFoundError) as exc:
            raise Stop(str(exc)) from None
        self.state = to_state

    def progress(self, pct: float, detail: str) -> None:
        self.store.set_progress(self.job.id, pct, detail)

    def event(self, message: str, data: dict[str, Any] | None = None) -> None:
        self.store.add_event(self.job.id, message, data)

    # -- the stages ----------------------------------------------------------------------
    def run(self) -> None:
        self.files.open()
        try:
            self._run_stages()
        finally:
            self.files.close()

    def _run_stages(self) -> None:
        job = self.job
        profile = stages.job_profile(job)
        material = stages.job_material(job, self.settings)
        alloy = stages.job_alloy(job, self.settings)

        before = self._checked_before()
        if before is None:
            loaded, check = self._check(profile, alloy)  # checking
            self.advance("repairing", "mesh checked", 15)
            mesh, facts = self._repair(loaded, check, profile, alloy)
        else:
            mesh, facts = before
            self.advance("repairing", "approved: the check and repair of the first run stand", 15)
        self._ask(facts, alloy)

        self.advance("preparing", "mesh ready for preparation", 35)
        prepared = self._prepare(mesh, profile)

        self.advance("slicing", "prepared" if prepared is not None else "preparation skipped", 60)
        self.progress(65, "slicing")
        archive = None
        if prepared is not None:
            archive = self._write_prepared(prepared, profile)
            mesh = getattr(prepared, "print_mesh", mesh)
        if archive is None:
            archive = self._slice(mesh, profile, material)
        self.report["archive"] = archive
        self.files.preview(mesh, stages.preview_fn(), job.id)
        self.lap()  # the report file and the job's report are the same, slicing time too
        self.files.write_report(self.report)
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

    def _check(self, profile: Any, alloy: str | None) -> tuple[Any, Any]:
        """Load the original (once) and check it: (LoadedMesh, CheckReport or None)."""
        job = self.job
        self.progress(2, "loading the mesh")
        loaded = self._load_original()
        self.report["load"] = load_section(loaded, job.options.get("original_filename",
                                                                   job.original))
        check_mesh = stages.library("printprep.mesh", "check_mesh")
        if check_mesh is None:
            self.event("mesh check is not in this build: skipped")
            return loaded, None
        self.progress(5, "checking the mesh")
        check = check_mesh(loaded, profile=profile, alloy=alloy)
        self.report["check"] = jsonable(check)
        return loaded, check

    def _load_original(self) -> Any:
        """The job's original file, loaded with the units it was submitted with
        (LoadedMesh); MeshError when it is gone from the job folder."""
        job = self.job
        if job.original_path is None or not job.original_path.is_file():
            raise MeshError("the original file is missing from the job folder",
                            where=f"job {job.id}")
        load_mesh = stages.load_mesh_fn()
        units = job.options.get("units")
        return load_mesh(job.original_path, units=units) if units else load_mesh(
            job.original_path)

    def _checked_before(self) -> tuple[Any, dict[str, Any] | None] | None:
        """An approved job goes on from what its first run found: (the mesh that came out
        of check and repair — the repaired copy when there was a repair, else the original —
        and the facts the question was asked on). None when the job was not approved or
        something is missing: then check and repair run again."""
        before = self.job.report or {}
        if not self.approved or not isinstance(before.get("check"), dict):
            return None
        repaired = before.get("repair")
        try:
            if isinstance(repaired, dict):
                path = self.job.folder / f"{self.stem}.repaired.stl"
                if not path.is_file():
                    return None
                # saved in mm, the unit scale applied
                mesh = stages.load_mesh_fn()(path, units="mm").mesh
                facts = repaired.get("result")
            else:
                mesh = self._load_original().mesh  # MeshError when gone: check again
                facts = before["check"]
        except PrintprepError as exc:
            log.info("job %s: first run's mesh unusable (%s): checking again", self.job.id, exc)
            return None
        for key in ("load", "check", "repair"):
            if key in before:
                self.report[key] = before[key]
        return mesh, facts

    def _repair(
        self, loaded: Any, check: Any, profile: Any, alloy: str | None
    ) -> tuple[Any, dict[str, Any] | None]:
        """Repair the mesh when the check found it unprintable: (the mesh that goes on,
        the check report of that mesh as JSON data, None without a check)."""
        if check is None:
            return loaded.mesh, None
        if not (self.settings.pipeline.repair and not check.printable):
            self.event("mesh is sound: no repair needed")
            return loaded.mesh, self.report["check"]
        repair_mesh = stages.library("printprep.mesh", "repair_mesh")
        if repair_mesh is None:
            self.event("mesh repair is not in this build: skipped")
            return loaded.mesh, self.report["check"]
        self.progress(20, "repairing the mesh")
        result = repair_mesh(loaded, profile=profile, alloy=alloy)
        facts = jsonable(result.report)
        self.report["repair"] = {"steps": jsonable(result.steps), "result": facts}
        save_mesh = stages.library("printprep.mesh", "save_mesh")
        if save_mesh is not None:
            name = f"{self.stem}.repaired.stl"
            save_mesh(result.mesh, self.files.work / name)
            self.files.publish(name)
        return result.mesh, facts

    def _ask(self, facts: dict[str, Any] | None, alloy: str | None) -> None:
        """Stop for a person (:mod:`.attention`) unless the job was approved."""
        if facts is None or self.approved:
            if self.approved:
                self.event("approved earlier: going on past the open questions")
            return
        q = question(facts, alloy)
        if q.note is not None:
            self.event(q.note, {"thin_regions": q.thin_regions})
        if q.ask is not None:
            self.report["attention"] = q.problems
            raise Attention(q.message())

    def _prepare(self, mesh: Any, profile: Any) -> Any:
        """Orient, support and sprue the part (``casting.prepare``), or None when the job
        or the service skips preparation, or this build cannot."""
        if not self.settings.pipeline.prepare or self.job.options.get("no_prepare"):
            return None
        prepare = stages.library("printprep.casting", "prepare")
        write_prepared = stages.library("printprep.casting", "write_prepared")
        if prepare is None or write_prepared is None or profile is None:
            self.event("casting preparation is not in this build: the mesh is sliced as is")
            return None
        self.progress(40, "orienting, supporting and spruing")
        opts = stages.prepare_options(self.job)
        prepared = prepare(mesh, profile, opts) if opts is not None else prepare(mesh, profile)
        self.report["prepare"] = jsonable(getattr(prepared, "report", None))
        return prepared

    def _write_prepared(self, prepared: Any, profile: Any) -> str | None:
        """Write and publish the prepared files (``write_prepared`` also slices); merge
        its report into the job's. Returns the archive's name (None: none written)."""
        write_prepared = stages.library("printprep.casting", "write_prepared")
        written = write_prepared(prepared, self.files.work, self.stem, profile)
        # the casting report grew (slice figures, file names): converted again, whole
        # (0.3 ms for a ring's, against 17 s of preparing; see the package's notes)
        merge_casting_report(self.report, jsonable(getattr(prepared, "report", None)))
        return pick_archive(self.files.publish_written(written))

    def _slice(self, mesh: Any, profile: Any, material: Any) -> str:
        result = stages.slice_mesh(mesh, profile, material, self.files.work, self.stem,
                                   self.job.id)
        self.report["slice"] = jsonable(result)
        name = Path(result.path).name
        self.files.publish(name)
        return name

    # -- endings -------------------------------------------------------------------------
    def finish_failed(self, error: str, data: dict[str, Any] | None = None) -> None:
        """End ``failed`` with ``error`` (naming the user's file, not the job folder's
        copy); a watch job's file goes to ``failed/`` with the reason beside it."""
        if self.job.original_path is not None:  # name the user's file, not our copy
            error = error.replace(
                str(self.job.original_path),
                str(self.job.options.get("original_filename", self.job.original)),
            )
        self.report["error"] = error
        failed = self._end("failed", error, data=data)
        if failed is not None and failed.source == "watch":
            from printprep.service.watch import report_failed_watch_job

            report_failed_watch_job(self.settings, failed)  # the job as just stored

    def finish_attention(self, why: str) -> None:
        """End ``needs_attention`` with the question ``why``; ``report.json`` shows what
        the checks found."""
        try:
            self.files.write_report(self.report)
        except OSError:
            pass
        self._end("needs_attention", why)

    def _end(self, to_state: str, why: str, data: dict[str, Any] | None = None) -> Job | None:
        """Leave the pipeline in ``to_state`` with ``why`` as the job's error, the report
        stored and the claim released; the job as stored, or None when it is no longer
        this worker's to move (cancelled, taken back)."""
        try:
            return self.store.transition(
                self.job.id, to_state, why, expect=self.state, owner=self.owner,
                error=why, data=data,
                report=self.report, claimed_by=None, heartbeat_at=None,
            )
        except (JobStateError, JobNotFoundError):
            return None


def run_job(
    store: Store, settings: Settings, job: Job, *, lost: threading.Event | None = None
) -> None:
    """Run the pipeline for a job this worker has claimed (state ``checking``)."""
    run = JobRun(store, settings, job, lost or threading.Event())
    log.info("job %s (%s): pipeline attempt %d", job.id, job.name, job.attempts)
    try:
        run.run()
    except Stop as exc:
        log.info("job %s: stopped: %s", job.id, exc)
    except Attention as exc:
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
