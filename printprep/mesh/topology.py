"""Edges, shells and orientation of an indexed triangle mesh, by sorting (no graphs of
Python objects).

A half-edge ``h`` belongs to face ``h // 3`` and runs from ``faces[f, h % 3]`` to
``faces[f, (h + 1) % 3]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from printprep.errors import MeshError
from printprep.mesh import topology_kernels as kernels


@dataclass
class EdgeInfo:
    """Undirected edges of a mesh and how faces use them.

    he_sorted : (3m,) int64 half-edge ids sorted by undirected edge.
    edge_start : (e,) int64 index into ``he_sorted`` where each undirected edge starts.
    edge_count : (e,) int64 faces using each edge (1: boundary, 2: manifold, >2: non-manifold).
    edge_vertices : (e, 2) int64 vertex ids (smaller first).
    src : (3m,) int64 start vertex of each half-edge (``faces.reshape(-1)``, usually a
        view of the faces: not to be written to).
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
        """Edges used by one face (counted once per grouping)."""
        n = self.__dict__.get("_n_boundary")
        if n is None:
            n = self.__dict__["_n_boundary"] = int(np.count_nonzero(self.edge_count == 1))
        return n

    @property
    def n_non_manifold(self) -> int:
        """Edges used by more than two faces (counted once per grouping)."""
        n = self.__dict__.get("_n_non_manifold")
        if n is None:
            n = self.__dict__["_n_non_manifold"] = int(np.count_nonzero(self.edge_count > 2))
        return n

    def flipped(self, faces: np.ndarray, flip: np.ndarray) -> EdgeInfo:
        """The grouping of ``faces`` (m, 3), which are this info's faces with the rows in
        ``flip`` (m,) bool reversed (``[a, b, c] -> [c, b, a]``): same edges, no sort.

        A reversed face runs its edge ab as half-edge 1 and bc as half-edge 0.
        """
        if not flip.any():
            out = EdgeInfo(self.he_sorted, self.edge_start, self.edge_count, self.edge_vertices, np.ascontiguousarray(faces, dtype=np.int64).reshape(-1))
        else:
            he = kernels.flip_half_edges(self.he_sorted, np.ascontiguousarray(flip, dtype=np.bool_))
            out = EdgeInfo(he, self.edge_start, self.edge_count, self.edge_vertices, np.ascontiguousarray(faces, dtype=np.int64).reshape(-1))
        if "_repeats_vertex" in self.__dict__:  # reversing a face keeps its vertices
            out.__dict__["_repeats_vertex"] = self.__dict__["_repeats_vertex"]
        return out

    def manifold_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The two half-edges of every edge used by exactly two faces: ((k,), (k,)) int64.

        Computed once per grouping, with :meth:`same_direction` (one compiled pass,
        :func:`topology_kernels.manifold_pairs`; the arrays are not to be written to)."""
        pairs = self.__dict__.get("_manifold_pairs")
        if pairs is None:
            a, b, same, shares_third = kernels.manifold_pairs(self.he_sorted, self.edge_start, self.edge_count, self.src)
            pairs = (a, b)
            self.__dict__["_manifold_pairs"] = pairs
            self.__dict__["_same_direction"] = same
            self.__dict__["_shares_third"] = bool(shares_third)
        return pairs

    def same_direction(self) -> np.ndarray:
        """(k,) bool for the :meth:`manifold_pairs`: whether the two faces run the edge the
        same way (their winding disagrees). Computed once per grouping."""
        if "_same_direction" not in self.__dict__:
            self.manifold_pairs()
        return self.__dict__["_same_direction"]

    def repeats_vertex(self) -> bool:
        """Whether some face uses a vertex twice (then one of its half-edges runs from a
        vertex to itself). Known from :func:`edge_info`'s pass; other groupings look."""
        if "_repeats_vertex" not in self.__dict__:
            he = self.src.reshape(-1, 3)
            self.__dict__["_repeats_vertex"] = bool(
                ((he[:, 0] == he[:, 1]) | (he[:, 1] == he[:, 2]) | (he[:, 2] == he[:, 0])).any()
            )
        return self.__dict__["_repeats_vertex"]

    def pairs_share_third_vertex(self) -> bool:
        """Whether the two faces of some manifold edge have the same vertex opposite it
        (they may then be one triangle twice). Found with :meth:`manifold_pairs`, once
        per grouping."""
        if "_shares_third" not in self.__dict__:
            self.manifold_pairs()
        return self.__dict__["_shares_third"]

    def chained_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Consecutive half-edges of the same edge (a chain around non-manifold edges).

        Without non-manifold edges these are the :meth:`manifold_pairs`."""
        if self.n_non_manifold == 0:
            return self.manifold_pairs()
        same = np.zeros(len(self.he_sorted) - 1, dtype=bool) if len(self.he_sorted) else np.zeros(0, bool)
        if len(self.he_sorted) > 1:
            counts_he = np.repeat(self.edge_count, self.edge_count)
            starts_he = np.repeat(self.edge_start, self.edge_count)
            pos = np.arange(len(self.he_sorted))
            same = (pos[:-1] - starts_he[:-1] + 1) < counts_he[:-1]
        idx = np.nonzero(same)[0]
        return self.he_sorted[idx], self.he_sorted[idx + 1]


def edge_info(faces: np.ndarray, n_vertices: int) -> EdgeInfo:
    """Group the half-edges of ``faces`` (m, 3) int by undirected edge (one compiled pass,
    :func:`topology_kernels.edge_table`: the order of a stable sort by ``(lo, hi)``)."""
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if not faces.flags.writeable:  # the kernels are compiled for writable arrays
        faces = faces.copy()
    _check_nodes(int(n_vertices))  # the table packs a vertex id and a half-edge id in one word
    if 3 * len(faces) >= 2**32:
        raise MeshError(f"{len(faces)} triangles exceed the {(2**32 - 1) // 3} the edge table handles", where="mesh")
    he_sorted, edge_start, edge_count, edge_vertices, n_loops = kernels.edge_table(faces, max(int(n_vertices), 1))
    # the start vertex of each half-edge is the face's corner: a view, not a 3m copy
    info = EdgeInfo(he_sorted, edge_start, edge_count, edge_vertices, faces.reshape(-1))
    info.__dict__["_repeats_vertex"] = n_loops > 0
    return info


def append_faces(info: EdgeInfo, faces: np.ndarray, n_old: int) -> EdgeInfo:
    """The grouping of ``faces`` (m, 3) int64, whose first ``n_old`` rows are the faces
    ``info`` groups (unchanged) and the rest appended: the same as :func:`edge_info` of
    ``faces``, by merging the appended faces' few half-edges into the old table
    (:func:`topology_kernels.append_edges`) instead of grouping the whole mesh again."""
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    new = faces[n_old:]
    a = new.reshape(-1)
    b = new[:, [1, 2, 0]].reshape(-1)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    he = 3 * n_old + np.arange(len(a), dtype=np.int64)
    order = np.lexsort((he, hi, lo))
    he_sorted, edge_start, edge_count, edge_vertices = kernels.append_edges(
        info.he_sorted, info.edge_start, info.edge_count, info.edge_vertices, lo[order], hi[order], he[order]
    )
    out = EdgeInfo(he_sorted, edge_start, edge_count, edge_vertices, faces.reshape(-1))
    if "_repeats_vertex" in info.__dict__:  # known for the old faces: look at the new ones only
        out.__dict__["_repeats_vertex"] = info.__dict__["_repeats_vertex"] or bool((lo == hi).any())
    return out


def inconsistent_edges(info: EdgeInfo) -> int:
    """Manifold edges whose two faces run them the same way (winding flips across them)."""
    return int(np.count_nonzero(info.same_direction()))


def face_components(info: EdgeInfo, n_faces: int, *, through_non_manifold: bool = True) -> tuple[int, np.ndarray]:
    """Label faces connected across shared edges.

    With ``through_non_manifold`` False only manifold edges (two faces) connect faces, so
    a mesh is cut apart along its non-manifold edges. Returns (count, labels (m,) int32).
    """
    if info.n_non_manifold == 0 and "_manifold_pairs" in info.__dict__:
        a, b = info.manifold_pairs()  # already known: the same pairs (no edge has three faces)
        return components(n_faces, a // 3, b // 3)
    fa, fb = kernels.consecutive_pairs(info.he_sorted, info.edge_start, info.edge_count, not through_non_manifold)
    return components(n_faces, fa, fb)


def components(n: int, u: np.ndarray, v: np.ndarray) -> tuple[int, np.ndarray]:
    """Connected components of the graph on ``n`` nodes with edges (u, v) (p,) int:
    (count, labels (n,) int64 numbered by each component's smallest node, as scipy's
    ``connected_components`` numbers them; union-find, :mod:`topology_kernels`)."""
    _check_nodes(n)
    count, labels = kernels.component_labels(
        int(n), np.ascontiguousarray(u, dtype=np.int64), np.ascontiguousarray(v, dtype=np.int64)
    )
    return int(count), labels


def _check_nodes(n: int) -> None:
    """Refuse graphs too big for the int32 union-find forests of :mod:`topology_kernels`."""
    if n > kernels.MAX_NODES:
        raise MeshError(f"{n} elements exceed the {kernels.MAX_NODES} the mesh topology handles", where="mesh")


def orient_faces(info: EdgeInfo, n_faces: int, patch: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Flips that make the winding consistent across manifold edges.

    Union-find with parity over the manifold pairs (:func:`topology_kernels.orient_parity`;
    the numpy reading is the orientation double cover, node ``f`` = face as is, ``f + m`` =
    flipped, whose components say which faces share the winding of their patch's first
    face). The first face of each patch keeps its winding. Returns (flip (m,) bool, number
    of non-orientable patches, e.g. Möbius strips, which are left as they are).
    patch : unused (kept for callers that pass the patches they know).
    """
    flip, n_bad, _ = orient_and_patches(info, n_faces, patches=False)
    return flip, n_bad


def orient_and_patches(info: EdgeInfo, n_faces: int, *, patches: bool = True) -> tuple[np.ndarray, int, np.ndarray | None]:
    """:func:`orient_faces` and the manifold patches of the faces (faces joined across
    edges of exactly two faces), which its union-find finds on the way: (flip (m,) bool,
    non-orientable patches, patch labels (m,) int64 numbered by each patch's smallest
    face, or None without ``patches``)."""
    a, b = info.manifold_pairs()
    same_dir = info.same_direction()  # consistent neighbours run a shared edge opposite ways
    _check_nodes(n_faces)
    if not same_dir.any():  # already consistent everywhere: nothing to flip
        labels = components(n_faces, a // 3, b // 3)[1] if patches else None
        return np.zeros(n_faces, dtype=bool), 0, labels
    flip, n_bad, _, labels = kernels.orient_parity(int(n_faces), a, b, same_dir)
    return flip, int(n_bad), (labels if patches else None)


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
