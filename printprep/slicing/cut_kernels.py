"""numba kernel cutting a closed triangle mesh at many heights in one pass
(:func:`printprep.slicing.cut.cut_layers`).

manifold3d's ``slice`` walks every triangle for every layer (~7 ms a layer on a
1.35M-triangle band, holding the GIL); here the triangles are bucketed by the layers
they span once, and each layer is cut from its own few thousand triangles (two threads
run halves of the layers: a serial kernel compiles in seconds, a parallel one took 16 s).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def face_layers(verts: np.ndarray, faces: np.ndarray, zs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The layers each triangle spans: (lo (f,), hi (f,)) int64, the triangle is cut by
    the planes lo <= i < hi. verts : (v, 3) float64 mm; faces : (f, 3) int64; zs : (n,)
    float64 ascending. A vertex is below a plane when its z < the plane's z (on the
    plane counts as above), so a triangle is cut by the planes with zmin < z <= zmax.
    In numpy: ``searchsorted(zs, zmin, 'right')`` and ``searchsorted(zs, zmax, 'right')``.
    """
    f = faces.shape[0]
    lo = np.empty(f, np.int64)
    hi = np.empty(f, np.int64)
    for k in range(f):
        a, b, c = faces[k, 0], faces[k, 1], faces[k, 2]
        za, zb, zc = verts[a, 2], verts[b, 2], verts[c, 2]
        lo[k] = np.searchsorted(zs, min(za, min(zb, zc)), side="right")
        hi[k] = np.searchsorted(zs, max(za, max(zb, zc)), side="right")
    return lo, hi


@numba.njit(cache=True, nogil=True)
def bucket_faces(lo: np.ndarray, hi: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The triangles of each wanted layer from :func:`face_layers`' ranges: (start (n + 1,),
    ids (s,)) int64, layer i's triangles ids[start[i]:start[i + 1]] in face order (none
    for layers where ``want`` (n,) bool is False). In numpy: layer i holds the faces with
    lo <= i < hi, where want[i]."""
    n = want.shape[0]
    f = lo.shape[0]
    count = np.zeros(n + 1, np.int64)
    for k in range(f):
        for i in range(lo[k], hi[k]):
            if want[i]:
                count[i + 1] += 1
    for i in range(n):
        count[i + 1] += count[i]
    ids = np.empty(count[n], np.int64)
    fill = count[:n].copy()
    for k in range(f):
        for i in range(lo[k], hi[k]):
            if want[i]:
                ids[fill[i]] = k
                fill[i] += 1
    return count, ids


@numba.njit(cache=True, nogil=True)
def layer_faces(verts: np.ndarray, faces: np.ndarray, zs: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The triangles each wanted layer cuts: :func:`bucket_faces` of :func:`face_layers`.
    Returns (start (n + 1,) int64, face ids (s,) int64)."""
    lo, hi = face_layers(verts, faces, zs)
    return bucket_faces(lo, hi, want)


@numba.njit(cache=True, nogil=True)
def _crossing(verts: np.ndarray, u: int, v: int, z: float) -> tuple[float, float]:
    """Where the plane at ``z`` cuts the edge (u, v), from its lower end (the same
    point from either triangle of the edge)."""
    if verts[u, 2] > verts[v, 2]:
        u, v = v, u
    za, zb = verts[u, 2], verts[v, 2]
    t = (z - za) / (zb - za)
    return verts[u, 0] + t * (verts[v, 0] - verts[u, 0]), verts[u, 1] + t * (verts[v, 1] - verts[u, 1])


@numba.njit(cache=True, nogil=True)
def _cut_one(
    verts: np.ndarray, faces: np.ndarray, ids: np.ndarray, z: float, nverts: int,
    pts: np.ndarray, ring_len: np.ndarray,
) -> int:
    """Cut the triangles ``ids`` at ``z`` and chain the segments into rings: writes one
    point per segment into pts (len(ids), 2) in ring order and the ring lengths into
    ring_len; returns the number of rings."""
    m = ids.shape[0]
    start_key = np.empty(m, np.int64)
    end_key = np.empty(m, np.int64)
    sx = np.empty(m, np.float64)
    sy = np.empty(m, np.float64)
    for j in range(m):
        k = ids[j]
        up_u = up_v = dn_u = dn_v = -1
        for e in range(3):
            u = faces[k, e]
            v = faces[k, (e + 1) % 3]
            bu = verts[u, 2] < z
            bv = verts[v, 2] < z
            if bu and not bv:
                up_u, up_v = u, v
            elif bv and not bu:
                dn_u, dn_v = u, v
        # outward triangles, counter-clockwise: the section runs from where the walk
        # round the triangle comes down through the plane to where it goes up, which
        # leaves the solid on the left (outer rings counter-clockwise, holes clockwise)
        x, y = _crossing(verts, dn_u, dn_v, z)
        sx[j] = x
        sy[j] = y
        start_key[j] = min(dn_u, dn_v) * nverts + max(dn_u, dn_v)
        end_key[j] = min(up_u, up_v) * nverts + max(up_u, up_v)
    # each segment's successor starts on the edge it ends on: an open-addressing table
    # of start edges (a closed mesh has one segment starting on each crossed edge)
    bits = 1
    while (1 << bits) < 2 * m:
        bits += 1
    size = 1 << bits
    table_k = np.full(size, -1, np.int64)
    table_v = np.empty(size, np.int64)
    for j in range(m):
        h = _slot(start_key[j], bits)
        while table_k[h] != -1:
            h = (h + 1) & (size - 1)
        table_k[h] = start_key[j]
        table_v[h] = j
    used = np.zeros(m, np.bool_)
    p = 0
    rings = 0
    for j0 in range(m):
        if used[j0]:
            continue
        j = j0
        n = 0
        while not used[j]:
            used[j] = True
            pts[p, 0] = sx[j]
            pts[p, 1] = sy[j]
            p += 1
            n += 1
            key = end_key[j]
            h = _slot(key, bits)
            while table_k[h] != -1 and table_k[h] != key:
                h = (h + 1) & (size - 1)
            if table_k[h] != key:
                break  # an open chain (not a closed mesh): ends here
            j = table_v[h]
        ring_len[rings] = n
        rings += 1
    _canonical(pts[:p], ring_len[:rings])
    return rings


@numba.njit(cache=True, nogil=True)
def _canonical(pts: np.ndarray, ring_len: np.ndarray) -> None:
    """Put a layer's rings in a canonical form, in place: each ring starts at its lowest
    vertex (lowest x, then lowest y, the first of equal ones) and the rings are sorted by
    that vertex (x, then y; equal ones keep their order). The same cross-section cut from
    two meshes that list its triangles differently (a support plan rebuilt, a union)
    gives the same arrays."""
    r = ring_len.shape[0]
    if r == 0:
        return
    off = np.zeros(r + 1, np.int64)
    for k in range(r):
        off[k + 1] = off[k] + ring_len[k]
    first = np.empty(r, np.int64)
    fx = np.empty(r, np.float64)
    fy = np.empty(r, np.float64)
    for k in range(r):
        best = off[k]
        for q in range(off[k] + 1, off[k + 1]):
            if pts[q, 0] < pts[best, 0] or (pts[q, 0] == pts[best, 0] and pts[q, 1] < pts[best, 1]):
                best = q
        first[k] = best
        fx[k] = pts[best, 0]
        fy[k] = pts[best, 1]
    by_y = np.argsort(fy, kind="mergesort")
    order = by_y[np.argsort(fx[by_y], kind="mergesort")]
    out = np.empty_like(pts)
    lens = ring_len.copy()
    p = 0
    for t in range(r):
        k = order[t]
        n = lens[k]
        for q in range(n):
            src = first[k] + q
            if src >= off[k + 1]:
                src -= n
            out[p, 0] = pts[src, 0]
            out[p, 1] = pts[src, 1]
            p += 1
        ring_len[t] = n
    pts[:, :] = out


@numba.njit(cache=True, nogil=True)
def _slot(key: int, bits: int) -> int:
    """Fibonacci hashing of an edge key into a table of 2**bits slots."""
    # 0x9E3779B97F4A7C15 as a signed 64-bit integer; the product wraps, the mask keeps
    # the top bits' slot non-negative
    return ((key * np.int64(-7046029254386353131)) >> (64 - bits)) & ((1 << bits) - 1)


@numba.njit(cache=True, nogil=True)
def cut_rings_into(
    verts: np.ndarray, faces: np.ndarray, zs: np.ndarray, start: np.ndarray, ids: np.ndarray,
    i0: int, i1: int, pts: np.ndarray, ring_len: np.ndarray, rings: np.ndarray,
) -> None:
    """Cross-sections of a closed mesh at every height, as rings.

    verts : (v, 3) float64 mm; faces : (f, 3) int64, outward, counter-clockwise;
    zs : (n,) float64; start, ids : :func:`layer_faces`. Fills layers i0 <= i < i1 of
    pts (s, 2) float64 mm, ring_len (s,) int64 and rings (n,) int64: layer i's points go
    to pts[start[i]:start[i+1]] in ring order, its ring lengths to
    ring_len[start[i]:start[i] + rings[i]]. No GIL: callers run layer ranges on several
    threads (a serial kernel compiles in a fraction of a parallel one's time).
    In numpy terms, for each triangle with vertices on both sides of z (below: z_v < z)
    the segment from the crossing of the edge that goes down through the plane
    (walking a -> b -> c) to the crossing of the edge that goes up, each crossing
    ``p_lo + (z - z_lo) / (z_hi - z_lo) * (p_hi - p_lo)`` from the edge's lower end;
    segments chained where one's end edge is the next one's start edge. A ring lists its
    segments' start points; outer rings run counter-clockwise, holes clockwise (as
    manifold3d's ``slice(z).to_polygons()``); each ring starts at its lowest (x, then y)
    vertex and a layer's rings are sorted by it.
    """
    nverts = verts.shape[0]
    for i in range(i0, i1):
        a, b = start[i], start[i + 1]
        if b > a:
            rings[i] = _cut_one(verts, faces, ids[a:b], zs[i], nverts, pts[a:b], ring_len[a:b])
