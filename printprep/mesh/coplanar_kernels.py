"""Compiled kernels of the coplanar-contact search (numba): faces binned by their plane
and place, and the exact tests of opposite-facing faces within a bin.

Conventions as in :mod:`printprep.mesh.intersect_kernels` (``tri`` (m, 3, 3) float64 mm
corners, ``normal`` (m, 3) float64 cross products, ``nlen`` (m,) their lengths, ``sign``
(m,) int8 orientation of the unoriented plane).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from printprep.mesh.intersect_kernels import COPLANAR_MM, coplanar_contact

#: Bins of the unit normal: this many per unit of each canonical component.
NORMAL_BINS = 5.0


@numba.njit(cache=True, nogil=True, parallel=True)
def plane_keys(tri, nlen, normal, sign, centre, cell_mm, shift) -> np.ndarray:
    """One 64-bit bin key per face: (m,) int64, -1 for faces without a normal.

    The bin is the floor of (canonical unit normal x :data:`NORMAL_BINS`, plane offset
    about ``centre`` (3,) float64 mm over 10 :data:`COPLANAR_MM`, centroid about ``centre``
    over ``cell_mm``)
    plus ``shift`` cells, hashed. numpy reading: ``hash(floor(concat(canon * 5, offset,
    centroid / cell) + shift))`` row by row.
    """
    m = tri.shape[0]
    out = np.empty(m, dtype=np.int64)
    for i in prange(m):
        if nlen[i] <= 0.0:
            out[i] = -1
            continue
        s = np.float64(sign[i])
        cx = (tri[i, 0, 0] + tri[i, 1, 0] + tri[i, 2, 0]) / 3.0
        cy = (tri[i, 0, 1] + tri[i, 1, 1] + tri[i, 2, 1]) / 3.0
        cz = (tri[i, 0, 2] + tri[i, 1, 2] + tri[i, 2, 2]) / 3.0
        # divided, not multiplied by 1 / |n|: an axis-aligned normal comes out exactly 1.0,
        # on the bin border, the same for every such face
        ax, ay, az = normal[i, 0] / nlen[i] * s, normal[i, 1] / nlen[i] * s, normal[i, 2] / nlen[i] * s
        offset = ax * (cx - centre[0]) + ay * (cy - centre[1]) + az * (cz - centre[2])
        h = np.uint64(0)
        for v in (ax * NORMAL_BINS, ay * NORMAL_BINS, az * NORMAL_BINS, offset / (10.0 * COPLANAR_MM),
                  (cx - centre[0]) / cell_mm, (cy - centre[1]) / cell_mm, (cz - centre[2]) / cell_mm):
            q = np.int64(np.floor(v + shift))
            h = (h ^ np.uint64(q)) * np.uint64(0x9E3779B97F4A7C15)
        out[i] = np.int64(h >> np.uint64(1))
    return out


@numba.njit(cache=True, nogil=True)
def bucket_by_key(keys: np.ndarray, table_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Counting sort of the items with a key >= 0 into ``2**table_bits`` buckets (top bits
    of the key). Returns (bucket_start (2**table_bits + 1,) int64, items (k,) int64).
    numpy reading: ``items = argsort(keys >> (63 - table_bits))`` without the -1 keys."""
    n_buckets = 1 << table_bits
    count = np.zeros(n_buckets + 1, dtype=np.int64)
    for i in range(keys.shape[0]):
        if keys[i] >= 0:
            count[(keys[i] >> (63 - table_bits)) + 1] += 1
    for b in range(n_buckets):
        count[b + 1] += count[b]
    fill = count[:-1].copy()
    items = np.empty(count[n_buckets], dtype=np.int64)
    for i in range(keys.shape[0]):
        if keys[i] >= 0:
            b = keys[i] >> (63 - table_bits)
            items[fill[b]] = i
            fill[b] += 1
    return count, items


@numba.njit(cache=True, nogil=True)
def _scan(tri, faces, normal, nlen, sign, keys, start, items, b0, b1, write, out, at) -> int:
    """Contacts among the items of buckets ``b0..b1``: faces of one key and opposite sign
    that pass the exact test; stored from ``at`` on when ``write``. Returns the count."""
    n = 0
    for b in range(b0, b1):
        s = start[b]
        e = start[b + 1]
        for i in range(s, e):
            f = items[i]
            for j in range(i + 1, e):
                g = items[j]
                if keys[f] != keys[g] or sign[f] == sign[g]:
                    continue
                shared = False
                for p in range(3):
                    for q in range(3):
                        if faces[f, p] == faces[g, q]:
                            shared = True
                neg, pos = (f, g) if sign[f] < sign[g] else (g, f)
                if shared or not coplanar_contact(tri, faces, normal, nlen, neg, pos):
                    continue
                if write:
                    out[at + n, 0] = neg
                    out[at + n, 1] = pos
                n += 1
    return n


@numba.njit(cache=True, nogil=True, parallel=True)
def contact_pairs(tri, faces, normal, nlen, sign, keys, start, items, n_chunks) -> np.ndarray:
    """Coplanar contacts within the buckets: (q, 2) int64 rows (negative-side face,
    positive-side face). Two passes over chunks of buckets in parallel: count, then write.
    numpy reading: every same-key pair of opposite sign through the exact test."""
    n_buckets = start.shape[0] - 1
    bounds = np.linspace(0, n_buckets, n_chunks + 1).astype(np.int64)
    counts = np.zeros(n_chunks, dtype=np.int64)
    empty = np.zeros((0, 2), dtype=np.int64)
    for c in prange(n_chunks):
        counts[c] = _scan(tri, faces, normal, nlen, sign, keys, start, items, bounds[c], bounds[c + 1], False, empty, 0)
    at = np.zeros(n_chunks + 1, dtype=np.int64)
    for c in range(n_chunks):
        at[c + 1] = at[c] + counts[c]
    out = np.empty((at[n_chunks], 2), dtype=np.int64)
    for c in prange(n_chunks):
        if counts[c] > 0:
            _scan(tri, faces, normal, nlen, sign, keys, start, items, bounds[c], bounds[c + 1], True, out, at[c])
    return out
