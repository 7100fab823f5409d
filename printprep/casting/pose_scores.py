"""Scores of candidate poses: the area terms on a face sample (:func:`score_poses`) and the
islands a pose leaves, counted on the full mesh (:func:`island_counts`). What each term
means and weighs is in :mod:`orient`'s notes; :func:`orient.choose_orientation` combines them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from printprep.casting.islands import MinimaFinder
    from printprep.casting.orient import OrientSettings


def score_poses(
    up: np.ndarray,
    centers: np.ndarray,
    normals: np.ndarray,
    area: np.ndarray,
    detail: np.ndarray,
    hull_vertices: np.ndarray,
    s: OrientSettings,
    hard: np.ndarray | None = None,
    area_scale: float = 1.0,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Score every candidate: up (k, 3) -> scores (k,), terms {name: (k,)}.

    centers, normals : (f, 3) of the sampled faces; area : (f,) mm²; detail, hard :
    (f,) float 0/1 masks; area_scale : the whole surface's area over the samples' (the
    hard-detail term is in mm² of the whole piece).
    """
    down_dot = -(normals @ up.T)  # (f, k)
    over = down_dot > np.cos(np.radians(90.0 - s.critical_angle_deg - s.margin_deg))
    a_support = area @ over
    a_detail = (area * detail) @ over
    if hard is None:
        a_hard = np.zeros(len(up))
    else:
        hard_over = down_dot > np.cos(np.radians(90.0 - s.critical_angle_deg))
        a_hard = area_scale * ((area * hard) @ hard_over)
    hh = hull_vertices @ up.T
    height = hh.max(axis=0) - hh.min(axis=0)
    h = centers @ up.T
    h -= h.min(axis=0)
    proj = area[:, None] * np.clip(down_dot, 0.0, None)
    # the largest projected area in one band, per candidate: one bincount over
    # (candidate, band) pairs instead of one per candidate
    bins = (h / s.peel_band_mm).astype(np.int64)
    nb = int(bins.max()) + 1
    flat = (bins + nb * np.arange(len(up))[None, :]).ravel()
    peel = np.bincount(flat, weights=proj.ravel(), minlength=nb * len(up)).reshape(len(up), nb).max(axis=1)
    total = float(area.sum())
    diag = float(np.linalg.norm(np.ptp(hull_vertices, axis=0)))
    score = (
        s.w_hard_down * a_hard
        + s.w_detail * a_detail / total
        + s.w_support * a_support / total
        + s.w_height * height / diag
        + s.w_peel * peel / total
    )
    terms = {
        "hard_overhang_mm2": a_hard / area_scale,
        "detail_overhang_mm2": a_detail,
        "overhang_mm2": a_support,
        "height_mm": height,
        "peel_mm2": peel,
    }
    return score, terms


def island_counts(
    up: np.ndarray,
    finder: MinimaFinder,
    vdetail: np.ndarray,
    vhard: np.ndarray,
    depth_mm: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Down-facing local minima with ``up`` as vertical, for each candidate.

    up : (k, 3); vdetail, vhard : (v,) bool. Minima on hard detail that are shallower
    than ``depth_mm`` (they join lower metal within a layer: not islands) are left out.
    returns (on hard detail, on detail, total), each (k,) int64
    """
    on_hard = np.zeros(len(up), dtype=np.int64)
    on_detail = np.zeros(len(up), dtype=np.int64)
    total = np.zeros(len(up), dtype=np.int64)
    for k, (u, minima) in enumerate(zip(up, finder.minima_many(up), strict=True)):
        hard_m = minima[vhard[minima]]
        # at most 32 examined per candidate: the rest count as islands (a cost cap on
        # textured meshes with thousands of minima; a pose is never made to look better)
        shallow = hard_m[finder.shallow(u, hard_m, depth_mm, limit=32)]
        total[k] = len(minima) - len(shallow)
        on_detail[k] = int(vdetail[minima].sum()) - int(vdetail[shallow].sum())
        on_hard[k] = len(hard_m) - len(shallow)
    return on_hard, on_detail, total
