"""Gates and sprues: where metal enters, and the wax wire that brings it.

Per body of the part (a chain's links are cast each through its own gate):

* **thick masses** — faces whose smoothed section is at least ``mass_fraction`` of the
  body's thickest non-detail section, grouped by face adjacency: a thinner section
  separates one group from the next. Each mass big enough (``min_mass_share`` of the
  largest) gets a gate, up to ``max_gates``; ``count`` overrides (gates per body).
* **gate** — on the thickest non-detail face of the mass whose outward path is clear.
  Diameter (domain.md §1): ``clamp(factor × local section, min, max)``, factor 1.1.
* **sprue** — straight out along the surface normal (or the nearest clear direction
  within 35°), tapering toward the piece (wider at the tree end), with a fillet flare at
  the junction and a connector stub at the end; ``angle_deg`` (45°) is the angle the
  sprue makes with the tree trunk, whose direction is reported per gate.
* **reservoir** — optional ball within ``reservoir_gap_mm`` (≤ 2 mm) of the gate.

Positions given by the user snap to the nearest face and are refused on detail.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import manifold3d
import numpy as np
import trimesh
from scipy.spatial import cKDTree

from printprep.casting import solids
from printprep.casting.analysis import (
    SurfaceAnalysis,
    _hemisphere_dirs,
    ray_distance_mm,
    ray_engine,
)
from printprep.errors import CastingError


@dataclass(frozen=True)
class SprueSettings:
    """Sprue settings; lengths mm, angles degrees. None means automatic."""

    count: int | None = None
    positions_mm: tuple[tuple[float, float, float], ...] = ()
    diameter_mm: float | None = None
    factor: float = 1.1
    min_diameter_mm: float = 1.5
    max_diameter_mm: float = 4.5
    taper: float = 1.25
    angle_deg: float = 45.0
    length_mm: float = 6.0
    stub_length_mm: float = 2.0
    stub_diameter_mm: float | None = None
    fillet_mm: float = 0.3
    reservoir: bool = False
    reservoir_gap_mm: float = 1.0
    max_gates: int = 3
    #: a body under this share of the largest body's volume (a loose ornament) gets one gate
    small_body_share: float = 0.1
    #: every sprue keeps this far from the other bodies (domain.md: gap between parts)
    body_gap_mm: float = 0.3
    mass_fraction: float = 0.7
    min_mass_share: float = 0.15
    smooth_radius_mm: float = 1.0


@dataclass(frozen=True)
class Gate:
    """One gate and its sprue, in the part frame (mm).

    position_mm : (3,) where the sprue axis meets the surface
    direction : (3,) unit, out of the part along the sprue
    tree_axis : (3,) unit, direction of the tree trunk (``angle_deg`` from ``direction``)
    diameter_mm : sprue diameter at the gate; section_mm : the local section it feeds
    face : face index of the part at the gate; body : index of the part's body
    """

    position_mm: np.ndarray
    direction: np.ndarray
    tree_axis: np.ndarray
    diameter_mm: float
    section_mm: float
    face: int
    body: int
    outer_diameter_mm: float
    length_mm: float
    reservoir_diameter_mm: float | None = None

    def to_dict(self) -> dict:
        return {
            "position_mm": [round(float(v), 3) for v in self.position_mm],
            "direction": [round(float(v), 4) for v in self.direction],
            "tree_axis": [round(float(v), 4) for v in self.tree_axis],
            "diameter_mm": round(self.diameter_mm, 3),
            "outer_diameter_mm": round(self.outer_diameter_mm, 3),
            "section_mm": round(self.section_mm, 3),
            "length_mm": round(self.length_mm, 3),
            "body": self.body,
            "reservoir_diameter_mm": None
            if self.reservoir_diameter_mm is None
            else round(self.reservoir_diameter_mm, 3),
        }


@dataclass
class SprueResult:
    gates: list[Gate] = field(default_factory=list)
    solid: manifold3d.Manifold | None = None


def gate_diameter_mm(section_mm: float, s: SprueSettings) -> float:
    """The gate rule: clamp(factor × section, min, max) unless a diameter is forced."""
    if s.diameter_mm is not None:
        return float(s.diameter_mm)
    return float(np.clip(s.factor * section_mm, s.min_diameter_mm, s.max_diameter_mm))


def ball_diameter_mm(engine, points: np.ndarray, normals: np.ndarray, n_dirs: int = 96) -> np.ndarray:
    """Diameter of the largest ball inside the part tangent at each surface point.

    The ball tangent at p with centre on the inward normal and passing through a surface
    point hit at distance d along a direction at angle t from the inward normal has
    diameter d / cos t; the largest empty one is the minimum over a hemisphere of rays.
    points, normals : (n, 3) float64 (mm, unit outward); returns (n,) float64 mm.
    """
    i = np.arange(n_dirs) + 0.5
    cz = 1.0 - i / n_dirs  # uniform over the hemisphere, cos t in (0, 1]
    r = np.sqrt(1.0 - cz * cz)
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    local = np.column_stack([r * np.cos(phi), r * np.sin(phi), cz])  # (k, 3), z = inward
    inward = -normals
    helper = np.where(np.abs(inward[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
    e1 = np.cross(inward, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(inward, e1)
    dirs = local[None, :, :1] * e1[:, None] + local[None, :, 1:2] * e2[:, None] + local[None, :, 2:] * inward[:, None]
    origins = np.repeat(points - normals * 1e-4, n_dirs, axis=0)
    d = ray_distance_mm(engine, origins, dirs.reshape(-1, 3)).reshape(len(points), n_dirs)
    diam = (d / cz[None]).min(axis=1)
    return np.where(np.isfinite(diam), diam, 0.0)


def smoothed_section_mm(mesh: trimesh.Trimesh, thickness_mm: np.ndarray, radius_mm: float) -> np.ndarray:
    """Area-weighted mean section within ``radius_mm`` of each face: (f,) float64, mm.

    Computed on at most 15k faces (area-sampled) and carried to the rest by nearest.
    """
    from printprep.casting.analysis import sample_faces

    idx = sample_faces(mesh, 15_000)
    pts = mesh.triangles_center[idx]
    w = mesh.area_faces[idx]
    tree = cKDTree(pts)
    pairs = tree.query_pairs(radius_mm, output_type="ndarray")
    both = np.concatenate([pairs, pairs[:, ::-1]]) if len(pairs) else np.zeros((0, 2), np.int64)
    num = w * thickness_mm[idx] + np.bincount(
        both[:, 0], weights=(w * thickness_mm[idx])[both[:, 1]], minlength=len(idx)
    )
    den = w + np.bincount(both[:, 0], weights=w[both[:, 1]], minlength=len(idx))
    smooth = num / den
    if len(idx) == len(mesh.faces):
        return smooth
    _, nearest = tree.query(mesh.triangles_center)
    return smooth[nearest]


def _components(mask: np.ndarray, adjacency: np.ndarray, n: int) -> np.ndarray:
    """Connected components of masked faces over face adjacency: (n,) int64 label, -1 off."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    keep = mask[adjacency[:, 0]] & mask[adjacency[:, 1]]
    a = adjacency[keep]
    graph = coo_matrix((np.ones(len(a)), (a[:, 0], a[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    labels = labels.astype(np.int64)
    labels[~mask] = -1
    return labels


def body_labels(mesh: trimesh.Trimesh) -> np.ndarray:
    """Face-connected body of each face: (f,) int64."""
    return _components(np.ones(len(mesh.faces), dtype=bool), mesh.face_adjacency, len(mesh.faces))


def choose_gates(
    mesh: trimesh.Trimesh,
    analysis: SurfaceAnalysis,
    settings: SprueSettings | None = None,
    engine=None,
    bodies: np.ndarray | None = None,
    section: np.ndarray | None = None,
) -> list[Gate]:
    """Gates for every body of ``mesh`` (part frame, mm). See the module docstring.

    bodies, section : (f,) body label and smoothed section (mm) per face when already
    known (``section`` is refined in place at the candidates measured)."""
    s = settings or SprueSettings()
    engine = engine or ray_engine(mesh)
    n = len(mesh.faces)
    bodies = body_labels(mesh) if bodies is None else bodies
    section = smoothed_section_mm(mesh, analysis.thickness_mm, s.smooth_radius_mm) if section is None else section
    allowed = ~analysis.detail
    gates: list[Gate] = []
    if s.positions_mm:
        tree = cKDTree(mesh.triangles_center)
        for pos in s.positions_mm:
            _, f = tree.query(np.asarray(pos, dtype=float))
            f = int(f)
            if not allowed[f]:
                raise CastingError(
                    f"gate position {list(pos)} lies on a detail region (seat, prong, texture)",
                    where="sprues.positions_mm",
                )
            gates.append(_make_gate(mesh, f, section, int(bodies[f]), s, engine, exact=np.asarray(pos, float)))
        return gates
    if s.count == 0:
        return []
    # body volumes from the faces' signed tetrahedra (divergence theorem)
    tri = mesh.triangles
    vol = np.bincount(bodies, weights=np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])) / 6.0)
    for b in np.unique(bodies):
        in_body = bodies == b
        cand = in_body & allowed
        if not cand.any():
            cand = in_body  # all detail: least bad is the thickest face
        top = section[cand].max()
        thick = cand & (section >= s.mass_fraction * top)
        labels = _components(thick, mesh.face_adjacency, n)
        ids, inv = np.unique(labels[thick], return_inverse=True)
        area = np.bincount(inv, weights=mesh.area_faces[thick])
        order = np.argsort(-area, kind="stable")
        want = s.count if s.count is not None else s.max_gates
        if s.count is None and abs(vol[b]) < s.small_body_share * np.abs(vol).max():
            want = 1
        masses = [ids[k] for k in order if area[k] >= s.min_mass_share * area[order[0]]][:want]
        if s.count is not None and len(masses) < s.count:
            masses = [ids[k] for k in order][: s.count]
        chosen: list[int] = []
        for lab in masses:
            faces = np.nonzero(labels == lab)[0]
            faces = faces[np.argsort(-section[faces], kind="stable")][:256]
            f = _first_clear(mesh, faces, section, s, engine)
            chosen.append(f)
        # extra gates when the count asks for more than there are masses: spread them
        while s.count is not None and len(chosen) < s.count:
            faces = np.nonzero(cand)[0]
            c = mesh.triangles_center
            d = np.min(np.linalg.norm(c[faces][:, None] - c[chosen][None], axis=2), axis=1)
            chosen.append(int(faces[np.argmax(d * section[faces])]))
        for f in chosen:
            gates.append(_make_gate(mesh, f, section, int(b), s, engine))
    return gates


def _first_clear(
    mesh: trimesh.Trimesh, faces: np.ndarray, section: np.ndarray, s: SprueSettings, engine
) -> int:
    """Of candidate ``faces``, the one with the largest tangent ball (the thickest local
    section) whose normal ray stays clear of the part for the sprue; ``section`` is
    updated in place with the ball diameters measured."""
    c = mesh.triangles_center[faces]
    nrm = mesh.face_normals[faces]
    ball = ball_diameter_mm(engine, c, nrm)
    section[faces] = ball
    d = ray_distance_mm(engine, c + nrm * 1e-3, nrm)
    ok = d > s.length_mm + s.stub_length_mm + 2.0
    score = np.where(ok, ball, ball - 1e6)
    return int(faces[int(np.argmax(score))])


def _make_gate(
    mesh: trimesh.Trimesh,
    face: int,
    section: np.ndarray,
    body: int,
    s: SprueSettings,
    engine,
    exact: np.ndarray | None = None,
) -> Gate:
    centers = mesh.triangles_center
    p = centers[face] if exact is None else exact
    t = float(ball_diameter_mm(engine, np.asarray(p, float)[None], mesh.face_normals[face][None])[0])
    d_gate = gate_diameter_mm(t, s)
    near = np.linalg.norm(centers - p, axis=1) <= max(d_gate / 2, 0.3)
    nrm = (mesh.face_normals[near] * mesh.area_faces[near, None]).sum(axis=0)
    if np.linalg.norm(nrm) < 1e-9:
        nrm = mesh.face_normals[face]
    nrm = nrm / np.linalg.norm(nrm)
    direction = _clear_direction(p, nrm, d_gate, s, engine)
    helper = np.array([0.0, 0.0, 1.0]) if abs(direction[2]) < 0.9 else np.array([1.0, 0, 0])
    side = np.cross(direction, np.cross(helper, direction))
    side /= np.linalg.norm(side)
    a = np.radians(s.angle_deg)
    tree_axis = np.cos(a) * direction + np.sin(a) * side
    outer = min(d_gate * s.taper, max(d_gate, s.max_diameter_mm))
    res = None
    if s.reservoir:
        res = float(np.clip(1.8 * d_gate, d_gate + 0.5, 8.0))
    return Gate(
        position_mm=np.asarray(p, dtype=float),
        direction=direction,
        tree_axis=tree_axis,
        diameter_mm=d_gate,
        section_mm=t,
        face=int(face),
        body=body,
        outer_diameter_mm=float(outer),
        length_mm=s.length_mm,
        reservoir_diameter_mm=res,
    )


def _clear_direction(p: np.ndarray, nrm: np.ndarray, d_mm: float, s: SprueSettings, engine) -> np.ndarray:
    """The direction nearest ``nrm`` (within 35°) along which a rod of diameter ``d_mm``
    leaves ``p`` without touching the part again."""
    need = s.length_mm + s.stub_length_mm + (8.0 if s.reservoir else 1.0)
    cands = [nrm[None]]
    for tilt in (10.0, 20.0, 35.0):
        cands.append(_hemisphere_dirs(nrm[None], tilt, 8)[:, 0])
    dirs = np.vstack(cands)
    r = d_mm / 2
    helper = np.where(np.abs(dirs[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
    u = np.cross(dirs, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(dirs, u)
    start = p + nrm * max(r, 0.3)  # outside the surface, then along the rod's rim
    offs = [np.zeros_like(u), u * r, -u * r, v * r, -v * r]
    worst = np.full(len(dirs), np.inf)
    for off in offs:
        worst = np.minimum(worst, ray_distance_mm(engine, start + off, dirs))
    ok = worst > need
    return dirs[int(np.argmax(ok))] if ok.any() else dirs[int(np.argmax(worst))]


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
    gates = choose_gates(mesh, analysis, s, engine, bodies=bodies)
    parts = [sprue_solid(g, s, embed_mm=_embed_mm(g)) for g in gates]
    if bodies.max() > 0 and gates:
        gates, parts = _keep_bodies_apart(mesh, analysis, bodies, gates, parts, s, engine)
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
) -> tuple[list[Gate], list[manifold3d.Manifold]]:
    """Keep every sprue ``body_gap_mm`` clear of the other bodies (closer, it would fuse
    two pieces in the print or the flask). A sprue that is not clear is dropped; a body
    left without a gate gets one on a face whose way out is clear (off hard detail, off
    detail when it can), or the piece is refused naming the bodies and why."""
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
    section = smoothed_section_mm(mesh, analysis.thickness_mm, s.smooth_radius_mm)
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
                ng = _make_gate(mesh, int(f), section, b, ss, engine)
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
        c = mesh.triangles_center
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
    c = mesh.triangles_center[faces]
    n = mesh.face_normals[faces]
    stub_r = max((s.stub_diameter_mm or 3.0) / 2, s.max_diameter_mm * s.taper * 0.6)
    need = s.length_mm + s.stub_length_mm + 0.5
    room = clear_along(engine, c + n * 0.05, n, stub_r + s.body_gap_mm)
    ok = room > need
    away, _ = cKDTree(mesh.triangles_center[other]).query(c) if other.any() else (np.zeros(len(c)), None)
    order = np.lexsort((-section[faces], detail[faces], -np.floor(away / 0.25), ~ok))
    return faces[order][ok[order]]
