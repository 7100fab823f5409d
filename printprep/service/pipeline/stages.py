"""The library calls of the pipeline: the same functions the CLI calls, looked up at run
time so that a build without one of them skips that stage (see :func:`library`).

Inputs of a job (its printer profile, material and preparation options) are resolved
here too, with errors that name the job.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

from printprep.errors import PrintprepError
from printprep.service.config import Settings
from printprep.service.store import Job


def library(module: str, name: str) -> Any:
    """``module.name`` if this build has it, else None."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def load_mesh_fn() -> Any:
    """The mesh loader (``printprep.mesh.load_mesh``)."""
    return library("printprep.mesh", "load_mesh") or library("printprep.mesh.load", "load_mesh")


def preview_fn() -> Any:
    """``render_preview(mesh, path)`` of casting or slicing, or None."""
    return library("printprep.casting", "render_preview") or library(
        "printprep.slicing", "render_preview"
    )


def job_profile(job: Job) -> Any:
    """The job's printer profile (``PrinterProfile``), or None without profiles."""
    load_profile = library("printprep.profiles", "load_profile")
    if load_profile is None:
        return None
    return load_profile(job.profile)


def job_material(job: Job, settings: Settings) -> Any:
    """The job's material (its own, else ``[pipeline] material``), or None."""
    name = job.material or settings.pipeline.material
    load_material = library("printprep.profiles", "load_material")
    if not name or load_material is None:
        return None
    return load_material(name)


def job_alloy(job: Job, settings: Settings) -> str | None:
    """The job's alloy (its own, else ``[pipeline] alloy``), or None."""
    return job.alloy or settings.pipeline.alloy or None


def prepare_options(job: Job) -> Any:
    """``PrepareOptions`` from the job's ``options["prepare"]`` (plus its alloy), or None
    when casting has no options class. Unknown option names are refused."""
    options_cls = library("printprep.casting", "PrepareOptions")
    wanted = job.options.get("prepare") or {}
    if options_cls is None:
        return None
    names = {f.name for f in dataclasses.fields(options_cls)}
    if job.alloy and "alloy" in names:
        wanted = {"alloy": job.alloy, **wanted}
    unknown = sorted(set(wanted) - names)
    if unknown:
        raise PrintprepError(
            f"unknown preparation option(s) {', '.join(unknown)}", where=f"job {job.id}"
        )
    return options_cls(**wanted)


def slice_mesh(
    mesh: Any, profile: Any, material: Any, out_dir: Path, stem: str, job_id: str
) -> Any:
    """Slice ``mesh`` (trimesh, mm) for ``profile`` into ``out_dir``: an archive for a
    resin profile, G-code for a filament one. Returns the ``SliceResult``."""
    slice_for_profile = library("printprep.slicing", "slice_for_profile")
    slice_to_archive = library("printprep.slicing", "slice_to_archive")
    if profile is None or (slice_for_profile is None and slice_to_archive is None):
        raise PrintprepError(
            "slicing is not available in this build (printprep.slicing.slice_for_profile)",
            where=f"job {job_id}",
        )
    kw: dict[str, Any] = {}
    if material is not None:
        kw["material"] = material
    if slice_for_profile is not None:
        return slice_for_profile([mesh], profile, out_dir, stem, **kw)
    ext = getattr(profile, "archive_format", "sl1")
    ext = "zip" if ext == "pngzip" else ext
    return slice_to_archive([mesh], profile, out_dir / f"{stem}.{ext}", **kw)
