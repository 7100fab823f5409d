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


def self_intersecting_faces(
    vertices: np.ndarray, faces: np.ndarray, info: EdgeInfo, scene: RayScene
) -> np.ndarray:
    """Ids of self-intersecting faces: (k,) int64, sorted, unique.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64; info from :func:`edge_info`.
    """
    owner, hit = crossing_pairs(vertices, faces, info, scene)
    return np.unique(np.concatenate([owner, hit]))


def crossing_pairs(
    vertices: np.ndarray, faces: np.ndarray, info: EdgeInfo, scene: RayScene
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of crossing faces: (owner (p,) int64 a face of the piercing edge, pierced (p,)
    int64 the face it passes through)."""
    ev = info.edge_vertices
    p0 = vertices[ev[:, 0]]
    p1 = vertices[ev[:, 1]]
    seg = p1 - p0
    length = row_norm(seg)
    ok = length > 0
    idx = np.flatnonzero(ok)
    d = seg[idx] / length[idx, None]
    margin = END_MARGIN * length[idx]
    hit, _ = scene.first_hit(p0[idx] + d * margin[:, None], d, length[idx] - 2 * margin)
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
