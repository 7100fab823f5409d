"""Compiled kernels around the Embree ray queries (numba): building the rays and reading
the hits in one pass each, instead of a dozen numpy passes over (m, 3) arrays.

``vertices`` (n, 3) float64 mm, ``faces`` (m, 3) int64 throughout.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from printprep.mesh.intersect_kernels import END_MARGIN, segment_pierces

#: Thickness rays start this fraction of the face's size inside the face (at least 1 nm).
START_FRACTION = 1e-4


@numba.njit(cache=True, nogil=True, parallel=True)
def edge_rays(vertices, edge_vertices):
    """One ray per edge, from just past one end to just before the other.

    edge_vertices : (e, 2) int64. Returns origins (e, 3) float32, unit directions (e, 3)
    float32, lengths (e,) float32 mm (the edge less :data:`END_MARGIN` of it at each end)
    and ok (e,) bool (edges of non-zero length). numpy reading: ``d = p1 - p0``,
    ``o = p0 + d * END_MARGIN``, ``t = |d| (1 - 2 END_MARGIN)``.
    """
    e = edge_vertices.shape[0]
    o = np.empty((e, 3), dtype=np.float32)
    d = np.empty((e, 3), dtype=np.float32)
    t = np.empty(e, dtype=np.float32)
    ok = np.empty(e, dtype=np.bool_)
    for i in prange(e):
        a = edge_vertices[i, 0]
        b = edge_vertices[i, 1]
        sx = vertices[b, 0] - vertices[a, 0]
        sy = vertices[b, 1] - vertices[a, 1]
        sz = vertices[b, 2] - vertices[a, 2]
        ln = np.sqrt(sx * sx + sy * sy + sz * sz)
        ok[i] = ln > 0.0
        inv = 1.0 / ln if ln > 0.0 else 0.0
        d[i, 0], d[i, 1], d[i, 2] = sx * inv, sy * inv, sz * inv
        if ln <= 0.0:
            d[i, 0] = 1.0
        o[i, 0] = vertices[a, 0] + sx * END_MARGIN
        o[i, 1] = vertices[a, 1] + sy * END_MARGIN
        o[i, 2] = vertices[a, 2] + sz * END_MARGIN
        t[i] = ln * (1.0 - 2.0 * END_MARGIN)
    return o, d, t, ok


@numba.njit(cache=True, nogil=True, parallel=True)
def confirm_edge_hits(vertices, faces, edge_vertices, edges, hit):
    """Which ray hits are crossings: (k,) bool.

    edges : (k,) int64 the edge of each ray; hit : (k,) int64 the face it hit first (-1:
    none). A hit counts when the face shares no vertex with the edge and the edge passes
    strictly through it in float64 (:func:`segment_pierces`).
    """
    k = edges.shape[0]
    out = np.zeros(k, dtype=np.bool_)
    for i in prange(k):
        g = hit[i]
        if g < 0:
            continue
        a = edge_vertices[edges[i], 0]
        b = edge_vertices[edges[i], 1]
        fa, fb, fc = faces[g, 0], faces[g, 1], faces[g, 2]
        if a == fa or a == fb or a == fc or b == fa or b == fb or b == fc:
            continue
        pa, pb, pc = vertices[fa], vertices[fb], vertices[fc]
        ux, uy, uz = pb[0] - pa[0], pb[1] - pa[1], pb[2] - pa[2]
        vx, vy, vz = pc[0] - pa[0], pc[1] - pa[1], pc[2] - pa[2]
        out[i] = segment_pierces(vertices[a], vertices[b], pa, pb, pc,
                                 uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx)
    return out
