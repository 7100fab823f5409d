"""Self-intersection: faces that pierce other faces of the same mesh.

Every transversal crossing of two triangles has at least one triangle edge passing
through the other triangle. So each undirected edge is cast as a ray from one end to the
other (Embree's BVH is the broad phase, its watertight ray-triangle test the narrow one);
a hit strictly inside the edge on a face that shares no vertex with it is a crossing. The
edge's faces and the face hit are self-intersecting. Coplanar overlaps are not reported.
"""

from __future__ import annotations

import os

import numpy as np

from printprep.mesh.measure import row_norm
from printprep.mesh.raycast import RayScene
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
    # a subset: the grid search over the faces near it (no ray scene of the whole mesh)
    from printprep.mesh.grid import face_pairs  # noqa: PLC0415 - numba loads on first use

    pairs = face_pairs(vertices, faces, only=mask, coplanar=False).crossing
    return pairs[:, 0].copy(), pairs[:, 1].copy()


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


#: Faces are also binned by place, in cubes of this many typical edge lengths.
CONTACT_CELL_EDGES = 4.0


def coplanar_contacts(
    vertices: np.ndarray, faces: np.ndarray, cross: np.ndarray | None = None, *, only: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of faces that lie in one plane facing each other and overlap: two parts of a
    surface pressed together face to face (zero-thickness contact), which no ray along an
    edge can find because nothing passes through anything.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64; cross : unused (kept for callers
    that pass the face cross products); only : (m,) bool mask or (k,) int face ids: only
    pairs with at least one of these faces. Faces are binned by their plane (unoriented
    normal and offset, rounded) and place (cubes of a few typical edges), twice with the
    grid shifted half a bin so no pair is split by a bin border; within a bin only faces
    of opposite orientation are tested (compiled kernels, :mod:`coplanar_kernels`).
    Returns ((p,) int64 negative-side faces, (p,) int64 positive-side faces).
    """
    from printprep.mesh import coplanar_kernels as ck  # noqa: PLC0415 - numba loads on first use
    from printprep.mesh.intersect_kernels import face_frames  # noqa: PLC0415

    del cross
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    m = len(faces)
    mask = only_mask(only, m)
    if m < 2 or (mask is not None and not mask.any()):
        return none
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    tri, _, _, normal, nlen, _, sign = face_frames(vertices, faces, np.arange(m, dtype=np.int64))
    centre = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
    step = max(m // 4096, 1)  # a sample of faces gives the typical size
    edge = row_norm(tri[::step, 1] - tri[::step, 0])
    cell_mm = max(CONTACT_CELL_EDGES * float(np.median(edge)), 1e-9)
    table_bits = max(int(m).bit_length(), 4)
    n_chunks = 64 * max(os.cpu_count() or 1, 1)
    found = []
    for shift in (0.0, 0.5):
        keys = ck.plane_keys(tri, nlen, normal, sign, centre, cell_mm, shift)
        start, items = ck.bucket_by_key(keys, table_bits)
        found.append(ck.contact_pairs(tri, faces, normal, nlen, sign, keys, start, items, n_chunks))
    pairs = np.concatenate(found)
    if mask is not None:
        pairs = pairs[mask[pairs[:, 0]] | mask[pairs[:, 1]]]
    if len(pairs) == 0:
        return none
    pair = np.unique(pairs[:, 0] * np.int64(m) + pairs[:, 1])
    return pair // m, pair % m
