"""Compiled kernels of the coplanar-contact search (numba): faces binned by their plane
and place, and the exact tests of opposite-facing faces within a bin.

``vertices`` (n, 3) float64 mm, ``faces`` (m, 3) int64, ``normal`` (m, 3) float64 face
cross products, ``nlen`` (m,) their lengths, ``sign`` (m,) int8 orientation of the
unoriented plane (as in :mod:`printprep.mesh.intersect_kernels`).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from printprep.mesh import numba_start  # noqa: F401 - numba without scipy.linalg
from printprep.mesh.intersect_kernels import COPLANAR_MM, OPPOSED_COS, coplanar_contact

#: Bins of the unit normal: this many per unit of each canonical component.
NORMAL_BINS = 5.0


@numba.njit(cache=True, nogil=True, parallel=True)
def plane_keys(vertices, faces, centre, cell_mm):
    """The face normals and two 63-bit bin keys per face (the bin grid as is and shifted
    half a bin), in one pass over the faces.

    vertices : (n, 3) float64 mm; faces : (m, 3) int64; centre : (3,) float64 mm; cell_mm :
    the place bin. Returns normal (m, 3) float64 cross products, nlen (m,) float64 their
    lengths, sign (m,) int8 and keys (2, m) int64 (-1 for faces without a normal). The
    bin is the floor of (canonical unit normal x :data:`NORMAL_BINS`, plane offset about
    ``centre`` over 10 :data:`COPLANAR_MM`, centroid about ``centre`` over ``cell_mm``)
    plus the shift, hashed; the key's low bit is the orientation (1: ``sign`` > 0).
    numpy reading: ``hash(floor(concat(canon * 5, offset, centroid / cell) + shift))``.
    """
    m = faces.shape[0]
    normal = np.empty((m, 3))
    nlen = np.empty(m)
    sign = np.empty(m, dtype=np.int8)
    keys = np.empty((2, m), dtype=np.int64)
    for i in prange(m):
        a = vertices[faces[i, 0]]
        b = vertices[faces[i, 1]]
        c = vertices[faces[i, 2]]
        ux, uy, uz = b[0] - a[0], b[1] - a[1], b[2] - a[2]
        vx, vy, vz = c[0] - a[0], c[1] - a[1], c[2] - a[2]
        nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
        normal[i, 0], normal[i, 1], normal[i, 2] = nx, ny, nz
        ln = np.sqrt(nx * nx + ny * ny + nz * nz)
        nlen[i] = ln
        comp = nx if abs(nx) > 1e-6 * ln else (ny if abs(ny) > 1e-6 * ln else nz)
        sg = 1 if comp >= 0 else -1
        sign[i] = sg
        if ln <= 0.0:
            keys[0, i] = -1
            keys[1, i] = -1
            continue
        cx = (a[0] + b[0] + c[0]) / 3.0
        cy = (a[1] + b[1] + c[1]) / 3.0
        cz = (a[2] + b[2] + c[2]) / 3.0
        # divided, not multiplied by 1 / |n|: an axis-aligned normal comes out exactly 1.0,
        # on the bin border, the same for every such face
        ax, ay, az = nx / ln * sg, ny / ln * sg, nz / ln * sg
        offset = ax * (cx - centre[0]) + ay * (cy - centre[1]) + az * (cz - centre[2])
        for k in range(2):
            shift = 0.5 * k
            h = np.uint64(0)
            for v in (ax * NORMAL_BINS, ay * NORMAL_BINS, az * NORMAL_BINS, offset / (10.0 * COPLANAR_MM),
                      (cx - centre[0]) / cell_mm, (cy - centre[1]) / cell_mm, (cz - centre[2]) / cell_mm):
                q = np.int64(np.floor(v + shift))
                h = (h ^ np.uint64(q)) * np.uint64(0x9E3779B97F4A7C15)
            keys[k, i] = (np.int64(h >> np.uint64(2)) << 1) | (1 if sg > 0 else 0)
    return normal, nlen, sign, keys


@numba.njit(cache=True, nogil=True)
def _contact(vertices, faces, normal, nlen, f, g) -> bool:
    """:func:`coplanar_contact` of faces ``f`` and ``g`` of an indexed mesh (their
    corners gathered into a two-face soup: candidates are few). The two cheap refusals of
    :func:`coplanar_contact` (not facing each other; ``g``'s centroid off ``f``'s plane)
    are made first on the mesh itself, before anything is gathered."""
    if nlen[f] <= 0.0 or nlen[g] <= 0.0:
        return False
    cos = (normal[f, 0] * normal[g, 0] + normal[f, 1] * normal[g, 1] + normal[f, 2] * normal[g, 2]) / (nlen[f] * nlen[g])
    if cos >= OPPOSED_COS:
        return False
    a = faces[f, 0]
    cx = cy = cz = 0.0
    for i in range(3):
        q = faces[g, i]
        cx += vertices[q, 0]
        cy += vertices[q, 1]
        cz += vertices[q, 2]
    cx, cy, cz = cx / 3.0 - vertices[a, 0], cy / 3.0 - vertices[a, 1], cz / 3.0 - vertices[a, 2]
    if abs(cx * normal[f, 0] + cy * normal[f, 1] + cz * normal[f, 2]) / nlen[f] >= COPLANAR_MM:
        return False
    tri = np.empty((2, 3, 3))
    nrm = np.empty((2, 3))
    ln = np.empty(2)
    for t in range(2):
        h = f if t == 0 else g
        for c in range(3):
            for a in range(3):
                tri[t, c, a] = vertices[faces[h, c], a]
            nrm[t, c] = normal[h, c]
        ln[t] = nlen[h]
    return coplanar_contact(tri, faces, nrm, ln, 0, 1)


@numba.njit(cache=True, nogil=True)
def two_sided(keys: np.ndarray, table_bits: int) -> np.ndarray:
    """The keys of faces whose bucket (the top ``table_bits`` bits of the key, as in
    :func:`bucket_by_key`) holds faces of both orientations (low bit 0 and 1), -1 for the
    others: only those can have a contact. One pass over a byte per bucket (small enough to
    stay in cache) per row of ``keys`` (r, m) int64. numpy reading::

        b = keys >> (63 - table_bits); seen = zeros((r, 2**table_bits), uint8)
        seen[row, b] |= 1 << (keys & 1)        # for keys >= 0
        where((keys >= 0) & (seen[row, b] == 3), keys, -1)

    Returns (r, m) int64."""
    out = np.full(keys.shape, -1, dtype=np.int64)
    seen = np.zeros(1 << table_bits, dtype=np.uint8)
    for r in range(keys.shape[0]):
        seen[:] = 0
        for i in range(keys.shape[1]):
            k = keys[r, i]
            if k >= 0:
                seen[k >> (63 - table_bits)] |= np.uint8(1) << np.uint8(k & 1)
        for i in range(keys.shape[1]):
            k = keys[r, i]
            if k >= 0 and seen[k >> (63 - table_bits)] == 3:
                out[r, i] = k
    return out


@numba.njit(cache=True, nogil=True)
def bucket_by_key(keys: np.ndarray, table_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counting sort of the items with a key >= 0 into ``2**table_bits`` buckets (top bits
    of the key), each bucket then sorted by the whole key (so the faces of one bin lie
    together, one orientation after the other). Returns (bucket_start (2**table_bits + 1,)
    int64, items (k,) int64, item_key (k,) int64 their keys in the same order, for reading
    in sequence). numpy reading: ``items = argsort(keys, kind="stable")`` without the -1
    keys."""
    n_buckets = 1 << table_bits
    count = np.zeros(n_buckets + 1, dtype=np.int64)
    for i in range(keys.shape[0]):
        if keys[i] >= 0:
            count[(keys[i] >> (63 - table_bits)) + 1] += 1
    for b in range(n_buckets):
        count[b + 1] += count[b]
    fill = count[:-1].copy()
    items = np.empty(count[n_buckets], dtype=np.int64)
    item_key = np.empty(count[n_buckets], dtype=np.int64)
    for i in range(keys.shape[0]):
        if keys[i] >= 0:
            b = keys[i] >> (63 - table_bits)
            items[fill[b]] = i
            item_key[fill[b]] = keys[i]
            fill[b] += 1
    for b in range(n_buckets):  # insertion sort by key (stable): buckets are short
        for i in range(count[b] + 1, count[b + 1]):
            k = item_key[i]
            it = items[i]
            j = i - 1
            while j >= count[b] and item_key[j] > k:
                item_key[j + 1] = item_key[j]
                items[j + 1] = items[j]
                j -= 1
            item_key[j + 1] = k
            items[j + 1] = it
    return count, items, item_key


@numba.njit(cache=True, nogil=True)
def scan_contacts(vertices, faces, normal, nlen, sign, start, items, item_key, b0, b1, write, out, at) -> int:
    """Contacts among the items of buckets ``b0..b1``: faces of one bin and opposite sign
    (keys differing in the low bit only) that pass the exact test, as rows (negative-side
    face, positive-side face) stored from ``at`` on when ``write``. Returns the count.
    ``start``, ``items``, ``item_key`` from :func:`bucket_by_key`. The items of a bin with
    both orientations get their bounding box and reach (largest distance of a corner from
    the centroid) first: pairs whose boxes lie farther apart than
    :func:`contact_gap_mm` cannot touch and skip the exact test (nine in ten of the
    band's same-bin pairs). Run over all buckets by
    :func:`printprep.mesh.chunks.two_pass` (threads: the function holds no GIL). numpy
    reading: every same-bin pair of opposite sign through the exact test."""
    n = 0
    first = start[b0]
    box = np.empty((start[b1] - first, 7))  # rows of this call's items: lo, hi, reach
    for b in range(b0, b1):
        s = start[b]
        e = start[b + 1]
        if e - s < 2:
            continue
        low_or = 0
        low_and = 1
        for i in range(s, e):
            low_or |= item_key[i] & 1
            low_and &= item_key[i] & 1
        if low_or == low_and:  # one orientation only: a flat region seen from one side
            continue
        for i in range(s, e):
            _item_box(vertices, faces, items[i], box, i - first)
        # sorted by key: a bin's faces of one orientation (low bit 0), then of the other
        i = s
        while i < e:
            ki = item_key[i]
            run = i
            while run < e and item_key[run] == ki:
                run += 1
            if ki & 1 == 1:
                i = run
                continue
            other = run
            while other < e and item_key[other] == ki + 1:
                other += 1
            for a in range(i, run):
                for j in range(run, other):
                    if _apart(box, a - first, j - first):
                        continue
                    n += _record_contact(vertices, faces, normal, nlen, sign, items[a], items[j], write, out, at + n)
            i = run
    return n


@numba.njit(cache=True, nogil=True, inline="always")
def contact_gap_mm(reach_mm: float) -> float:
    """How far apart (per axis) the bounding boxes of two faces in contact can lie, mm,
    for the larger ``reach_mm`` of the two (corner distance from the centroid).

    A contact (:func:`coplanar_contact`) has the two faces' projections on ``f``'s plane
    overlapping: some point q of g lies on the normal through a point p of f, at
    |q - p| = distance of q from f's plane <= (distance of g's centroid,
    < :data:`COPLANAR_MM`) + reach x |n_f + n_g| (unit normals, their cosine below
    OPPOSED_COS = -0.9999: |n_f + n_g| = sqrt(2 + 2 cos) < 0.01415). Twice that bound, for
    rounding."""
    return 2.0 * (COPLANAR_MM + 0.01415 * reach_mm) + 1e-9


@numba.njit(cache=True, nogil=True, inline="always")
def _item_box(vertices, faces, f: int, box, row: int) -> None:
    """Row ``row`` of ``box``: face ``f``'s bounding box (lo x, y, z, hi x, y, z, mm) and
    reach (largest distance of a corner from its centroid, mm)."""
    for k in range(3):
        x0 = vertices[faces[f, 0], k]
        x1 = vertices[faces[f, 1], k]
        x2 = vertices[faces[f, 2], k]
        box[row, k] = min(x0, min(x1, x2))
        box[row, k + 3] = max(x0, max(x1, x2))
    reach2 = 0.0
    for c in range(3):
        d2 = 0.0
        for k in range(3):
            centre = (vertices[faces[f, 0], k] + vertices[faces[f, 1], k] + vertices[faces[f, 2], k]) / 3.0
            d = vertices[faces[f, c], k] - centre
            d2 += d * d
        reach2 = max(reach2, d2)
    box[row, 6] = np.sqrt(reach2)


@numba.njit(cache=True, nogil=True, inline="always")
def _apart(box, a: int, j: int) -> bool:
    """Whether items ``a`` and ``j`` lie farther apart on some axis than two faces in
    contact can (:func:`contact_gap_mm`)."""
    gap = contact_gap_mm(max(box[a, 6], box[j, 6]))
    for k in range(3):
        if box[j, k] - box[a, k + 3] > gap or box[a, k] - box[j, k + 3] > gap:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _record_contact(vertices, faces, normal, nlen, sign, f, g, write, out, at) -> int:
    """1 when faces ``f`` and ``g`` (one bin, opposite orientations) share no vertex and
    pass :func:`_contact` (stored as (negative-side, positive-side) at row ``at`` of
    ``out`` when ``write``), else 0."""
    for p in range(3):
        for q in range(3):
            if faces[f, p] == faces[g, q]:
                return 0
    neg, pos = (f, g) if sign[f] < sign[g] else (g, f)
    if not _contact(vertices, faces, normal, nlen, neg, pos):
        return 0
    if write:
        out[at, 0] = neg
        out[at, 1] = pos
    return 1

