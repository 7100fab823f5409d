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


@numba.njit(cache=True, nogil=True, parallel=True)
def face_rays(vertices, faces, flip):
    """One inward ray per face, from just inside its centroid.

    flip : (m,) bool faces whose normal points into the material (their ray goes along
    the normal), or (0,) for none. Returns origins (m, 3) float32, directions (m, 3)
    float32 (the inward unit normal), the inward unit normals (m, 3) float64, start
    offsets (m,) float64 mm (:data:`START_FRACTION` of the face's half-size, at least
    1e-6) and ok (m,) bool (faces with a normal). numpy reading: ``n = cross / |cross|``,
    ``c = tri.mean(1)``, ``o = c - n * offset``.
    """
    m = faces.shape[0]
    o = np.empty((m, 3), dtype=np.float32)
    d = np.empty((m, 3), dtype=np.float32)
    inward = np.empty((m, 3))
    offset = np.empty(m)
    ok = np.empty(m, dtype=np.bool_)
    use_flip = flip.shape[0] > 0
    for i in prange(m):
        a = vertices[faces[i, 0]]
        b = vertices[faces[i, 1]]
        c = vertices[faces[i, 2]]
        ux, uy, uz = b[0] - a[0], b[1] - a[1], b[2] - a[2]
        vx, vy, vz = c[0] - a[0], c[1] - a[1], c[2] - a[2]
        nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
        ln = np.sqrt(nx * nx + ny * ny + nz * nz)
        ok[i] = ln > 0.0
        s = -1.0 / ln if ln > 0.0 else 0.0
        if use_flip and flip[i]:
            s = -s
        nx, ny, nz = nx * s, ny * s, nz * s
        inward[i, 0], inward[i, 1], inward[i, 2] = nx, ny, nz
        size = 0.0
        for k in range(3):
            ck = (a[k] + b[k] + c[k]) / 3.0
            size = max(size, abs(a[k] - ck), abs(b[k] - ck), abs(c[k] - ck))
        off = max(size * START_FRACTION, 1e-6)
        offset[i] = off
        o[i, 0] = (a[0] + b[0] + c[0]) / 3.0 + nx * off
        o[i, 1] = (a[1] + b[1] + c[1]) / 3.0 + ny * off
        o[i, 2] = (a[2] + b[2] + c[2]) / 3.0 + nz * off
        d[i, 0], d[i, 1], d[i, 2] = nx, ny, nz
        if ln <= 0.0:
            d[i, 0] = 1.0
    return o, d, inward, offset, ok


@numba.njit(cache=True, nogil=True, parallel=True)
def thickness_from_hits(vertices, faces, inward, offset, ok, hit, opposing_cos):
    """Wall thickness at each face from its ray's first hit, mm: (m,) float64, inf where
    none counts.

    inward, offset, ok : from :func:`face_rays`; hit : (m,) int64 face hit (-1: none). A
    hit counts when the far face faces back (the cosine of the two inward normals is
    below ``opposing_cos``) and shares no vertex with the face (the far side of a knife
    edge's tip is not a wall). The distance is measured in float64 from the centroid to
    the far face's plane along the ray. numpy reading: ``dot(n[hit], n) < cos``, a shared-
    vertex test and a ray-plane distance, row by row.
    """
    m = faces.shape[0]
    out = np.full(m, np.inf)
    for i in prange(m):
        g = hit[i]
        if g < 0 or not ok[i]:
            continue
        nx, ny, nz = inward[i, 0], inward[i, 1], inward[i, 2]
        if inward[g, 0] * nx + inward[g, 1] * ny + inward[g, 2] * nz >= opposing_cos:
            continue
        fa, fb, fc = faces[g, 0], faces[g, 1], faces[g, 2]
        near = False
        for k in range(3):
            v = faces[i, k]
            if v == fa or v == fb or v == fc:
                near = True
        if near:
            continue
        a = vertices[faces[i, 0]]
        b = vertices[faces[i, 1]]
        c = vertices[faces[i, 2]]
        q = vertices[fa]
        cx = (a[0] + b[0] + c[0]) / 3.0
        cy = (a[1] + b[1] + c[1]) / 3.0
        cz = (a[2] + b[2] + c[2]) / 3.0
        # the far face's plane: its inward normal . (x - q) = 0; the ray c + t n
        gx, gy, gz = inward[g, 0], inward[g, 1], inward[g, 2]
        denom = gx * nx + gy * ny + gz * nz
        t = (gx * (q[0] - cx) + gy * (q[1] - cy) + gz * (q[2] - cz)) / denom
        out[i] = max(t, offset[i])
    return out


@numba.njit(cache=True, nogil=True)
def plane_distances(vertices, faces, origins, directions, face, dist, grazing_cos):
    """Each hit's distance again, in float64, to the plane of the face hit (in place).

    origins, directions : (r, 3) float64 (mm; the distance is in units of each
    direction's length); face : (r,) int64 the face hit (-1: none, left alone); dist :
    (r,) float64 Embree's float32 distance, overwritten for the hits, except where the
    ray runs within ``grazing_cos`` (|cos| of ray and face normal) of the face's plane.
    numpy reading: ``n = cross(b - a, c - a)``, ``den = d . n``, ``num = (a - o) . n``,
    ``dist = num / den where |den| > grazing_cos |n|``.
    """
    for i in range(face.shape[0]):
        g = face[i]
        if g < 0:
            continue
        a = vertices[faces[g, 0]]
        b = vertices[faces[g, 1]]
        c = vertices[faces[g, 2]]
        ux, uy, uz = b[0] - a[0], b[1] - a[1], b[2] - a[2]
        vx, vy, vz = c[0] - a[0], c[1] - a[1], c[2] - a[2]
        nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
        den = directions[i, 0] * nx + directions[i, 1] * ny + directions[i, 2] * nz
        scale = np.sqrt(nx * nx + ny * ny + nz * nz)
        if abs(den) > grazing_cos * max(scale, 1e-300):
            num = (a[0] - origins[i, 0]) * nx + (a[1] - origins[i, 1]) * ny + (a[2] - origins[i, 2]) * nz
            dist[i] = num / den
