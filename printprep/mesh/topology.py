"""Edges, shells and orientation of an indexed triangle mesh, by sorting (no graphs of
Python objects).

A half-edge ``h`` belongs to face ``h // 3`` and runs from ``faces[f, h % 3]`` to
``faces[f, (h + 1) % 3]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from printprep.mesh.sorting import argsort_keys, group_starts


@dataclass
class EdgeInfo:
    """Undirected edges of a mesh and how faces use them.

    he_sorted : (3m,) int64 half-edge ids sorted by undirected edge.
    edge_start : (e,) int64 index into ``he_sorted`` where each undirected edge starts.
    edge_count : (e,) int64 faces using each edge (1: boundary, 2: manifold, >2: non-manifold).
    edge_vertices : (e, 2) int64 vertex ids (smaller first).
    src : (3m,) int64 start vertex of each half-edge.
    """

    he_sorted: np.ndarray
    edge_start: np.ndarray
    edge_count: np.ndarray
    edge_vertices: np.ndarray
    src: np.ndarray

    @property
    def boundary(self) -> np.ndarray:
        """(b,) int64 half-edge ids on boundary (open) edges."""
        return self.he_sorted[self.edge_start[self.edge_count == 1]]

    @property
    def n_boundary(self) -> int:
        return int(np.count_nonzero(self.edge_count == 1))

    @property
    def n_non_manifold(self) -> int:
        return int(np.count_nonzero(self.edge_count > 2))

    def flipped(self, faces: np.ndarray, flip: np.ndarray) -> EdgeInfo:
        """The grouping of ``faces`` (m, 3), which are this info's faces with the rows in
        ``flip`` (m,) bool reversed (``[a, b, c] -> [c, b, a]``): same edges, no sort.

        A reversed face runs its edge ab as half-edge 1 and bc as half-edge 0.
        """
        if not flip.any():
            return EdgeInfo(self.he_sorted, self.edge_start, self.edge_count, self.edge_vertices, faces.reshape(-1).astype(np.int64))
        he = self.he_sorted
        f, k = he // 3, he % 3
        k_new = np.where(flip[f], np.array([1, 0, 2])[k], k)
        return EdgeInfo(3 * f + k_new, self.edge_start, self.edge_count, self.edge_vertices, faces.reshape(-1).astype(np.int64))

    def manifold_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The two half-edges of every edge used by exactly two faces: ((k,), (k,)) int64."""
        start = self.edge_start[self.edge_count == 2]
        return self.he_sorted[start], self.he_sorted[start + 1]

    def chained_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Consecutive half-edges of the same edge (a chain around non-manifold edges)."""
        same = np.zeros(len(self.he_sorted) - 1, dtype=bool) if len(self.he_sorted) else np.zeros(0, bool)
        if len(self.he_sorted) > 1:
            counts_he = np.repeat(self.edge_count, self.edge_count)
            starts_he = np.repeat(self.edge_start, self.edge_count)
            pos = np.arange(len(self.he_sorted))
            same = (pos[:-1] - starts_he[:-1] + 1) < counts_he[:-1]
        idx = np.nonzero(same)[0]
        return self.he_sorted[idx], self.he_sorted[idx + 1]


def edge_info(faces: np.ndarray, n_vertices: int) -> EdgeInfo:
    """Group the half-edges of ``faces`` (m, 3) int by undirected edge."""
    src = faces.reshape(-1).astype(np.int64)
    dst = faces[:, [1, 2, 0]].reshape(-1).astype(np.int64)
    lo = np.minimum(src, dst)
    hi = np.maximum(src, dst)
    n = max(n_vertices, 1)
    key = lo * np.int64(n) + hi
    order, sk = argsort_keys(key, n * n - 1)
    del key
    edge_start = group_starts(sk)
    edge_count = np.diff(np.append(edge_start, len(sk)))
    first = order[edge_start]
    edge_vertices = np.stack([lo[first], hi[first]], axis=1)
    return EdgeInfo(order, edge_start, edge_count, edge_vertices, src)


def inconsistent_edges(info: EdgeInfo) -> int:
    """Manifold edges whose two faces run them the same way (winding flips across them)."""
    a, b = info.manifold_pairs()
    return int(np.count_nonzero(info.src[a] == info.src[b]))


def face_components(info: EdgeInfo, n_faces: int, *, through_non_manifold: bool = True) -> tuple[int, np.ndarray]:
    """Label faces connected across shared edges.

    With ``through_non_manifold`` False only manifold edges (two faces) connect faces, so
    a mesh is cut apart along its non-manifold edges. Returns (count, labels (m,) int32).
    """
    a, b = info.chained_pairs() if through_non_manifold else info.manifold_pairs()
    fa, fb = a // 3, b // 3
    graph = coo_matrix((np.ones(len(fa), dtype=np.int8), (fa, fb)), shape=(n_faces, n_faces))
    count, labels = connected_components(graph, directed=False)
    return int(count), labels


def orient_faces(info: EdgeInfo, n_faces: int, patch: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Flips that make the winding consistent across manifold edges.

    Builds the orientation double cover (node ``f`` = face as is, ``f + m`` = flipped) and
    takes connected components once: faces whose "as is" node lies in the component of
    their patch's first face keep their winding. Returns (flip (m,) bool, number of
    non-orientable patches, e.g. Möbius strips, which are left as they are).
    patch : (m,) int the components of the manifold pairs, when already known.
    """
    a, b = info.manifold_pairs()
    fa, fb = a // 3, b // 3
    same_dir = info.src[a] == info.src[b]  # consistent neighbours run a shared edge opposite ways
    m = n_faces
    if not same_dir.any():  # already consistent everywhere: nothing to flip
        return np.zeros(m, dtype=bool), 0
    # consistent: (fa, fb) and (fa+m, fb+m); inconsistent: (fa, fb+m) and (fa+m, fb)
    u = np.concatenate([fa, fa + m])
    v = np.concatenate([np.where(same_dir, fb + m, fb), np.where(same_dir, fb, fb + m)])
    graph = coo_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(2 * m, 2 * m))
    _, lab = connected_components(graph, directed=False)
    if patch is None:
        n_patch, patch = connected_components(
            coo_matrix((np.ones(len(fa), dtype=np.int8), (fa, fb)), shape=(m, m)), directed=False
        )
    else:
        n_patch = int(patch.max()) + 1 if m else 0
    first = np.full(n_patch, -1, dtype=np.int64)
    first[patch[::-1]] = np.arange(m)[::-1]
    root_label = lab[first[patch]]
    keep = lab[:m] == root_label
    flip = lab[m:] == root_label
    non_orientable = keep & flip
    flip = flip & ~keep
    return flip, int(len(np.unique(patch[non_orientable])))


def winding_numbers(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Generalised winding number of each point with respect to a triangle set.

    points : (p, 3) float64; returns (p,) float64 (±1 inside a closed shell, 0 outside).
    Works in chunks of about 4M point-triangle pairs.
    """
    out = np.zeros(len(points))
    tri = vertices[faces]
    chunk = max(1, 4_000_000 // max(len(faces), 1))
    for s in range(0, len(points), chunk):  # chunks of points, each against all triangles
        p = points[s : s + chunk, None, :]
        a, b, c = tri[None, :, 0] - p, tri[None, :, 1] - p, tri[None, :, 2] - p
        la, lb, lc = (np.sqrt(np.einsum("pfi,pfi->pf", x, x)) for x in (a, b, c))
        det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
        den = (
            la * lb * lc + np.einsum("pfi,pfi->pf", a, b) * lc
            + np.einsum("pfi,pfi->pf", b, c) * la + np.einsum("pfi,pfi->pf", c, a) * lb
        )
        out[s : s + chunk] = np.arctan2(det, den).sum(axis=1) / (2.0 * np.pi)
    return out
