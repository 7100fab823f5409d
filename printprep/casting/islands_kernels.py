"""numba kernels of the local-minimum search (:mod:`printprep.casting.islands`)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, parallel=True)
def minima_mask(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray, ups: np.ndarray) -> np.ndarray:
    """Vertices below every neighbour, for several "up" directions at once.

    vertices : (v, 3) float64, mm; faces : (f, 3) int64 vertex indices (every edge of
        every face is looked at, so an edge shared by two faces is seen twice: harmless,
        and no unique-edge pass is needed); normals : (v, 3) float64 vertex normals (any
        length); ups : (k, 3) float64 unit up directions
    returns : (k, v) bool — vertex is a minimum along ``ups[j]``: no neighbour sorts below
        it by (height, index), and its normal faces down. Vertices in no face are none.

    In numpy, per direction: ``h = vertices @ up``; for every edge (a, b) mark the end
    that sorts higher (``h[a] > h[b] | (h[a] == h[b] & a > b)``) as having a lower
    neighbour; minima are the unmarked vertices of some face with ``normals @ up < 0``.
    The directions run in parallel, each with its own height array.
    """
    n = vertices.shape[0]
    k = ups.shape[0]
    out = np.zeros((k, n), dtype=np.bool_)
    used = np.zeros(n, dtype=np.bool_)
    for f in range(faces.shape[0]):
        used[faces[f, 0]] = True
        used[faces[f, 1]] = True
        used[faces[f, 2]] = True
    for j in numba.prange(k):
        ux, uy, uz = ups[j, 0], ups[j, 1], ups[j, 2]
        h = np.empty(n)
        for i in range(n):
            h[i] = vertices[i, 0] * ux + vertices[i, 1] * uy + vertices[i, 2] * uz
        higher = np.zeros(n, dtype=np.bool_)
        for f in range(faces.shape[0]):
            for e in range(3):
                a = faces[f, e]
                b = faces[f, (e + 1) % 3]
                if h[a] > h[b] or (h[a] == h[b] and a > b):
                    higher[a] = True
                else:
                    higher[b] = True
        for i in range(n):
            if used[i] and not higher[i]:
                out[j, i] = normals[i, 0] * ux + normals[i, 1] * uy + normals[i, 2] * uz < 0.0
    return out


@numba.njit(cache=True, nogil=True)
def corner_weighted_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Vertex normals (not normalised) as trimesh weights them: the sum over a vertex's
    faces of the unit face normal times the face's angle at that vertex.

    vertices : (v, 3) float64 mm; faces : (f, 3) int64; returns (v, 3) float64.

    In numpy: unit normals ``n = unitize(cross(b - a, c - a))``, corner angles from the
    edge vectors' dot products, then ``np.add.at(out, faces[:, c], n * angle[:, c, None])``
    for each corner c (many passes over (f, 3) arrays instead of this one).
    """
    out = np.zeros((vertices.shape[0], 3))
    for f in range(faces.shape[0]):
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        e1 = vertices[i1] - vertices[i0]
        e2 = vertices[i2] - vertices[i0]
        nx = e1[1] * e2[2] - e1[2] * e2[1]
        ny = e1[2] * e2[0] - e1[0] * e2[2]
        nz = e1[0] * e2[1] - e1[1] * e2[0]
        ln = np.sqrt(nx * nx + ny * ny + nz * nz)
        if ln == 0.0:
            continue
        nx, ny, nz = nx / ln, ny / ln, nz / ln
        for c in range(3):
            p = faces[f, c]
            q = faces[f, (c + 1) % 3]
            r = faces[f, (c + 2) % 3]
            u = vertices[q] - vertices[p]
            w = vertices[r] - vertices[p]
            lu = np.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])
            lw = np.sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2])
            cos = (u[0] * w[0] + u[1] * w[1] + u[2] * w[2]) / max(lu * lw, 1e-300)
            ang = np.arccos(min(1.0, max(-1.0, cos)))
            out[p, 0] += nx * ang
            out[p, 1] += ny * ang
            out[p, 2] += nz * ang
    return out
