"""Routes from a support tip to the base: clearance rays, bent legs, side beams.

Works in the print frame (z up, mm) with an embree ray engine over the part. Each
routine is deterministic: candidates are tried in a fixed order and ties go to the
first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import trimesh

from printprep.casting.analysis import ray_distance_mm
from printprep.casting.facts import facts_of
from printprep.casting.poses import fibonacci_sphere

if TYPE_CHECKING:
    from printprep.casting.supports import SupportSettings

UP = np.array([0.0, 0.0, 1.0])


def clear_along(engine, starts: np.ndarray, dirs: np.ndarray, radius_mm: float) -> np.ndarray:
    """Free length along each direction for a rod of ``radius_mm``: the shortest of nine
    parallel rays (axis and eight around the rim). starts, dirs : (n, 3); returns (n,)."""
    dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    helper = np.where(np.abs(dirs[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
    u = np.cross(dirs, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(dirs, u)
    ang = np.arange(8) * np.pi / 4
    offs = [np.zeros_like(u)] + [radius_mm * (np.cos(a) * u + np.sin(a) * v) for a in ang]
    o = np.concatenate([starts + off for off in offs])
    d = ray_distance_mm(engine, o, np.tile(dirs, (len(offs), 1)))
    return d.reshape(len(offs), -1).min(axis=0)


def clear_down(engine, pts: np.ndarray, radius_mm: float) -> np.ndarray:
    """Free length straight down from each point for a pillar of ``radius_mm``: (n,)."""
    return clear_along(engine, pts, np.tile(-UP, (len(pts), 1)), radius_mm)


def route_legs(
    engine, tips: np.ndarray, head_end: np.ndarray, s: SupportSettings
) -> dict[int, np.ndarray]:
    """For tips whose vertical path is blocked, the end of a straight leg from the tip
    (direction at least 45 degrees below horizontal, length up to 10 mm) from which the
    fall to the base is clear. Returns {index into tips: end point (3,)}; the shortest
    leg wins, then the steepest, then candidate order (deterministic).
    """
    pil_r = s.pillar_diameter_mm / 2
    sphere = fibonacci_sphere(400)
    dirs = sphere[sphere[:, 2] <= -np.sqrt(0.5)]
    dirs = dirs[np.lexsort((np.arange(len(dirs)), dirs[:, 2]))]  # steepest first
    lengths = np.array([1.5, 2.5, 3.5, 5.0, 6.5, 8.0, 10.0])
    n, nd = len(tips), len(dirs)
    # the head (first head_length_mm, tapering from the tip) may graze the surface it
    # holds; the rod is checked from half-way down the head, at full pillar radius
    lead = 0.5 * s.head_length_mm
    o = np.repeat(tips, nd, axis=0) + np.tile(dirs, (n, 1)) * lead
    d = np.tile(dirs, (n, 1))
    free = (clear_along(engine, o, d, pil_r) + lead).reshape(n, nd)
    ends = tips[:, None, None] + dirs[None, :, None] * lengths[None, None, :, None]  # (n, nd, nl, 3)
    fits = (free[:, :, None] > lengths[None, None, :] + pil_r) & (
        ends[..., 2] > s.base_thickness_mm + s.min_pillar_length_mm
    )
    out: dict[int, np.ndarray] = {}
    cand = np.argwhere(fits)
    if len(cand) == 0:
        return out
    pts = ends[cand[:, 0], cand[:, 1], cand[:, 2]]
    down = clear_down(engine, pts, pil_r)
    ok = ~np.isfinite(down)
    cand = cand[ok]
    # order: tip, length, steepness (dirs already steepest first)
    order = np.lexsort((cand[:, 1], cand[:, 2], cand[:, 0]))
    cand = cand[order]
    first = np.ones(len(cand), dtype=bool)
    first[1:] = cand[1:, 0] != cand[:-1, 0]
    for i, j, k in cand[first]:
        out[int(i)] = ends[i, j, k]
    return out


def route_side(
    engine,
    tips: np.ndarray,
    s: SupportSettings,
    mesh: trimesh.Trimesh | None = None,
    hard: np.ndarray | None = None,
    beam_diameter_mm: float | None = None,
) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
    """For island tips with no room below, the end of a thin beam (``beam_diameter_mm``,
    default the tip's diameter) 0-30 degrees below horizontal, 0.8-2.5 mm long, clear of
    the part, from which a pillar falls clear to the base, or (given ``mesh`` and its
    ``hard`` faces) stands on an upward face of the part off hard detail at least two
    heads below. A fine beam (0.25 mm, domain.md's size for filigree) reaches an island
    in a groove narrower than a standard tip, such as a sliver inside engraved
    lettering on a wall. Returns {index into tips: (end (3,), landing (3,) or None)}; a
    clear fall wins, then the shortest beam, the steepest, azimuth order
    (deterministic)."""
    tip_r = (s.tip_diameter_mm if beam_diameter_mm is None else beam_diameter_mm) / 2
    pil_r = s.pillar_diameter_mm / 2
    az = np.arange(16) * np.pi / 8
    el = np.radians([-30.0, -15.0, 0.0])
    dirs = np.array([[np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)] for e in el for a in az])
    lengths = np.array([0.8, 1.2, 1.6, 2.0, 2.5])
    n, nd = len(tips), len(dirs)
    o = np.repeat(tips, nd, axis=0) - np.array([0.0, 0.0, tip_r])
    d = np.tile(dirs, (n, 1))
    free = clear_along(engine, o + d * tip_r, d, 0.75 * tip_r).reshape(n, nd) + tip_r
    ends = tips[:, None, None] + dirs[None, :, None] * lengths[None, None, :, None]  # (n, nd, nl, 3)
    fits = (free[:, :, None] > lengths[None, None, :] + tip_r) & (
        ends[..., 2] - s.head_length_mm > s.base_thickness_mm + s.min_pillar_length_mm
    )
    out: dict[int, np.ndarray] = {}
    cand = np.argwhere(fits)
    if len(cand) == 0:
        return out
    pts = ends[cand[:, 0], cand[:, 1], cand[:, 2]]
    fall = clear_down(engine, pts - UP * s.head_length_mm, pil_r)
    clear = ~np.isfinite(fall)
    landing = np.full((len(cand), 3), np.nan)
    if mesh is not None and hard is not None and (~clear).any():
        idx = np.nonzero(~clear)[0]
        loc, ray, tri = engine.intersects_location(
            pts[idx] - UP * 1e-3, np.broadcast_to(-UP, (len(idx), 3)).copy(), multiple_hits=False
        )
        loc = np.round(loc, 5)  # deterministic: see analysis.ray_distance_mm
        good = ~hard[tri] & (facts_of(mesh).normals[tri, 2] > 0.2) & (pts[idx[ray], 2] - loc[:, 2] > 2 * s.head_length_mm)
        landing[idx[ray[good]]] = loc[good]
    usable = clear | np.isfinite(landing[:, 0])
    cand, landing, clear = cand[usable], landing[usable], clear[usable]
    order = np.lexsort((cand[:, 1], cand[:, 2], ~clear, cand[:, 0]))  # tip, fall, length, direction
    cand, landing = cand[order], landing[order]
    first = np.ones(len(cand), dtype=bool)
    first[1:] = cand[1:, 0] != cand[:-1, 0]
    for (i, j, k), land_at in zip(cand[first], landing[first], strict=True):
        out[int(i)] = (ends[i, j, k], None if np.isnan(land_at[0]) else land_at)
    return out
