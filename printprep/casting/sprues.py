"""Sprues: the wax wire that brings the metal to each gate, and keeping it off other pieces.

* **sprue** — from the gate (:mod:`printprep.casting.gates`) straight out along its
  direction, tapering toward the piece (wider at the tree end), with a fillet flare at
  the junction and a connector stub at the end; ``angle_deg`` (45°) is the angle the
  sprue makes with the tree trunk, whose direction is reported per gate.
* **reservoir** — optional ball within ``reservoir_gap_mm`` (≤ 2 mm) of the gate.
* **bodies apart** — every sprue keeps ``body_gap_mm`` from the part's other bodies; a
  body whose sprues all come too close gets a gate on a face with a clear way out, or
  the piece is refused.

Gate, SprueSettings and gate_diameter_mm live in :mod:`printprep.casting.gates` and are
importable from here as before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import manifold3d
import numpy as np
import trimesh
from scipy.spatial import cKDTree

from printprep.casting import solids
from printprep.casting.analysis import SurfaceAnalysis, ray_engine
from printprep.casting.facts import facts_of
from printprep.casting.gates import (
    Gate,
    SprueSettings,
    body_labels,
    choose_gates,
    gate_diameter_mm,
    make_gate,
    smoothed_section_mm,
)
from printprep.errors import CastingError

__all__ = [
    "Gate",
    "SprueResult",
    "SprueSettings",
    "build_sprues",
    "gate_diameter_mm",
    "sprue_solid",
]


@dataclass
class SprueResult:
    gates: list[Gate] = field(default_factory=list)
    solid: manifold3d.Manifold | None = None


def sprue_solid(gate: Gate, s: SprueSettings, embed_mm: float, grow_mm: float = 0.0) -> manifold3d.Manifold:
    """The sprue of ``gate``: fillet flare, tapered rod, connector stub, optional ball;
    ``grow_mm`` thickens every piece (a clearance test)."""
    p, d = gate.position_mm, gate.direction
    r0, r1 = gate.diameter_mm / 2 + grow_mm, gate.outer_diameter_mm / 2 + grow_mm
    start = p - d * embed_mm
    end = p + d * gate.length_mm
    parts = [solids.rod(start, end, r0, r1, solids.SPRUE_SEGMENTS)]
    if s.fillet_mm > 0:
        parts.append(solids.rod(start, p + d * (2 * s.fillet_mm), r0 + s.fillet_mm, r0, solids.SPRUE_SEGMENTS))
    stub_r = (s.stub_diameter_mm or max(gate.outer_diameter_mm * 1.2, 3.0)) / 2 + grow_mm
    parts.append(solids.rod(end - d * 0.01, end + d * s.stub_length_mm, stub_r, stub_r, solids.SPRUE_SEGMENTS))
    if gate.reservoir_diameter_mm:
        rr = gate.reservoir_diameter_mm / 2 + grow_mm
        parts.append(solids.sphere(p + d * (s.reservoir_gap_mm + rr), rr))
    return solids.union(parts)


def build_sprues(
    mesh: trimesh.Trimesh, analysis: SurfaceAnalysis, settings: SprueSettings | None = None, engine=None
) -> SprueResult:
    """Gates and the union of their sprue solids (part frame, mm)."""
    s = settings or SprueSettings()
    engine = engine or ray_engine(mesh)
    bodies = body_labels(mesh)
    # one smoothing for both users (choose_gates refines its copy in place)
    section = smoothed_section_mm(mesh, analysis.thickness_mm, s.smooth_radius_mm)
    gates = choose_gates(mesh, analysis, s, engine, bodies=bodies, section=section.copy())
    parts = [sprue_solid(g, s, embed_mm=_embed_mm(g)) for g in gates]
    if bodies.max() > 0 and gates:
        gates, parts = _keep_bodies_apart(mesh, analysis, bodies, gates, parts, s, engine, section)
    return SprueResult(gates=gates, solid=solids.union(parts))


def _embed_mm(g: Gate) -> float:
    return min(0.4 * g.section_mm, g.diameter_mm / 2, 0.8)


def _keep_bodies_apart(
    mesh: trimesh.Trimesh,
    analysis: SurfaceAnalysis,
    bodies: np.ndarray,
    gates: list[Gate],
    parts: list[manifold3d.Manifold],
    s: SprueSettings,
    engine,
    section: np.ndarray,
) -> tuple[list[Gate], list[manifold3d.Manifold]]:
    """Keep every sprue ``body_gap_mm`` clear of the other bodies (closer, it would fuse
    two pieces in the print or the flask). A sprue that is not clear is dropped; a body
    left without a gate gets one on a face whose way out is clear (off hard detail, off
    detail when it can), or the piece is refused naming the bodies and why. section :
    (f,) float64 mm, the smoothed section per face."""
    others: dict[int, manifold3d.Manifold] = {}

    def others_of(b: int) -> manifold3d.Manifold:
        if b not in others:
            sub = mesh.submesh([np.nonzero(bodies != b)[0]], append=True, repair=False)
            others[b] = solids.to_manifold(sub, where=f"bodies other than {b}")
        return others[b]

    def clear_of_others(g: Gate) -> bool:
        grown = sprue_solid(g, s, embed_mm=_embed_mm(g), grow_mm=s.body_gap_mm)
        return (grown ^ others_of(g.body)).volume() <= 1e-9

    out_g: list[Gate] = []
    out_p: list[manifold3d.Manifold] = []
    for g, solid in zip(gates, parts, strict=True):
        if clear_of_others(g):
            out_g.append(g)
            out_p.append(solid)
    hard = analysis.hard if analysis.hard_core is None else analysis.hard_core
    missing: list[int] = []
    # a loose piece set in a pocket of another (an inlay) has little room: the second try
    # drops the fillet and narrows the gate to the small-piece floor (domain.md: 1.3 mm)
    narrow = dataclasses.replace(s, fillet_mm=0.0, diameter_mm=min(s.diameter_mm or 1.3, 1.3))
    for b in sorted(set(np.unique(bodies).tolist()) - {g.body for g in out_g}):
        faces = np.nonzero((bodies == b) & ~hard)[0]
        cands = _clear_faces(mesh, faces, section, analysis.detail, s, engine, bodies != b)[:12]
        found = None
        for ss in (s, narrow):
            for f in cands:
                ng = make_gate(mesh, int(f), section, b, ss, engine)
                grown = sprue_solid(ng, ss, embed_mm=_embed_mm(ng), grow_mm=s.body_gap_mm)
                if (grown ^ others_of(b)).volume() <= 1e-9:
                    found = (ng, sprue_solid(ng, ss, embed_mm=_embed_mm(ng)))
                    break
            if found:
                break
        if found:
            out_g.append(found[0])
            out_p.append(found[1])
        else:
            missing.append(b)
    if missing:
        c = facts_of(mesh).centers
        rooms = []
        for b in missing:
            faces = np.nonzero((bodies == b) & ~hard)[0]
            free = _clear_faces(mesh, faces, section, analysis.detail, s, engine, bodies != b)
            if len(free) == 0:
                rooms.append(f"body {b}: no face with a clear way out")
                continue
            room, _ = cKDTree(c[bodies != b]).query(c[free])
            rooms.append(f"body {b}: a clear face at most {float(room.max()):.2f} mm from another piece")
        raise CastingError(
            f"no clear gate on bodies {missing}: every sprue would pass within "
            f"{s.body_gap_mm} mm of another piece and fuse with it ({'; '.join(rooms)}; "
            f"the narrowest castable gate, 1.3 mm, needs {1.3 / 2 + s.body_gap_mm:.2f} mm "
            "round its axis). Cast these parts apart, join them to the piece, or place "
            "gates by hand (--gate X,Y,Z)",
            where="sprues",
        )
    return out_g, out_p


def _clear_faces(
    mesh: trimesh.Trimesh,
    faces: np.ndarray,
    section: np.ndarray,
    detail: np.ndarray,
    s: SprueSettings,
    engine,
    other: np.ndarray,
) -> np.ndarray:
    """``faces`` whose outward normal leaves room for the whole sprue and its stub
    (nine rays, the stub's radius plus the body gap around the axis), farthest from the
    ``other`` (f,) bool faces first (in 0.25 mm steps), then off detail, then by section,
    thickest first: (k,) int64."""
    if len(faces) == 0:
        return faces
    from printprep.casting.routes import clear_along

    # at most 2,000 candidates, spread over the section order
    faces = faces[np.argsort(-section[faces], kind="stable")]
    faces = faces[:: max(1, len(faces) // 2000)]
    facts = facts_of(mesh)
    c = facts.centers[faces]
    n = facts.normals[faces]
    stub_r = max((s.stub_diameter_mm or 3.0) / 2, s.max_diameter_mm * s.taper * 0.6)
    need = s.length_mm + s.stub_length_mm + 0.5
    room = clear_along(engine, c + n * 0.05, n, stub_r + s.body_gap_mm)
    ok = room > need
    away, _ = cKDTree(facts.centers[other]).query(c) if other.any() else (np.zeros(len(c)), None)
    order = np.lexsort((-section[faces], detail[faces], -np.floor(away / 0.25), ~ok))
    return faces[order][ok[order]]
