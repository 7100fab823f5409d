"""numba kernels of the local-minimum search (:mod:`printprep.casting.islands`)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def minima_mask(faces: np.ndarray, heights: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Vertices below every neighbour, for several "up" directions at once.

    faces : (f, 3) int64 vertex indices (every edge of every face is looked at, so an
        edge shared by two faces is seen twice: harmless, and no unique-edge pass is needed)
    heights : (v, k) float64, mm — each vertex's height along each of k up directions
    down : (v, k) bool — the vertex's normal faces down along that direction
    returns : (v, k) bool — vertex is a minimum: no neighbour sorts below it by
        (height, index), and its normal faces down. Vertices in no face are no minima.

    In numpy, per direction: for every edge (a, b) mark the end that sorts higher
    (``h[a] > h[b] | (h[a] == h[b] & a > b)``) as "has a lower neighbour"; minima are the
    unmarked vertices that face down.
    """
    n, k = heights.shape
    higher = np.zeros((n, k), dtype=np.bool_)
    used = np.zeros(n, dtype=np.bool_)
    for f in range(faces.shape[0]):
        for e in range(3):
            a = faces[f, e]
            b = faces[f, (e + 1) % 3]
            used[a] = True
            for j in range(k):
                ha = heights[a, j]
                hb = heights[b, j]
                if ha > hb or (ha == hb and a > b):
                    higher[a, j] = True
                else:
                    higher[b, j] = True
    out = np.zeros((n, k), dtype=np.bool_)
    for i in range(n):
        if used[i]:
            for j in range(k):
                out[i, j] = (not higher[i, j]) and down[i, j]
    return out
