"""Compiled kernels of the mesh topology (numba): the edge table, connected components by
union-find, and orientation by union-find with parity.

Each kernel is one pass (or two) over the half-edges instead of a chain of sorts and
sparse-matrix builds. A half-edge ``h`` belongs to face ``h // 3`` and runs from
``faces[h // 3, h % 3]`` to ``faces[h // 3, (h + 1) % 3]`` (as in :mod:`topology`).
Union-find forests hold int32 node ids (half the memory traffic of int64): callers keep
node counts below :data:`MAX_NODES` (3 × 715M corners; the load limit is 20M triangles).
Compiled on first use and cached in ``__pycache__`` (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

from printprep.mesh import numba_start  # noqa: F401 - numba without scipy.linalg

_NJIT = {"cache": True, "nogil": True}

#: Most nodes a union-find forest here may hold (int32 ids).
MAX_NODES = 2**31 - 1


@numba.njit(**_NJIT)
def edge_table(faces: np.ndarray, n_vertices: int):  # pragma: no cover - compiled
    """Group the half-edges of ``faces`` (m, 3) int64 by undirected edge.

    Half-edges are bucketed by their smaller vertex (a counting sort), and each bucket
    (a vertex's few edges) is insertion-sorted by the larger vertex, then by half-edge id.
    The result is exactly the grouping of a stable sort by the key ``lo * n + hi``::

        lo, hi = np.minimum(src, dst), np.maximum(src, dst)
        he_sorted = np.argsort(lo * n + hi, kind="stable")

    Each half-edge is carried as one word, its larger vertex in the high 32 bits and its
    id in the low 32 (so vertex ids below 2**31 and 3m below 2**32: :func:`topology.edge_info`
    checks). Returns (he_sorted (3m,) int64, edge_start (e,) int64, edge_count (e,) int64,
    edge_vertices (e, 2) int64 (smaller first), half-edges from a vertex to itself (faces
    that use a vertex twice have one)); the start vertex of half-edge ``h`` is
    ``faces.reshape(-1)[h]`` (no copy made here).
    """
    m = faces.shape[0]
    n_he = 3 * m
    start = np.zeros(n_vertices + 1, np.int64)
    n_loops = 0
    for f in range(m):
        for k in range(3):
            a = faces[f, k]
            b = faces[f, (k + 1) % 3]
            start[min(a, b) + 1] += 1
            if a == b:
                n_loops += 1
    for v in range(n_vertices):
        start[v + 1] += start[v]
    cursor = start[:-1].copy()
    # scatter (hi, h) into the buckets once, packed in one word (hi above, h below: the
    # word orders like (hi, h)); everything after reads them in order
    packed = np.empty(n_he, np.int64)
    for f in range(m):  # ascending h: each bucket holds its half-edges in id order
        for k in range(3):
            a = faces[f, k]
            b = faces[f, (k + 1) % 3]
            lo_v = min(a, b)
            pos = cursor[lo_v]
            cursor[lo_v] = pos + 1
            packed[pos] = (max(a, b) << 32) | (3 * f + k)
    # insertion sort of each bucket by (hi, h); buckets are short
    n_edges = 0
    for v in range(n_vertices):
        s, e = start[v], start[v + 1]
        for i in range(s + 1, e):
            key = packed[i]
            j = i - 1
            while j >= s and packed[j] > key:
                packed[j + 1] = packed[j]
                j -= 1
            packed[j + 1] = key
        for i in range(s, e):
            if i == s or (packed[i] >> 32) != (packed[i - 1] >> 32):
                n_edges += 1
    edge_start = np.empty(n_edges, np.int64)
    edge_count = np.empty(n_edges, np.int64)
    edge_vertices = np.empty((n_edges, 2), np.int64)
    e_id = -1
    low = np.int64(0xFFFFFFFF)
    for v in range(n_vertices):
        prev_hi = -1
        for i in range(start[v], start[v + 1]):
            hi = packed[i] >> 32
            if i == start[v] or hi != prev_hi:
                e_id += 1
                edge_start[e_id] = i
                edge_count[e_id] = 0
                edge_vertices[e_id, 0] = v
                edge_vertices[e_id, 1] = hi
            prev_hi = hi
            edge_count[e_id] += 1
            packed[i] = packed[i] & low  # the half-edge id, in place
    he_sorted = packed
    return he_sorted, edge_start, edge_count, edge_vertices, n_loops


@numba.njit(**_NJIT, inline="always")
def _find(parent: np.ndarray, x: int) -> int:  # pragma: no cover - compiled
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving
        x = parent[x]
    return x


@numba.njit(**_NJIT)
def component_labels(n: int, u: np.ndarray, v: np.ndarray):  # pragma: no cover - compiled
    """Connected components of the undirected graph on ``n`` nodes with edges (u[i], v[i]).

    u, v : (p,) int64 node ids. Union-find with path halving; the root of a component is
    its smallest node, and labels are numbered in the order of those smallest nodes, as
    ``scipy.sparse.csgraph.connected_components(..., directed=False)`` numbers them.
    Returns (count, labels (n,) int64).
    """
    parent = np.arange(n, dtype=np.int32)  # int32: half the memory traffic
    for i in range(u.shape[0]):
        a = _find(parent, u[i])
        b = _find(parent, v[i])
        if a < b:
            parent[b] = a
        elif b < a:
            parent[a] = b
    return _labels(parent)


@numba.njit(**_NJIT)
def _find_parity(parent: np.ndarray, parity: np.ndarray, x: int):  # pragma: no cover - compiled
    """Root of ``x`` and the parity of ``x`` to it; the path is compressed onto the root
    (each node's parity then relative to the root)."""
    r = x
    p = 0
    while parent[r] != r:
        p ^= parity[r]
        r = parent[r]
    px = p
    while parent[x] != x:  # second walk: point every node of the path at the root
        nxt = parent[x]
        p_next = px ^ parity[x]
        parent[x] = r
        parity[x] = px
        x = nxt
        px = p_next
    return r, p


@numba.njit(**_NJIT)
def orient_parity(n: int, ha: np.ndarray, hb: np.ndarray, same_dir: np.ndarray):  # pragma: no cover - compiled
    """Flips that make the winding consistent across manifold edges, by union-find with
    parity.

    ha, hb : (p,) int64 the two half-edges of each manifold edge (faces ``ha // 3`` and
    ``hb // 3``); same_dir : (p,) bool they run the edge the same way (one of the two
    faces must flip). The smallest face of each
    patch keeps its winding; ``flip[f]`` is the parity of ``f`` to it. A patch whose
    constraints contradict each other (non-orientable, e.g. a Möbius strip) is left as
    it is (no flips). The forest's trees are the manifold patches, labelled on the way
    (numbered by each patch's smallest face, as :func:`component_labels` numbers them).
    numpy reading: the double cover of :func:`topology.orient_faces`; the patches are
    ``component_labels(n, ha // 3, hb // 3)``.
    Returns (flip (n,) bool, non-orientable patches, n_patches, patch labels (n,) int64).
    """
    parent = np.arange(n, dtype=np.int32)  # int32: half the memory traffic
    parity = np.zeros(n, np.uint8)  # parity of a node relative to its parent
    bad = np.zeros(n, np.bool_)
    for i in range(ha.shape[0]):
        a, pa = _find_parity(parent, parity, ha[i] // 3)
        b, pb = _find_parity(parent, parity, hb[i] // 3)
        s = 1 if same_dir[i] else 0
        if a == b:
            if (pa ^ pb) != s:
                bad[a] = True
        elif a < b:
            parent[b] = a
            parity[b] = pa ^ pb ^ s
            bad[a] = bad[a] or bad[b]
        else:
            parent[a] = b
            parity[a] = pa ^ pb ^ s
            bad[b] = bad[a] or bad[b]
    flip = np.zeros(n, np.bool_)
    labels = np.empty(n, np.int64)
    n_bad = 0
    n_patches = 0
    for x in range(n):
        r, p = _find_parity(parent, parity, x)
        if r == x:  # a root is its tree's smallest face: met before the rest of it
            labels[x] = n_patches
            n_patches += 1
            if bad[x]:
                n_bad += 1
        else:
            labels[x] = labels[r]
        flip[x] = (p == 1) and not bad[r]
    return flip, n_bad, n_patches, labels


@numba.njit(**_NJIT)
def consecutive_pairs(he_sorted: np.ndarray, edge_start: np.ndarray, edge_count: np.ndarray, manifold_only: bool):  # pragma: no cover - compiled
    """Face pairs that share an edge: (fa (p,) int64, fb (p,) int64).

    manifold_only : only edges used by exactly two faces; else consecutive half-edges of
    every edge (a chain through the faces around a non-manifold edge).
    """
    n = 0
    for e in range(edge_start.shape[0]):
        c = edge_count[e]
        if manifold_only:
            n += 1 if c == 2 else 0
        elif c > 1:
            n += c - 1
    fa = np.empty(n, np.int64)
    fb = np.empty(n, np.int64)
    i = 0
    for e in range(edge_start.shape[0]):
        c = edge_count[e]
        if (manifold_only and c != 2) or c < 2:
            continue
        s = edge_start[e]
        for j in range(c - 1):
            fa[i] = he_sorted[s + j] // 3
            fb[i] = he_sorted[s + j + 1] // 3
            i += 1
    return fa, fb


@numba.njit(**_NJIT)
def _union(parent: np.ndarray, a: int, b: int) -> None:  # pragma: no cover - compiled
    """Join the sets of ``a`` and ``b``; the smaller root becomes the root."""
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra < rb:
        parent[rb] = ra
    elif rb < ra:
        parent[ra] = rb


@numba.njit(**_NJIT)
def _labels(parent: np.ndarray):  # pragma: no cover - compiled
    """(count, labels) of a union-find forest, numbered by each set's smallest node."""
    n = parent.shape[0]
    labels = np.empty(n, np.int64)
    count = 0
    for x in range(n):
        r = _find(parent, x)
        if r == x:
            labels[x] = count
            count += 1
        else:
            labels[x] = labels[r]
    return count, labels


@numba.njit(**_NJIT)
def fans_and_patches(he_sorted: np.ndarray, edge_start: np.ndarray, edge_count: np.ndarray, src: np.ndarray, n_faces: int,
                     fan_labels: bool = True, patches_too: bool = True):  # pragma: no cover - compiled
    """Fans around vertices and manifold patches, from the manifold (two-face) edges.

    Corner ``c`` (= half-edge ``c``) is the start vertex of half-edge ``c``. Across each
    manifold edge the two faces' corners at the same vertex are joined (the ends of the
    edge: a consistent pair runs it opposite ways, an inconsistent pair the same way), and
    the two faces are joined. numpy reading (with :func:`component_labels`)::

        a, b = he_sorted[edge_start[c2]], he_sorted[edge_start[c2] + 1]   # c2: count == 2
        nxt = lambda h: 3 * (h // 3) + (h % 3 + 1) % 3
        same = src[a] == src[b]
        u = [a, nxt(a)]; v = [where(same, b, nxt(b)), where(same, nxt(b), b)]
        fans = component_labels(3 m, u, v); patches = component_labels(m, a // 3, b // 3)

    Returns (n_fans, fan label (3m,) int64, n_patches, patch label (m,) int64); with
    ``fan_labels`` False the fans are only counted (their roots) and the fan labels come
    back empty (0,); with ``patches_too`` False the patches are left to the caller (who
    has them from :func:`orient_parity`): 0 and empty (0,).
    """
    corner_parent = np.arange(3 * n_faces, dtype=np.int32)  # int32: half the memory traffic
    face_parent = np.arange(n_faces if patches_too else 0, dtype=np.int32)
    for e in range(edge_start.shape[0]):
        if edge_count[e] != 2:
            continue
        a = he_sorted[edge_start[e]]
        b = he_sorted[edge_start[e] + 1]
        a_next = 3 * (a // 3) + (a % 3 + 1) % 3
        b_next = 3 * (b // 3) + (b % 3 + 1) % 3
        if src[a] == src[b]:
            _union(corner_parent, a, b)
            _union(corner_parent, a_next, b_next)
        else:
            _union(corner_parent, a, b_next)
            _union(corner_parent, a_next, b)
        if patches_too:
            _union(face_parent, a // 3, b // 3)
    if fan_labels:
        n_fans, fans = _labels(corner_parent)
    else:  # a forest has one root per tree
        n_fans = 0
        for x in range(corner_parent.shape[0]):
            if corner_parent[x] == x:
                n_fans += 1
        fans = np.zeros(0, np.int64)
    n_patches, patches = _labels(face_parent)  # (0, empty without patches_too)
    return n_fans, fans, n_patches, patches


@numba.njit(**_NJIT)
def _edge_at_or_after(edge_vertices: np.ndarray, lo: int, hi: int) -> int:  # pragma: no cover - compiled
    """First edge whose (smaller, larger) vertex pair is >= (lo, hi): binary search over
    ``edge_vertices`` (e, 2) int64 sorted by (lo, hi)."""
    a = 0
    b = edge_vertices.shape[0]
    while a < b:
        mid = (a + b) // 2
        if edge_vertices[mid, 0] < lo or (edge_vertices[mid, 0] == lo and edge_vertices[mid, 1] < hi):
            a = mid + 1
        else:
            b = mid
    return a


@numba.njit(**_NJIT)
def append_edges(he_sorted: np.ndarray, edge_start: np.ndarray, edge_count: np.ndarray, edge_vertices: np.ndarray,
                 new_lo: np.ndarray, new_hi: np.ndarray, new_he: np.ndarray):  # pragma: no cover - compiled
    """The edge table of a mesh after faces were appended, merged from the old table
    and the new faces' half-edges (no sort of the whole mesh).

    he_sorted, edge_start, edge_count, edge_vertices : the :func:`edge_table` of the
    first faces; new_lo, new_hi, new_he : (k,) int64 the appended faces' half-edges (ids
    above every old one) sorted by (lo, hi, id). Each run of new half-edges on one edge
    finds its place among the old edges by binary search; the old table between two
    places is copied in blocks. The result is exactly :func:`edge_table` of all faces
    (edges by (lo, hi), an edge's half-edges by id)::

        edge_table(np.concatenate([old_faces, new_faces]), n)[:4]

    Returns (he_sorted, edge_start, edge_count, edge_vertices).
    """
    n_old = edge_start.shape[0]
    n_he_old = he_sorted.shape[0]
    k = new_he.shape[0]
    # runs of new half-edges on one edge: where each goes, and whether its edge is old
    run_at = np.empty(k + 1, np.int64)  # first new half-edge of each run
    run_edge = np.empty(k, np.int64)  # the old edge it joins, or the old edge it precedes
    run_old = np.empty(k, np.bool_)
    n_runs = 0
    n_new_edges = 0
    j = 0
    while j < k:
        lo, hi = new_lo[j], new_hi[j]
        e = _edge_at_or_after(edge_vertices, lo, hi)
        run_at[n_runs] = j
        run_edge[n_runs] = e
        old = e < n_old and edge_vertices[e, 0] == lo and edge_vertices[e, 1] == hi
        run_old[n_runs] = old
        if not old:
            n_new_edges += 1
        n_runs += 1
        while j < k and new_lo[j] == lo and new_hi[j] == hi:
            j += 1
    run_at[n_runs] = k
    n_edges = n_old + n_new_edges
    out_he = np.empty(n_he_old + k, np.int64)
    out_start = np.empty(n_edges, np.int64)
    out_count = np.empty(n_edges, np.int64)
    out_v = np.empty((n_edges, 2), np.int64)
    e_done = 0  # old edges copied
    out_e = 0  # edges written
    pos = 0  # half-edges written
    for r in range(n_runs + 1):
        e_to = run_edge[r] if r < n_runs else n_old
        if r < n_runs and run_old[r]:
            e_to += 1  # the joined edge is copied with the block, then extended
        # the block of old edges e_done..e_to, shifted by the half-edges inserted so far
        if e_to > e_done:
            h0 = edge_start[e_done]
            h1 = edge_start[e_to - 1] + edge_count[e_to - 1]
            out_he[pos:pos + h1 - h0] = he_sorted[h0:h1]
            shift = pos - h0
            nb = e_to - e_done
            for i in range(nb):
                out_start[out_e + i] = edge_start[e_done + i] + shift
            out_count[out_e:out_e + nb] = edge_count[e_done:e_to]
            out_v[out_e:out_e + nb] = edge_vertices[e_done:e_to]
            pos += h1 - h0
            out_e += nb
            e_done = e_to
        if r == n_runs:
            break
        a, b = run_at[r], run_at[r + 1]
        if run_old[r]:  # the new half-edges follow the old ones of their edge
            out_count[out_e - 1] += b - a
        else:
            out_start[out_e] = pos
            out_count[out_e] = b - a
            out_v[out_e, 0] = new_lo[a]
            out_v[out_e, 1] = new_hi[a]
            out_e += 1
        out_he[pos:pos + b - a] = new_he[a:b]
        pos += b - a
    return out_he, out_start, out_count, out_v


@numba.njit(**_NJIT)
def flip_half_edges(he_sorted: np.ndarray, flip: np.ndarray):  # pragma: no cover - compiled
    """``he_sorted`` (3m,) int64 with the half-edges of reversed faces renamed: a face in
    ``flip`` (m,) bool turned from ``[a, b, c]`` to ``[c, b, a]`` runs its edge ab as
    half-edge 1 and bc as half-edge 0 (ca stays 2). numpy reading::

        f, k = he_sorted // 3, he_sorted % 3
        3 * f + np.where(flip[f], np.array([1, 0, 2])[k], k)

    Returns (3m,) int64."""
    out = np.empty_like(he_sorted)
    for i in range(he_sorted.shape[0]):
        h = he_sorted[i]
        f = h // 3
        k = h - 3 * f
        if flip[f] and k < 2:
            k = 1 - k
        out[i] = 3 * f + k
    return out


@numba.njit(**_NJIT)
def manifold_pairs(he_sorted: np.ndarray, edge_start: np.ndarray, edge_count: np.ndarray, src: np.ndarray):  # pragma: no cover - compiled
    """The two half-edges of every edge used by exactly two faces, whether they run the
    edge the same way, and whether any two such faces have the same vertex opposite the
    edge (then they may be the same triangle twice), in one pass over the edges. numpy
    reading::

        s = edge_start[edge_count == 2]; a, b = he_sorted[s], he_sorted[s + 1]
        same = src[a] == src[b]
        third = lambda h: src[3 * (h // 3) + (h % 3 + 2) % 3]
        shares_third = (third(a) == third(b)).any()

    Returns (a (k,) int64, b (k,) int64, same (k,) bool, shares_third bool)."""
    k = 0
    for e in range(edge_count.shape[0]):
        if edge_count[e] == 2:
            k += 1
    a = np.empty(k, np.int64)
    b = np.empty(k, np.int64)
    same = np.empty(k, np.bool_)
    shares_third = False
    i = 0
    for e in range(edge_count.shape[0]):
        if edge_count[e] == 2:
            ha = he_sorted[edge_start[e]]
            hb = he_sorted[edge_start[e] + 1]
            a[i] = ha
            b[i] = hb
            same[i] = src[ha] == src[hb]
            fa = ha - ha % 3
            fb = hb - hb % 3
            if src[fa + (ha - fa + 2) % 3] == src[fb + (hb - fb + 2) % 3]:
                shares_third = True
            i += 1
    return a, b, same, shares_third
