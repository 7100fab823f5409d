"""numba kernel of the area terms of candidate poses (:func:`printprep.casting.pose_scores.score_poses`)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, parallel=True)
def pose_terms(
    ups: np.ndarray,
    centers: np.ndarray,
    normals: np.ndarray,
    area: np.ndarray,
    detail: np.ndarray,
    hard: np.ndarray,
    hull_vertices: np.ndarray,
    cos_over: float,
    cos_hard: float,
    band_mm: float,
) -> np.ndarray:
    """Area terms of every candidate "up" direction, one candidate per thread step.

    ups : (k, 3) float64 unit; centers, normals : (f, 3) float64 (mm, unit) of the
    sampled faces; area : (f,) float64 mm²; detail, hard : (f,) float64 0/1 masks;
    hull_vertices : (h, 3) float64 mm; cos_over, cos_hard : a face is an overhang when
    its downward cosine ``-normal·up`` exceeds them; band_mm : the peel band.
    returns (k, 5) float64 per candidate: overhang area, detail overhang area, hard
    overhang area (mm², of the sample), height along up (mm), peel (mm²).

    In numpy (``score_poses`` before this kernel): ``down = -(normals @ ups.T)``;
    ``area @ (down > cos_over)``, ``(area * detail) @ (down > cos_over)``,
    ``(area * hard) @ (down > cos_hard)``; height ``ptp(hull_vertices @ ups.T)``; peel:
    heights ``h = centers @ ups.T - min``, bands ``(h / band_mm).astype(int)``, the
    largest band sum of ``area * clip(down, 0)``. Sums run over the faces in order.
    """
    k = ups.shape[0]
    n = centers.shape[0]
    out = np.zeros((k, 5))
    for j in numba.prange(k):
        ux, uy, uz = ups[j, 0], ups[j, 1], ups[j, 2]
        a_sup = 0.0
        a_det = 0.0
        a_hard = 0.0
        hmin = np.inf
        for i in range(n):
            d = -(normals[i, 0] * ux + normals[i, 1] * uy + normals[i, 2] * uz)
            if d > cos_over:
                a_sup += area[i]
                a_det += area[i] * detail[i]
            if d > cos_hard:
                a_hard += area[i] * hard[i]
            h = centers[i, 0] * ux + centers[i, 1] * uy + centers[i, 2] * uz
            if h < hmin:
                hmin = h
        lo = np.inf
        hi = -np.inf
        for i in range(hull_vertices.shape[0]):
            h = hull_vertices[i, 0] * ux + hull_vertices[i, 1] * uy + hull_vertices[i, 2] * uz
            lo = min(lo, h)
            hi = max(hi, h)
        hmax_rel = 0.0
        for i in range(n):
            h = centers[i, 0] * ux + centers[i, 1] * uy + centers[i, 2] * uz - hmin
            hmax_rel = max(hmax_rel, h)
        bins = np.zeros(int(hmax_rel / band_mm) + 1)
        for i in range(n):
            d = -(normals[i, 0] * ux + normals[i, 1] * uy + normals[i, 2] * uz)
            if d > 0.0:
                h = centers[i, 0] * ux + centers[i, 1] * uy + centers[i, 2] * uz - hmin
                bins[int(h / band_mm)] += area[i] * d
        out[j, 0] = a_sup
        out[j, 1] = a_det
        out[j, 2] = a_hard
        out[j, 3] = hi - lo
        out[j, 4] = bins.max()
    return out
