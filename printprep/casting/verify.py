"""Self-check of a supported print with the slicer's own layer check.

The print is cut and rasterized as ``printprep.slicing`` will slice it (same placement
— the XY bounding box centred on the display, z from the plate — same cut heights,
area-coverage raster and :class:`LayerChecker`), without writing images. Islands left
and layers that reach too far get tips at the part's underside straight above them;
:func:`prepare` re-plans the supports with those and checks again.

:class:`PrintChecker` slices the casting (part + sprues, the big mesh) once, in the
print frame, and each round slices only the support solid; both ring sets are mapped to
pixels with the round's placement and filled together (non-zero fill: overlapping shells
print as their union), so a round costs the raster and the checks, not a re-slice of a
million-triangle part.
"""

from __future__ import annotations

import manifold3d
import numpy as np
import trimesh

from printprep.slicing.checks import LayerChecker, LayerReport
from printprep.slicing.layers import iter_layer_rings, layer_heights, place_parts
from printprep.slicing.raster import DisplayTransform, rasterize


def _bounds(m: manifold3d.Manifold) -> np.ndarray:
    """(2, 3) float64 mm: low and high corners of ``m``."""
    return np.asarray(m.bounding_box(), dtype=float).reshape(2, 3)


class PrintChecker:
    """Layer checks of ``casting`` (manifold3d solid, print frame, mm) plus a changing
    support solid, for ``profile`` at ``layer_height_mm``."""

    def __init__(self, casting: manifold3d.Manifold, profile, layer_height_mm: float) -> None:
        self.casting = casting
        self.profile = profile
        self.layer_h = float(layer_height_mm)
        self.tr = DisplayTransform.for_profile(profile)
        origin = self.tr.to_image(np.zeros((1, 2)))[0]
        ex = self.tr.to_image(np.array([[1.0, 0.0]]))[0] - origin
        ey = self.tr.to_image(np.array([[0.0, 1.0]]))[0] - origin
        #: (2, 2) mm -> px linear part and (2,) px origin of the display transform
        self.lin = np.column_stack([ex, ey])
        self.origin = origin
        self._zs: np.ndarray | None = None
        self._rings: list[list[np.ndarray]] = []

    def _casting_rings(self, zs: np.ndarray) -> list[list[np.ndarray]]:
        if self._zs is None or len(self._zs) != len(zs) or not np.array_equal(self._zs, zs):
            self._rings = [self.casting.slice(float(z)).to_polygons() for z in zs]
            self._zs = zs
        return self._rings

    def check(self, supports: manifold3d.Manifold | None) -> tuple[LayerReport, np.ndarray]:
        """Slice casting + ``supports`` and run the layer checks.

        returns the LayerReport and the shift (3,) mm from print frame to machine frame.
        """
        b = _bounds(self.casting)
        if supports is not None and not supports.is_empty():
            sb = _bounds(supports)
            b = np.array([np.minimum(b[0], sb[0]), np.maximum(b[1], sb[1])])
        lo, hi = b
        w_mm, h_mm = self.profile.display_mm
        shift = np.array([w_mm / 2 - (lo[0] + hi[0]) / 2, h_mm / 2 - (lo[1] + hi[1]) / 2, -lo[2]])
        zs = layer_heights(float(hi[2] - lo[2]), self.layer_h) + lo[2]
        cast = self._casting_rings(zs)
        lin = self.lin
        off = lin @ shift[:2] + self.origin
        flip = np.linalg.det(lin) < 0  # a mirrored display: keep rings' winding as the slicer's
        checker = LayerChecker(self.tr, self.layer_h)
        image_px = self.tr.image_px
        for i, z in enumerate(zs):
            rings = list(cast[i])
            if supports is not None:
                rings += supports.slice(float(z)).to_polygons()
            px = [(r[::-1] if flip else r) @ lin.T + off for r in rings]
            checker.add(rasterize(px, image_px))
        return checker.report(), shift


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
