"""Scores of candidate poses: the area terms on a face sample (:func:`score_poses`) and the
islands a pose leaves, counted on the full mesh (:func:`island_counts`). What each term
means and weighs is in :mod:`orient`'s notes; :func:`orient.choose_orientation` combines them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from printprep.casting.pose_kernels import pose_terms

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
    up = np.ascontiguousarray(np.atleast_2d(up), dtype=np.float64)
    hard_f = np.zeros(len(area)) if hard is None else np.ascontiguousarray(hard, dtype=np.float64)
    terms_k = pose_terms(
        up,
        np.ascontiguousarray(centers, dtype=np.float64),
        np.ascontiguousarray(normals, dtype=np.float64),
        np.ascontiguousarray(area, dtype=np.float64),
        np.ascontiguousarray(detail, dtype=np.float64),
        hard_f,
        np.ascontiguousarray(hull_vertices, dtype=np.float64),
        float(np.cos(np.radians(90.0 - s.critical_angle_deg - s.margin_deg))),
        float(np.cos(np.radians(90.0 - s.critical_angle_deg))),
        float(s.peel_band_mm),
    )
    a_support, a_detail, height, peel = terms_k[:, 0], terms_k[:, 1], terms_k[:, 3], terms_k[:, 4]
    a_hard = np.zeros(len(up)) if hard is None else area_scale * terms_k[:, 2]
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
