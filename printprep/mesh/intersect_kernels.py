"""Compiled kernels of the self-intersection search (numba): the uniform-grid broad phase
over triangle bounding boxes and the exact float64 tests of each candidate pair.

Conventions: ``tri`` (m, 3, 3) float64 mm the corners of each face, ``faces`` (m, 3)
int64 their vertex ids (for shared-corner tests), ``normal`` (m, 3) float64 the
(unnormalised) face cross products ``(b - a) x (c - a)``. A grid entry is one
(face, cell) incidence; a cell is a cube of ``cell_mm`` whose integer coordinates are
packed into one int64 key (21 bits per axis).

numba caches each module's compiled functions by that module's source alone: after
editing this file, clear the caches of the modules that call into it
(``coplanar_kernels``, ``ray_kernels``: their ``__pycache__/*.nbi|*.nbc``).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

#: Hits closer than this fraction of the edge length to either end are the edge's own
#: neighbourhood (numerical grazing), not a crossing.
END_MARGIN = 1e-4
#: Edges running (almost) within the plane of the face graze it; they are coplanar
#: contacts, not crossings.
MIN_COS = 1e-4
#: Crossings within this barycentric distance of the hit face's border are contacts along
#: an edge (rounding), not a face pierced.
MIN_BARY = 1e-6
#: Both ends of a crossing edge must lie this far from the face's plane, mm: sub-micron
#: nicks are below any printer's resolution.
MIN_DEPTH_MM = 5e-4
#: Faces closer than this to each other's plane, mm, lie in one plane (coplanar contact).
COPLANAR_MM = 1e-3
#: Normals this close to opposite (cosine) face each other.
OPPOSED_COS = -0.9999
#: Two coplanar faces overlap when each reaches this far into the other, mm.
MIN_OVERLAP_MM = 1e-2


#: Bits of each packed cell coordinate.
CELL_BITS = 21
CELL_MASK = (1 << CELL_BITS) - 1


@numba.njit(cache=True, nogil=True)
def _frame(vertices, faces, f, i, tri, box_lo, box_hi, normal, nlen, plane_d, sign) -> None:
    """Row ``i`` of the :func:`face_frames` arrays for face ``f``."""
    for c in range(3):
        for a in range(3):
            tri[i, c, a] = vertices[faces[f, c], a]
    for a in range(3):
        box_lo[i, a] = min(tri[i, 0, a], tri[i, 1, a], tri[i, 2, a])
        box_hi[i, a] = max(tri[i, 0, a], tri[i, 1, a], tri[i, 2, a])
    ux, uy, uz = tri[i, 1, 0] - tri[i, 0, 0], tri[i, 1, 1] - tri[i, 0, 1], tri[i, 1, 2] - tri[i, 0, 2]
    vx, vy, vz = tri[i, 2, 0] - tri[i, 0, 0], tri[i, 2, 1] - tri[i, 0, 1], tri[i, 2, 2] - tri[i, 0, 2]
    nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
    normal[i, 0], normal[i, 1], normal[i, 2] = nx, ny, nz
    ln = np.sqrt(nx * nx + ny * ny + nz * nz)
    nlen[i] = ln
    plane_d[i] = nx * tri[i, 0, 0] + ny * tri[i, 0, 1] + nz * tri[i, 0, 2]
    comp = nx if abs(nx) > 1e-6 * ln else (ny if abs(ny) > 1e-6 * ln else nz)
    sign[i] = 1 if comp >= 0 else -1


@numba.njit(cache=True, nogil=True, parallel=True)
def face_frames(vertices: np.ndarray, faces: np.ndarray, order: np.ndarray):
    """Per-face data of the faces ``faces[order]``, in that order, in one pass.

    vertices : (n, 3) float64 mm; faces : (m, 3) int64; order : (k,) int64 face ids.
    Returns tri (k, 3, 3) float64 corners, box_lo and box_hi (k, 3) float64 mm, normal
    (k, 3) float64 cross products, nlen (k,) float64 their lengths, plane_d (k,) float64
    ``normal . corner 0`` and sign (k,) int8: +1 when the first clearly non-zero component
    of the normal is positive (the orientation of the unoriented plane).
    numpy reading: ``tri = vertices[faces[order]]``, ``tri.min(1)``, ``tri.max(1)``,
    ``np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])`` and so on.
    """
    k = order.shape[0]
    tri = np.empty((k, 3, 3))
    box_lo = np.empty((k, 3))
    box_hi = np.empty((k, 3))
    normal = np.empty((k, 3))
    nlen = np.empty(k)
    plane_d = np.empty(k)
    sign = np.empty(k, dtype=np.int8)
    for i in prange(k):
        _frame(vertices, faces, order[i], i, tri, box_lo, box_hi, normal, nlen, plane_d, sign)
    return tri, box_lo, box_hi, normal, nlen, plane_d, sign


@numba.njit(cache=True, nogil=True)
def bounds(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo (3,), hi (3,)) float64 of ``vertices`` (n, 3) mm in one pass (numpy's
    ``min(axis=0)`` on an (n, 3) array takes several)."""
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for i in range(vertices.shape[0]):
        for a in range(3):
            x = vertices[i, a]
            if x < lo[a]:
                lo[a] = x
            if x > hi[a]:
                hi[a] = x
    return lo, hi


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
def segment_pierces(p0, p1, a, b, c, nx, ny, nz) -> bool:
    """Whether the segment ``p0``-``p1`` passes strictly through the interior of triangle
    ``a b c`` (each (3,) float64 mm; ``(nx, ny, nz)`` its cross product), in float64: ends
    on opposite sides, each farther than :data:`MIN_DEPTH_MM` from the plane, not grazing
    it (:data:`MIN_COS`), away from the segment's ends (:data:`END_MARGIN`) and inside the
    triangle by :data:`MIN_BARY`."""
    n2 = nx * nx + ny * ny + nz * nz
    if n2 <= 0.0:
        return False
    nlen = np.sqrt(n2)
    s0 = (p0[0] - a[0]) * nx + (p0[1] - a[1]) * ny + (p0[2] - a[2]) * nz
    s1 = (p1[0] - a[0]) * nx + (p1[1] - a[1]) * ny + (p1[2] - a[2]) * nz
    if s0 * s1 >= 0.0:
        return False
    if min(abs(s0), abs(s1)) <= MIN_DEPTH_MM * nlen:
        return False
    sx, sy, sz = p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]
    slen = np.sqrt(sx * sx + sy * sy + sz * sz)
    denom = s0 - s1
    if abs(denom) <= MIN_COS * nlen * slen:
        return False
    t = s0 / denom
    if t <= END_MARGIN or t >= 1.0 - END_MARGIN:
        return False
    x0, x1, x2 = p0[0] + sx * t, p0[1] + sy * t, p0[2] + sz * t
    # barycentric weights: sub-triangle areas projected on the normal, over |n|^2
    for i in range(3):
        u = b if i == 0 else (c if i == 1 else a)
        w = c if i == 0 else (a if i == 1 else b)
        ux, uy, uz = u[0] - x0, u[1] - x1, u[2] - x2
        wx, wy, wz = w[0] - x0, w[1] - x1, w[2] - x2
        cx = uy * wz - uz * wy
        cy = uz * wx - ux * wz
        cz = ux * wy - uy * wx
        if (cx * nx + cy * ny + cz * nz) <= MIN_BARY * n2:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _edge_pierces(tri, faces, normal, f_edge, k, g) -> bool:
    """Whether edge ``k`` (from corner k to k+1) of face ``f_edge`` passes strictly
    through the interior of face ``g`` (:func:`segment_pierces`)."""
    return segment_pierces(tri[f_edge, k], tri[f_edge, (k + 1) % 3], tri[g, 0], tri[g, 1], tri[g, 2],
                           normal[g, 0], normal[g, 1], normal[g, 2])


@numba.njit(cache=True, nogil=True)
def _pierces(tri, faces, normal, f, g) -> bool:
    """Whether an edge of ``f`` that shares no vertex with ``g`` pierces ``g``."""
    for k in range(3):
        v0 = faces[f, k]
        v1 = faces[f, (k + 1) % 3]
        if v0 == faces[g, 0] or v0 == faces[g, 1] or v0 == faces[g, 2]:
            continue
        if v1 == faces[g, 0] or v1 == faces[g, 1] or v1 == faces[g, 2]:
            continue
        if _edge_pierces(tri, faces, normal, f, k, g):
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _overlap_2d_mm(tri, faces, normal, f, g) -> float:
    """How far coplanar faces ``f`` and ``g`` reach into each other in the plane of ``f``,
    mm (separating axes: the six edge normals); <= 0 when apart."""
    nx, ny, nz = normal[f, 0], normal[f, 1], normal[f, 2]
    nlen = np.sqrt(nx * nx + ny * ny + nz * nz)
    nx, ny, nz = nx / nlen, ny / nlen, nz / nlen
    if abs(nx) < 0.9:
        hx, hy, hz = 1.0, 0.0, 0.0
    else:
        hx, hy, hz = 0.0, 1.0, 0.0
    ux, uy, uz = ny * hz - nz * hy, nz * hx - nx * hz, nx * hy - ny * hx
    ul = np.sqrt(ux * ux + uy * uy + uz * uz)
    ux, uy, uz = ux / ul, uy / ul, uz / ul
    wx, wy, wz = ny * uz - nz * uy, nz * ux - nx * uz, nx * uy - ny * ux
    pa = np.empty((3, 2))
    pb = np.empty((3, 2))
    for i in range(3):
        p = tri[f, i]
        pa[i, 0] = p[0] * ux + p[1] * uy + p[2] * uz
        pa[i, 1] = p[0] * wx + p[1] * wy + p[2] * wz
        q = tri[g, i]
        pb[i, 0] = q[0] * ux + q[1] * uy + q[2] * uz
        pb[i, 1] = q[0] * wx + q[1] * wy + q[2] * wz
    depth = np.inf
    for t in range(2):
        tri = pa if t == 0 else pb
        for k in range(3):
            ex = tri[(k + 1) % 3, 0] - tri[k, 0]
            ey = tri[(k + 1) % 3, 1] - tri[k, 1]
            ax, ay = -ey, ex
            al = max(np.sqrt(ax * ax + ay * ay), 1e-300)
            ax, ay = ax / al, ay / al
            amin, amax, bmin, bmax = np.inf, -np.inf, np.inf, -np.inf
            for i in range(3):
                sa = pa[i, 0] * ax + pa[i, 1] * ay
                sb = pb[i, 0] * ax + pb[i, 1] * ay
                amin, amax = min(amin, sa), max(amax, sa)
                bmin, bmax = min(bmin, sb), max(bmax, sb)
            depth = min(depth, min(amax - bmin, bmax - amin))
    return depth


@numba.njit(cache=True, nogil=True)
def coplanar_contact(tri, faces, normal, nlen, f, g) -> bool:
    """Whether faces ``f`` and ``g`` (no shared vertex) lie in one plane facing each other
    (``g``'s centroid within :data:`COPLANAR_MM` of ``f``'s plane) and overlap by more
    than :data:`MIN_OVERLAP_MM` in ``f``'s plane."""
    if nlen[f] <= 0.0 or nlen[g] <= 0.0:
        return False
    cos = (normal[f, 0] * normal[g, 0] + normal[f, 1] * normal[g, 1] + normal[f, 2] * normal[g, 2]) / (nlen[f] * nlen[g])
    if cos >= OPPOSED_COS:
        return False
    a = tri[f, 0]
    cx = cy = cz = 0.0
    for i in range(3):
        q = tri[g, i]
        cx += q[0]
        cy += q[1]
        cz += q[2]
    cx, cy, cz = cx / 3.0 - a[0], cy / 3.0 - a[1], cz / 3.0 - a[2]
    dist = abs(cx * normal[f, 0] + cy * normal[f, 1] + cz * normal[f, 2]) / nlen[f]
    if dist >= COPLANAR_MM:
        return False
    return _overlap_2d_mm(tri, faces, normal, f, g) > MIN_OVERLAP_MM


@numba.njit(cache=True, nogil=True)
def _straddles(tri, faces, normal, plane_d, f, g, depth) -> bool:
    """Whether face ``g`` has corners on both sides of face ``f``'s plane, each farther
    than ``depth`` times ``|normal[f]|`` from it (plane: ``normal[f] . x = plane_d[f]``)."""
    above = False
    below = False
    for k in range(3):
        d = tri[g, k, 0] * normal[f, 0] + tri[g, k, 1] * normal[f, 1] + tri[g, k, 2] * normal[f, 2] - plane_d[f]
        if d > depth:
            above = True
        elif d < -depth:
            below = True
    return above and below


@numba.njit(cache=True, nogil=True)
def _test_pair(tri, faces, normal, nlen, plane_d, sign, f, g, want_coplanar, write,
               cross_out, cross_at, cop_out, cop_at) -> tuple[int, int]:
    """Exact tests of one candidate pair; returns the (crossing, contact) records added."""
    shared = 0
    for p in range(3):
        for q in range(3):
            if faces[f, p] == faces[g, q]:
                shared += 1
    if shared >= 2:  # neighbours across an edge: every edge of one touches the other
        return 0, 0
    n_cross = 0
    n_cop = 0
    # an edge of g through f needs g's corners on both sides of f's plane, and the other way
    if _straddles(tri, faces, normal, plane_d, f, g, MIN_DEPTH_MM * nlen[f]) and _pierces(tri, faces, normal, g, f):
        if write:
            cross_out[cross_at, 0] = g
            cross_out[cross_at, 1] = f
        n_cross += 1
    if _straddles(tri, faces, normal, plane_d, g, f, MIN_DEPTH_MM * nlen[g]) and _pierces(tri, faces, normal, f, g):
        if write:
            cross_out[cross_at + n_cross, 0] = f
            cross_out[cross_at + n_cross, 1] = g
        n_cross += 1
    neg, pos = (f, g) if sign[f] < sign[g] else (g, f)
    if want_coplanar and shared == 0 and coplanar_contact(tri, faces, normal, nlen, neg, pos):
        if write:
            cop_out[cop_at, 0] = neg
            cop_out[cop_at, 1] = pos
        n_cop += 1
    return n_cross, n_cop


@numba.njit(cache=True, nogil=True)
def _scan_buckets(tri, faces, normal, nlen, plane_d, sign, bucket_start, entry_face, entry_key,
                  entry_flag, entry_box, b0, b1, want_coplanar, write, cross_out, cross_at, cop_out,
                  cop_at) -> tuple[int, int]:
    """Test every candidate pair of buckets ``b0..b1``; count (and when ``write``, store
    from ``cross_at`` / ``cop_at`` on) crossing pairs (piercing face, pierced face) and
    coplanar contacts (negative-side face, positive-side face). A pair of boxes that meet
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
                    nc, nq = _test_pair(tri, faces, normal, nlen, plane_d, sign, f, g, want_coplanar, write,
                                        cross_out, cross_at + n_cross, cop_out, cop_at + n_cop)
                    n_cross += nc
                    n_cop += nq
    return n_cross, n_cop


@numba.njit(cache=True, nogil=True, parallel=True)
def find_pairs(tri, faces, normal, nlen, plane_d, sign, bucket_start, entry_face, entry_key, entry_flag,
               entry_box, want_coplanar, n_chunks):
    """All crossing pairs and coplanar contacts among the binned faces.

    normal : (m, 3) float64 face cross products; nlen : (m,) float64 their lengths; plane_d : (m,)
    float64 ``normal . corner 0`` (each face's plane); sign :
    (m,) int8 orientation (+1/-1) of the unoriented plane; the rest from :func:`bin_faces`
    (entries sorted by :func:`sort_buckets_by_flag`). Returns (crossing (p, 2) int64 rows (piercing face,
    pierced face), contacts (q, 2) int64 rows (negative-side face, positive-side face)).
    numpy reading: for every pair of faces with overlapping boxes, the vectorized
    segment-triangle and coplanar-overlap tests of the pure-numpy versions.
    Two passes over chunks of buckets in parallel: count, then write where a chunk found any.
    """
    n_buckets = bucket_start.shape[0] - 1
    bounds = np.linspace(0, n_buckets, n_chunks + 1).astype(np.int64)
    counts = np.zeros((n_chunks, 2), dtype=np.int64)
    empty = np.zeros((0, 2), dtype=np.int64)
    for c in prange(n_chunks):
        nc, nq = _scan_buckets(tri, faces, normal, nlen, plane_d, sign, bucket_start, entry_face, entry_key,
                               entry_flag, entry_box, bounds[c], bounds[c + 1], want_coplanar,
                               False, empty, 0, empty, 0)
        counts[c, 0] = nc
        counts[c, 1] = nq
    cross_at = np.zeros(n_chunks + 1, dtype=np.int64)
    cop_at = np.zeros(n_chunks + 1, dtype=np.int64)
    for c in range(n_chunks):
        cross_at[c + 1] = cross_at[c] + counts[c, 0]
        cop_at[c + 1] = cop_at[c] + counts[c, 1]
    cross = np.empty((cross_at[n_chunks], 2), dtype=np.int64)
    cop = np.empty((cop_at[n_chunks], 2), dtype=np.int64)
    for c in prange(n_chunks):
        if counts[c, 0] + counts[c, 1] > 0:
            _scan_buckets(tri, faces, normal, nlen, plane_d, sign, bucket_start, entry_face, entry_key,
                          entry_flag, entry_box, bounds[c], bounds[c + 1], want_coplanar,
                          True, cross, cross_at[c], cop, cop_at[c])
    return cross, cop


@numba.njit(cache=True, nogil=True)
def _scratch():
    """Two-row frame arrays for :func:`_test_global` (made once per chunk of faces)."""
    return (np.empty((2, 3, 3)), np.empty((2, 3)), np.empty((2, 3)), np.empty((2, 3)), np.empty(2), np.empty(2),
            np.empty(2, dtype=np.int8), np.empty((2, 3), dtype=np.int64), np.empty((2, 2), dtype=np.int64),
            np.empty((1, 2), dtype=np.int64))


@numba.njit(cache=True, nogil=True)
def _test_global(vertices, faces, f, q, want_coplanar, write, cross_out, cross_at, cop_out, cop_at,
                 scratch) -> tuple[int, int]:
    """:func:`_test_pair` of faces ``f`` and ``q`` of the indexed mesh: their frames are
    made on the spot (two rows of ``scratch``), the records written with the mesh's ids."""
    tri, lo, hi, normal, nlen, plane_d, sign, two, cross, cop = scratch
    _frame(vertices, faces, f, 0, tri, lo, hi, normal, nlen, plane_d, sign)
    _frame(vertices, faces, q, 1, tri, lo, hi, normal, nlen, plane_d, sign)
    for c in range(3):
        two[0, c] = faces[f, c]
        two[1, c] = faces[q, c]
    nc, nq = _test_pair(tri, two, normal, nlen, plane_d, sign, 0, 1, want_coplanar, True, cross, 0, cop, 0)
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
def _query_range(vertices, faces, is_only, origin, cell_mm, bucket_start, entry_face, entry_key, entry_flag,
                 entry_box, table_bits, c_lo, c_hi, q0, q1, want_coplanar, write, cross_out, cross_at,
                 cop_out, cop_at) -> tuple[int, int]:
    """Faces ``q0..q1`` against the chosen faces binned in the grid (see :func:`query_pairs`)."""
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


@numba.njit(cache=True, nogil=True, parallel=True)
def query_pairs(vertices, faces, is_only, origin, cell_mm, bucket_start, entry_face, entry_key, entry_flag,
                entry_box, table_bits, c_lo, c_hi, want_coplanar, n_chunks):
    """Crossing pairs and coplanar contacts between every face and the chosen faces.

    vertices : (n, 3) float64 mm; faces : (m, 3) int64; is_only : (m,) bool the chosen
    faces, which alone are in the grid (``bucket_start`` .. ``entry_box`` from
    :func:`bin_faces`, entry faces as mesh face ids); ``c_lo``, ``c_hi`` : (3,) int64 the
    range of cells they touch. Every face looks up the cells its box touches and is tested
    against the chosen faces there, once per pair (the cell of the low corner of the two
    boxes' overlap; two chosen faces from the later one), its frame made on the spot.
    Returns (crossing (p, 2), contacts (q, 2)) int64 face ids as :func:`find_pairs`.
    numpy reading: the exact tests of every (face, chosen face) pair whose boxes meet.
    Two passes over chunks of faces in parallel: count, then write.
    """
    m = faces.shape[0]
    bounds = np.linspace(0, m, n_chunks + 1).astype(np.int64)
    counts = np.zeros((n_chunks, 2), dtype=np.int64)
    empty = np.zeros((0, 2), dtype=np.int64)
    for c in prange(n_chunks):
        nc, nq = _query_range(vertices, faces, is_only, origin, cell_mm, bucket_start, entry_face, entry_key,
                              entry_flag, entry_box, table_bits, c_lo, c_hi, bounds[c], bounds[c + 1],
                              want_coplanar, False, empty, 0, empty, 0)
        counts[c, 0] = nc
        counts[c, 1] = nq
    cross_at = np.zeros(n_chunks + 1, dtype=np.int64)
    cop_at = np.zeros(n_chunks + 1, dtype=np.int64)
    for c in range(n_chunks):
        cross_at[c + 1] = cross_at[c] + counts[c, 0]
        cop_at[c + 1] = cop_at[c] + counts[c, 1]
    cross = np.empty((cross_at[n_chunks], 2), dtype=np.int64)
    cop = np.empty((cop_at[n_chunks], 2), dtype=np.int64)
    for c in prange(n_chunks):
        if counts[c, 0] + counts[c, 1] > 0:
            _query_range(vertices, faces, is_only, origin, cell_mm, bucket_start, entry_face, entry_key,
                         entry_flag, entry_box, table_bits, c_lo, c_hi, bounds[c], bounds[c + 1],
                         want_coplanar, True, cross, cross_at[c], cop, cop_at[c])
    return cross, cop
