"""Vertex welding: exact (identical coordinates) and near (within a tolerance).

Exact welding is one pass over a hash table of the coordinate bits; near welding bins the
candidates in cells as wide as the tolerance (both compiled, :mod:`weld_kernels`).
"""

from __future__ import annotations

import numpy as np

from printprep.mesh import weld_kernels
from printprep.mesh.topology import components

#: In a triangle soup, coordinates below this fraction of the largest one (in absolute
#: value) are exporters' round-off around zero and count as zero.
TINY_RATIO = 1e-12


def unique_rows(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows of ``points`` (k, 3) float, exactly.

    Returns (unique (n, 3) same dtype, inverse (k,) int64) with ``unique[inverse] == points``.
    -0.0 and +0.0 count as the same coordinate. Unique rows follow the order of their first
    occurrence (:func:`weld_kernels.unique_rows_bits`: a hash of the bits finds candidates,
    the bits themselves decide, so distinct points are never merged).
    """
    pts = np.ascontiguousarray(points) + points.dtype.type(0.0)  # -0.0 -> +0.0
    if len(pts) == 0:
        return pts, np.zeros(0, np.int64)
    bits = pts.view(np.uint32 if pts.dtype == np.float32 else np.uint64)
    first, inverse = weld_kernels.unique_rows_bits(bits)
    return pts[first], inverse


def weld_soup(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indexed mesh from a triangle soup by exact welding.

    Coordinates within 1e-12 of the largest one from zero count as zero.

    triangles : (m, 3, 3) float32/float64 -> (vertices (n, 3) float64, faces (m, 3) int64).
    """
    flat = triangles.reshape(-1, 3)
    extent = float(np.abs(flat).max()) if len(flat) else 0.0
    tiny = np.abs(flat) < extent * TINY_RATIO  # exporters' round-off around zero (±1e-16)
    if tiny.any():
        flat = np.where(tiny, flat.dtype.type(0.0), flat)
    unique, inverse = unique_rows(flat)
    return unique.astype(np.float64), inverse.reshape(-1, 3)


def weld_exact(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Merge vertices with identical coordinates and drop unused ones.

    Returns (vertices (n', 3) float64, faces (m, 3) int64, number of vertices merged).
    """
    vertices, faces = compact(vertices, faces)
    unique, inverse = unique_rows(vertices)
    if len(unique) == len(vertices):
        return vertices, faces, 0
    return unique, inverse[faces], int(len(vertices) - len(unique))


def weld_near(
    vertices: np.ndarray, faces: np.ndarray, candidates: np.ndarray, tol_mm: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Merge each candidate vertex with candidates closer than ``tol_mm``.

    candidates : (k,) int64 vertex ids (usually those on open edges). Groups of close
    vertices collapse to their mean. Returns (vertices, faces, number of vertices merged).
    """
    if len(candidates) < 2 or tol_mm <= 0:
        return vertices, faces, 0
    pts = np.ascontiguousarray(vertices[candidates], dtype=np.float64)
    pi, pj = weld_kernels.close_pairs(pts, float(tol_mm))
    if len(pi) == 0:
        return vertices, faces, 0
    k = len(candidates)
    n_groups, labels = components(k, pi, pj)
    merged = k - n_groups
    sums = np.zeros((n_groups, 3))
    np.add.at(sums, labels, vertices[candidates])
    counts = np.bincount(labels, minlength=n_groups)[:, None]
    new_vertices = vertices.copy()
    rep = np.full(n_groups, -1, dtype=np.int64)
    rep[labels[::-1]] = candidates[::-1]  # first candidate of each group represents it
    new_vertices[rep] = sums / counts
    remap = np.arange(len(vertices), dtype=np.int64)
    remap[candidates] = rep[labels]
    return new_vertices, remap[faces], int(merged)


def compact(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop vertices no face uses. Returns (vertices, faces) re-indexed (no sorting)."""
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.reshape(-1)] = True
    if used.all():
        return vertices, faces
    remap = np.cumsum(used) - 1
    return vertices[used], remap[faces].astype(np.int64)
