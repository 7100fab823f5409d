"""Compiled kernels of vertex welding (numba): exact welding by a hash table over the
coordinate bits, and near welding by a grid of cells as wide as the tolerance.

Compiled on first use and cached in ``__pycache__`` (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

from printprep.mesh import numba_start  # noqa: F401 - numba without scipy.linalg

_NJIT = {"cache": True, "nogil": True}


@numba.njit(**_NJIT)
def _mix(h: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """splitmix64 finaliser: spreads every input bit over the whole word."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


@numba.njit(**_NJIT)
def unique_rows_bits(bits: np.ndarray):  # pragma: no cover - compiled
    """Exact unique rows of ``bits`` (k, c) uint32/uint64 (c = 3 for points, 9 for
    triangles), the bit patterns of float coordinates (with -0.0 already turned into +0.0, so equal numbers have equal bits),
    by one pass over an open-addressing hash table. Unique rows come in the order of
    their first occurrence. numpy reading::

        _, first, inverse = np.unique(bits, axis=0, return_index=True, return_inverse=True)
        # then renumbered so that the unique rows follow their first occurrence

    Returns (first (u,) int64 row index of each unique row, inverse (k,) int64).
    """
    k = bits.shape[0]
    size = 1
    while size < 2 * k:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, np.int64)  # slot -> unique id
    first = np.empty(k, np.int64)
    inverse = np.empty(k, np.int64)
    n_unique = 0
    c = bits.shape[1]
    for i in range(k):
        h = np.uint64(0x9E3779B97F4A7C15)
        for a in range(c):
            h = _mix(h ^ np.uint64(bits[i, a]))
        slot = h & mask
        while True:
            u = table[slot]
            if u < 0:
                table[slot] = n_unique
                first[n_unique] = i
                inverse[i] = n_unique
                n_unique += 1
                break
            j = first[u]
            same = True
            for a in range(c):
                if bits[j, a] != bits[i, a]:
                    same = False
                    break
            if same:
                inverse[i] = u
                break
            slot = (slot + np.uint64(1)) & mask
    return first[:n_unique].copy(), inverse


@numba.njit(**_NJIT)
def close_pairs(points: np.ndarray, tol_mm: float):  # pragma: no cover - compiled
    """All pairs of rows of ``points`` (k, 3) float64 (mm) no farther apart than
    ``tol_mm``, each pair once (i < j).

    Points are binned in cubic cells of side ``tol_mm`` (hash of the integer cell,
    sorted); each point looks in its own cell and the 26 around it. numpy reading::

        d = np.linalg.norm(points[:, None] - points[None], axis=-1)
        i, j = np.nonzero(np.triu(d <= tol_mm, 1))

    Returns (i (p,) int64, j (p,) int64).
    """
    k = points.shape[0]
    cell = np.empty((k, 3), np.int64)
    key = np.empty(k, np.int64)
    for i in range(k):
        h = np.uint64(0x9E3779B97F4A7C15)
        for a in range(3):
            c = np.int64(np.floor(points[i, a] / tol_mm))
            cell[i, a] = c
            h = _mix(h ^ np.uint64(c))
        key[i] = np.int64(h >> np.uint64(1))
    order = np.argsort(key)
    sorted_key = key[order]
    out_i = []
    out_j = []
    tol2 = tol_mm * tol_mm
    for i in range(k):
        for dx in range(-1, 2):
            for dy in range(-1, 2):
                for dz in range(-1, 2):
                    h = np.uint64(0x9E3779B97F4A7C15)
                    h = _mix(h ^ np.uint64(cell[i, 0] + dx))
                    h = _mix(h ^ np.uint64(cell[i, 1] + dy))
                    h = _mix(h ^ np.uint64(cell[i, 2] + dz))
                    q = np.int64(h >> np.uint64(1))
                    pos = np.searchsorted(sorted_key, q)
                    while pos < k and sorted_key[pos] == q:
                        j = order[pos]
                        pos += 1
                        if j <= i:
                            continue
                        if cell[j, 0] != cell[i, 0] + dx or cell[j, 1] != cell[i, 1] + dy or cell[j, 2] != cell[i, 2] + dz:
                            continue  # another cell with the same hash
                        d0 = points[i, 0] - points[j, 0]
                        d1 = points[i, 1] - points[j, 1]
                        d2 = points[i, 2] - points[j, 2]
                        if d0 * d0 + d1 * d1 + d2 * d2 <= tol2:
                            out_i.append(i)
                            out_j.append(j)
    return np.array(out_i, np.int64), np.array(out_j, np.int64)
