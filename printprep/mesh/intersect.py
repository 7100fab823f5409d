"""Self-intersection: faces that pierce other faces of the same mesh.

Every transversal crossing of two triangles has at least one triangle edge passing
through the other triangle. So each undirected edge is cast as a ray from one end to the
other (Embree's BVH is the broad phase, its watertight ray-triangle test the narrow one);
a hit strictly inside the edge on a face that shares no vertex with it is a crossing. The
edge's faces and the face hit are self-intersecting. Coplanar overlaps are not reported.
"""

from __future__ import annotations

import numpy as np

from printprep.mesh.measure import row_norm
from printprep.mesh.raycast import RayScene
from printprep.mesh.sorting import argsort_keys, group_starts
from printprep.mesh.topology import EdgeInfo

#: Hits closer than this fraction of the edge length to either end are the edge's own
#: neighbourhood (numerical grazing), not a crossing.
END_MARGIN = 1e-4
#: Edges running (almost) within the plane of the face hit graze it; they are coplanar
#: contacts, not crossings.
MIN_COS = 1e-4
#: Crossings within this barycentric distance of the hit face's border are contacts along
#: an edge (float32 rounding in the BVH), not a face pierced.
MIN_BARY = 1e-6
#: Both ends of a crossing edge must lie this far from the face's plane, mm: sub-micron
#: nicks are below any printer's resolution.
MIN_DEPTH_MM = 5e-4


def _strict_crossing(tri: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Confirm segment-triangle crossings in float64: (r,) bool.

    tri : (r, 3, 3) float64; p0, p1 : (r, 3) float64 segment ends. True when the ends lie
    on strictly opposite sides of the plane, not (almost) in it, and the crossing point is
    strictly inside the triangle.
    """
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    normal = np.cross(b - a, c - a)
    nlen = row_norm(normal)
    seg = p1 - p0
    slen = row_norm(seg)
    s0 = np.einsum("ij,ij->i", p0 - a, normal)
    s1 = np.einsum("ij,ij->i", p1 - a, normal)
    denom = s0 - s1
    cos = np.abs(denom) / np.maximum(nlen * slen, 1e-300)
    depth = np.minimum(np.abs(s0), np.abs(s1)) / np.maximum(nlen, 1e-300)
    opposite = (s0 * s1 < 0) & (cos > MIN_COS) & (depth > MIN_DEPTH_MM)
    t = np.divide(s0, denom, out=np.zeros_like(s0), where=denom != 0)
    x = p0 + seg * t[:, None]
    # barycentric coordinates via sub-triangle areas projected on the normal
    wa = np.einsum("ij,ij->i", np.cross(b - x, c - x), normal)
    wb = np.einsum("ij,ij->i", np.cross(c - x, a - x), normal)
    wc = np.einsum("ij,ij->i", np.cross(a - x, b - x), normal)
    n2 = np.maximum(nlen**2, 1e-300)
    inside = (wa / n2 > MIN_BARY) & (wb / n2 > MIN_BARY) & (wc / n2 > MIN_BARY)
    return opposite & inside


def only_mask(only: np.ndarray | None, m: int) -> np.ndarray | None:
    """``only`` (a (m,) bool face mask or (k,) int face ids) as a (m,) bool mask; None
    stays None (all faces)."""
    if only is None:
        return None
    only = np.asarray(only)
    if only.dtype == bool:
        if only.shape != (m,):
            raise ValueError(f"only= mask has shape {only.shape}, the mesh has {m} faces")
        return only
    mask = np.zeros(m, dtype=bool)
    mask[only.astype(np.int64)] = True
    return mask


def self_intersecting_faces(
    vertices: np.ndarray, faces: np.ndarray, info: EdgeInfo, scene: RayScene, *, only: np.ndarray | None = None
) -> np.ndarray:
    """Ids of self-intersecting faces: (k,) int64, sorted, unique.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64; info from :func:`edge_info`.
    only : (m,) bool mask or (k,) int face ids: test only these faces against all faces
        (the result then holds them and the faces they cross).
    """
    owner, hit = crossing_pairs(vertices, faces, info, scene, only=only)
    return np.unique(np.concatenate([owner, hit]))


def crossing_pairs(
    vertices: np.ndarray, faces: np.ndarray, info: EdgeInfo, scene: RayScene, *, only: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of crossing faces: (owner (p,) int64 a face of the piercing edge, pierced (p,)
    int64 the face it passes through).

    only : (m,) bool mask or (k,) int face ids: only pairs with at least one of these faces.
    """
    mask = only_mask(only, len(faces))
    if mask is None:
        return _crossing_pairs_rays(vertices, faces, info, scene)
    if not mask.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # edges of the chosen faces against everything, and every edge near them against
    # the chosen faces alone
    owned = np.zeros(len(info.edge_start), dtype=bool)
    he_mask = mask[info.he_sorted // 3]
    owned[np.repeat(np.arange(len(info.edge_start)), info.edge_count)[he_mask]] = True
    a1, b1 = _crossing_pairs_rays(vertices, faces, info, scene, edges=np.flatnonzero(owned))
    sel = np.flatnonzero(mask)
    lo = vertices[faces[sel]].min(axis=(0, 1))
    hi = vertices[faces[sel]].max(axis=(0, 1))
    p0 = vertices[info.edge_vertices[:, 0]]
    p1 = vertices[info.edge_vertices[:, 1]]
    near = (np.minimum(p0, p1) <= hi).all(axis=1) & (np.maximum(p0, p1) >= lo).all(axis=1) & ~owned
    sub = RayScene(vertices, faces[sel])
    a2, b2 = _crossing_pairs_rays(vertices, faces, info, sub, edges=np.flatnonzero(near), hit_ids=sel)
    a = np.concatenate([a1, a2])
    b = np.concatenate([b1, b2])
    keep = mask[a] | mask[b]
    return a[keep], b[keep]


def _crossing_pairs_rays(
    vertices: np.ndarray, faces: np.ndarray, info: EdgeInfo, scene: RayScene,
    edges: np.ndarray | None = None, hit_ids: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`crossing_pairs` by one ray per edge: edges (e,) int64 the edges to cast (all
    when None); hit_ids (s,) int64 the face ids of the scene's faces when it holds a subset."""
    ev = info.edge_vertices
    p0 = vertices[ev[:, 0]]
    p1 = vertices[ev[:, 1]]
    seg = p1 - p0
    length = row_norm(seg)
    ok = length > 0
    if edges is not None:
        sel_edge = np.zeros(len(ok), dtype=bool)
        sel_edge[edges] = True
        ok &= sel_edge
    idx = np.flatnonzero(ok)
    d = seg[idx] / length[idx, None]
    margin = END_MARGIN * length[idx]
    hit, _ = scene.first_hit(p0[idx] + d * margin[:, None], d, length[idx] - 2 * margin)
    if hit_ids is not None:
        hit = np.where(hit >= 0, hit_ids[np.maximum(hit, 0)], -1)
    good = hit >= 0
    e = idx[good]
    hf = hit[good]
    shares = (faces[hf] == ev[e, 0:1]).any(axis=1) | (faces[hf] == ev[e, 1:2]).any(axis=1)
    e, hf = e[~shares], hf[~shares]
    keep = _strict_crossing(vertices[faces[hf]], p0[e], p1[e])
    e, hf = e[keep], hf[keep]
    if len(e) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # faces that own the crossing edges
    count = info.edge_count[e]
    start = info.edge_start[e]
    rep = np.repeat(start, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    owners = info.he_sorted[rep] // 3
    return owners, np.repeat(hf, count)


#: Faces closer than this to each other's plane, mm, lie in one plane (coplanar contact).
COPLANAR_MM = 1e-3
#: Normals this close to opposite (cosine) face each other.
OPPOSED_COS = -0.9999
#: Two coplanar faces overlap when each reaches this far into the other, mm.
MIN_OVERLAP_MM = 1e-2
#: Plane bins are checked pair by pair up to this many candidate pairs in all.
MAX_CONTACT_PAIRS = 2_000_000


def coplanar_contacts(
    vertices: np.ndarray, faces: np.ndarray, cross: np.ndarray | None = None, *, only: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of faces that lie in one plane facing each other and overlap: two parts of a
    surface pressed together face to face (zero-thickness contact), which no ray along an
    edge can find because nothing passes through anything.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64; cross : (m, 3) float64 face cross
    products when known; only : (m,) bool mask or (k,) int face ids: only pairs with at
    least one of these faces. Faces are binned by their plane (unoriented normal and offset,
    rounded); within a bin only faces of opposite orientation are paired, so flat regions
    of one side cost nothing. Returns ((p,) int64, (p,) int64) face ids.
    """
    from printprep.mesh.measure import _corner_columns, triangle_cross  # noqa: PLC0415

    none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if len(faces) < 2:
        return none
    if cross is None:
        cross = triangle_cross(vertices, faces)
    length = row_norm(cross)
    ok = length > 0
    normal = np.divide(cross, length[:, None], out=np.zeros_like(cross), where=ok[:, None])
    # orientation sign: +1 when the first clearly non-zero component is positive
    comp = np.where(np.abs(normal[:, 0]) > 1e-6, normal[:, 0], np.where(np.abs(normal[:, 1]) > 1e-6, normal[:, 1], normal[:, 2]))
    sign = np.where(comp >= 0, 1, -1)
    canon = normal * sign[:, None]
    # plane offsets about the part's centre: a slight tilt times a far origin would part
    # coincident planes into different bins
    centre = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
    cols = _corner_columns(vertices, faces, centre)
    centroid = np.stack([(cols[0][d] + cols[1][d] + cols[2][d]) / 3.0 for d in range(3)], axis=1)
    offset = np.einsum("ij,ij->i", canon, centroid)
    # faces are also binned by where they are (cells of four typical face sizes), so a big
    # flat region holding both orientations pairs only faces near each other
    step = max(len(faces) // 4096, 1)  # a sample of faces gives the typical size
    edge = row_norm(vertices[faces[::step, 1]] - vertices[faces[::step, 0]])
    cell_mm = 4.0 * float(np.median(edge)) if len(edge) else 1.0
    where = centroid / max(cell_mm, 1e-9)
    pairs = [_binned_pairs(vertices, faces, normal, canon, offset, where, sign, ok, shift) for shift in (0.0, 0.5)]
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    if len(a) == 0:
        return none
    pair = np.unique(a * np.int64(len(faces)) + b)
    a, b = pair // len(faces), pair % len(faces)
    overlap = _overlap_2d_mm(vertices[faces[a]], vertices[faces[b]], normal[a])
    hit = overlap > MIN_OVERLAP_MM
    mask = only_mask(only, len(faces))
    if mask is not None:
        hit &= mask[a] | mask[b]
    return a[hit], b[hit]


def _binned_pairs(vertices, faces, normal, canon, offset, where, sign, ok, shift):
    """Candidate (negative-side, positive-side) face pairs of one plane grid shifted by
    ``shift`` cells: same bin, facing each other, no shared vertex, within
    :data:`COPLANAR_MM`. Two grids half a cell apart catch pairs that a bin border splits."""
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    q = np.floor(np.concatenate([canon * 5.0, (offset / (10 * COPLANAR_MM))[:, None], where], axis=1) + shift).astype(np.int64)
    # one hashed int64 per bin, short enough to sort packed with the position; bins that
    # share a hash only add candidates, which the exact tests below drop
    bits = 62 - max(int(len(q)).bit_length(), 1)
    h = np.zeros(len(q), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for d in range(q.shape[1]):
            h = (h ^ q[:, d].astype(np.uint64)) * np.uint64(0x9E3779B97F4A7C15)
    key = (h >> np.uint64(64 - bits)).astype(np.int64) * 2 + (sign > 0)  # orientations side by side
    order, sk = argsort_keys(key[ok], (1 << (bits + 1)) - 1)
    ids = np.flatnonzero(ok)[order]
    starts = group_starts(sk >> 1)
    if len(starts) == 0:
        return none
    counts = np.diff(np.append(starts, len(sk)))
    n_pos = np.add.reduceat((sk & 1).astype(np.int64), starts)
    n_neg = counts - n_pos
    both = np.flatnonzero((n_pos > 0) & (n_neg > 0))
    work = n_pos[both] * n_neg[both]
    keep = np.cumsum(work) <= MAX_CONTACT_PAIRS
    both, work = both[keep], work[keep]
    if len(both) == 0:
        return none
    neg_start = starts[both]
    pos_start = neg_start + n_neg[both]
    rep_bin = np.repeat(np.arange(len(both)), work)
    k = np.arange(int(work.sum())) - np.repeat(np.cumsum(work) - work, work)
    npos = n_pos[both][rep_bin]
    a = ids[neg_start[rep_bin] + k // npos]
    b = ids[pos_start[rep_bin] + k % npos]
    shares = (faces[a][:, :, None] == faces[b][:, None, :]).any(axis=(1, 2))
    a, b = a[~shares], b[~shares]
    opposed = np.einsum("ij,ij->i", normal[a], normal[b]) < OPPOSED_COS
    dist = np.abs(np.einsum("ij,ij->i", normal[a], (vertices[faces[b, 0]] + vertices[faces[b, 1]] + vertices[faces[b, 2]]) / 3.0 - vertices[faces[a, 0]]))
    near = opposed & (dist < COPLANAR_MM)
    return a[near], b[near]


def _overlap_2d_mm(ta: np.ndarray, tb: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """How far two coplanar triangles reach into each other, mm: (p,) float64, <= 0 when
    apart (separating axis test in the plane of ``normal`` (p, 3)).

    ta, tb : (p, 3, 3) float64 triangle corners.
    """
    helper = np.where(np.abs(normal[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(normal, helper)
    u /= row_norm(u)[:, None]
    w = np.cross(normal, u)
    pa = np.stack([np.einsum("ikj,ij->ik", ta, u), np.einsum("ikj,ij->ik", ta, w)], axis=-1)
    pb = np.stack([np.einsum("ikj,ij->ik", tb, u), np.einsum("ikj,ij->ik", tb, w)], axis=-1)
    depth = np.full(len(ta), np.inf)
    for tri in (pa, pb):
        for k in range(3):  # the six edge normals are the candidate separating axes
            e = tri[:, (k + 1) % 3] - tri[:, k]
            axis = np.stack([-e[:, 1], e[:, 0]], axis=1)
            axis /= np.maximum(np.sqrt(np.einsum("ij,ij->i", axis, axis)), 1e-300)[:, None]
            sa = np.einsum("ikj,ij->ik", pa, axis)
            sb = np.einsum("ikj,ij->ik", pb, axis)
            depth = np.minimum(depth, np.minimum(sa.max(axis=1) - sb.min(axis=1), sb.max(axis=1) - sa.min(axis=1)))
    return depth
