"""Print orientation: search tilts of the part for the fewest supports on detail.

A candidate is an "up" direction ``u`` in the part frame (it becomes +z on the printer).
Each is scored on an area-weighted sample of the faces:

* hard-detail overhang area — area of hard detail (seats, prong tips, engraving,
  texture, user marks) facing down beyond the critical angle, in mm² of the piece
  (weight 0.06 per mm²): the layer check finds islands on such faces — the ceilings of
  engraved strokes, the lower edges of a textured band — that only a tip on the detail
  can hold, one to three per mm² on the test jewelry. Only poses whose other terms stay
  within ``area_budget`` of the best pose's gain from it: a cuff does not lie on its
  side, doubling its height, to spare its lettering;
* detail overhang area — area of detail faces that would need a support (weight 20);
* overhang area — area facing down within ``90 - critical_angle_deg`` of straight down;
* height along ``u`` (print time);
* peel — the largest new cross-section area appearing within one 0.5 mm band.

Candidates are a Fibonacci sphere (``candidates``, a few hundred); the best by score and
by the area terms alone get their islands counted on the full mesh (one pass of a numba
kernel for all of them), and the best few are refined in three rounds. Rings (one body with a through hole) are held at the tilt
workshops use: the ring axis ``ring_tilt_deg`` above the plate (30–45°). Everything is
deterministic: no random numbers, ties broken by candidate order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from printprep.casting.islands import MinimaFinder
from printprep.casting.pose_scores import island_counts, score_poses
from printprep.casting.poses import (
    area_sample,
    face_areas_mm2,
    fibonacci_sphere,
    ring_axis,
    rotation_to_z,
)


@dataclass(frozen=True)
class OrientSettings:
    """Settings of the orientation search (angles in degrees)."""

    candidates: int = 300
    critical_angle_deg: float = 45.0
    #: faces this close to the critical angle count as overhangs too: the search must not
    #: win by laying big faces exactly on the limit (they print as stair-step slivers)
    margin_deg: float = 10.0
    ring_tilt_deg: tuple[float, float] = (30.0, 45.0)
    #: a ring leaves the tilt band only for a pose whose hard-detail cost (score units)
    #: is lower than the best tilted pose's by this much
    free_pose_margin: float = 2.0
    #: the hard-detail term picks among poses whose other area terms (support, height,
    #: peel; score units) are within this of the best pose's
    area_budget: float = 0.05
    #: the shortlisted poses refined (the best by full score first; one above 200k faces)
    refine_starts: int = 3
    max_samples: int = 20_000
    w_detail: float = 20.0
    #: per mm² of hard detail facing down beyond the critical angle (absolute, not a
    #: share of the surface: each mm² costs tips on detail whatever the piece's size).
    #: Within the area budget below, 1 mm² outweighs 6 % of the surface needing support
    w_hard_down: float = 0.06
    w_support: float = 1.0
    w_height: float = 0.3
    w_peel: float = 0.5
    #: per island (down-facing local minimum) on a hard-detail face / a detail face / anywhere
    w_hard_island: float = 2.0
    w_detail_island: float = 0.2
    w_island: float = 0.02
    #: a minimum on hard detail joined to lower metal within this height is no island
    #: (prepare sets the printer's layer height)
    island_depth_mm: float = 0.05
    #: candidates whose islands are counted on the full mesh
    island_checks: int = 16
    #: those candidates are at least this far apart (degrees)
    spread_deg: float = 20.0
    peel_band_mm: float = 0.5


@dataclass(frozen=True)
class Orientation:
    """The chosen orientation.

    rotation : (3, 3) float64 — print-frame vertices are ``vertices @ rotation.T``
    up : (3,) float64 — the part-frame direction that points up on the printer
    ring_axis : (3,) float64 or None — the ring's axis in the part frame when a ring
    score : the winning score; terms : its parts (mm², mm)
    """

    rotation: np.ndarray
    up: np.ndarray
    ring_axis: np.ndarray | None
    score: float
    terms: dict[str, float]


def _allowed(up: np.ndarray, axis: np.ndarray | None, s: OrientSettings) -> np.ndarray:
    if axis is None:
        return np.ones(len(up), dtype=bool)
    lo, hi = np.sin(np.radians(s.ring_tilt_deg[0])), np.sin(np.radians(s.ring_tilt_deg[1]))
    d = np.abs(up @ axis)
    return (d >= lo - 1e-9) & (d <= hi + 1e-9)


def _spread(cand: np.ndarray, order: np.ndarray, k: int, min_deg: float) -> np.ndarray:
    """The first ``k`` of ``order`` (indices into cand (n, 3)) at least ``min_deg`` apart,
    so the island count judges distinct poses, not one cluster of near-twins (a ring's
    head-down poses can hold every top area score and hide the head-up ones)."""
    cos_min = np.cos(np.radians(min_deg))
    picked: list[int] = []
    for i in order:
        if not picked or (cand[picked] @ cand[i]).max() < cos_min:
            picked.append(int(i))
            if len(picked) == k:
                break
    return np.asarray(picked, dtype=np.int64)


def _around(u: np.ndarray, step_deg: float) -> np.ndarray:
    """u and 8 directions ``step_deg`` away from it: (9, 3)."""
    helper = np.array([1.0, 0, 0]) if abs(u[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(u, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    ang = np.arange(8) * np.pi / 4
    t = np.radians(step_deg)
    ring = np.cos(t) * u + np.sin(t) * (np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2)
    return np.vstack([u, ring])


def choose_orientation(
    mesh: trimesh.Trimesh,
    detail: np.ndarray,
    hard: np.ndarray | None = None,
    settings: OrientSettings | None = None,
    *,
    up: np.ndarray | None = None,
    engine=None,
    ring: np.ndarray | None | bool = True,
    finder: MinimaFinder | None = None,
) -> Orientation:
    """Search the print orientation of ``mesh`` (mm) given its per-face ``detail`` and
    ``hard`` detail masks (f,) bool (``hard`` defaults to ``detail``).

    ``up`` forces the up direction (part frame); ``ring`` True detects a ring, False
    disables the ring tilt, an array gives the axis. ``finder`` : the mesh's
    MinimaFinder when the caller has one (else made here).
    """
    s = settings or OrientSettings()
    all_area = face_areas_mm2(mesh)
    faces = area_sample(all_area, s.max_samples)
    tri = np.asarray(mesh.vertices)[np.asarray(mesh.faces)[faces]]  # (s, 3, 3)
    centers = tri.mean(axis=1)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    normals = cross / np.maximum(2.0 * area, 1e-300)[:, None]
    det = detail[faces].astype(float)
    hard_mask = detail if hard is None else hard
    hd = hard_mask[faces].astype(float)
    area_scale = float(all_area.sum() / area.sum())
    if len(mesh.vertices) > 100_000:
        # the hull of the sampled faces' corners: heights and footprint within a hair,
        # at a fraction of the cost of qhull over every vertex
        hull_vertices = trimesh.convex.convex_hull(mesh.vertices[np.unique(mesh.faces[faces])]).vertices
    else:
        hull_vertices = mesh.convex_hull.vertices
    if ring is True:
        axis = ring_axis(mesh, engine)
    elif ring is False or ring is None:
        axis = None
    else:
        axis = np.asarray(ring, dtype=float)

    vdetail = np.zeros(len(mesh.vertices), dtype=bool)
    vdetail[mesh.faces[detail].ravel()] = True
    vhard = np.zeros(len(mesh.vertices), dtype=bool)
    vhard[mesh.faces[detail if hard is None else hard].ravel()] = True
    finder = finder or MinimaFinder.of(mesh)
    # the depth test is exact (cross-sections) up to 200k faces; above, the vertex flood
    # costs more than it tells a search: hard minima count as islands, as they always did
    depth = s.island_depth_mm if finder.solid is not None else 0.0

    def counts(cand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return island_counts(cand, finder, vdetail, vhard, depth)

    def fullscore_poses(cand: np.ndarray, area_scores: np.ndarray) -> np.ndarray:
        on_hard, on_det, total = counts(cand)
        return (
            area_scores
            + s.w_hard_island * on_hard
            + s.w_detail_island * on_det
            + s.w_island * total
        )

    def hard_cost(u: np.ndarray) -> float:
        """What a pose costs on hard detail alone: its islands there and its hard
        detail facing down, weighted as in the score."""
        on_hard, _, _ = counts(u[None])
        sc_u, terms_u = score_poses(u[None], centers, normals, area, det, hull_vertices, s, hd, area_scale)
        return float(s.w_hard_island * on_hard[0] + s.w_hard_down * terms_u["hard_overhang_mm2"][0] * area_scale)

    def search(axis: np.ndarray | None) -> np.ndarray:
        cand = fibonacci_sphere(s.candidates)
        if axis is not None:
            # the tilt band is narrow: lay candidates on it directly
            tilts = np.radians(np.linspace(s.ring_tilt_deg[0], s.ring_tilt_deg[1], 4))
            helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
            e1 = np.cross(axis, helper)
            e1 /= np.linalg.norm(e1)
            e2 = np.cross(axis, e1)
            ang = np.arange(s.candidates // 4) * 2 * np.pi / (s.candidates // 4)
            ring_dirs = np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2
            cand = np.vstack(
                [np.cos(t) * ring_dirs + sgn * np.sin(t) * axis for t in tilts for sgn in (1.0, -1.0)]
            )
        cand = cand[_allowed(cand, axis, s)]

        def scored(
            c: np.ndarray, budget: float, ref_hard: float, pre: tuple | None = None
        ) -> tuple[np.ndarray, np.ndarray]:
            """(score, plain score without the hard-detail term) of candidates ``c``
            (``pre``: their _scores already computed). A pose whose plain score exceeds
            ``budget`` earns nothing from having less hard detail facing down than
            ``ref_hard`` (mm², the best plain pose's)."""
            sc, terms = pre if pre is not None else score_poses(
                c, centers, normals, area, det, hull_vertices, s, hd, area_scale
            )
            hard_mm2 = terms["hard_overhang_mm2"] * area_scale
            plain = sc - s.w_hard_down * hard_mm2
            hard_mm2 = np.where(plain > budget, np.maximum(hard_mm2, ref_hard), hard_mm2)
            return plain + s.w_hard_down * hard_mm2, plain

        first = score_poses(cand, centers, normals, area, det, hull_vertices, s, hd, area_scale)
        sc, plain = scored(cand, np.inf, 0.0, first)
        # hard detail facing down is avoided among the poses whose supported area,
        # height and peel stay within area_budget of the best: a cuff does not lie on
        # its side, doubling its height and walling its supports in, to spare its
        # lettering a few tips
        k0 = int(np.argmin(plain))
        budget = float(plain[k0]) + s.area_budget
        ref_hard = float((sc[k0] - plain[k0]) / s.w_hard_down) if s.w_hard_down > 0 else 0.0
        sc, plain = scored(cand, budget, ref_hard, first)
        # the island count judges the best poses by the full score and the best by the
        # area terms alone: a pose with a little more hard detail facing down but no
        # island on it (a solitaire's seat side) must not drop out before it is counted
        top = _spread(cand, np.argsort(sc, kind="stable"), s.island_checks, s.spread_deg)
        more = _spread(cand, np.argsort(plain, kind="stable"), s.island_checks // 2, s.spread_deg)
        top = np.concatenate([top, more[~np.isin(more, top)]])
        full = fullscore_poses(cand[top], sc[top])
        # refine the best few (a coarse pose next to a seat's islands may refine away
        # from them, or not): the lowest full score after refinement wins, ties to the
        # earlier start
        # (one start on big meshes, where each direction's minima cost a pass over
        # millions of edges)
        n_starts = s.refine_starts if len(mesh.faces) <= MinimaFinder.SLICE_MAX_FACES else 1
        starts = [int(j) for j in np.argsort(full, kind="stable")[:n_starts]]
        # and the best pose by the area terms alone (the first of ``more``)
        if len(more):
            j = int(np.nonzero(top == more[0])[0][0])
            if j not in starts:
                starts.append(j)
        bests = [cand[top[int(j)]] for j in starts]
        best_fulls = [float(full[int(j)]) for j in starts]
        for step in (4.0, 2.0, 1.0):
            # every start's neighbours in one batch: one pass of the minima kernel
            locals_ = [_around(b, step) for b in bests]
            locals_ = [loc[_allowed(loc, axis, s)] for loc in locals_]
            sizes = [len(loc) for loc in locals_]
            if sum(sizes) == 0:
                continue
            batch = np.vstack([loc for loc in locals_ if len(loc)])
            sc, _ = scored(batch, budget, ref_hard)
            f_batch = fullscore_poses(batch, sc)
            at = 0
            for q, size in enumerate(sizes):
                if size:
                    k = at + int(np.argmin(f_batch[at : at + size]))
                    if f_batch[k] < best_fulls[q]:
                        bests[q], best_fulls[q] = batch[k], float(f_batch[k])
                at += size
        results = list(zip(best_fulls, bests, strict=True))
        return min(results, key=lambda r: r[0])[1]

    if up is not None:
        best = np.asarray(up, dtype=float) / np.linalg.norm(up)
    else:
        best = search(axis)
        if axis is not None:
            # the ring tilt is the default, but support contact on hard detail (prong
            # tips, seats) must be zero when possible: a free pose whose hard-detail
            # cost (islands there, hard detail facing down) is lower wins, and the
            # report then names no ring tilt
            ring_cost = hard_cost(best)
            if ring_cost > 0:
                free = search(None)
                # a clear win only (about one island on hard detail fewer): the tilt is
                # what workshops print rings at
                if hard_cost(free) < ring_cost - s.free_pose_margin:
                    best, axis = free, None
    sc, terms = score_poses(best[None], centers, normals, area, det, hull_vertices, s, hd, area_scale)
    on_hard, on_det, total = counts(best[None])
    terms["islands"] = total.astype(float)
    terms["detail_islands"] = on_det.astype(float)
    terms["hard_detail_islands"] = on_hard.astype(float)
    rot = rotation_to_z(best)
    # yaw: lay the footprint's long side along the display's x axis (deterministic sign)
    xy = (hull_vertices @ rot.T)[:, :2]
    xy = xy - xy.mean(axis=0)
    w, v = np.linalg.eigh(np.cov(xy.T))
    major = v[:, 1] * (1.0 if v[np.argmax(np.abs(v[:, 1])), 1] > 0 else -1.0)
    c, si = major
    yaw = np.array([[c, si, 0.0], [-si, c, 0.0], [0.0, 0.0, 1.0]])
    rot = yaw @ rot
    scale = area_scale
    return Orientation(
        rotation=rot,
        up=best,
        ring_axis=axis,
        score=float(sc[0]),
        terms={
            k: float(v[0]) * (scale if k.endswith("mm2") else 1.0) for k, v in terms.items()
        },
    )
