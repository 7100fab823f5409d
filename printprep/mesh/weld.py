"""Vertex welding: exact (identical coordinates) and near (within a tolerance).

Exact welding hashes the coordinate bits into one uint64 per vertex and sorts that once;
a collision check falls back to a full row sort, so the result is always exact.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from printprep.mesh.sorting import argsort_keys, group_starts

_P = np.array([0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


def unique_rows(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows of ``points`` (k, 3) float, exactly.

    Returns (unique (n, 3) same dtype, inverse (k,) int64) with ``unique[inverse] == points``.
    -0.0 and +0.0 count as the same coordinate. Rows are grouped by a hash of their bits
    (one packed sort, see :mod:`printprep.mesh.sorting`); rows whose hash collides with a
    different row are separated exactly, so the result never merges distinct points.
    """
    pts = np.ascontiguousarray(points) + points.dtype.type(0.0)
    k = len(pts)
    if k == 0:
        return pts, np.zeros(0, np.int64)
    if pts.dtype == np.float32:
        bits = pts.view(np.uint32).astype(np.uint64)
    else:
        raw = pts.view(np.uint64)
        bits = raw ^ (raw >> np.uint64(29))
    with np.errstate(over="ignore"):
        key = (bits[:, 0] * _P[0]) ^ (bits[:, 1] * _P[1]) ^ (bits[:, 2] * _P[2])
    del bits
    # keep the hash's top bits so that hash and row index pack into one sortable int64
    key_bits = 63 - max(int(k - 1).bit_length(), 1)
    key = (key >> np.uint64(64 - key_bits)).astype(np.int64)
    order, sk = argsort_keys(key, (1 << key_bits) - 1)
    del key
    starts = group_starts(sk)
    group = np.zeros(k, dtype=np.int64)
    if len(starts) > 1:
        group[starts[1:]] = 1
        np.cumsum(group, out=group)
    first = order[starts]
    # a group is exact when each sorted row equals the one before it (1-D gathers and
    # neighbour comparisons: far faster than gathering (k, 3) rows)
    differs = np.zeros(k, dtype=bool)
    for axis in range(3):
        col = pts[:, axis][order]
        differs[1:] |= col[1:] != col[:-1]
    differs[starts] = False
    if differs.any():  # hash collisions: split those groups exactly
        bad_group = np.zeros(len(starts), dtype=bool)
        bad_group[group[differs]] = True
        rows = order[bad_group[group]]
        sub_unique, sub_inverse = np.unique(pts[rows], axis=0, return_inverse=True)
        good = ~bad_group
        n_good = int(good.sum())
        good_id = np.cumsum(good) - 1
        inverse = np.empty(k, dtype=np.int64)
        inverse[order] = good_id[group]
        inverse[rows] = n_good + sub_inverse.reshape(-1)
        unique = np.concatenate([pts[first[good]], sub_unique])
        return unique, inverse
    inverse = np.empty(k, dtype=np.int64)
    inverse[order] = group
    return pts[first], inverse


def weld_soup(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indexed mesh from a triangle soup by exact welding.

    Coordinates within 1e-12 of the largest one from zero count as zero.

    triangles : (m, 3, 3) float32/float64 -> (vertices (n, 3) float64, faces (m, 3) int64).
    """
    flat = triangles.reshape(-1, 3)
    extent = float(np.abs(flat).max()) if len(flat) else 0.0
    tiny = np.abs(flat) < extent * 1e-12  # exporters' round-off around zero (±1e-16)
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
    pairs = cKDTree(vertices[candidates]).query_pairs(tol_mm, output_type="ndarray")
    if len(pairs) == 0:
        return vertices, faces, 0
    k = len(candidates)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    n_groups, labels = connected_components(graph, directed=False)
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
