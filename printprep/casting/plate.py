"""Several prepared prints on one build plate: largest first, rows, a gap between.

Footprints are the XY bounding boxes of the print meshes (supports and base included),
so boxes ``gap_mm`` apart cannot collide. Placements are the XY centres of those boxes
on the display in machine mm (origin at the display corner), what
``printprep.slicing.slice_to_archive(placements_mm=...)`` takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import trimesh

from printprep.errors import CastingError

DEFAULT_GAP_MM = 5.0


def _plate_mm(profile: Any) -> tuple[float, float]:
    if hasattr(profile, "display_mm"):
        return float(profile.display_mm[0]), float(profile.display_mm[1])
    if hasattr(profile, "bed_mm"):
        return float(profile.bed_mm[0]), float(profile.bed_mm[1])
    raise CastingError(f"profile {getattr(profile, 'name', profile)!r} has no plate size")


def plate_layout(
    parts: Sequence[Any], profile: Any, *, gap_mm: float = DEFAULT_GAP_MM, margin_mm: float = 1.0
) -> list[tuple[float, float]]:
    """XY centre (mm) of each part's footprint on the plate, in the order given.

    parts : trimesh meshes or Prepared results (their print_mesh is used).
    Shelf packing: parts sorted by footprint area (largest first, ties by input order),
    laid left to right in rows, ``gap_mm`` apart and ``margin_mm`` from the edges.
    Raises CastingError naming the first part that does not fit.
    """
    if gap_mm < 0:
        raise CastingError(f"gap_mm must be >= 0, not {gap_mm}", where="plate.gap_mm")
    if isinstance(profile, str):
        from printprep.profiles import load_profile

        profile = load_profile(profile)
    width, depth = _plate_mm(profile)
    sizes = []
    for p in parts:
        mesh = getattr(p, "print_mesh", p)
        if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
            raise CastingError("plate_layout needs meshes or Prepared results", where="plate")
        sizes.append(np.ptp(mesh.bounds[:, :2], axis=0))
    sizes_a = np.array(sizes, dtype=float).reshape(-1, 2)
    order = np.lexsort((np.arange(len(sizes_a)), -(sizes_a[:, 0] * sizes_a[:, 1])))
    out: list[tuple[float, float] | None] = [None] * len(sizes_a)
    x = y = margin_mm
    row_h = 0.0
    for i in order:
        w, h = sizes_a[i]
        if w > width - 2 * margin_mm or h > depth - 2 * margin_mm:
            raise CastingError(
                f"part {int(i)} ({w:.1f} x {h:.1f} mm) is larger than the {width} x {depth} mm plate",
                where="plate",
            )
        if x + w > width - margin_mm:
            x = margin_mm
            y += row_h + gap_mm
            row_h = 0.0
        if y + h > depth - margin_mm:
            raise CastingError(
                f"part {int(i)} does not fit: the {width} x {depth} mm plate is full "
                f"({len(sizes_a)} parts, gap {gap_mm} mm)",
                where="plate",
            )
        out[int(i)] = (float(x + w / 2), float(y + h / 2))
        x += w + gap_mm
        row_h = max(row_h, h)
    return [p for p in out if p is not None]
