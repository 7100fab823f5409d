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

_NJIT = {"cache": True, "nogil": True}

#: Bytes of one record, and the offset of its first vertex.
RECORD_BYTES = 50
VERTEX_OFFSET = 12
#: Files of at least this many triangles are written in two halves on two threads
#: (:func:`fill_records` on each). Small, so that ``printprep warm-up``'s band (about 800
#: triangles) takes that path; below it a thread costs more than it saves.
MIN_SPLIT_RECORDS = 512


@numba.njit(**_NJIT, inline="always")
def _u32(buf: np.ndarray, pos: int) -> np.uint32:  # pragma: no cover - compiled
    """The little-endian uint32 at byte ``pos`` of ``buf`` (uint8)."""
    return (
        np.uint32(buf[pos]) | (np.uint32(buf[pos + 1]) << np.uint32(8))
        | (np.uint32(buf[pos + 2]) << np.uint32(16)) | (np.uint32(buf[pos + 3]) << np.uint32(24))
    )


@numba.njit(**_NJIT)
def weld_records(buf: np.ndarray, m: int, tiny_ratio: float):  # pragma: no cover - compiled
    """Read ``m`` binary STL records from ``buf`` (50 m,) uint8 (the file after its
    84-byte header), check their coordinates and weld identical vertices exactly.

    Pass 1 (sequential) finds non-finite coordinates and the largest absolute one
    (``extent``). Pass 2 turns each vertex's three float32 into bit patterns, with -0.0
    and every coordinate below ``tiny_ratio * extent`` in absolute value made +0.0
    (exporters' round-off around zero), and looks them up in an open-addressing hash table
    that holds the bits and the vertex id side by side (one cache line per probe). Vertex
    ids follow the order of first occurrence. numpy reading::

        tri = records["vertices"].reshape(-1, 3)          # (3m, 3) float32
        tri[np.abs(tri) < np.float32(tiny_ratio * np.abs(tri).max())] = 0.0   # and -0.0
        uniq, first, inverse = np.unique(tri, axis=0, return_index=True, return_inverse=True)
        # renumbered so that unique rows follow their first occurrence

    Returns (status, max_abs, bits (n, 3) uint32, faces (m, 3) int64): status 0 when
    fine, 1 when a coordinate is NaN or infinite (nothing else is then computed);
    ``max_abs`` the largest absolute coordinate (file units); ``bits`` the float32 bit
    patterns of the unique vertices (``bits.view(np.float32)``).
    """
    k = 3 * m
    # pass 1: finite and the largest magnitude, on the bits (|x| orders like its bits)
    max_bits = np.uint32(0)
    exp_mask = np.uint32(0x7F800000)
    abs_mask = np.uint32(0x7FFFFFFF)
    for r in range(m):
        base = r * RECORD_BYTES + VERTEX_OFFSET
        for a in range(9):
            u = _u32(buf, base + 4 * a)
            if (u & exp_mask) == exp_mask:
                return 1, 0.0, np.zeros((0, 3), np.uint32), np.zeros((0, 3), np.int64)
            au = u & abs_mask
            if au > max_bits:
                max_bits = au
    one = np.zeros(1, np.uint32)
    one[0] = max_bits
    max_abs = np.float64(one.view(np.float32)[0])
    thr = np.zeros(1, np.float32)
    thr[0] = np.float32(max_abs * tiny_ratio)
    thr_bits = thr.view(np.uint32)[0]
    # pass 2: the hash table, sized for a closed mesh (about one vertex per six corners)
    # and doubled when it fills past one half
    cap = 16
    while cap < k // 2:
        cap *= 2
    table = np.zeros((cap, 4), np.uint32)  # bits x, y, z and id + 1 (0: empty)
    mask = np.uint64(cap - 1)
    uniq = np.empty((max(k // 4, 16), 3), np.uint32)
    n_uniq = 0
    faces = np.empty((m, 3), np.int64)
    key = np.empty(3, np.uint32)
    for r in range(m):
        base = r * RECORD_BYTES + VERTEX_OFFSET
        for c in range(3):
            for a in range(3):
                u = _u32(buf, base + 12 * c + 4 * a)
                key[a] = np.uint32(0) if (u & abs_mask) < thr_bits or (u & abs_mask) == 0 else u
            h = (
                np.uint64(key[0]) * np.uint64(0x9E3779B97F4A7C15)
                ^ np.uint64(key[1]) * np.uint64(0xC2B2AE3D27D4EB4F)
                ^ np.uint64(key[2]) * np.uint64(0x165667B19E3779F9)
            )
            h ^= h >> np.uint64(31)
            slot = h & mask
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
    return 0, max_abs, uniq[:n_uniq].copy(), faces


@numba.njit(**_NJIT)
def _rehash(uniq: np.ndarray, n_uniq: int, cap: int) -> np.ndarray:  # pragma: no cover - compiled
    """A table of ``cap`` slots holding the first ``n_uniq`` rows of ``uniq`` (see
    :func:`weld_records`)."""
    table = np.zeros((cap, 4), np.uint32)
    mask = np.uint64(cap - 1)
    for i in range(n_uniq):
        h = (
            np.uint64(uniq[i, 0]) * np.uint64(0x9E3779B97F4A7C15)
            ^ np.uint64(uniq[i, 1]) * np.uint64(0xC2B2AE3D27D4EB4F)
            ^ np.uint64(uniq[i, 2]) * np.uint64(0x165667B19E3779F9)
        )
        h ^= h >> np.uint64(31)
        slot = h & mask
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
