"""numba kernels of the local-minimum search (:mod:`printprep.casting.islands`)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def vertex_neighbours(faces: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Each vertex's neighbours along face edges, as CSR arrays.

    faces : (f, 3) int64; returns indptr (v + 1,) int64 and indices (6 f,) int64: the
    neighbours of vertex i are ``indices[indptr[i]:indptr[i + 1]]`` (an edge shared by
    two faces lists its ends twice: harmless to a "some neighbour is lower" test).

    In numpy: ``a = faces.ravel(); b = faces[:, [1, 2, 0]].ravel()``, both directions
    ``src = concat(a, b), dst = concat(b, a)``, then ``order = argsort(src)`` gives
    ``indices = dst[order]`` and ``indptr`` from ``bincount(src)`` (a sort of 6 f items
    instead of two counting passes).
    """
    counts = np.zeros(n_vertices + 1, dtype=np.int64)
    for f in range(faces.shape[0]):
        for e in range(3):
            counts[faces[f, e] + 1] += 2
    indptr = np.cumsum(counts)
    fill = indptr[:-1].copy()
    indices = np.empty(indptr[-1], dtype=np.int64)
    for f in range(faces.shape[0]):
        for e in range(3):
            a = faces[f, e]
            indices[fill[a]] = faces[f, (e + 1) % 3]
            indices[fill[a] + 1] = faces[f, (e + 2) % 3]
            fill[a] += 2
    return indptr, indices


@numba.njit(cache=True, nogil=True, parallel=True)
def minima_mask(
    vertices: np.ndarray, indptr: np.ndarray, indices: np.ndarray, normals: np.ndarray, ups: np.ndarray
) -> np.ndarray:
    """Vertices below every neighbour, for several "up" directions at once.

    vertices : (v, 3) float64, mm; indptr, indices : the vertex neighbours
        (:func:`vertex_neighbours`); normals : (v, 3) float64 vertex normals (any
        length); ups : (k, 3) float64 unit up directions
    returns : (k, v) bool — vertex is a minimum along ``ups[j]``: its normal faces down
        and no neighbour sorts below it by (height, index). Vertices in no face are none.

    In numpy, per direction: ``h = vertices @ up``; for every edge (a, b) mark the end
    that sorts higher (``h[a] > h[b] | (h[a] == h[b] & a > b)``) as having a lower
    neighbour; minima are the unmarked vertices of some face with ``normals @ up < 0``.
    Here the vertices run in parallel and each is read once for all directions (its
    neighbours stay in cache), looked at only along the directions its normal faces
    down, each until a lower neighbour turns up (usually the first or second). Heights
    are the same sums in the same order as ``x * ux + y * uy + z * uz``.
    """
    n = vertices.shape[0]
    k = ups.shape[0]
    out = np.zeros((k, n), dtype=np.bool_)
    for i in numba.prange(n):
        p0 = indptr[i]
        p1 = indptr[i + 1]
        if p1 == p0:
            continue
        nx, ny, nz = normals[i, 0], normals[i, 1], normals[i, 2]
        x, y, z = vertices[i, 0], vertices[i, 1], vertices[i, 2]
        for j in range(k):
            ux, uy, uz = ups[j, 0], ups[j, 1], ups[j, 2]
            if nx * ux + ny * uy + nz * uz >= 0.0:
                continue
            hi = x * ux + y * uy + z * uz
            lowest = True
            for p in range(p0, p1):
                b = indices[p]
                hb = vertices[b, 0] * ux + vertices[b, 1] * uy + vertices[b, 2] * uz
                if hb < hi or (hb == hi and b < i):
                    lowest = False
                    break
            out[j, i] = lowest
    return out


@numba.njit(cache=True, nogil=True, parallel=True)
def corner_weighted_normals(vertices: np.ndarray, indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Vertex normals (not normalised) as trimesh weights them: the sum over a vertex's
    faces of the unit face normal times the face's angle at that vertex, one vertex per
    thread step from the vertex neighbour lists (no two threads add to the same vertex).

    vertices : (v, 3) float64 mm; indptr, indices : :func:`vertex_neighbours` (each
    face round vertex ``i`` appears as the pair (next corner, previous corner), in face
    order); returns (v, 3) float64, not normalised.

    In numpy: unit normals ``n = unitize(cross(b - a, c - a))``, corner angles from the
    edge vectors' dot products, then ``np.add.at(out, faces[:, c], n * angle[:, c, None])``
    for each corner c; here each face's normal is taken from the corner's own edge
    vectors ``cross(q - p, r - p)`` (the same direction, faces summed in index order).
    """
    n = vertices.shape[0]
    out = np.zeros((n, 3))
    for p in numba.prange(n):
        px, py, pz = vertices[p, 0], vertices[p, 1], vertices[p, 2]
        sx = 0.0
        sy = 0.0
        sz = 0.0
        for k in range(indptr[p], indptr[p + 1], 2):
            q = indices[k]
            r = indices[k + 1]
            ux, uy, uz = vertices[q, 0] - px, vertices[q, 1] - py, vertices[q, 2] - pz
            wx, wy, wz = vertices[r, 0] - px, vertices[r, 1] - py, vertices[r, 2] - pz
            nx = uy * wz - uz * wy
            ny = uz * wx - ux * wz
            nz = ux * wy - uy * wx
            ln = np.sqrt(nx * nx + ny * ny + nz * nz)
            if ln == 0.0:
                continue
            lu = np.sqrt(ux * ux + uy * uy + uz * uz)
            lw = np.sqrt(wx * wx + wy * wy + wz * wz)
            cos = (ux * wx + uy * wy + uz * wz) / max(lu * lw, 1e-300)
            ang = np.arccos(min(1.0, max(-1.0, cos)))
            sx += nx / ln * ang
            sy += ny / ln * ang
            sz += nz / ln * ang
        out[p, 0] = sx
        out[p, 1] = sy
        out[p, 2] = sz
    return out
