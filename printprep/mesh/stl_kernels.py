"""Compiled kernels of binary STL input and output (numba): the records read, checked and
exactly welded in one pass over the file's bytes, and the records written in one buffer.

A binary STL record is 50 bytes: normal (3 float32), three vertices (9 float32), a uint16
attribute, little-endian. Records are not 4-byte aligned, so the kernels read the bytes
and assemble the float32 bit patterns themselves (no (m, 3, 3) float32 copy of the file).
Compiled on first use and cached in ``__pycache__`` (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

from printprep.mesh import numba_start  # noqa: F401 - numba without scipy.linalg
from printprep.mesh.chunks import on_two_threads

_NJIT = {"cache": True, "nogil": True}

#: Bytes of one record, and the offset of its first vertex.
RECORD_BYTES = 50
VERTEX_OFFSET = 12


@numba.njit(**_NJIT, inline="always")
def _u32(buf: np.ndarray, pos: int) -> np.uint32:  # pragma: no cover - compiled
    """The little-endian uint32 at byte ``pos`` of ``buf`` (uint8)."""
    return (
        np.uint32(buf[pos]) | (np.uint32(buf[pos + 1]) << np.uint32(8))
        | (np.uint32(buf[pos + 2]) << np.uint32(16)) | (np.uint32(buf[pos + 3]) << np.uint32(24))
    )


#: Files of at least this many triangles are welded (and written) in two halves on two
#: threads. Small, so that ``printprep warm-up``'s band (about 800 triangles) takes that
#: path and compiles its kernels; below it a thread costs more than it saves.
MIN_SPLIT_RECORDS = 512


def weld_records(buf: np.ndarray, m: int, tiny_ratio: float, min_split: int = MIN_SPLIT_RECORDS):
    """Read ``m`` binary STL records from ``buf`` (50 m,) uint8 (the file after its
    84-byte header), check their coordinates and weld identical vertices exactly.

    First the coordinates are checked: non-finite ones, and the largest absolute one
    (``extent``). Then each vertex's three float32 become bit patterns, with -0.0 and
    every coordinate below ``tiny_ratio * extent`` in absolute value made +0.0
    (exporters' round-off around zero), and are welded through a hash table
    (:func:`_weld_range`). Vertex ids follow the order of first occurrence. numpy
    reading::

        tri = records["vertices"].reshape(-1, 3)          # (3m, 3) float32
        tri[np.abs(tri) < np.float32(tiny_ratio * np.abs(tri).max())] = 0.0   # and -0.0
        uniq, first, inverse = np.unique(tri, axis=0, return_index=True, return_inverse=True)
        # renumbered so that unique rows follow their first occurrence

    With ``m >= min_split`` both steps run on two threads (nogil kernels), one half of the
    records each; the second half's vertices are then looked up in the first half's table:
    those found keep the first half's id, the others are numbered on after the first
    half's in their order, which is the order of first occurrence in the whole file.

    Returns (status, max_abs, bits (n, 3) uint32, faces (m, 3) int64): status 0 when
    fine, 1 when a coordinate is NaN or infinite (nothing else is then computed);
    ``max_abs`` the largest absolute coordinate (file units); ``bits`` the float32 bit
    patterns of the unique vertices (``bits.view(np.float32)``).
    """
    if m < max(min_split, 2):
        status, max_bits = _record_extent(buf, 0, m)
        if status:
            return _refused()
        max_abs, thr_bits = _threshold(max_bits, tiny_ratio)
        _, uniq, faces = _weld_range(buf, 0, m, thr_bits)
        return 0, max_abs, uniq, faces
    half = m // 2
    status, max_bits = on_two_threads(_record_extent, (buf, 0, half), (buf, half, m))
    if status[0] or status[1]:
        return _refused()
    max_abs, thr_bits = _threshold(max(max_bits[0], max_bits[1]), tiny_ratio)
    (table_a, _), (uniq_a, uniq_b), (faces_a, faces_b) = on_two_threads(
        _weld_range, (buf, 0, half, thr_bits), (buf, half, m, thr_bits))
    found = np.empty(len(uniq_b), np.int64)
    cut = len(uniq_b) // 2
    on_two_threads(_lookup_rows, (table_a, uniq_b, 0, cut, found), (table_a, uniq_b, cut, len(uniq_b), found))
    new = found < 0
    n_a = len(uniq_a)
    found[new] = np.arange(n_a, n_a + int(np.count_nonzero(new)))
    faces = np.empty((m, 3), np.int64)
    faces[:half] = faces_a
    np.take(found, faces_b, out=faces[half:])
    return 0, max_abs, np.concatenate([uniq_a, uniq_b[new]]), faces


def _refused() -> tuple:
    """weld_records' answer for a file with a NaN or infinite coordinate."""
    return 1, 0.0, np.zeros((0, 3), np.uint32), np.zeros((0, 3), np.int64)


def _threshold(max_bits: int, tiny_ratio: float) -> tuple[float, int]:
    """(largest absolute coordinate as a float, the float32 bits of ``tiny_ratio`` times
    it) from the bits ``max_bits`` of the largest absolute float32."""
    max_abs = float(np.array([max_bits], np.uint32).view(np.float32)[0])
    return max_abs, int(np.array([max_abs * tiny_ratio], np.float32).view(np.uint32)[0])


@numba.njit(**_NJIT)
def _record_extent(buf: np.ndarray, lo: int, hi: int):  # pragma: no cover - compiled
    """(status, max_bits) of records ``lo..hi`` of ``buf`` (see :func:`weld_records`):
    status 1 when a vertex coordinate is NaN or infinite, else 0 and the bits of the
    largest absolute coordinate (|x| orders like its bits). numpy reading::

        xyz = records["vertices"][lo:hi]; (~np.isfinite(xyz)).any(), np.abs(xyz).max()
    """
    max_bits = np.uint32(0)
    exp_mask = np.uint32(0x7F800000)
    abs_mask = np.uint32(0x7FFFFFFF)
    for r in range(lo, hi):
        base = r * RECORD_BYTES + VERTEX_OFFSET
        for a in range(9):
            u = _u32(buf, base + 4 * a)
            if (u & exp_mask) == exp_mask:
                return 1, np.uint32(0)
            au = u & abs_mask
            if au > max_bits:
                max_bits = au
    return 0, max_bits


@numba.njit(**_NJIT, inline="always")
def _slot(k0: np.uint32, k1: np.uint32, k2: np.uint32, mask: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """The first slot of key (k0, k1, k2) in a table of ``mask + 1`` slots."""
    h = (
        np.uint64(k0) * np.uint64(0x9E3779B97F4A7C15)
        ^ np.uint64(k1) * np.uint64(0xC2B2AE3D27D4EB4F)
        ^ np.uint64(k2) * np.uint64(0x165667B19E3779F9)
    )
    h ^= h >> np.uint64(31)
    return h & mask


@numba.njit(**_NJIT)
def _weld_range(buf: np.ndarray, lo: int, hi: int, thr_bits: int):  # pragma: no cover - compiled
    """Weld the vertices of records ``lo..hi`` of ``buf`` exactly (see
    :func:`weld_records`; coordinates with bits below ``thr_bits`` and -0.0 count as
    +0.0), ids in the order of first occurrence within the range.

    An open-addressing hash table holds the bits and the vertex id side by side (one
    cache line per probe), sized for a closed mesh (about one vertex per six corners)
    and doubled when it fills past one half. Returns (table (cap, 4) uint32: bits x, y, z
    and id + 1, 0 empty; uniq (n, 3) uint32 bits of the unique vertices; faces
    (hi - lo, 3) int64 ids).
    """
    m = hi - lo
    k = 3 * m
    abs_mask = np.uint32(0x7FFFFFFF)
    thr = np.uint32(thr_bits)
    cap = 16
    while cap < k // 2:
        cap *= 2
    table = np.zeros((cap, 4), np.uint32)
    mask = np.uint64(cap - 1)
    uniq = np.empty((max(k // 4, 16), 3), np.uint32)
    n_uniq = 0
    faces = np.empty((m, 3), np.int64)
    key = np.empty(3, np.uint32)
    for r in range(m):
        base = (lo + r) * RECORD_BYTES + VERTEX_OFFSET
        for c in range(3):
            for a in range(3):
                u = _u32(buf, base + 12 * c + 4 * a)
                key[a] = np.uint32(0) if (u & abs_mask) < thr or (u & abs_mask) == 0 else u
            slot = _slot(key[0], key[1], key[2], mask)
            while True:
                ident = table[slot, 3]
                if ident == 0:
                    if n_uniq == uniq.shape[0]:
                        grown = np.empty((2 * uniq.shape[0], 3), np.uint32)
                        grown[:n_uniq] = uniq[:n_uniq]
                        uniq = grown
                    uniq[n_uniq, 0], uniq[n_uniq, 1], uniq[n_uniq, 2] = key[0], key[1], key[2]
                    table[slot, 0], table[slot, 1], table[slot, 2] = key[0], key[1], key[2]
                    table[slot, 3] = np.uint32(n_uniq + 1)
                    faces[r, c] = n_uniq
                    n_uniq += 1
                    if 2 * n_uniq > cap:  # rehash into a table twice the size
                        cap *= 2
                        table = _rehash(uniq, n_uniq, cap)
                        mask = np.uint64(cap - 1)
                    break
                if table[slot, 0] == key[0] and table[slot, 1] == key[1] and table[slot, 2] == key[2]:
                    faces[r, c] = np.int64(ident) - 1
                    break
                slot = (slot + np.uint64(1)) & mask
    return table, uniq[:n_uniq].copy(), faces


@numba.njit(**_NJIT)
def _lookup_rows(table: np.ndarray, rows: np.ndarray, lo: int, hi: int, found: np.ndarray) -> None:  # pragma: no cover - compiled
    """``found[j]`` = the id of ``rows[j]`` (bits, (n, 3) uint32) in ``table`` (as
    :func:`_weld_range` returns it), or -1 when it is not there, for j in ``lo..hi``."""
    mask = np.uint64(table.shape[0] - 1)
    for j in range(lo, hi):
        slot = _slot(rows[j, 0], rows[j, 1], rows[j, 2], mask)
        found[j] = -1
        while True:
            ident = table[slot, 3]
            if ident == 0:
                break
            if table[slot, 0] == rows[j, 0] and table[slot, 1] == rows[j, 1] and table[slot, 2] == rows[j, 2]:
                found[j] = np.int64(ident) - 1
                break
            slot = (slot + np.uint64(1)) & mask


@numba.njit(**_NJIT)
def _rehash(uniq: np.ndarray, n_uniq: int, cap: int) -> np.ndarray:  # pragma: no cover - compiled
    """A table of ``cap`` slots holding the first ``n_uniq`` rows of ``uniq`` (see
    :func:`_weld_range`)."""
    table = np.zeros((cap, 4), np.uint32)
    mask = np.uint64(cap - 1)
    for i in range(n_uniq):
        slot = _slot(uniq[i, 0], uniq[i, 1], uniq[i, 2], mask)
        while table[slot, 3] != 0:
            slot = (slot + np.uint64(1)) & mask
        table[slot, 0], table[slot, 1], table[slot, 2] = uniq[i, 0], uniq[i, 1], uniq[i, 2]
        table[slot, 3] = np.uint32(i + 1)
    return table


@numba.njit(**_NJIT)
def fill_records(vertices: np.ndarray, faces: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Write the binary STL records of ``faces`` (m, 3) int64 over ``vertices`` (n, 3)
    float64 (mm) into ``out`` (m, 12) float32 (a strided view of the file's buffer, one
    row per 50-byte record): the unit normal from the winding (zero
    for a degenerate triangle, computed in float64) and the three corners. numpy reading::

        tri = vertices[faces]; n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        n /= np.linalg.norm(n, axis=1)[:, None]   # 0 where the length is 0
        out[:] = np.concatenate([n, tri.reshape(-1, 9)], axis=1)
    """
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        ux = vertices[b, 0] - vertices[a, 0]
        uy = vertices[b, 1] - vertices[a, 1]
        uz = vertices[b, 2] - vertices[a, 2]
        vx = vertices[c, 0] - vertices[a, 0]
        vy = vertices[c, 1] - vertices[a, 1]
        vz = vertices[c, 2] - vertices[a, 2]
        nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
        ln = np.sqrt(nx * nx + ny * ny + nz * nz)
        if ln > 0.0:
            nx, ny, nz = nx / ln, ny / ln, nz / ln
        else:
            nx, ny, nz = 0.0, 0.0, 0.0
        out[f, 0], out[f, 1], out[f, 2] = nx, ny, nz
        for k in range(3):
            v = faces[f, k]
            out[f, 3 + 3 * k] = vertices[v, 0]
            out[f, 4 + 3 * k] = vertices[v, 1]
            out[f, 5 + 3 * k] = vertices[v, 2]
