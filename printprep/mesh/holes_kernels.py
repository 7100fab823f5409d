"""Compiled kernel of hole filling (numba): which faces come near the hole patches.

Compiled on first use and cached in ``__pycache__`` (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

from printprep.mesh import numba_start  # noqa: F401 - numba without scipy.linalg


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


@numba.njit(cache=True, nogil=True)
def trace_loops(src: np.ndarray, dst: np.ndarray, n_vertices: int):  # pragma: no cover - compiled
    """Walk boundary half-edges into chains: each chain follows an edge to one leaving its
    end vertex, taking the most recently listed unused one (a stack per vertex), until it
    meets a used edge or a dead end.

    src, dst : (b,) int64 the boundary half-edges' start and end vertices. Returns
    (vertices (b,) int64 the chains' start vertices one after another, starts (c + 1,)
    int64 where each chain begins in it, first (c,) int64 the half-edge each chain began
    with). numpy has no reading of this walk: it is a sequential traversal.
    """
    b = src.shape[0]
    start = np.zeros(n_vertices + 1, np.int64)
    for i in range(b):
        start[src[i] + 1] += 1
    for v in range(n_vertices):
        start[v + 1] += start[v]
    bucket = np.empty(b, np.int64)
    cursor = start[:-1].copy()
    for i in range(b):
        bucket[cursor[src[i]]] = i
        cursor[src[i]] += 1
    top = start[1:].copy()  # the stack of each vertex: bucket[start[v]:top[v]]
    used = np.zeros(b, np.bool_)
    out = np.empty(b, np.int64)
    starts = [0]
    first = []
    n_out = 0
    for s in range(b):
        if used[s]:
            continue
        first.append(s)
        i = s
        while i >= 0 and not used[i]:
            used[i] = True
            out[n_out] = src[i]
            n_out += 1
            v = dst[i]
            i = -1
            while top[v] > start[v]:
                top[v] -= 1
                cand = bucket[top[v]]
                if not used[cand]:
                    i = cand
                    break
        starts.append(n_out)
    return out, np.array(starts, np.int64), np.array(first, np.int64)
