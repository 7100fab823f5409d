"""Compiled kernel of hole filling (numba): which faces come near the hole patches.

Compiled on first use and cached in ``__pycache__`` (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

from printprep.mesh import numba_start  # noqa: F401 - numba without scipy.linalg

#: Cells per axis of the grid over the boxes in :func:`faces_near_boxes`.
BOX_GRID = 32


@numba.njit(cache=True, nogil=True, inline="always")
def _cell(x: float, lo: float, size: float) -> int:  # pragma: no cover - compiled
    """Grid cell of coordinate ``x`` on one axis, clamped to the grid."""
    c = int(np.floor((x - lo) / size))
    return min(max(c, 0), BOX_GRID - 1)


@numba.njit(cache=True, nogil=True)
def faces_near_boxes(vertices: np.ndarray, faces: np.ndarray, lo: np.ndarray, hi: np.ndarray, margin: np.ndarray):  # pragma: no cover - compiled
    """(m,) bool: faces whose bounding box overlaps one of the boxes ``lo``, ``hi``
    (h, 3) float64, mm, each widened by its ``margin`` (h,) float64, mm.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64. The boxes are registered in a
    grid of :data:`BOX_GRID` cells a side over their union; one pass over the faces skips
    those outside the union and tests the others against the boxes of the cells they
    touch only (a point in a face's box and a box lies in a cell both visit, so nothing
    is missed). numpy reading::

        tri = vertices[faces]; flo, fhi = tri.min(1), tri.max(1)
        out = ((flo[:, None] <= hi + margin[:, None]) & (fhi[:, None] >= lo - margin[:, None])).all(-1).any(1)
    """
    m = faces.shape[0]
    h_count = lo.shape[0]
    out = np.zeros(m, np.bool_)
    if h_count == 0:
        return out
    box_lo = lo.copy()
    box_hi = hi.copy()
    for h in range(h_count):
        for a in range(3):
            box_lo[h, a] -= margin[h]
            box_hi[h, a] += margin[h]
    g_lo = np.empty(3)
    g_hi = np.empty(3)
    size = np.empty(3)
    for a in range(3):
        g_lo[a] = box_lo[:, a].min()
        g_hi[a] = box_hi[:, a].max()
        size[a] = (g_hi[a] - g_lo[a]) / BOX_GRID
        if not size[a] > 0.0:
            size[a] = 1.0
    # cells -> boxes (counting, then filling)
    n_cells = BOX_GRID * BOX_GRID * BOX_GRID
    start = np.zeros(n_cells + 1, np.int64)
    c0 = np.empty((h_count, 3), np.int64)
    c1 = np.empty((h_count, 3), np.int64)
    for h in range(h_count):
        for a in range(3):
            c0[h, a] = _cell(box_lo[h, a], g_lo[a], size[a])
            c1[h, a] = _cell(box_hi[h, a], g_lo[a], size[a])
        for i in range(c0[h, 0], c1[h, 0] + 1):
            for j in range(c0[h, 1], c1[h, 1] + 1):
                for k in range(c0[h, 2], c1[h, 2] + 1):
                    start[(i * BOX_GRID + j) * BOX_GRID + k + 1] += 1
    for c in range(n_cells):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    members = np.empty(start[n_cells], np.int64)
    for h in range(h_count):
        for i in range(c0[h, 0], c1[h, 0] + 1):
            for j in range(c0[h, 1], c1[h, 1] + 1):
                for k in range(c0[h, 2], c1[h, 2] + 1):
                    c = (i * BOX_GRID + j) * BOX_GRID + k
                    members[fill[c]] = h
                    fill[c] += 1
    f_lo = np.empty(3)
    f_hi = np.empty(3)
    c_lo = np.empty(3, np.int64)
    c_hi = np.empty(3, np.int64)
    if 2 * m >= vertices.shape[0]:  # many faces: each vertex placed once, not once per face
        _near_by_vertex_cells(vertices, faces, g_lo, g_hi, size, start, members, box_lo, box_hi, out)
        return out
    for f in range(m):
        outside = False
        for a in range(3):
            x0 = vertices[faces[f, 0], a]
            x1 = vertices[faces[f, 1], a]
            x2 = vertices[faces[f, 2], a]
            f_lo[a] = min(x0, min(x1, x2))
            f_hi[a] = max(x0, max(x1, x2))
            if f_lo[a] > g_hi[a] or f_hi[a] < g_lo[a]:
                outside = True
            c_lo[a] = _cell(f_lo[a], g_lo[a], size[a])
            c_hi[a] = _cell(f_hi[a], g_lo[a], size[a])
        if not outside:
            out[f] = _meets_a_box(c_lo, c_hi, f_lo, f_hi, start, members, box_lo, box_hi)
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _meets_a_box(c_lo, c_hi, f_lo, f_hi, start, members, box_lo, box_hi) -> bool:  # pragma: no cover - compiled
    """Whether the face box ``f_lo``..``f_hi`` (3,) float64 overlaps a box listed in a
    grid cell of the range ``c_lo``..``c_hi`` (3,) int64 (see :func:`faces_near_boxes`)."""
    for i in range(c_lo[0], c_hi[0] + 1):
        for j in range(c_lo[1], c_hi[1] + 1):
            for k in range(c_lo[2], c_hi[2] + 1):
                c = (i * BOX_GRID + j) * BOX_GRID + k
                for p in range(start[c], start[c + 1]):
                    h = members[p]
                    if (
                        f_lo[0] <= box_hi[h, 0] and f_hi[0] >= box_lo[h, 0]
                        and f_lo[1] <= box_hi[h, 1] and f_hi[1] >= box_lo[h, 1]
                        and f_lo[2] <= box_hi[h, 2] and f_hi[2] >= box_lo[h, 2]
                    ):
                        return True
    return False


@numba.njit(cache=True, nogil=True, inline="always")
def _cells_hold_boxes(c_lo, c_hi, start) -> bool:  # pragma: no cover - compiled
    """Whether a grid cell of the range ``c_lo``..``c_hi`` lists any box."""
    for i in range(c_lo[0], c_hi[0] + 1):
        for j in range(c_lo[1], c_hi[1] + 1):
            for k in range(c_lo[2], c_hi[2] + 1):
                c = (i * BOX_GRID + j) * BOX_GRID + k
                if start[c] != start[c + 1]:
                    return True
    return False


@numba.njit(cache=True, nogil=True)
def _near_by_vertex_cells(vertices, faces, g_lo, g_hi, size, start, members, box_lo, box_hi, out):  # pragma: no cover - compiled
    """The face loop of :func:`faces_near_boxes` for many faces of a mesh: each vertex's
    grid cell (per axis) and its side of the grid (below / above, per axis, a bit each)
    are found once, in one 4-byte row per vertex; a face is outside the grid when its
    three vertices lie beyond it on the same side of one axis, and its cell range is the
    range of its vertices' cells (the cell of a coordinate grows with it). Only faces
    whose cells hold boxes gather their corners for the exact box test. Writes ``out``."""
    n = vertices.shape[0]
    place = np.empty((n, 4), np.uint8)  # cell on x, y, z; side bits (2 a: below, 2 a + 1: above)
    for v in range(n):
        side = 0
        for a in range(3):
            x = vertices[v, a]
            place[v, a] = _cell(x, g_lo[a], size[a])
            if x < g_lo[a]:
                side |= 1 << (2 * a)
            elif x > g_hi[a]:
                side |= 1 << (2 * a + 1)
        place[v, 3] = side
    f_lo = np.empty(3)
    f_hi = np.empty(3)
    c_lo = np.empty(3, np.int64)
    c_hi = np.empty(3, np.int64)
    for f in range(faces.shape[0]):
        p0, p1, p2 = faces[f, 0], faces[f, 1], faces[f, 2]
        if place[p0, 3] & place[p1, 3] & place[p2, 3]:
            continue  # beyond the grid on one side of one axis
        for a in range(3):
            c0, c1, c2 = place[p0, a], place[p1, a], place[p2, a]
            c_lo[a] = min(c0, min(c1, c2))
            c_hi[a] = max(c0, max(c1, c2))
        if not _cells_hold_boxes(c_lo, c_hi, start):
            out[f] = False
            continue
        for a in range(3):  # only now the corners: most faces stop above
            x0 = vertices[p0, a]
            x1 = vertices[p1, a]
            x2 = vertices[p2, a]
            f_lo[a] = min(x0, min(x1, x2))
            f_hi[a] = max(x0, max(x1, x2))
        out[f] = _meets_a_box(c_lo, c_hi, f_lo, f_hi, start, members, box_lo, box_hi)


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
