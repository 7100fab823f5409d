"""Self-intersection: faces that pierce other faces of the same mesh.

Every transversal crossing of two triangles has at least one triangle edge passing
through the other triangle. So each undirected edge is cast as a ray from one end to the
other (Embree's BVH is the broad phase, its watertight ray-triangle test the narrow one);
a hit strictly inside the edge on a face that shares no vertex with it is a crossing. The
edge's faces and the face hit are self-intersecting; compiled kernels build the rays and
confirm each hit in float64 (:mod:`printprep.mesh.ray_kernels`).

A ray stops at the first face it meets, so an edge through two faces reports the nearer
one only. With ``only=`` (the faces a repair step
changed) the search is exact and pairwise instead: the chosen faces in a uniform grid,
every face tested against the chosen faces whose boxes its box meets, edge by edge, with
no ray scene (:mod:`printprep.mesh.grid`); it finds every pair the rays find among those
faces, and any pair behind a first hit as well. Coplanar overlaps are not crossings;
:func:`printprep.mesh.coplanar.coplanar_contacts` finds faces pressed together face to face.
"""

from __future__ import annotations

import numpy as np

from printprep.errors import MeshError
from printprep.mesh.intersect_kernels import (  # noqa: F401 - the tolerances, named once there
    COPLANAR_MM,
    END_MARGIN,
    MIN_BARY,
    MIN_COS,
    MIN_DEPTH_MM,
    MIN_OVERLAP_MM,
    OPPOSED_COS,
)
from printprep.mesh.raycast import RayScene
from printprep.mesh.topology import EdgeInfo, edge_info


class FaceSelectionError(MeshError, ValueError):
    """An ``only=`` selection that does not fit the mesh (a caller's mistake)."""


def only_mask(only: np.ndarray | None, m: int) -> np.ndarray | None:
    """``only`` (a (m,) bool face mask or (k,) int face ids) as a (m,) bool mask; None
    stays None (all faces)."""
    if only is None:
        return None
    only = np.asarray(only)
    if only.dtype == bool:
        if only.shape != (m,):
            raise FaceSelectionError(f"only= mask has shape {only.shape}, the mesh has {m} faces")
        return only
    if only.size == 0:
        return np.zeros(m, dtype=bool)
    if only.dtype.kind not in "iu":
        raise FaceSelectionError(f"only= takes a bool face mask or integer face ids, not {only.dtype}")
    ids = only.astype(np.int64).ravel()
    if len(ids) and (ids.min() < 0 or ids.max() >= m):
        raise FaceSelectionError(f"only= names face {int(ids.min() if ids.min() < 0 else ids.max())}; the mesh has {m} faces")
    mask = np.zeros(m, dtype=bool)
    mask[ids] = True
    return mask


def self_intersecting_faces(
    vertices: np.ndarray, faces: np.ndarray, info: EdgeInfo | None = None, scene: RayScene | None = None, *,
    only: np.ndarray | None = None,
) -> np.ndarray:
    """Ids of self-intersecting faces: (k,) int64, sorted, unique.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64; info from :func:`edge_info` and
    scene a :class:`RayScene` of these faces, when already built (made when None).
    only : (m,) bool mask or (k,) int face ids: test only these faces against all faces
        (the result then holds them and the faces they cross).
    """
    owner, hit = crossing_pairs(vertices, faces, info, scene, only=only)
    return np.unique(np.concatenate([owner, hit]))


def crossing_pairs(
    vertices: np.ndarray, faces: np.ndarray, info: EdgeInfo | None = None, scene: RayScene | None = None, *,
    only: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of crossing faces: (owner (p,) int64 a face of the piercing edge, pierced (p,)
    int64 the face it passes through).

    info, scene : as for :func:`self_intersecting_faces` (not needed with ``only``).
    only : (m,) bool mask or (k,) int face ids: only pairs with at least one of these faces.
    """
    mask = only_mask(only, len(faces))
    if mask is None:
        return _crossing_pairs_rays(vertices, faces, info, scene)
    # a subset: the grid search against the chosen faces (no ray scene of the whole mesh)
    from printprep.mesh.grid import face_pairs  # noqa: PLC0415 - kernels load on first use

    pairs = face_pairs(vertices, faces, only=mask, coplanar=False).crossing
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def _crossing_pairs_rays(
    vertices: np.ndarray, faces: np.ndarray, info: EdgeInfo | None, scene: RayScene | None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`crossing_pairs` of the whole mesh by one ray per edge (the rays built and
    the hits confirmed by compiled kernels, :mod:`printprep.mesh.ray_kernels`)."""
    from printprep.mesh import ray_kernels as rk  # noqa: PLC0415 - kernels load on first use

    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if info is None:
        info = edge_info(faces, len(vertices))
    if scene is None:
        scene = RayScene(vertices, faces)
    ev = np.ascontiguousarray(info.edge_vertices, dtype=np.int64)
    o, d, t, ok = rk.edge_rays(vertices, ev)
    if ok.all():
        e = np.arange(len(ev), dtype=np.int64)
    else:
        e = np.flatnonzero(ok)
        o, d, t = o[e], d[e], t[e]
    hit = scene.first_hit_faces(o, d, t)
    del o, d, t
    keep = rk.confirm_edge_hits(vertices, faces, ev, e, hit)
    e, hf = e[keep], hit[keep]
    if len(e) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # faces that own the crossing edges
    count = info.edge_count[e]
    start = info.edge_start[e]
    rep = np.repeat(start, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    owners = info.he_sorted[rep] // 3
    return owners, np.repeat(hf, count)
