"""Per-shell measures: volume, area, bounds, open or closed, and nesting (cavities)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from printprep.mesh.measure import signed_volumes_mm3, triangle_cross
from printprep.mesh.topology import EdgeInfo, winding_numbers

#: Shell pairs tested for nesting at most (a mesh of thousands of overlapping shells is
#: soup; nesting among them is not worth quadratic time).
MAX_NESTING_PAIRS = 4000


@dataclass
class Shells:
    """Face-connected shells of a mesh.

    labels : (m,) int shell of each face; volume_mm3, area_mm2 : (k,) float64;
    lo_mm, hi_mm : (k, 3) float64 bounds; faces : (k,) int64 faces per shell;
    open_edges : (k,) int64 boundary + non-manifold edges per shell;
    depth : (k,) int64 how many other closed shells contain the shell (odd: a cavity).
    parent : (k,) int64 the smallest shell containing each shell, -1 for none.
    """

    labels: np.ndarray
    volume_mm3: np.ndarray
    area_mm2: np.ndarray
    lo_mm: np.ndarray
    hi_mm: np.ndarray
    faces: np.ndarray
    open_edges: np.ndarray
    depth: np.ndarray
    parent: np.ndarray

    @property
    def count(self) -> int:
        return len(self.volume_mm3)

    @property
    def closed(self) -> np.ndarray:
        return self.open_edges == 0


def shell_measures(vertices: np.ndarray, faces: np.ndarray, labels: np.ndarray, count: int, info: EdgeInfo) -> Shells:
    """Measure each shell (labels from :func:`topology.face_components`)."""
    vol = np.bincount(labels, weights=signed_volumes_mm3(vertices, faces), minlength=count)
    area = np.bincount(
        labels, weights=0.5 * np.linalg.norm(triangle_cross(vertices, faces), axis=1), minlength=count
    )
    nfaces = np.bincount(labels, minlength=count).astype(np.int64)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(nfaces)[:-1]])
    tri = vertices[faces[order]]
    lo = np.minimum.reduceat(tri.min(axis=1), starts, axis=0) if count else np.zeros((0, 3))
    hi = np.maximum.reduceat(tri.max(axis=1), starts, axis=0) if count else np.zeros((0, 3))
    bad_edges = info.edge_count != 2
    bad_faces = info.he_sorted[info.edge_start[bad_edges]] // 3
    open_edges = np.bincount(labels[bad_faces], minlength=count).astype(np.int64)
    zeros = np.zeros(count, dtype=np.int64)
    shells = Shells(labels, vol, area, lo, hi, nfaces, open_edges, zeros, zeros - 1)
    shells.depth, shells.parent = nesting_depth(vertices, faces, shells)
    return shells


def nesting_depth(vertices: np.ndarray, faces: np.ndarray, shells: Shells) -> tuple[np.ndarray, np.ndarray]:
    """How many other closed shells contain each shell, and the smallest of them.

    Returns (depth (k,) int64, parent (k,) int64, -1 when not contained).

    Candidates are pairs whose bounding boxes nest; each is decided by the winding number
    of three vertices of the inner shell against the outer one.
    """
    k = shells.count
    depth = np.zeros(k, dtype=np.int64)
    parent = np.full(k, -1, dtype=np.int64)
    if k < 2:
        return depth, parent
    closed = shells.closed
    inside = (shells.lo_mm[:, None, :] >= shells.lo_mm[None, :, :]).all(-1) & (
        shells.hi_mm[:, None, :] <= shells.hi_mm[None, :, :]
    ).all(-1)
    np.fill_diagonal(inside, False)
    inside &= closed[None, :]
    inner, outer = np.nonzero(inside)
    if len(inner) == 0 or len(inner) > MAX_NESTING_PAIRS:
        return depth, parent
    box = np.prod(shells.hi_mm - shells.lo_mm, axis=1)
    order = np.argsort(shells.labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(shells.faces)[:-1]])
    for a, b in zip(inner, outer, strict=True):  # loops over shell pairs, not triangles
        fa = order[starts[a] : starts[a] + shells.faces[a]]
        fb = order[starts[b] : starts[b] + shells.faces[b]]
        probe = vertices[faces[fa[[0, len(fa) // 2, -1]], 0]]
        w = np.abs(winding_numbers(probe, vertices, faces[fb]))
        if np.count_nonzero(w > 0.5) >= 2:
            depth[a] += 1
            if parent[a] < 0 or box[b] < box[parent[a]]:
                parent[a] = b
    return depth, parent
