"""Compiled kernels of per-face measures (numba): cross products and signed volumes in
one pass over the faces, without the nine (m,) coordinate gathers and temporaries of the
numpy forms in :mod:`measure`. Compiled on first use, cached in ``__pycache__``.
"""

from __future__ import annotations

import numba
import numpy as np

from printprep.mesh import numba_start  # noqa: F401 - numba without scipy.linalg


@numba.njit(cache=True, nogil=True)
def face_cross(vertices: np.ndarray, faces: np.ndarray):  # pragma: no cover - compiled
    """Cross product of two edges of each triangle: (m, 3) float64, mm² (twice the area
    vector). vertices : (n, 3) float64, mm; faces : (m, 3) int64. numpy reading::

        tri = vertices[faces]; np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    """
    m = faces.shape[0]
    out = np.empty((m, 3))
    for f in range(m):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        ux = vertices[b, 0] - vertices[a, 0]
        uy = vertices[b, 1] - vertices[a, 1]
        uz = vertices[b, 2] - vertices[a, 2]
        vx = vertices[c, 0] - vertices[a, 0]
        vy = vertices[c, 1] - vertices[a, 1]
        vz = vertices[c, 2] - vertices[a, 2]
        out[f, 0] = uy * vz - uz * vy
        out[f, 1] = uz * vx - ux * vz
        out[f, 2] = ux * vy - uy * vx
    return out


@numba.njit(cache=True, nogil=True)
def signed_volumes(vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray):  # pragma: no cover - compiled
    """Signed volume of the tetrahedron (origin, triangle) of each face: (m,) float64, mm³.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64; origin : (3,) float64, mm.
    numpy reading::

        p = vertices[faces] - origin
        np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])) / 6
    """
    m = faces.shape[0]
    out = np.empty(m)
    ox, oy, oz = origin[0], origin[1], origin[2]
    for f in range(m):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        x0, y0, z0 = vertices[a, 0] - ox, vertices[a, 1] - oy, vertices[a, 2] - oz
        x1, y1, z1 = vertices[b, 0] - ox, vertices[b, 1] - oy, vertices[b, 2] - oz
        x2, y2, z2 = vertices[c, 0] - ox, vertices[c, 1] - oy, vertices[c, 2] - oz
        det = x0 * (y1 * z2 - z1 * y2)
        det -= y0 * (x1 * z2 - z1 * x2)
        det += z0 * (x1 * y2 - y1 * x2)
        out[f] = det / 6.0
    return out
