"""Compiled kernels of the uniform-grid search for crossing and touching faces (numba).

A grid entry is one (face, cell) incidence; a cell is a cube of ``cell_mm`` whose integer
coordinates are packed into one int64 key (21 bits per axis) and hashed into buckets by a
counting sort. Every pair of faces whose boxes meet is tested once, in the cell that
holds the low corner of the two boxes' overlap (on each axis the cell where one of the
two boxes starts: the entries' flags). The exact tests are those of
:mod:`printprep.mesh.intersect_kernels`; array conventions as there.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from printprep.mesh import numba_start  # noqa: F401 - numba without scipy.linalg
from printprep.mesh.intersect_kernels import frame_row, pair_tests

#: Bits of each packed cell coordinate.
CELL_BITS = 21


@numba.njit(cache=True, nogil=True)
def _cell_key(x: int, y: int, z: int) -> int:
    return (x << (2 * CELL_BITS)) | (y << CELL_BITS) | z


@numba.njit(cache=True, nogil=True)
def _hash(key: int, bits: int) -> int:
    """Bucket of a packed cell key: the top ``bits`` bits of a multiplicative mix."""
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    return np.int64(h >> np.uint64(64 - bits))


@numba.njit(cache=True, nogil=True)
def bin_faces(cell_lo: np.ndarray, cell_hi: np.ndarray, box32: np.ndarray, n_entries: int, table_bits: int):
    """Counting-sort the (face, cell) entries into a hash table of buckets.

    cell_lo, cell_hi : (m, 3) int64 first and last cell of each face's box (inclusive, >= 0,
    < 2**21); box32 : (m, 6) float32 each face's box (lo, hi) rounded outward, mm;
    n_entries : the number of entries (sum of the boxes' cell counts); table_bits : log2
    of the bucket count. Returns, entries grouped by bucket: bucket_start
    (2**table_bits + 1,) int64, entry_face (E,) int64, entry_key (E,) int64 packed cell,
    entry_flag (E,) uint8 (bit a: the face's box starts in this cell along axis a) and
    entry_box (E, 6) float32 the face's box, laid out in entry order so the pair loop
    reads memory in sequence. numpy reading: ``order = argsort(hash(key))`` of all entries.
    """
    n_buckets = 1 << table_bits
    count = np.zeros(n_buckets + 1, dtype=np.int64)
    m = cell_lo.shape[0]
    for f in range(m):
        for x in range(cell_lo[f, 0], cell_hi[f, 0] + 1):
            for y in range(cell_lo[f, 1], cell_hi[f, 1] + 1):
                for z in range(cell_lo[f, 2], cell_hi[f, 2] + 1):
                    count[_hash(_cell_key(x, y, z), table_bits) + 1] += 1
    for b in range(n_buckets):
        count[b + 1] += count[b]
    fill = count[:-1].copy()
    entry_face = np.empty(n_entries, dtype=np.int64)
    entry_key = np.empty(n_entries, dtype=np.int64)
    entry_flag = np.empty(n_entries, dtype=np.uint8)
    entry_box = np.empty((n_entries, 6), dtype=np.float32)
    for f in range(m):
        for x in range(cell_lo[f, 0], cell_hi[f, 0] + 1):
            for y in range(cell_lo[f, 1], cell_hi[f, 1] + 1):
                for z in range(cell_lo[f, 2], cell_hi[f, 2] + 1):
                    k = _cell_key(x, y, z)
                    at = fill[_hash(k, table_bits)]
                    entry_face[at] = f
                    entry_key[at] = k
                    entry_flag[at] = (1 if x == cell_lo[f, 0] else 0) | (2 if y == cell_lo[f, 1] else 0) | (4 if z == cell_lo[f, 2] else 0)
                    for a in range(6):
                        entry_box[at, a] = box32[f, a]
                    fill[_hash(k, table_bits)] += 1
    return count, entry_face, entry_key, entry_flag, entry_box


@numba.njit(cache=True, nogil=True, parallel=True)
def sort_buckets_by_flag(bucket_start, entry_face, entry_key, entry_flag, entry_box) -> None:
    """Order each bucket's entries by flag, in place (insertion sort: buckets hold a few
    dozen entries), so the pair loop can visit only flag groups whose union is 7.
    numpy reading: a stable sort of the entries by (bucket, flag)."""
    n_buckets = bucket_start.shape[0] - 1
    for b in prange(n_buckets):
        s = bucket_start[b]
        e = bucket_start[b + 1]
        for i in range(s + 1, e):
            fl = entry_flag[i]
            j = i
            while j > s and entry_flag[j - 1] > fl:
                j -= 1
            if j == i:
                continue
            f, k = entry_face[i], entry_key[i]
            b0, b1, b2, b3, b4, b5 = entry_box[i, 0], entry_box[i, 1], entry_box[i, 2], entry_box[i, 3], entry_box[i, 4], entry_box[i, 5]
            for t in range(i, j, -1):
                entry_face[t] = entry_face[t - 1]
                entry_key[t] = entry_key[t - 1]
                entry_flag[t] = entry_flag[t - 1]
                for a in range(6):
                    entry_box[t, a] = entry_box[t - 1, a]
            entry_face[j], entry_key[j], entry_flag[j] = f, k, fl
            entry_box[j, 0], entry_box[j, 1], entry_box[j, 2] = b0, b1, b2
            entry_box[j, 3], entry_box[j, 4], entry_box[j, 5] = b3, b4, b5


@numba.njit(cache=True, nogil=True)
def scan_buckets(tri, faces, normal, nlen, plane_d, sign, bucket_start, entry_face, entry_key,
                  entry_flag, entry_box, b0, b1, want_coplanar, write, cross_out, cross_at, cop_out,
                  cop_at) -> tuple[int, int]:
    """Test every candidate pair of buckets ``b0..b1``; count (and when ``write``, store
    from ``cross_at`` / ``cop_at`` on) crossing pairs (piercing face, pierced face) and
    coplanar contacts (negative-side face, positive-side face). ``tri`` .. ``sign`` : the
    :func:`intersect_kernels.face_frames` of the faces; the rest from :func:`bin_faces`
    with the entries sorted by :func:`sort_buckets_by_flag`. Run over all buckets by
    :func:`printprep.mesh.chunks.two_pass` (threads: the function holds no GIL). A pair of boxes that meet
    in several cells is tested only in the cell holding the low corner of their overlap:
    the cell where, on each axis, one of the two boxes starts (flags ``a | b == 7``)."""
    n_cross = 0
    n_cop = 0
    gs = np.empty(9, dtype=np.int64)
    for b in range(b0, b1):
        s = bucket_start[b]
        e = bucket_start[b + 1]
        if e - s < 2:
            continue
        at = s  # flag groups: the entries are sorted by flag (sort_buckets_by_flag)
        for fl in range(8):
            gs[fl] = at
            while at < e and entry_flag[at] == fl:
                at += 1
        gs[8] = e
        for i in range(s, e):
            key = entry_key[i]
            fl = entry_flag[i]
            lx, ly, lz = entry_box[i, 0], entry_box[i, 1], entry_box[i, 2]
            hx, hy, hz = entry_box[i, 3], entry_box[i, 4], entry_box[i, 5]
            for gj in range(fl, 8):
                if (fl | gj) != 7:
                    continue
                for j in range(max(i + 1, gs[gj]), gs[gj + 1]):
                    if entry_key[j] != key:
                        continue
                    if (lx > entry_box[j, 3] or entry_box[j, 0] > hx or ly > entry_box[j, 4] or entry_box[j, 1] > hy
                            or lz > entry_box[j, 5] or entry_box[j, 2] > hz):
                        continue
                    f = entry_face[i]
                    g = entry_face[j]
                    nc, nq = pair_tests(tri, faces, normal, nlen, plane_d, sign, f, g, want_coplanar, write,
                                        cross_out, cross_at + n_cross, cop_out, cop_at + n_cop)
                    n_cross += nc
                    n_cop += nq
    return n_cross, n_cop


@numba.njit(cache=True, nogil=True)
def _scratch():
    """Two-row frame arrays for :func:`_test_global` (made once per chunk of faces)."""
    return (np.empty((2, 3, 3)), np.empty((2, 3)), np.empty((2, 3)), np.empty((2, 3)), np.empty(2), np.empty(2),
            np.empty(2, dtype=np.int8), np.empty((2, 3), dtype=np.int64), np.empty((2, 2), dtype=np.int64),
            np.empty((1, 2), dtype=np.int64))


@numba.njit(cache=True, nogil=True)
def _test_global(vertices, faces, f, q, want_coplanar, write, cross_out, cross_at, cop_out, cop_at,
                 scratch) -> tuple[int, int]:
    """:func:`intersect_kernels.pair_tests` of faces ``f`` and ``q`` of the indexed mesh: their frames are
    made on the spot (two rows of ``scratch``), the records written with the mesh's ids."""
    tri, lo, hi, normal, nlen, plane_d, sign, two, cross, cop = scratch
    frame_row(vertices, faces, f, 0, tri, lo, hi, normal, nlen, plane_d, sign)
    frame_row(vertices, faces, q, 1, tri, lo, hi, normal, nlen, plane_d, sign)
    for c in range(3):
        two[0, c] = faces[f, c]
        two[1, c] = faces[q, c]
    nc, nq = pair_tests(tri, two, normal, nlen, plane_d, sign, 0, 1, want_coplanar, True, cross, 0, cop, 0)
    if write:
        ids = (f, q)
        for r in range(nc):
            cross_out[cross_at + r, 0] = ids[cross[r, 0]]
            cross_out[cross_at + r, 1] = ids[cross[r, 1]]
        if nq:
            cop_out[cop_at, 0] = ids[cop[0, 0]]
            cop_out[cop_at, 1] = ids[cop[0, 1]]
    return nc, nq


@numba.njit(cache=True, nogil=True)
def query_range(vertices, faces, is_only, origin, cell_mm, bucket_start, entry_face, entry_key, entry_flag,
                 entry_box, table_bits, c_lo, c_hi, q0, q1, want_coplanar, write, cross_out, cross_at,
                 cop_out, cop_at) -> tuple[int, int]:
    """Faces ``q0..q1`` of the mesh against the chosen faces, which alone are in the grid
    (``bucket_start`` .. ``entry_box`` from :func:`bin_faces`, entry faces as mesh face
    ids; ``c_lo``, ``c_hi`` (3,) int64 the range of cells they touch; ``is_only`` (m,)
    bool). Each face looks up the cells its box touches and is tested against the chosen
    faces there, once per pair (the cell of the low corner of the two boxes' overlap; two
    chosen faces from the later one), its frame made on the spot. Counts (and when
    ``write`` stores) records as :func:`scan_buckets`; numpy reading: the exact tests of
    every (face, chosen face) pair whose boxes meet. Run over all faces by
    :func:`printprep.mesh.chunks.two_pass`.
    """
    n_cross = 0
    n_cop = 0
    lo = np.empty(3)
    hi = np.empty(3)
    cl = np.empty(3, dtype=np.int64)
    ch = np.empty(3, dtype=np.int64)
    scratch = _scratch()
    for q in range(q0, q1):
        apart = False
        for a in range(3):
            x0 = vertices[faces[q, 0], a]
            x1 = vertices[faces[q, 1], a]
            x2 = vertices[faces[q, 2], a]
            lo[a] = min(x0, x1, x2)
            hi[a] = max(x0, x1, x2)
            cl[a] = np.int64(np.floor((lo[a] - origin[a]) / cell_mm))
            ch[a] = np.int64(np.floor((hi[a] - origin[a]) / cell_mm))
            if cl[a] > c_hi[a] or ch[a] < c_lo[a]:
                apart = True
                break
        if apart:
            continue
        # only cells of the chosen faces hold entries: a big face looks at those alone
        for x in range(max(cl[0], c_lo[0]), min(ch[0], c_hi[0]) + 1):
            for y in range(max(cl[1], c_lo[1]), min(ch[1], c_hi[1]) + 1):
                for z in range(max(cl[2], c_lo[2]), min(ch[2], c_hi[2]) + 1):
                    k = _cell_key(x, y, z)
                    fq = (1 if x == cl[0] else 0) | (2 if y == cl[1] else 0) | (4 if z == cl[2] else 0)
                    b = _hash(k, table_bits)
                    for t in range(bucket_start[b], bucket_start[b + 1]):
                        if entry_key[t] != k or (fq | entry_flag[t]) != 7:
                            continue
                        f = entry_face[t]
                        if f == q or (is_only[q] and q < f):
                            continue  # two chosen faces meet once, from the later one
                        if (lo[0] > entry_box[t, 3] or entry_box[t, 0] > hi[0] or lo[1] > entry_box[t, 4]
                                or entry_box[t, 1] > hi[1] or lo[2] > entry_box[t, 5] or entry_box[t, 2] > hi[2]):
                            continue
                        nc, nq = _test_global(vertices, faces, f, q, want_coplanar, write,
                                              cross_out, cross_at + n_cross, cop_out, cop_at + n_cop, scratch)
                        n_cross += nc
                        n_cop += nq
    return n_cross, n_cop
