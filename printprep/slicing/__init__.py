"""Slicing: layer images for resin printers (SL1, PNG zip) and G-code for filament ones.

slice_to_archive(parts, profile, out_path, ...) -> SliceResult   resin layer archive
slice_gcode(mesh, profile, out_path, ...) -> SliceResult          via prusa-slicer
slice_for_profile(parts, profile, out_dir, stem, ...) -> SliceResult  by profile.kind
read_archive(path) -> Archive                                      our SL1 / PNG zip
check_layers(archive_or_path) -> LayerReport                      islands, empty, frame, reach
check_mesh_layers(parts, profile, ...) -> MeshLayers               the same checks on meshes
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trimesh

from printprep.profiles import PrinterProfile, ResinPrinterProfile, load_profile
from printprep.slicing.checks import Island, LayerReport, Reach, check_layers
from printprep.slicing.formats.reader import Archive, read_archive
from printprep.slicing.gcode import slice_gcode
from printprep.slicing.meshcheck import MeshLayers, check_mesh_layers
from printprep.slicing.resin import SliceResult, slice_to_archive
from printprep.slicing.thumbnail import render_preview

__all__ = [
    "Archive",
    "Island",
    "LayerReport",
    "MeshLayers",
    "Reach",
    "SliceResult",
    "check_layers",
    "check_mesh_layers",
    "read_archive",
    "render_preview",
    "slice_for_profile",
    "slice_gcode",
    "slice_to_archive",
]

_SUFFIX = {"sl1": ".sl1", "pngzip": ".zip"}


def slice_for_profile(
    parts: Sequence[trimesh.Trimesh] | trimesh.Trimesh,
    profile: str | Path | PrinterProfile,
    out_dir: str | Path,
    stem: str,
    **kw: Any,
) -> SliceResult:
    """Slice for whatever the profile prints: ``<out_dir>/<stem>.sl1`` (``.sl1s`` for an
    SL1S, as PrusaSlicer names them; ``.zip`` for PNG zips) for resin printers,
    ``<stem>.gcode`` for filament printers (several parts are arranged on one bed by
    PrusaSlicer). Keyword arguments go to :func:`slice_to_archive` or :func:`slice_gcode`."""
    prof = load_profile(profile)
    out_dir = Path(out_dir)
    if isinstance(prof, ResinPrinterProfile):
        fmt = kw.get("fmt") or prof.archive_format
        suffix = _SUFFIX[fmt]
        if fmt == "sl1" and prof.archive_model.upper() == "SL1S":
            suffix = ".sl1s"
        return slice_to_archive(parts, prof, out_dir / f"{stem}{suffix}", **kw)
    meshes = [parts] if isinstance(parts, trimesh.Trimesh) else list(parts)
    return slice_gcode(meshes, prof, out_dir / f"{stem}.gcode", **kw)
