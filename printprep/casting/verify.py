"""Self-check of a supported print with the slicer's own layer check.

The print is cut and rasterized exactly as ``printprep.slicing`` will slice it (same
placement, cuts, area-coverage raster and :class:`LayerChecker`), without writing
images. Islands left and layers that reach too far get tips at the part's underside
straight above them; :func:`prepare` re-plans the supports with those and checks again.
"""

from __future__ import annotations

import numpy as np
import trimesh

from printprep.slicing.checks import LayerChecker, LayerReport
from printprep.slicing.layers import iter_layer_rings, layer_heights, place_parts
from printprep.slicing.raster import rasterize


def layer_check(print_mesh: trimesh.Trimesh, profile, layer_height_mm: float) -> tuple[LayerReport, np.ndarray]:
    """Slice ``print_mesh`` (print frame, mm) for ``profile`` and run the layer checks.

    returns the LayerReport and the shift (3,) mm from print frame to machine frame.
    """
    placed = place_parts([print_mesh], profile)
    # place_parts' contract: the XY bounding-box centre on the display centre, z from 0
    lo, hi = print_mesh.bounds
    w_mm, h_mm = profile.display_mm
    shift = np.array([w_mm / 2 - (lo[0] + hi[0]) / 2, h_mm / 2 - (lo[1] + hi[1]) / 2, -lo[2]])
    checker = LayerChecker(placed.transform, layer_height_mm)
    zs = layer_heights(placed.height_mm, layer_height_mm)
    for rings in iter_layer_rings(placed, zs):
        checker.add(rasterize(rings, placed.transform.image_px))
    return checker.report(), shift


def problem_tips(
    report: LayerReport, shift: np.ndarray, engine, layer_height_mm: float, pitch_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Tips for each island and each reaching layer of ``report``: the part's underside
    straight above the problem's centroid (or a pixel beside it), found by rays up from
    two layers below. returns points (k, 3) mm (print frame) and faces (k,) int64.
    """
    spots = [(i.x_mm, i.y_mm, i.z_mm) for i in report.islands]
    spots += [(r.x_mm, r.y_mm, r.z_mm) for r in report.reach_layers]
    if not spots:
        return np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    base = np.asarray(spots, dtype=float) - shift
    base[:, 2] -= 2.0 * layer_height_mm
    offs = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [2, 0], [-2, 0], [0, 2], [0, -2]], float)
    o = (base[None] + np.column_stack([offs * pitch_mm, np.zeros(len(offs))])[:, None]).reshape(-1, 3)
    d = np.tile([0.0, 0.0, 1.0], (len(o), 1))
    loc, ray, tri = engine.intersects_location(o, d, multiple_hits=False)
    loc = np.round(loc, 5)  # embree's parallel build: see analysis.ray_distance_mm
    dist = np.full(len(o), np.inf)
    dist[ray] = np.linalg.norm(loc - o[ray], axis=1)
    hit_loc = np.zeros((len(o), 3))
    hit_loc[ray] = loc
    hit_tri = np.zeros(len(o), dtype=np.int64)
    hit_tri[ray] = tri
    dist = dist.reshape(len(offs), -1)
    best = np.argmin(dist, axis=0)
    cols = np.arange(len(base))
    ok = dist[best, cols] < 6.0 * layer_height_mm
    flat = best * len(base) + cols
    return hit_loc[flat[ok]], hit_tri[flat[ok]]
