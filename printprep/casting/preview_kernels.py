"""numba kernel of the preview's z-buffer (:mod:`printprep.casting.preview`)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def nearest_per_pixel(pix: np.ndarray, depth: np.ndarray, n_px: int) -> np.ndarray:
    """The sample that wins each pixel of a z-buffer: the one nearest the viewer.

    pix : (n,) int64 flat pixel index of each sample (0 <= pix < n_px)
    depth : (n,) float64, mm toward the viewer (larger is nearer)
    returns : (n_px,) int64 index of the winning sample per pixel, -1 where none falls;
    ties go to the lowest index.

    In numpy: ``order = np.lexsort((-depth, pix))`` and the first sample of each run of
    equal ``pix[order]`` wins (one O(n log n) sort instead of this single pass).
    """
    best = np.full(n_px, -1, np.int64)
    best_depth = np.full(n_px, -np.inf)
    for i in range(len(pix)):
        p = pix[i]
        if depth[i] > best_depth[p]:
            best_depth[p] = depth[i]
            best[p] = i
    return best
