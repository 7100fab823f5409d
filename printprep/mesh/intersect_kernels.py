"""Compiled kernels of the self-intersection and contact searches (numba): the
tolerances, per-face frames and the exact float64 tests of a pair of faces (an edge
through a face, two faces pressed together), shared by the ray search
(:mod:`ray_kernels`), the grid search (:mod:`grid_kernels`) and the contact search
(:mod:`coplanar_kernels`).

Conventions: ``tri`` (m, 3, 3) float64 mm the corners of each face, ``faces`` (m, 3)
int64 their vertex ids (for shared-corner tests), ``normal`` (m, 3) float64 the
(unnormalised) face cross products ``(b - a) x (c - a)``.

numba caches each module's compiled functions by that module's source alone: after
editing this file, clear the caches of the modules that call into it
(``coplanar_kernels``, ``ray_kernels``, ``grid_kernels``: their ``__pycache__/*.nbi|*.nbc``).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from printprep.mesh import numba_start  # noqa: F401 - numba without scipy.linalg

#: Hits closer than this fraction of the edge length to either end are the edge's own
#: neighbourhood (numerical grazing), not a crossing.
END_MARGIN = 1e-4
#: Edges running (almost) within the plane of the face graze it; they are coplanar
#: contacts, not crossings.
MIN_COS = 1e-4
#: Crossings within this barycentric distance of the hit face's border are contacts along
#: an edge (rounding), not a face pierced.
MIN_BARY = 1e-6
#: Both ends of a crossing edge must lie this far from the face's plane, mm: sub-micron
#: nicks are below any printer's resolution.
MIN_DEPTH_MM = 5e-4
#: Faces closer than this to each other's plane, mm, lie in one plane (coplanar contact).
COPLANAR_MM = 1e-3
#: Normals this close to opposite (cosine) face each other.
OPPOSED_COS = -0.9999
#: Two coplanar faces overlap when each reaches this far into the other, mm.
MIN_OVERLAP_MM = 1e-2


@numba.njit(cache=True, nogil=True)
def frame_row(vertices, faces, f, i, tri, box_lo, box_hi, normal, nlen, plane_d, sign) -> None:
    """Row ``i`` of the :func:`face_frames` arrays for face ``f``."""
    for c in range(3):
        for a in range(3):
            tri[i, c, a] = vertices[faces[f, c], a]
    for a in range(3):
        box_lo[i, a] = min(tri[i, 0, a], tri[i, 1, a], tri[i, 2, a])
        box_hi[i, a] = max(tri[i, 0, a], tri[i, 1, a], tri[i, 2, a])
    ux, uy, uz = tri[i, 1, 0] - tri[i, 0, 0], tri[i, 1, 1] - tri[i, 0, 1], tri[i, 1, 2] - tri[i, 0, 2]
    vx, vy, vz = tri[i, 2, 0] - tri[i, 0, 0], tri[i, 2, 1] - tri[i, 0, 1], tri[i, 2, 2] - tri[i, 0, 2]
    nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
    normal[i, 0], normal[i, 1], normal[i, 2] = nx, ny, nz
    ln = np.sqrt(nx * nx + ny * ny + nz * nz)
    nlen[i] = ln
    plane_d[i] = nx * tri[i, 0, 0] + ny * tri[i, 0, 1] + nz * tri[i, 0, 2]
    comp = nx if abs(nx) > 1e-6 * ln else (ny if abs(ny) > 1e-6 * ln else nz)
    sign[i] = 1 if comp >= 0 else -1


@numba.njit(cache=True, nogil=True, parallel=True)
def face_frames(vertices: np.ndarray, faces: np.ndarray, order: np.ndarray):
    """Per-face data of the faces ``faces[order]``, in that order, in one pass.

    vertices : (n, 3) float64 mm; faces : (m, 3) int64; order : (k,) int64 face ids.
    Returns tri (k, 3, 3) float64 corners, box_lo and box_hi (k, 3) float64 mm, normal
    (k, 3) float64 cross products, nlen (k,) float64 their lengths, plane_d (k,) float64
    ``normal . corner 0`` and sign (k,) int8: +1 when the first clearly non-zero component
    of the normal is positive (the orientation of the unoriented plane).
    numpy reading: ``tri = vertices[faces[order]]``, ``tri.min(1)``, ``tri.max(1)``,
    ``np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])`` and so on.
    """
    k = order.shape[0]
    tri = np.empty((k, 3, 3))
    box_lo = np.empty((k, 3))
    box_hi = np.empty((k, 3))
    normal = np.empty((k, 3))
    nlen = np.empty(k)
    plane_d = np.empty(k)
    sign = np.empty(k, dtype=np.int8)
    for i in prange(k):
        frame_row(vertices, faces, order[i], i, tri, box_lo, box_hi, normal, nlen, plane_d, sign)
    return tri, box_lo, box_hi, normal, nlen, plane_d, sign


@numba.njit(cache=True, nogil=True)
def bounds(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo (3,), hi (3,)) float64 of ``vertices`` (n, 3) mm in one pass (numpy's
    ``min(axis=0)`` on an (n, 3) array takes several)."""
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for i in range(vertices.shape[0]):
        for a in range(3):
            x = vertices[i, a]
            if x < lo[a]:
                lo[a] = x
            if x > hi[a]:
                hi[a] = x
    return lo, hi


@numba.njit(cache=True, nogil=True)
def segment_pierces(p0, p1, a, b, c, nx, ny, nz) -> bool:
    """Whether the segment ``p0``-``p1`` passes strictly through the interior of triangle
    ``a b c`` (each (3,) float64 mm; ``(nx, ny, nz)`` its cross product), in float64: ends
    on opposite sides, each farther than :data:`MIN_DEPTH_MM` from the plane, not grazing
    it (:data:`MIN_COS`), away from the segment's ends (:data:`END_MARGIN`) and inside the
    triangle by :data:`MIN_BARY`."""
    n2 = nx * nx + ny * ny + nz * nz
    if n2 <= 0.0:
        return False
    nlen = np.sqrt(n2)
    s0 = (p0[0] - a[0]) * nx + (p0[1] - a[1]) * ny + (p0[2] - a[2]) * nz
    s1 = (p1[0] - a[0]) * nx + (p1[1] - a[1]) * ny + (p1[2] - a[2]) * nz
    if s0 * s1 >= 0.0:
        return False
    if min(abs(s0), abs(s1)) <= MIN_DEPTH_MM * nlen:
        return False
    sx, sy, sz = p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]
    slen = np.sqrt(sx * sx + sy * sy + sz * sz)
    denom = s0 - s1
    if abs(denom) <= MIN_COS * nlen * slen:
        return False
    t = s0 / denom
    if t <= END_MARGIN or t >= 1.0 - END_MARGIN:
        return False
    x0, x1, x2 = p0[0] + sx * t, p0[1] + sy * t, p0[2] + sz * t
    # barycentric weights: sub-triangle areas projected on the normal, over |n|^2
    for i in range(3):
        u = b if i == 0 else (c if i == 1 else a)
        w = c if i == 0 else (a if i == 1 else b)
        ux, uy, uz = u[0] - x0, u[1] - x1, u[2] - x2
        wx, wy, wz = w[0] - x0, w[1] - x1, w[2] - x2
        cx = uy * wz - uz * wy
        cy = uz * wx - ux * wz
        cz = ux * wy - uy * wx
        if (cx * nx + cy * ny + cz * nz) <= MIN_BARY * n2:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _edge_pierces(tri, faces, normal, f_edge, k, g) -> bool:
    """Whether edge ``k`` (from corner k to k+1) of face ``f_edge`` passes strictly
    through the interior of face ``g`` (:func:`segment_pierces`)."""
    return segment_pierces(tri[f_edge, k], tri[f_edge, (k + 1) % 3], tri[g, 0], tri[g, 1], tri[g, 2],
                           normal[g, 0], normal[g, 1], normal[g, 2])


@numba.njit(cache=True, nogil=True)
def _pierces(tri, faces, normal, f, g) -> bool:
    """Whether an edge of ``f`` that shares no vertex with ``g`` pierces ``g``."""
    for k in range(3):
        v0 = faces[f, k]
        v1 = faces[f, (k + 1) % 3]
        if v0 == faces[g, 0] or v0 == faces[g, 1] or v0 == faces[g, 2]:
            continue
        if v1 == faces[g, 0] or v1 == faces[g, 1] or v1 == faces[g, 2]:
            continue
        if _edge_pierces(tri, faces, normal, f, k, g):
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _overlap_2d_mm(tri, faces, normal, f, g) -> float:
    """How far coplanar faces ``f`` and ``g`` reach into each other in the plane of ``f``,
    mm (separating axes: the six edge normals); <= 0 when apart."""
    nx, ny, nz = normal[f, 0], normal[f, 1], normal[f, 2]
    nlen = np.sqrt(nx * nx + ny * ny + nz * nz)
    nx, ny, nz = nx / nlen, ny / nlen, nz / nlen
    if abs(nx) < 0.9:
        hx, hy, hz = 1.0, 0.0, 0.0
    else:
        hx, hy, hz = 0.0, 1.0, 0.0
    ux, uy, uz = ny * hz - nz * hy, nz * hx - nx * hz, nx * hy - ny * hx
    ul = np.sqrt(ux * ux + uy * uy + uz * uz)
    ux, uy, uz = ux / ul, uy / ul, uz / ul
    wx, wy, wz = ny * uz - nz * uy, nz * ux - nx * uz, nx * uy - ny * ux
    pa = np.empty((3, 2))
    pb = np.empty((3, 2))
    for i in range(3):
        p = tri[f, i]
        pa[i, 0] = p[0] * ux + p[1] * uy + p[2] * uz
        pa[i, 1] = p[0] * wx + p[1] * wy + p[2] * wz
        q = tri[g, i]
        pb[i, 0] = q[0] * ux + q[1] * uy + q[2] * uz
        pb[i, 1] = q[0] * wx + q[1] * wy + q[2] * wz
    depth = np.inf
    for t in range(2):
        tri = pa if t == 0 else pb
        for k in range(3):
            ex = tri[(k + 1) % 3, 0] - tri[k, 0]
            ey = tri[(k + 1) % 3, 1] - tri[k, 1]
            ax, ay = -ey, ex
            al = max(np.sqrt(ax * ax + ay * ay), 1e-300)
            ax, ay = ax / al, ay / al
            amin, amax, bmin, bmax = np.inf, -np.inf, np.inf, -np.inf
            for i in range(3):
                sa = pa[i, 0] * ax + pa[i, 1] * ay
                sb = pb[i, 0] * ax + pb[i, 1] * ay
                amin, amax = min(amin, sa), max(amax, sa)
                bmin, bmax = min(bmin, sb), max(bmax, sb)
            depth = min(depth, min(amax - bmin, bmax - amin))
    return depth


@numba.njit(cache=True, nogil=True)
def coplanar_contact(tri, faces, normal, nlen, f, g) -> bool:
    """Whether faces ``f`` and ``g`` (no shared vertex) lie in one plane facing each other
    (``g``'s centroid within :data:`COPLANAR_MM` of ``f``'s plane) and overlap by more
    than :data:`MIN_OVERLAP_MM` in ``f``'s plane."""
    if nlen[f] <= 0.0 or nlen[g] <= 0.0:
        return False
    cos = (normal[f, 0] * normal[g, 0] + normal[f, 1] * normal[g, 1] + normal[f, 2] * normal[g, 2]) / (nlen[f] * nlen[g])
    if cos >= OPPOSED_COS:
        return False
    a = tri[f, 0]
    cx = cy = cz = 0.0
    for i in range(3):
        q = tri[g, i]
        cx += q[0]
        cy += q[1]
        cz += q[2]
    cx, cy, cz = cx / 3.0 - a[0], cy / 3.0 - a[1], cz / 3.0 - a[2]
    dist = abs(cx * normal[f, 0] + cy * normal[f, 1] + cz * normal[f, 2]) / nlen[f]
    if dist >= COPLANAR_MM:
        return False
    return _overlap_2d_mm(tri, faces, normal, f, g) > MIN_OVERLAP_MM


@numba.njit(cache=True, nogil=True)
def _straddles(tri, faces, normal, plane_d, f, g, depth) -> bool:
    """Whether face ``g`` has corners on both sides of face ``f``'s plane, each farther
    than ``depth`` times ``|normal[f]|`` from it (plane: ``normal[f] . x = plane_d[f]``)."""
    above = False
    below = False
    for k in range(3):
        d = tri[g, k, 0] * normal[f, 0] + tri[g, k, 1] * normal[f, 1] + tri[g, k, 2] * normal[f, 2] - plane_d[f]
        if d > depth:
            above = True
        elif d < -depth:
            below = True
    return above and below


@numba.njit(cache=True, nogil=True)
def pair_tests(tri, faces, normal, nlen, plane_d, sign, f, g, want_coplanar, write,
               cross_out, cross_at, cop_out, cop_at) -> tuple[int, int]:
    """Exact tests of one candidate pair; returns the (crossing, contact) records added."""
    shared = 0
    for p in range(3):
        for q in range(3):
            if faces[f, p] == faces[g, q]:
                shared += 1
    if shared >= 2:  # neighbours across an edge: every edge of one touches the other
        return 0, 0
    n_cross = 0
    n_cop = 0
    # an edge of g through f needs g's corners on both sides of f's plane, and the other way
    if _straddles(tri, faces, normal, plane_d, f, g, MIN_DEPTH_MM * nlen[f]) and _pierces(tri, faces, normal, g, f):
        if write:
            cross_out[cross_at, 0] = g
            cross_out[cross_at, 1] = f
        n_cross += 1
    if _straddles(tri, faces, normal, plane_d, g, f, MIN_DEPTH_MM * nlen[g]) and _pierces(tri, faces, normal, f, g):
        if write:
            cross_out[cross_at + n_cross, 0] = f
            cross_out[cross_at + n_cross, 1] = g
        n_cross += 1
    neg, pos = (f, g) if sign[f] < sign[g] else (g, f)
    if want_coplanar and shared == 0 and coplanar_contact(tri, faces, normal, nlen, neg, pos):
        if write:
            cop_out[cop_at, 0] = neg
            cop_out[cop_at, 1] = pos
        n_cop += 1
    return n_cross, n_cop
