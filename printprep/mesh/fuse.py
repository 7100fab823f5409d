"""Fusing overlapping shells with manifold3d, and resolving a shell's own crossings.

Only shells that actually cross or touch each other are fused; disjoint parts (chain
links, stones floating off a bracelet) stay separate bodies. A cavity travels with the
shell that contains it.
"""

from __future__ import annotations

import manifold3d as m3d
import numpy as np

from printprep.mesh.topology import components, edge_info, inconsistent_edges

#: Shells closer than this are touching and get fused, mm.
TOUCH_MM = 1e-3


def to_manifold(vertices: np.ndarray, faces: np.ndarray) -> m3d.Manifold | None:
    """A Manifold of the mesh, or None when manifold3d refuses it (not a closed 2-manifold)."""
    if len(faces) == 0:
        return None
    used, inverse = np.unique(faces, return_inverse=True)
    local = inverse.reshape(-1, 3)
    info = edge_info(local, len(used))
    repeated = (local[:, 0] == local[:, 1]) | (local[:, 1] == local[:, 2]) | (local[:, 2] == local[:, 0])
    if (info.edge_count != 2).any() or inconsistent_edges(info) or repeated.any():
        return None  # manifold3d must only see closed, oriented 2-manifolds
    # double precision: float32 rounding of near-coincident surfaces makes new crossings
    mesh = m3d.Mesh64(
        vert_properties=np.ascontiguousarray(vertices[used], dtype=np.float64),
        tri_verts=np.ascontiguousarray(inverse.reshape(-1, 3), dtype=np.uint64),
    )
    solid = m3d.Manifold(mesh)
    if solid.status() != m3d.Error.NoError:
        return None
    return solid


def from_manifold(solid: m3d.Manifold) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (n, 3) float64, faces (m, 3) int64) of a Manifold."""
    mesh = solid.to_mesh64()
    return np.asarray(mesh.vert_properties[:, :3], dtype=np.float64), np.asarray(mesh.tri_verts, dtype=np.int64)


def fuse_groups(unit_pairs: np.ndarray, n_units: int) -> tuple[int, np.ndarray]:
    """Group units connected by crossing/touching pairs (p, 2). Returns (count, labels)."""
    if len(unit_pairs) == 0:
        return n_units, np.arange(n_units)
    return components(n_units, unit_pairs[:, 0], unit_pairs[:, 1])


def touching_pairs(solids: list[m3d.Manifold | None], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Pairs of units whose surfaces come within :data:`TOUCH_MM`: (p, 2) int64.

    lo, hi : (u, 3) float64 unit bounds, mm (the broad phase).
    """
    overlap = (lo[:, None, :] <= hi[None, :, :] + TOUCH_MM).all(-1) & (lo[None, :, :] <= hi[:, None, :] + TOUCH_MM).all(-1)
    a, b = np.nonzero(np.triu(overlap, 1))
    out = []
    for i, j in zip(a.tolist(), b.tolist(), strict=True):  # candidate unit pairs, not triangles
        if solids[i] is None or solids[j] is None:
            continue
        if solids[i].min_gap(solids[j], 2 * TOUCH_MM) < TOUCH_MM:
            out.append((i, j))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def union(solids: list[m3d.Manifold]) -> m3d.Manifold:
    """Boolean union of several solids."""
    if len(solids) == 1:
        return solids[0]
    return m3d.Manifold.batch_boolean(solids, m3d.OpType.Add)
