"""prepare(): a finished piece in, a castable, print-ready pattern out.

Steps (timed in ``report["timings_s"]``): analyse (thickness, detail) → sprues (gates,
sprue solids, fused with the part into the casting body) → orient (tilt search) →
supports (points, routes, base) → report. Everything is deterministic: no random
numbers without a fixed seed, ties broken by index.

Frames: ``Prepared.casting_mesh``, ``print_mesh`` and the pieces (``part_mesh``,
``sprue_mesh``, ``support_mesh``) are all in the print frame — z up, the base on z = 0,
the XY bounding box centred on the origin — so they overlay in a 3D view.
``Prepared.rotation`` maps the input (part) frame to it: ``v_print = v @ R.T + offset``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import manifold3d
import numpy as np
import trimesh
from scipy.spatial import cKDTree

from printprep.casting import solids
from printprep.casting.analysis import DetailSettings, SurfaceAnalysis, analyse_surface, ray_engine
from printprep.casting.facts import facts_of
from printprep.casting.islands import MinimaFinder
from printprep.casting.orient import Orientation, OrientSettings, choose_orientation, ring_axis
from printprep.casting.sprues import Gate, SprueSettings, build_sprues
from printprep.casting.supports import SupportPlan, SupportSettings, plan_supports
from printprep.casting.verify import check_fused, check_print, overlap_of, problem_tips
from printprep.errors import CastingError

#: share of metal added for the tree and button (domain.md §1: 5–50 %)
DEFAULT_TREE_ALLOWANCE_PCT = 20.0


@dataclass(frozen=True)
class PrepareOptions:
    """Every choice of prepare(), each overridable.

    alloy : alloy for the metal weight (printprep.mesh.ALLOYS key)
    supports : False for no supports (print_mesh = casting_mesh, lifted by nothing)
    support_mode : "fused" (one solid) or "separate" (supports as their own shells)
    up : force the print "up" direction (part frame) instead of searching
    tree_allowance_pct : metal added for the tree and button in the weight report
    """

    alloy: str = "sterling"
    supports: bool = True
    support_mode: str = "fused"
    up: tuple[float, float, float] | None = None
    tree_allowance_pct: float = DEFAULT_TREE_ALLOWANCE_PCT
    #: rounds of slicing the supported print at the printer's pitch to find islands left
    #: and give them tips (0: trust the mesh analysis alone)
    verify_rounds: int = 6
    detail: DetailSettings = field(default_factory=DetailSettings)
    sprues: SprueSettings = field(default_factory=SprueSettings)
    orient: OrientSettings = field(default_factory=OrientSettings)
    support: SupportSettings = field(default_factory=SupportSettings)

    def __post_init__(self) -> None:
        if self.support_mode not in ("fused", "separate"):
            raise CastingError(
                f"support_mode must be 'fused' or 'separate', not {self.support_mode!r}",
                where="options.support_mode",
            )
        if not 0.0 <= self.tree_allowance_pct <= 100.0:
            raise CastingError(
                f"tree_allowance_pct {self.tree_allowance_pct} is outside 0–100",
                where="options.tree_allowance_pct",
            )


@dataclass
class Prepared:
    """The result of :func:`prepare` (meshes in the print frame, mm)."""

    casting_mesh: trimesh.Trimesh
    print_mesh: trimesh.Trimesh
    part_mesh: trimesh.Trimesh
    sprue_mesh: trimesh.Trimesh
    support_mesh: trimesh.Trimesh
    gates: list[Gate]
    supports: SupportPlan | None
    report: dict[str, Any]
    rotation: np.ndarray
    offset_mm: np.ndarray
    analysis: SurfaceAnalysis
    orientation: Orientation
    #: per face of casting_mesh: detail (no tip), hard detail
    casting_detail: np.ndarray
    casting_hard: np.ndarray
    #: the print as one manifold3d solid (print frame, mm) when it is one (fused
    #: supports or none): write_prepared slices it, the solid the verify rounds checked
    print_solid: manifold3d.Manifold | None = None
    #: the last verify round's layer checks of print_solid (its rings and anti-aliased
    #: rasters; printprep.slicing.MeshLayers): write_prepared's archive encodes those
    #: pixels instead of slicing again
    print_layers: Any = None


def _resolve_profile(profile: Any) -> Any:
    if profile is None or isinstance(profile, str):
        from printprep.profiles import DEFAULT_PROFILE, load_profile

        return load_profile(profile or DEFAULT_PROFILE)
    return profile


def _as_trimesh(mesh: Any) -> trimesh.Trimesh:
    m = getattr(mesh, "mesh", mesh)
    if not isinstance(m, trimesh.Trimesh) or len(m.faces) == 0:
        raise CastingError("prepare needs a non-empty triangle mesh", where=str(getattr(mesh, "path", "mesh")))
    return m


def _empty() -> trimesh.Trimesh:
    return trimesh.Trimesh(vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), dtype=np.int64), process=False)


def prepare(mesh: Any, profile: Any = None, options: PrepareOptions | None = None) -> Prepared:
    """Prepare ``mesh`` (trimesh.Trimesh or LoadedMesh, mm, a closed solid) for casting
    and printing on ``profile`` (PrinterProfile or name; default phrozen-sonic-4k)."""
    opt = options or PrepareOptions()
    prof = _resolve_profile(profile)
    from printprep.mesh import ALLOYS, metal_weight_g

    if opt.alloy not in ALLOYS:
        raise CastingError(f"unknown alloy {opt.alloy!r}; known: {', '.join(sorted(ALLOYS))}", where="options.alloy")
    part = _as_trimesh(mesh)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    part_solid = solids.to_manifold(part, where=str(getattr(mesh, "path", "part")))
    engine = ray_engine(part)
    analysis = analyse_surface(part, opt.detail, engine)
    # a ring is recognised on the part alone: a sprue in the hole's way or shifting the
    # centre of mass must not turn its tilt off
    part_ring_axis = ring_axis(part, engine)
    timings["analyse"] = time.perf_counter() - t0

    t = time.perf_counter()
    spr = build_sprues(part, analysis, opt.sprues, engine)
    casting_solid = part_solid + spr.solid if spr.gates else part_solid
    n_bodies = facts_of(part).body_count  # measured for the ring test: no decompose of the part
    n_cast = len(casting_solid.decompose())
    # the volumes now, and the part's solid and ray scene go: a 1M-face part holds
    # hundreds of MB in each, and the support stage's peak comes on top of what is kept
    part_v = float(part_solid.volume())
    cast_v = float(casting_solid.volume())
    del part_solid, engine
    if n_cast != n_bodies:
        raise CastingError(
            f"sprues changed the piece count from {n_bodies} to {n_cast} bodies "
            "(a sprue touches another piece); place gates by hand",
            where="sprues",
        )
    casting, casting_ids = solids.to_trimesh(casting_solid, with_face_ids=True)
    # detail of the casting's faces: a part face keeps its class, sprue faces are free
    src = solids.source_faces(casting, casting_ids, part)
    from_part = src >= 0
    idx = np.where(from_part, src, 0)
    c_detail = from_part & analysis.detail[idx]
    c_hard = from_part & analysis.hard[idx]
    # an island tip touches the faces round one vertex: it is judged against hard detail
    # itself, not its margin (a prong's foot beside a gallery may be held, its tip not)
    core = analysis.hard if analysis.hard_core is None else analysis.hard_core
    c_island_hard = from_part & core[idx]
    timings["sprues"] = time.perf_counter() - t

    t = time.perf_counter()
    layer_h = float(getattr(prof, "layer_height_mm", 0.05))
    # a dip on hard detail shallower than one layer prints from the metal beside it
    orient_s = dataclasses.replace(opt.orient, island_depth_mm=layer_h)
    support_s = dataclasses.replace(opt.support, island_depth_mm=layer_h)
    # kept to the end: the print-frame copy's finder (a rigid motion of the casting)
    # reuses its neighbours and normals (MinimaFinder.of)
    casting_finder = MinimaFinder.of(casting, solid=casting_solid)
    orientation = choose_orientation(
        casting,
        c_detail,
        c_island_hard,
        orient_s,
        up=None if opt.up is None else np.asarray(opt.up, float),
        ring=False if part_ring_axis is None else part_ring_axis,
        finder=casting_finder,
    )
    rot = orientation.rotation
    timings["orient"] = time.perf_counter() - t

    t = time.perf_counter()
    # filament printers: the slicer (prusa-slicer) makes its own supports from the casting
    use_supports = opt.supports and getattr(prof, "kind", "resin") == "resin"
    lift = opt.support.lift_mm if use_supports else 0.0
    rotated = casting.vertices @ rot.T
    lo, hi = rotated.min(axis=0), rotated.max(axis=0)
    offset = np.array([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, lift - lo[2]])

    def to_print(m: trimesh.Trimesh) -> trimesh.Trimesh:
        return trimesh.Trimesh(vertices=m.vertices @ rot.T + offset, faces=m.faces, process=False)

    casting_p = to_print(casting)
    part_p = to_print(part)
    sprue_p = to_print(solids.to_trimesh(spr.solid)) if spr.gates else _empty()
    casting_solid_p = casting_solid.transform(_affine(rot, offset))
    del casting_solid  # the print-frame solid is all that is used from here
    print_solid: manifold3d.Manifold | None = None
    print_layers = None  # the layer checks of print_solid (MeshLayers), when they exist
    plan = None
    support_p = _empty()
    verify: list[dict[str, Any]] = []
    if use_supports:
        engine_p = ray_engine(casting_p)
        finder = MinimaFinder.of(casting_p)
        plan = plan_supports(
            casting_p, c_detail, support_s, engine_p, hard=c_hard, island_hard=c_island_hard, finder=finder
        )
        extra_pts = np.zeros((0, 3))
        extra_faces = np.zeros(0, dtype=np.int64)
        rounds = opt.verify_rounds if getattr(prof, "kind", "") == "resin" else 0
        fused = opt.support_mode == "fused"
        checked = None
        for r in range(rounds + 1 if rounds else 0):
            # overlapping shells slice as their union (non-zero fill): no boolean needed.
            # Every re-plan moves trees and can bare a new sliver elsewhere, so the loop
            # ends on a check of the plan that is kept, never on an unchecked re-plan;
            # a later round re-checks only the layers the new supports changed.
            checked = check_print(casting_solid_p, plan.solid, prof, layer_h, checked)
            layer_report, shift = checked.report, checked.shift_mm
            verify.append(
                {
                    "islands": len(layer_report.islands),
                    "reach_mm2": round(layer_report.overhang_reach_area_mm2, 3),
                    "layers_checked": checked.checked_layers,
                }
            )
            pts, faces = np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
            if r < rounds:
                pts, faces = _fresh_tips(layer_report, shift, engine_p, layer_h, prof, extra_pts, opt)
            print_solid = None
            if len(pts) == 0 and fused and plan.solid is not None and not plan.solid.is_empty():
                # the shells are done (or the rounds are): confirm on the fused solid
                # that write_prepared slices (the same object, so the same cross-sections);
                # what it finds gets tips like a shell round's findings
                print_solid = casting_solid_p + plan.solid
                confirm = check_fused(print_solid, checked, prof, layer_h, overlap_of(casting_solid_p, plan.solid))
                print_layers = confirm
                verify.append(
                    {
                        "islands": len(confirm.report.islands),
                        "reach_mm2": round(confirm.report.overhang_reach_area_mm2, 3),
                        "layers_checked": confirm.checked_layers,
                        "fused": True,
                    }
                )
                if r < rounds:
                    pts, faces = _fresh_tips(confirm.report, confirm.shift_mm, engine_p, layer_h, prof, extra_pts, opt)
            if len(pts) == 0:
                break
            extra_pts = np.vstack([extra_pts, pts])
            extra_faces = np.concatenate([extra_faces, faces])
            plan = plan_supports(
                casting_p,
                c_detail,
                support_s,
                engine_p,
                hard=c_hard,
                island_hard=c_island_hard,
                extra_tips=(extra_pts, extra_faces),
                finder=finder,
            )
            print_solid = print_layers = None
        support_p = solids.to_trimesh(plan.solid) if plan.solid is not None else _empty()
        if fused and len(support_p.faces):
            if print_solid is None:  # else: the fused solid the last round confirmed
                print_solid = casting_solid_p + plan.solid
            print_mesh = solids.to_trimesh(print_solid)
        else:
            print_solid = print_layers = None
            print_mesh = trimesh.util.concatenate([casting_p, support_p])
    else:
        print_mesh = casting_p
        print_solid = casting_solid_p
    timings["supports"] = time.perf_counter() - t

    # report
    sprue_v = cast_v - part_v
    allowance = 1.0 + opt.tree_allowance_pct / 100.0
    weights = {a: round(metal_weight_g(cast_v * allowance, a), 2) for a in sorted(ALLOYS)}
    height = float(print_mesh.bounds[1, 2] - print_mesh.bounds[0, 2])
    # the solid's volume (trimesh's is_volume on a 1M-face print costs seconds); shells
    # kept apart count their overlap twice, as the print mesh's own volume does
    print_v = float(print_solid.volume()) if print_solid is not None else float(
        cast_v + (plan.solid.volume() if plan is not None and plan.solid is not None else 0.0)
    )
    tip_d = opt.support.tip_diameter_mm
    gates_world = [
        {**g.to_dict(), "print_position_mm": [round(float(v), 3) for v in g.position_mm @ rot.T + offset]}
        for g in spr.gates
    ]
    report: dict[str, Any] = {
        "profile": getattr(prof, "name", str(prof)),
        "alloy": opt.alloy,
        "bodies": n_bodies,
        "part_volume_mm3": round(part_v, 3),
        "sprue_volume_mm3": round(sprue_v, 3),
        "casting_volume_mm3": round(cast_v, 3),
        "tree_allowance_pct": opt.tree_allowance_pct,
        "metal_weight_g": round(metal_weight_g(cast_v * allowance, opt.alloy), 2),
        "metal_weight_by_alloy_g": weights,
        "print_volume_mm3": round(print_v, 3),
        "resin_ml": round(print_v / 1000.0, 4),
        "support_volume_mm3": round(print_v - cast_v, 3) if use_supports else 0.0,
        "gates": gates_world,
        "supports": _support_report(plan, tip_d, c_hard, c_island_hard),
        "thin_area_mm2": {
            "below_0.8_mm": round(analysis.thin_area_mm2(part, 0.8), 2),
            "below_0.6_mm": round(analysis.thin_area_mm2(part, 0.6), 2),
        },
        "detail": {
            "area_mm2": round(float(facts_of(part).areas[analysis.detail].sum()), 2),
            "hard_area_mm2": round(float(facts_of(part).areas[analysis.hard].sum()), 2),
            "faces_by_reason": analysis.reasons,
        },
        "orientation": {
            "up": [round(float(v), 4) for v in orientation.up],
            "rotation": [[round(float(v), 6) for v in row] for row in rot],
            "offset_mm": [round(float(v), 4) for v in offset],
            "ring_axis": None if orientation.ring_axis is None else [round(float(v), 4) for v in orientation.ring_axis],
            "terms": {k: round(v, 3) for k, v in orientation.terms.items()},
        },
        "verify_rounds": verify if use_supports else [],
        "print_height_mm": round(height, 3),
        "footprint_mm": [round(float(v), 3) for v in np.ptp(print_mesh.bounds[:, :2], axis=0)],
        "print_time_s": round(estimate_print_time_s(prof, height, layer_h), 1),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    return Prepared(
        casting_mesh=casting_p,
        print_mesh=print_mesh,
        part_mesh=part_p,
        sprue_mesh=sprue_p,
        support_mesh=support_p,
        gates=spr.gates,
        supports=plan,
        report=report,
        rotation=rot,
        offset_mm=offset,
        analysis=analysis,
        orientation=orientation,
        casting_detail=c_detail,
        casting_hard=c_hard,
        print_solid=print_solid,
        print_layers=print_layers,
    )


def _fresh_tips(
    report: Any, shift: np.ndarray, engine: Any, layer_h: float, prof: Any, extra_pts: np.ndarray, opt: PrepareOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Tips (points (k, 3) mm, faces (k,) int64) for the findings of ``report``, without
    those at a spot that already has a tip from an earlier round (``extra_pts``, (m, 3)
    mm): an island there cannot be helped by another tip, and the loop stops instead."""
    pts, faces = problem_tips(report, shift, engine, layer_h, min(prof.pitch_mm))
    if len(extra_pts) and len(pts):
        near, _ = cKDTree(extra_pts).query(pts)
        fresh = near > 0.5 * opt.support.tip_diameter_mm
        pts, faces = pts[fresh], faces[fresh]
    return pts, faces


def _affine(rot: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """(3, 4) matrix of v -> rot @ v + offset for manifold3d."""
    return np.column_stack([rot, offset])


def _support_report(
    plan: SupportPlan | None, tip_d: float, hard: np.ndarray, hard_core: np.ndarray
) -> dict[str, Any]:
    """Support figures; ``on_hard`` counts tips within the hard-detail margin,
    ``on_hard_core`` tips on hard detail itself (both (f,) bool masks of the casting)."""
    if plan is None:
        return {"count": 0, "contact_area_mm2": 0.0}
    kinds, counts = np.unique(plan.kinds, return_counts=True) if len(plan.kinds) else ([], [])
    routes, rcounts = np.unique(plan.routes, return_counts=True) if plan.routes else ([], [])
    return {
        "count": int(len(plan.tips_mm)),
        "contact_area_mm2": round(plan.contact_area_mm2(tip_d), 4),
        "tip_diameter_mm": tip_d,
        "by_kind": {str(k): int(c) for k, c in zip(kinds, counts, strict=True)},
        "by_route": {str(k): int(c) for k, c in zip(routes, rcounts, strict=True)},
        "on_detail": int(plan.on_detail.sum()),
        "on_hard": int(hard[plan.tip_faces].sum()) if len(plan.tip_faces) else 0,
        "on_hard_core": int(hard_core[plan.tip_faces].sum()) if len(plan.tip_faces) else 0,
        "dropped": int(len(plan.dropped_mm)),
    }


def estimate_print_time_s(profile: Any, height_mm: float, layer_height_mm: float) -> float:
    """Layer count × (exposure + lift cycle), bottom layers apart (resin profiles); 0 when
    the profile has no exposure settings (filament: the slicer reports it)."""
    if not hasattr(profile, "exposure_s"):
        return 0.0
    layers = int(np.ceil(height_mm / layer_height_mm))
    bottom = min(int(profile.bottom_layers), layers)

    def cycle(lift_mm: float, speed: float) -> float:
        return lift_mm / max(speed, 1e-6) + lift_mm / max(profile.retract_speed_mm_s, 1e-6)

    wait = float(profile.wait_before_exposure_s)
    return float(
        bottom * (profile.bottom_exposure_s + cycle(profile.bottom_lift_height_mm, profile.bottom_lift_speed_mm_s) + wait)
        + (layers - bottom) * (profile.exposure_s + cycle(profile.lift_height_mm, profile.lift_speed_mm_s) + wait)
    )
