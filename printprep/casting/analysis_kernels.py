"""numba kernels of the detail analysis (:mod:`printprep.casting.analysis`)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, parallel=True)
def depth_below_planes(points: np.ndarray, normals: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Smallest signed distance of each point below a set of planes ``n·x = d``.

    points : (m, 3) float64 mm; normals : (f, 3) float64 unit (outward); offsets : (f,)
    float64 mm. returns (m,) float64 mm: ``min_f (offsets[f] - points[i]·normals[f])``
    (for the facets of a convex hull: the depth below it, negative outside).

    In numpy: ``(offsets[None] - points @ normals.T).min(axis=1)``, without the (m, f)
    temporary.
    """
    m = points.shape[0]
    out = np.empty(m)
    for i in numba.prange(m):
        x, y, z = points[i, 0], points[i, 1], points[i, 2]
        best = np.inf
        for f in range(normals.shape[0]):
            v = offsets[f] - (x * normals[f, 0] + y * normals[f, 1] + z * normals[f, 2])
            if v < best:
                best = v
        out[i] = best
    return out


@numba.njit(cache=True, nogil=True)
def weighted_moments(
    i: np.ndarray, j: np.ndarray, query: np.ndarray, points: np.ndarray, weight: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted moments of the offsets ``points[j] - query[i]`` per query point.

    i, j : (p,) int64 pairs (query index, point index); query : (n, 3), points : (k, 3)
    float64 mm; weight : (k,) float64 (mm², the area each point stands for)
    returns wsum (n,), first (n, 3) and second (n, 3, 3) float64: the sums over each
    query's pairs of ``w``, ``w d`` and ``w d dᵀ`` with ``w = weight[j]``.

    In numpy: ``d = points[j] - query[i]; w = weight[j]``, then ``bincount(i, w)``,
    ``bincount(i, w * d[:, a])`` and ``bincount(i, w * d[:, a] * d[:, b])`` per axis
    (pairs summed in the same order: the same sums).
    """
    wsum = np.zeros(n)
    first = np.zeros((n, 3))
    second = np.zeros((n, 3, 3))
    d = np.empty(3)
    for p in range(i.shape[0]):
        q = i[p]
        k = j[p]
        w = weight[k]
        for a in range(3):
            d[a] = points[k, a] - query[q, a]
        wsum[q] += w
        for a in range(3):
            first[q, a] += w * d[a]
            for b in range(a, 3):
                second[q, a, b] += w * d[a] * d[b]
    for q in range(n):
        for a in range(3):
            for b in range(a + 1, 3):
                second[q, b, a] = second[q, a, b]
    return wsum, first, second
