"""Gates: where metal enters each body of the part, and how wide.

Per body of the part (a chain's links are cast each through its own gate):

* **thick masses** — faces whose smoothed section is at least ``mass_fraction`` of the
  body's thickest non-detail section, grouped by face adjacency: a thinner section
  separates one group from the next. Each mass big enough (``min_mass_share`` of the
  largest) gets a gate, up to ``max_gates``; ``count`` overrides (gates per body).
* **gate** — on the thickest non-detail face of the mass whose outward path is clear.
  Diameter (domain.md §1): ``clamp(factor × local section, min, max)``, factor 1.1.
* **direction** — the surface normal, or the nearest clear direction within 35°; the
  tree trunk's direction makes ``angle_deg`` (45°) with it.

Positions given by the user snap to the nearest face and are refused on detail.
The sprue solids built on these gates, and keeping them clear of the other bodies, are
in :mod:`printprep.casting.sprues`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from printprep.casting.analysis import (
    SurfaceAnalysis,
    _hemisphere_dirs,
    ray_distance_mm,
    ray_engine,
)
from printprep.casting.facts import facts_of
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

    facts = facts_of(mesh)
    idx = sample_faces(mesh, 15_000)
    pts = facts.centers[idx]
    w = facts.areas[idx]
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
    _, nearest = tree.query(facts.centers, workers=-1)
    return smooth[nearest]


def _components(mask: np.ndarray, adjacency: np.ndarray, n: int) -> np.ndarray:
    """Connected components of masked faces over face adjacency ((k, 2) int64): (n,)
    int64 label (numbered by each component's lowest face), -1 off the mask."""
    from printprep.mesh.topology import components

    keep = mask[adjacency[:, 0]] & mask[adjacency[:, 1]]
    a = adjacency[keep]
    _, labels = components(n, a[:, 0], a[:, 1])
    labels = np.asarray(labels, dtype=np.int64).copy()
    labels[~mask] = -1
    return labels


def _body_volumes_mm3(facts, bodies: np.ndarray) -> np.ndarray:
    """Signed volume of each body (divergence theorem over its faces): (b,) float64 mm³."""
    if len(bodies) == 0 or bodies.max() == 0:
        return np.array([facts.volume_mm3])
    v, f = facts.vertices, facts.faces
    per_face = np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])) / 6.0
    return np.bincount(bodies, weights=per_face)


def body_labels(mesh: trimesh.Trimesh) -> np.ndarray:
    """Face-connected body of each face: (f,) int64, numbered by each body's lowest face."""
    return facts_of(mesh).bodies


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
    facts = facts_of(mesh)
    n = len(mesh.faces)
    bodies = body_labels(mesh) if bodies is None else bodies
    section = smoothed_section_mm(mesh, analysis.thickness_mm, s.smooth_radius_mm) if section is None else section
    allowed = ~analysis.detail
    gates: list[Gate] = []
    if s.positions_mm:
        tree = cKDTree(facts.centers)
        for pos in s.positions_mm:
            _, f = tree.query(np.asarray(pos, dtype=float))
            f = int(f)
            if not allowed[f]:
                raise CastingError(
                    f"gate position {list(pos)} lies on a detail region (seat, prong, texture)",
                    where="sprues.positions_mm",
                )
            gates.append(make_gate(mesh, f, section, int(bodies[f]), s, engine, exact=np.asarray(pos, float)))
        return gates
    if s.count == 0:
        return []
    # body volumes from the faces' signed tetrahedra (divergence theorem)
    vol = _body_volumes_mm3(facts, bodies)
    for b in np.unique(bodies):
        in_body = bodies == b
        cand = in_body & allowed
        if not cand.any():
            cand = in_body  # all detail: least bad is the thickest face
        top = section[cand].max()
        thick = cand & (section >= s.mass_fraction * top)
        labels = _components(thick, facts.adjacency, n)
        ids, inv = np.unique(labels[thick], return_inverse=True)
        area = np.bincount(inv, weights=facts.areas[thick])
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
            c = facts.centers
            d = np.min(np.linalg.norm(c[faces][:, None] - c[chosen][None], axis=2), axis=1)
            chosen.append(int(faces[np.argmax(d * section[faces])]))
        for f in chosen:
            gates.append(make_gate(mesh, f, section, int(b), s, engine))
    return gates


def _first_clear(
    mesh: trimesh.Trimesh, faces: np.ndarray, section: np.ndarray, s: SprueSettings, engine
) -> int:
    """Of candidate ``faces``, the one with the largest tangent ball (the thickest local
    section) whose normal ray stays clear of the part for the sprue; ``section`` is
    updated in place with the ball diameters measured."""
    facts = facts_of(mesh)
    c = facts.centers[faces]
    nrm = facts.normals[faces]
    ball = ball_diameter_mm(engine, c, nrm)
    section[faces] = ball
    d = ray_distance_mm(engine, c + nrm * 1e-3, nrm)
    ok = d > s.length_mm + s.stub_length_mm + 2.0
    score = np.where(ok, ball, ball - 1e6)
    return int(faces[int(np.argmax(score))])


def make_gate(
    mesh: trimesh.Trimesh,
    face: int,
    section: np.ndarray,
    body: int,
    s: SprueSettings,
    engine,
    exact: np.ndarray | None = None,
) -> Gate:
    """The gate on ``face`` of body ``body`` (part frame, mm): diameter from the tangent
    ball there (the gate rule), direction the area-weighted normal round the gate turned
    to the nearest clear one, tree axis ``angle_deg`` from it. ``section`` : (f,) float64
    mm per face; ``exact`` : (3,) float64 mm, a user's position to use instead of the
    face centre."""
    facts = facts_of(mesh)
    centers, normals = facts.centers, facts.normals
    p = centers[face] if exact is None else exact
    t = float(ball_diameter_mm(engine, np.asarray(p, float)[None], normals[face][None])[0])
    d_gate = gate_diameter_mm(t, s)
    near = np.linalg.norm(centers - p, axis=1) <= max(d_gate / 2, 0.3)
    nrm = (normals[near] * facts.areas[near, None]).sum(axis=0)
    if np.linalg.norm(nrm) < 1e-9:
        nrm = normals[face]
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
