"""Compiled kernel of hole filling (numba): which faces come near the hole patches.

Compiled on first use and cached in ``__pycache__`` (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def faces_near_boxes(vertices: np.ndarray, faces: np.ndarray, lo: np.ndarray, hi: np.ndarray, margin: np.ndarray):  # pragma: no cover - compiled
    """(m,) bool: faces whose bounding box overlaps one of the boxes ``lo``, ``hi``
    (h, 3) float64, mm, each widened by its ``margin`` (h,) float64, mm.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64. One pass over the faces, each
    box tested in turn (h is the number of holes: tens). numpy reading::

        tri = vertices[faces]; flo, fhi = tri.min(1), tri.max(1)
        out = ((flo[:, None] <= hi + margin[:, None]) & (fhi[:, None] >= lo - margin[:, None])).all(-1).any(1)
    """
    m = faces.shape[0]
    out = np.zeros(m, np.bool_)
    box_lo = lo.copy()
    box_hi = hi.copy()
    for h in range(lo.shape[0]):
        for a in range(3):
            box_lo[h, a] -= margin[h]
            box_hi[h, a] += margin[h]
    f_lo = np.empty(3)
    f_hi = np.empty(3)
    for f in range(m):
        for a in range(3):
            x0 = vertices[faces[f, 0], a]
            x1 = vertices[faces[f, 1], a]
            x2 = vertices[faces[f, 2], a]
            f_lo[a] = min(x0, min(x1, x2))
            f_hi[a] = max(x0, max(x1, x2))
        for h in range(box_lo.shape[0]):
            if (
                f_lo[0] <= box_hi[h, 0] and f_hi[0] >= box_lo[h, 0]
                and f_lo[1] <= box_hi[h, 1] and f_hi[1] >= box_lo[h, 1]
                and f_lo[2] <= box_hi[h, 2] and f_hi[2] >= box_lo[h, 2]
            ):
                out[f] = True
                break
    return out
