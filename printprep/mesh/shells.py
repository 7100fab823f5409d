"""Per-shell measures: volume, area, bounds, open or closed, and nesting (cavities)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from printprep.mesh.measure import bounds_mm, row_norm, signed_volumes_mm3, triangle_cross
from printprep.mesh.raycast import RayScene
from printprep.mesh.topology import EdgeInfo


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


def shell_measures(
    vertices: np.ndarray, faces: np.ndarray, labels: np.ndarray, count: int, info: EdgeInfo,
    face_area_mm2: np.ndarray | None = None, scene: RayScene | None = None,
) -> Shells:
    """Measure each shell (labels from :func:`topology.face_components`).

    face_area_mm2 : (m,) float64 face areas when already known.
    scene : a ray scene of exactly these faces when one exists (nesting casts rays).
    """
    vol = np.bincount(labels, weights=signed_volumes_mm3(vertices, faces), minlength=count)
    if face_area_mm2 is None:
        face_area_mm2 = 0.5 * row_norm(triangle_cross(vertices, faces))
    area = np.bincount(labels, weights=face_area_mm2, minlength=count)
    nfaces = np.bincount(labels, minlength=count).astype(np.int64)
    if count == 1:  # one shell: its bounds are the mesh's
        if len(vertices) > faces.max() + 1:  # unused vertices (e.g. dropped patch centres)
            mask = np.zeros(len(vertices), dtype=bool)
            mask[faces.reshape(-1)] = True
            used = vertices[mask]
        else:
            used = vertices
        lo, hi = bounds_mm(used)
        lo, hi = lo[None], hi[None]
    elif count:
        order = np.argsort(labels, kind="stable")
        starts = np.concatenate([[0], np.cumsum(nfaces)[:-1]])
        tri = vertices[faces[order]]
        lo = np.minimum.reduceat(tri.min(axis=1), starts, axis=0)
        hi = np.maximum.reduceat(tri.max(axis=1), starts, axis=0)
    else:
        lo = hi = np.zeros((0, 3))
    bad_edges = info.edge_count != 2
    bad_faces = info.he_sorted[info.edge_start[bad_edges]] // 3
    open_edges = np.bincount(labels[bad_faces], minlength=count).astype(np.int64)
    zeros = np.zeros(count, dtype=np.int64)
    shells = Shells(labels, vol, area, lo, hi, nfaces, open_edges, zeros, zeros - 1)
    shells.depth, shells.parent = nesting_depth(vertices, faces, shells, scene)
    return shells


def nesting_depth(
    vertices: np.ndarray, faces: np.ndarray, shells: Shells, scene: RayScene | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """How many other closed shells contain each shell, and the smallest of them.

    Returns (depth (k,) int64, parent (k,) int64, -1 when not contained).

    Candidates are pairs whose bounding boxes nest; each is decided by ray parity from
    five vertices of the inner shell (three of five must be inside).
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
    if len(inner) == 0:
        return depth, parent
    box = np.prod(shells.hi_mm - shells.lo_mm, axis=1)
    order = np.argsort(shells.labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(shells.faces)[:-1]])
    cand = np.unique(inner)
    # five probe vertices per candidate inner shell, spread over its faces
    picks = np.concatenate([starts[cand] + (shells.faces[cand] - 1) * q // 4 for q in range(5)])
    probe = vertices[faces[order[picks], 0]]
    probe_shell = np.tile(cand, 5)
    point, shell = _odd_crossings(probe, vertices, faces, shells.labels, scene)
    is_pair = np.zeros((k, k), dtype=bool)
    is_pair[inner, outer] = True
    hit_inner = probe_shell[point]
    ok = is_pair[hit_inner, shell]
    votes = np.zeros((k, k), dtype=np.int64)
    np.add.at(votes, (hit_inner[ok], shell[ok]), 1)
    contained = votes >= 3  # (inner, outer): at least three of five probes inside
    depth = contained.sum(axis=1).astype(np.int64)
    boxed = np.where(contained, box[None, :], np.inf)
    parent = np.where(contained.any(axis=1), np.argmin(boxed, axis=1), -1).astype(np.int64)
    return depth, parent


#: A ray direction off every axis and diagonal, so probes rarely graze edges.
_RAY_DIR = np.array([0.5741, 0.6187, 0.5364]) / np.linalg.norm([0.5741, 0.6187, 0.5364])


def _odd_crossings(
    points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, labels: np.ndarray, scene: RayScene | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Which shells each point lies inside, by ray parity.

    One ray per point is advanced hit after hit (one Embree call per step for all rays).
    Returns (point ids, shell ids) pairs with an odd number of crossings: the point is
    inside that (closed) shell.
    """
    if scene is None:
        scene = RayScene(vertices, faces)
    origin = points.copy()
    # step past each hit by more than float32 rounding of the coordinates (Embree's
    # precision), so a ray through a shared edge does not count the second face again
    step_mm = 1e-6 * (1.0 + float(np.abs(vertices).max())) if len(vertices) else 1e-6
    active = np.arange(len(points))
    pts, shs = [], []
    direction = np.tile(_RAY_DIR, (len(points), 1))
    for _ in range(256):  # steps along the rays, each a batch over all rays
        if len(active) == 0:
            break
        hit, dist = scene.first_hit(origin[active], direction[active])
        alive = hit >= 0
        pts.append(active[alive])
        shs.append(labels[hit[alive]])
        origin[active[alive]] += direction[active[alive]] * (dist[alive] + step_mm)[:, None]
        active = active[alive]
    if not pts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pair = np.stack([np.concatenate(pts), np.concatenate(shs)], axis=1)
    uniq, count = np.unique(pair, axis=0, return_counts=True)
    odd = uniq[count % 2 == 1]
    return odd[:, 0], odd[:, 1]
