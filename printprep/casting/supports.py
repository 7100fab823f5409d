"""Resin supports: points where the part needs holding, then heads, pillars and a base.

Works in the print frame (z up, the part already lifted ``lift_mm`` off the plate).

Points (domain.md §2; found in :mod:`support_points`):
* **islands** — every local minimum of the surface that faces down (where a new island
  starts on the layer stack) gets a tip, detail or not: an unsupported island fails;
* **overhangs** — faces within ``90 - critical_angle_deg`` of straight down are covered
  by points ``spacing_mm`` apart (one per cell of a ``spacing_mm`` grid), never on detail.

Each point gets a head (cone from the tip, ``tip_diameter_mm``, pushed
``penetration_mm`` into the part, to the pillar diameter) and a pillar to the base. A
pillar that would pass through the part is re-routed: a 45° leg out to the side, then
down; failing that it lands on an upward face of the part (never a detail face); failing
that the point is dropped and reported. Pillars whose tops are close merge into trees:
the higher one joins its neighbour with a 45° branch. The base is a thin raft under
the pillar feet, ``base_margin_mm`` wider than their hull.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import manifold3d
import numpy as np
import trimesh
from scipy.spatial import cKDTree
from shapely.geometry import MultiPoint
from shapely.geometry.polygon import orient

from printprep.casting import solids
from printprep.casting.analysis import ray_engine
from printprep.casting.facts import facts_of
from printprep.casting.islands import MinimaFinder
from printprep.casting.routes import clear_along, clear_down, route_legs, route_side
from printprep.casting.support_points import island_points, overhang_points

UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class SupportSettings:
    """Support generation settings (lengths mm, angles degrees)."""

    critical_angle_deg: float = 45.0
    #: faces up to this much steeper than the critical angle are covered too
    overhang_margin_deg: float = 5.0
    spacing_mm: float = 3.0
    tip_diameter_mm: float = 0.4
    #: side beams for an island in a groove narrower than a standard tip (a sliver
    #: inside engraved lettering), tried in order: domain.md's filigree tip sizes
    fine_tip_diameters_mm: tuple[float, ...] = (0.25, 0.2)
    penetration_mm: float = 0.2
    head_length_mm: float = 1.0
    pillar_diameter_mm: float = 1.0
    base_thickness_mm: float = 1.0
    base_margin_mm: float = 2.0
    foot_diameter_mm: float = 2.5
    lift_mm: float = 4.0
    merge_distance_mm: float = 3.0
    #: minimum spread (mm) of points on an island: one tip per this much of a flat bottom
    min_pillar_length_mm: float = 0.5
    #: a minimum on hard detail that joins lower metal within this height is no island
    #: (prepare sets the printer's layer height)
    island_depth_mm: float = 0.05


@dataclass
class SupportPlan:
    """Supports of one part in the print frame.

    tips_mm : (n, 3) float64 — contact points on the part surface
    tip_faces : (n,) int64 — face of the part each tip touches
    kinds : (n,) str — "island" or "overhang"
    on_detail : (n,) bool — tip on a detail face (islands only, when unavoidable)
    routes : per tip: "straight", "bent", "tree", "on-part", "thin" (an island in a gap
        narrower than a pillar, held by a rod of the tip's diameter), "side" (an island
        with no room below, reached by a beam of the tip's diameter from the side)
    dropped_mm : points that found no path; landings_mm : feet standing on the part
    """

    tips_mm: np.ndarray
    tip_faces: np.ndarray
    kinds: np.ndarray
    on_detail: np.ndarray
    routes: list[str] = field(default_factory=list)
    dropped_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    #: where pillars with no way down stand on the part (mm, print frame)
    landings_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    solid: manifold3d.Manifold | None = None

    def contact_area_mm2(self, tip_diameter_mm: float) -> float:
        return float(len(self.tips_mm) * np.pi * (tip_diameter_mm / 2) ** 2)


def plan_supports(
    mesh: trimesh.Trimesh,
    detail: np.ndarray,
    settings: SupportSettings | None = None,
    engine=None,
    hard: np.ndarray | None = None,
    extra_tips: tuple[np.ndarray, np.ndarray] | None = None,
    island_hard: np.ndarray | None = None,
    finder: MinimaFinder | None = None,
) -> SupportPlan:
    """Support points and routes for ``mesh`` (print frame, mm).

    detail, hard : (f,) bool per face — no overhang tip on ``detail``; a pillar may land
    on the part only off ``hard`` (defaults to ``detail``). island_hard : (f,) bool, hard
    detail without its margin (defaults to ``hard``): a minimum on it that joins lower
    metal within a layer gets no tip. finder : the mesh's MinimaFinder, kept between
    re-plans of the same mesh.
    extra_tips : (points (k, 3) mm, faces (k,)) more island tips, e.g. from a layer check.
    """
    s = settings or SupportSettings()
    engine = engine or ray_engine(mesh)
    minima, min_faces = island_points(
        mesh, hard if island_hard is None else island_hard, s.island_depth_mm, finder
    )
    isl = mesh.vertices[minima]
    if extra_tips is not None and len(extra_tips[0]):
        isl = np.vstack([isl, extra_tips[0]])
        min_faces = np.concatenate([min_faces, extra_tips[1]])
    over, over_faces = overhang_points(mesh, ~detail, s)
    if len(isl) and len(over):
        d, _ = cKDTree(isl).query(over)
        keep = d > s.spacing_mm / 2
        over, over_faces = over[keep], over_faces[keep]
    tips = np.vstack([isl, over])
    faces = np.concatenate([min_faces, over_faces]).astype(np.int64)
    kinds = np.array(["island"] * len(isl) + ["overhang"] * len(over))
    on_detail = detail[faces] if len(faces) else np.zeros(0, dtype=bool)

    plan = SupportPlan(tips_mm=tips, tip_faces=faces, kinds=kinds, on_detail=on_detail)
    build_routes(mesh, detail, plan, s, engine, hard)
    return plan


def build_routes(
    mesh: trimesh.Trimesh,
    detail: np.ndarray,
    plan: SupportPlan,
    s: SupportSettings,
    engine,
    hard: np.ndarray | None = None,
) -> None:
    """Heads, pillars, trees and base for ``plan``'s tips; fills plan.solid and routes."""
    hard = detail if hard is None else hard
    tip_r = s.tip_diameter_mm / 2
    pil_r = s.pillar_diameter_mm / 2
    base_top = s.base_thickness_mm
    n = len(plan.tips_mm)
    tips = plan.tips_mm
    centre = tips + UP * (s.penetration_mm - tip_r)
    head_end = tips - UP * s.head_length_mm
    # the head itself must be clear below the tip
    lead = 0.5 * s.head_length_mm
    room = clear_down(engine, tips - UP * lead, pil_r) >= s.head_length_mm - lead + pil_r
    foot_clear = clear_down(engine, head_end, pil_r)
    straight = room & ~np.isfinite(foot_clear) & (head_end[:, 2] > base_top + s.min_pillar_length_mm)
    plan.on_detail = plan.on_detail.copy()

    # bent: a straight leg from the tip, at least 45 degrees below horizontal, to a
    # point with a clear fall to the base
    need = np.nonzero(~straight)[0]
    bent_to = route_legs(engine, tips[need], head_end[need], s) if len(need) else {}
    bent_to = {int(need[k]): v for k, v in bent_to.items()}

    # on-part: the head lands on an upward face of the part that is not hard detail
    land = {}
    land_face: dict[int, int] = {}
    rest = np.array([i for i in range(n) if not straight[i] and i not in bent_to], dtype=np.int64)
    normal_z = facts_of(mesh).normals[:, 2]
    if len(rest):
        loc, ray_i, tri = engine.intersects_location(
            tips[rest] - UP * 1e-3, np.broadcast_to(-UP, (len(rest), 3)).copy(), multiple_hits=False
        )
        loc = np.round(loc, 5)  # deterministic: see analysis.ray_distance_mm
        for k, ri in enumerate(ray_i):
            i = int(rest[ri])
            f = int(tri[k])
            drop_mm = tips[i, 2] - loc[k, 2]
            # an island must be held or the print fails: with no other way its strut may
            # be as short as a head (never on hard detail: nothing touches that)
            short_ok = plan.kinds[i] == "island" and drop_mm > 0.5 * s.head_length_mm
            if not hard[f] and normal_z[f] > 0.2 and (drop_mm > 2 * s.head_length_mm or short_ok):
                land[i] = loc[k]
                land_face[i] = f

    # thin: an island in a gap narrower than a pillar but open straight down gets a
    # pillar of the tip's own diameter
    thin = np.zeros(n, dtype=bool)
    left = np.array(
        [i for i in rest if i not in land and plan.kinds[i] == "island" and not hard[plan.tip_faces[i]]],
        dtype=np.int64,
    )
    if len(left):
        ends = tips[left] - UP * lead
        thin[left] = ~np.isfinite(clear_down(engine, ends, 0.75 * tip_r)) & (
            tips[left, 2] > base_top + s.head_length_mm
        )

    # side: an island in a gap too low for any head (a prong's foot just above the band)
    # is reached from the side by a beam of the tip's diameter, at most 30 degrees below
    # horizontal and 2.5 mm long (well inside the 3 mm reach: it prints as a bridge from
    # its pillar), whose end has a clear fall to the base
    side_to: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    side_r: dict[int, float] = {}
    still = np.array([i for i in rest if i not in land and plan.kinds[i] == "island" and not thin[i]], dtype=np.int64)
    if len(still):
        side_to = {int(still[k]): v for k, v in route_side(engine, tips[still], s, mesh, hard).items()}
        side_r = dict.fromkeys(side_to, tip_r)
        # a groove narrower than the standard beam: the filigree-size beam
        for fine_d in s.fine_tip_diameters_mm:
            narrow = np.array([i for i in still if int(i) not in side_to], dtype=np.int64)
            if len(narrow) == 0 or fine_d >= s.tip_diameter_mm:
                continue
            fine = route_side(engine, tips[narrow], s, mesh, hard, beam_diameter_mm=fine_d)
            for k, v in fine.items():
                side_to[int(narrow[k])] = v
                side_r[int(narrow[k])] = fine_d / 2

    routes: list[str] = []
    landings: list[np.ndarray] = []
    parts: list[manifold3d.Manifold] = []
    feet: list[np.ndarray] = []
    keep = np.zeros(n, dtype=bool)
    order = np.argsort(-tips[:, 2], kind="stable")
    column_xy = np.zeros((0, 2))
    column_top = np.zeros(0)
    for i in order:
        i = int(i)
        if straight[i]:
            top = head_end[i]
            # tree: branch at 45 degrees into a lower column within merge distance
            if len(column_xy):
                dxy = np.linalg.norm(column_xy - top[:2], axis=1)
                join_z = top[2] - dxy
                ok = (dxy <= s.merge_distance_mm) & (dxy > pil_r) & (join_z < column_top) & (
                    join_z > base_top + s.min_pillar_length_mm
                )
                if ok.any():
                    j = int(np.argmin(np.where(ok, dxy, np.inf)))
                    target = np.array([column_xy[j, 0], column_xy[j, 1], join_z[j]])
                    vec = target - top
                    dist = clear_along(engine, top[None], vec[None], pil_r)[0]
                    if dist > np.linalg.norm(vec) + pil_r:
                        parts.append(solids.capsule(top, target, pil_r, pil_r))
                        routes.append("tree")
                        keep[i] = True
                        parts.append(solids.capsule(centre[i], top, tip_r, pil_r))
                        continue
            parts.append(solids.capsule(centre[i], top, tip_r, pil_r))
            parts.append(solids.rod(top, [top[0], top[1], base_top], pil_r, pil_r))
            feet.append(top[:2])
            column_xy = np.vstack([column_xy, top[:2]])
            column_top = np.append(column_top, top[2])
            routes.append("straight")
        elif i in bent_to:
            end = bent_to[i]
            vec = (end - tips[i]) / np.linalg.norm(end - tips[i])
            neck = tips[i] + vec * s.head_length_mm
            parts.append(solids.capsule(centre[i], neck, tip_r, pil_r))
            parts.append(solids.capsule(neck, end, pil_r, pil_r))
            parts.append(solids.rod(end, [end[0], end[1], base_top], pil_r, pil_r))
            feet.append(end[:2])
            routes.append("bent")
        elif i in land:
            foot = land[i]
            foot_top = foot + UP * (s.penetration_mm - tip_r)
            if tips[i, 2] - foot[2] > 2 * s.head_length_mm:
                parts.append(solids.capsule(centre[i], head_end[i], tip_r, pil_r))
                parts.append(solids.capsule(head_end[i], foot_top, pil_r, tip_r))
            else:  # a short strut, tip to tip
                parts.append(solids.capsule(centre[i], foot_top, tip_r, tip_r))
            plan.on_detail[i] |= bool(detail[land_face[i]])
            routes.append("on-part")
            landings.append(foot)
        elif thin[i]:
            foot = np.array([tips[i, 0], tips[i, 1], base_top])
            parts.append(solids.rod(centre[i], foot, tip_r, tip_r))
            feet.append(foot[:2])
            routes.append("thin")
        elif i in side_to:
            end, land_at = side_to[i]
            beam_r = side_r[i]
            start = tips[i] + UP * (s.penetration_mm - beam_r)
            parts.append(solids.capsule(start, end, beam_r, beam_r))
            parts.append(solids.capsule(end, end - UP * s.head_length_mm, beam_r, pil_r))
            if land_at is None:
                parts.append(solids.rod(end - UP * s.head_length_mm, [end[0], end[1], base_top], pil_r, pil_r))
                feet.append(end[:2])
            else:  # the pillar stands on the part, tapering to a tip there
                parts.append(solids.capsule(end - UP * s.head_length_mm, land_at + UP * (s.penetration_mm - tip_r), pil_r, tip_r))
                landings.append(land_at)
            routes.append("side")
        else:
            continue
        keep[i] = True
    # routes were appended in height order: put them back in tip order
    kept_order = [int(i) for i in order if keep[int(i)]]
    route_of = dict(zip(kept_order, routes, strict=True))
    plan.dropped_mm = tips[~keep]
    plan.landings_mm = np.array(landings).reshape(-1, 3)
    sel = np.nonzero(keep)[0]
    plan.tips_mm = tips[sel]
    plan.tip_faces = plan.tip_faces[sel]
    plan.kinds = plan.kinds[sel]
    plan.on_detail = plan.on_detail[sel]
    plan.routes = [route_of[int(i)] for i in sel]
    if feet:
        f = np.array(feet)
        foot_r = s.foot_diameter_mm / 2
        for xy in f:
            parts.append(
                solids.rod([xy[0], xy[1], base_top - 1e-3], [xy[0], xy[1], base_top + foot_r], foot_r, pil_r)
            )
        parts.append(raft(f, s))
    plan.solid = solids.union(parts)


def raft(feet_xy: np.ndarray, s: SupportSettings) -> manifold3d.Manifold:
    """A flat base under pillar feet: their hull grown by base_margin_mm, base_thickness_mm thick.

    feet_xy : (n, 2) float64, mm
    """
    hull = MultiPoint([tuple(p) for p in feet_xy]).convex_hull.buffer(
        s.base_margin_mm, quad_segs=8
    )
    ring = np.asarray(orient(hull, 1.0).exterior.coords)[:-1]
    cs = manifold3d.CrossSection([ring.astype(np.float64)])
    return manifold3d.Manifold.extrude(cs, s.base_thickness_mm)
