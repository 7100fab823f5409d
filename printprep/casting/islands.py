"""Where a print starts new islands: down-facing local minima of height, and which of
them the layer stack really sees as islands.

A local minimum of the surface starts a new region on its layer. It is an island for the
layer check only when that region stays apart from the rest of the layer: a minimum that
is merely a shallow dip — metal no more than ``depth_mm`` above it joins lower metal
nearby (a prong's end protruding a hair into a seat, a tilted ledge) — lies in the same
layer as the metal it joins and prints from it. Telling the two apart is what lets the
orientation and the supports leave hard detail untouched: only deep minima need a tip.
"""

from __future__ import annotations

import weakref

import manifold3d
import numpy as np
import trimesh
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from printprep.casting.islands_kernels import (
    corner_weighted_normals,
    minima_mask,
    vertex_neighbours,
)
from printprep.casting.poses import rotation_to_z


class MinimaFinder:
    """Local minima of a mesh for many "up" directions, and their depth.

    vertices : (v, 3) float64, mm; faces : (f, 3) int64; vertex_normals : (v, 3) float64
    (any length: only their sign along ``up`` is used)
    """

    #: meshes up to this many triangles get the exact test (two cross-sections per minimum)
    SLICE_MAX_FACES = 200_000

    def __init__(
        self,
        vertices: np.ndarray,
        faces: np.ndarray,
        vertex_normals: np.ndarray,
        solid: manifold3d.Manifold | None = None,
    ) -> None:
        self.solid = solid
        self.vertices = vertices
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        self.vnormals = vertex_normals
        self._adj: csr_matrix | None = None
        self._nbrs: tuple[np.ndarray, np.ndarray] | None = None
        self._tree: cKDTree | None = None

    @classmethod
    def of(cls, mesh: trimesh.Trimesh, solid: manifold3d.Manifold | None = None) -> MinimaFinder:
        """A finder for ``mesh``; small closed meshes get the exact cross-section test
        (on ``solid``, the mesh's manifold3d solid when the caller has it, else one
        built here).

        Vertex normals are trimesh's (face normals weighted by the corner angle), in one
        compiled pass: trimesh's own path costs seconds at 1M faces. A mesh that is a
        rigid motion of the last mesh given a finder (and that finder is still alive:
        prepare() holds the casting's while it makes the print-frame copy's) reuses its
        neighbours, rotates its normals and moves its solid instead of measuring again."""
        moved = _moved_finder(mesh)
        if moved is not None:
            return moved
        if len(mesh.faces) > cls.SLICE_MAX_FACES:
            solid = None
        elif solid is None:
            m = manifold3d.Manifold(
                manifold3d.Mesh(
                    vert_properties=np.ascontiguousarray(mesh.vertices, dtype=np.float32),
                    tri_verts=np.ascontiguousarray(mesh.faces, dtype=np.uint32),
                )
            )
            solid = m if m.status() == manifold3d.Error.NoError else None
        vertices = np.ascontiguousarray(mesh.vertices, dtype=np.float64)
        faces = np.ascontiguousarray(mesh.faces, dtype=np.int64)
        nbrs = vertex_neighbours(faces, len(vertices))
        finder = cls(vertices, faces, corner_weighted_normals(vertices, *nbrs), solid)
        finder._nbrs = nbrs
        global _last_finder  # noqa: PLW0603 - one weak reference per process
        _last_finder = weakref.ref(finder)
        return finder

    @property
    def adj(self) -> csr_matrix:
        """Vertex adjacency (v, v) bool, built on first use (the depth test of big meshes)."""
        if self._adj is None:
            f = self.faces
            a = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
            b = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
            n = len(self.vertices)
            m = csr_matrix((np.ones(2 * len(a), dtype=bool), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n))
            m.sum_duplicates()
            self._adj = m
        return self._adj

    def minima_many(self, ups: np.ndarray) -> list[np.ndarray]:
        """:meth:`minima` for each of ``ups`` (k, 3) unit vectors, in one pass over the
        faces (:func:`~printprep.casting.islands_kernels.minima_mask`): k arrays (m_j,) int64."""
        ups = np.ascontiguousarray(np.atleast_2d(np.asarray(ups, dtype=np.float64)))
        if self._nbrs is None:
            self._nbrs = vertex_neighbours(self.faces, len(self.vertices))
        mask = minima_mask(self.vertices, self._nbrs[0], self._nbrs[1], self.vnormals, ups)
        return [np.flatnonzero(row) for row in mask]

    def minima(self, up: np.ndarray) -> np.ndarray:
        """Vertices below all their neighbours (ties by index) with a down-facing normal:
        (m,) int64, for unit ``up`` (3,)."""
        return self.minima_many(np.asarray(up, dtype=np.float64)[None])[0]

    def shallow(
        self, up: np.ndarray, minima: np.ndarray, depth_mm: float, radius_mm: float = 1.0, limit: int = 256
    ) -> np.ndarray:
        """For each minimum (m,), True when the surface within ``depth_mm`` above it
        (searched within ``radius_mm``) connects it to lower metal: (m,) bool.

        At most ``limit`` minima are examined (the rest count as deep: a tip too many,
        never an island missed).
        """
        out = np.zeros(len(minima), dtype=bool)
        if len(minima) == 0 or depth_mm <= 0:
            return out
        if self.solid is not None:
            return self._shallow_sliced(up, minima, depth_mm, limit)
        if self._tree is None:
            self._tree = cKDTree(self.vertices)
        h = self.vertices @ up
        for k, m in enumerate(minima[:limit]):
            nb = np.sort(np.asarray(self._tree.query_ball_point(self.vertices[m], radius_mm), dtype=np.int64))
            nb = nb[h[nb] <= h[m] + depth_mm]
            if len(nb) < 2 or not (h[nb] < h[m]).any():
                continue
            _, labels = connected_components(self._local_graph(nb), directed=False)
            mine = labels[np.searchsorted(nb, m)]
            out[k] = bool((h[nb][labels == mine] < h[m]).any())
        return out

    def _local_graph(self, nb: np.ndarray) -> csr_matrix:
        """The mesh edges among sorted vertices ``nb`` (k,) as a (k, k) graph, gathered
        from the adjacency rows of ``nb`` alone (slicing the whole matrix is slower)."""
        ptr, ind = self.adj.indptr, self.adj.indices
        starts, counts = ptr[nb], ptr[nb + 1] - ptr[nb]
        total = int(counts.sum())
        first = np.repeat(np.cumsum(counts) - counts, counts)
        nbrs = ind[np.repeat(starts, counts) + np.arange(total) - first]
        src = np.repeat(np.arange(len(nb)), counts)
        pos = np.clip(np.searchsorted(nb, nbrs), 0, len(nb) - 1)
        inside = nb[pos] == nbrs
        k = len(nb)
        return csr_matrix((np.ones(int(inside.sum()), dtype=bool), (src[inside], pos[inside])), shape=(k, k))

    def _shallow_sliced(self, up: np.ndarray, minima: np.ndarray, layer_mm: float, limit: int) -> np.ndarray:
        """The layer check's own question, asked of cross-sections: the region around the
        minimum one layer above it stands on the section at its height with at least
        ``min_area_mm2`` (or a quarter of its area). (m,) bool."""
        out = np.zeros(len(minima), dtype=bool)
        rot = rotation_to_z(up)
        solid = self.solid.transform(np.column_stack([rot, np.zeros(3)]))
        pts = self.vertices[minima[:limit]] @ rot.T
        probe = manifold3d.CrossSection.square((0.1, 0.1), center=True)
        for k, p in enumerate(pts):
            above = solid.slice(float(p[2] + layer_mm))
            below = solid.slice(float(p[2] - 1e-3))
            near = probe.translate((float(p[0]), float(p[1])))
            regions = [c for c in above.decompose() if (c ^ near).area() > 0]
            out[k] = bool(regions) and all(
                (c ^ below).area() >= min(MIN_SUPPORTED_MM2, 0.25 * c.area()) for c in regions
            )
        return out


#: the last finder made from a mesh (weakly: it lives as long as its user keeps it)
_last_finder: weakref.ref[MinimaFinder] | None = None


def rigid_motion(a: np.ndarray, b: np.ndarray, tol_mm: float = 1e-6) -> tuple[np.ndarray, np.ndarray] | None:
    """The rotation R (3, 3) and offset t (3,) with ``b = a @ R.T + t`` within
    ``tol_mm`` at every point, or None when ``b`` is no rigid motion of ``a``.

    a, b : (n, 3) float64, mm, the same points in two frames (Kabsch: the SVD of the
    cross-covariance of the centred points, checked on every point).
    """
    if a.shape != b.shape or len(a) < 3:
        return None
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    h = (a - ca).T @ (b - cb)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    t = cb - ca @ rot.T
    if np.abs(a @ rot.T + t - b).max() > tol_mm:
        return None
    return rot, t


def _moved_finder(mesh: trimesh.Trimesh) -> MinimaFinder | None:
    """The kept finder carried to ``mesh`` when ``mesh`` is its mesh moved rigidly
    (same faces), else None."""
    kept = _last_finder() if _last_finder is not None else None
    if kept is None:
        return None
    faces = np.asarray(mesh.faces)
    if faces.shape != kept.faces.shape or len(mesh.vertices) != len(kept.vertices):
        return None
    if not np.array_equal(faces, kept.faces):
        return None
    vertices = np.ascontiguousarray(mesh.vertices, dtype=np.float64)
    motion = rigid_motion(kept.vertices, vertices)
    if motion is None:
        return None
    solid = None if kept.solid is None else kept.solid.transform(np.column_stack(motion))
    finder = MinimaFinder(vertices, kept.faces, np.ascontiguousarray(kept.vnormals @ motion[0].T), solid)
    finder._nbrs = kept._nbrs
    return finder


#: supported area that makes a region no island: 10 pixels of 35 um (the layer check's
#: 10 px on a 4K display)
MIN_SUPPORTED_MM2 = 10 * 0.035**2

