"""numba kernel of the preview's point-splat z-buffer (:mod:`printprep.casting.preview`)."""

from __future__ import annotations

import numba
import numpy as np

#: the plastic number: R2 low-discrepancy sequence of the samples inside a face
_G = 1.32471795724474602596


@numba.njit(cache=True, nogil=True)
def splat_faces(
    vertices: np.ndarray,
    faces: np.ndarray,
    per: np.ndarray,
    view: np.ndarray,
    centre: np.ndarray,
    px_mm: float,
    size_px: int,
    best_depth: np.ndarray,
    best_face: np.ndarray,
    best_mesh: np.ndarray,
    mesh_id: int,
) -> None:
    """Splat ``per[f]`` points of each face into a shared z-buffer, nearest wins.

    vertices : (v, 3) float64 mm; faces : (f, 3) int64; per : (f,) int64 points per face
    (point k: the R2 sequence from (0.5, 0.5), folded into the triangle); view : (3, 3)
    world -> camera rotation (z toward the viewer); centre : (3,) camera-frame centre of
    the picture, mm; px_mm : pixel size. best_depth, best_face, best_mesh : (size_px²,)
    float64 / int64 / int64, updated in place where a point lies nearer (larger camera z)
    than what the pixel holds (ties: the earlier point, the earlier mesh, stays).

    In numpy: the points ``a + u (b - a) + v (c - a)`` of every face, projected
    ``p @ view.T``, pixel ``(int((x - cx) / px + size / 2), int(size / 2 - (y - cy) / px))``,
    then one ``np.lexsort((-depth, pixel))`` keeping each pixel's first point (this pass
    needs none of the (points, 3) arrays nor the sort).
    """
    half = size_px / 2.0
    for f in range(len(faces)):
        a = vertices[faces[f, 0]]
        b = vertices[faces[f, 1]]
        c = vertices[faces[f, 2]]
        n = per[f]
        for k in range(n):
            u = (0.5 + k / _G) % 1.0
            v = (0.5 + k / (_G * _G)) % 1.0
            if u + v > 1.0:
                u = 1.0 - u
                v = 1.0 - v
            px = a[0] + u * (b[0] - a[0]) + v * (c[0] - a[0])
            py = a[1] + u * (b[1] - a[1]) + v * (c[1] - a[1])
            pz = a[2] + u * (b[2] - a[2]) + v * (c[2] - a[2])
            cx = view[0, 0] * px + view[0, 1] * py + view[0, 2] * pz
            cy = view[1, 0] * px + view[1, 1] * py + view[1, 2] * pz
            cz = view[2, 0] * px + view[2, 1] * py + view[2, 2] * pz
            ix = int((cx - centre[0]) / px_mm + half)  # truncation toward 0, as astype
            iy = int(half - (cy - centre[1]) / px_mm)
            if ix < 0 or iy < 0 or ix >= size_px or iy >= size_px:
                continue
            pix = iy * size_px + ix
            if cz > best_depth[pix]:
                best_depth[pix] = cz
                best_face[pix] = f
                best_mesh[pix] = mesh_id
