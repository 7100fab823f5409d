"""Thickness and detail analysis of a part's surface.

Local thickness is measured per face by an inward ray along the face normal (Embree
through :mod:`printprep.casting.rays`): the distance to the opposite wall. Detail regions, which neither a
support tip nor a gate may touch, are the union of

* thin features (prongs, claws, filigree): thickness below ``thin_mm``; their free
  ends (prong tips, claw ends) are hard detail: thin faces near the convex hull where
  the thin, exposed surface within ``tip_radius_mm`` runs one way only — a wire or prong
  ending there — and the end points out of the piece (away from its centre of mass).
  The rim of a thin sheet (a cuff's tapered edge, a pendant's outline) runs along the
  hull both ways and is not a tip; a prong's foot hanging under a basket points back in;
* recesses (stone seats, engraved grooves, under-galleries): faces whose outward
  hemisphere is mostly closed by the part itself within ``recess_mm``;
* textured faces (hammered, knurled, engraved): high curvature density, measured as the
  spread of surface normals within ``texture_radius_mm``, on faces that are not thin
  (a 0.7 mm prong spreads its normals that much by its own roundness);
* regions the user marks (spheres in the input frame);

grown by ``margin_mm`` so a tip of finite size cannot reach into them. The expensive
measures run on an area-weighted sample of the surface (at most ``max_samples`` points)
and are carried to every face by nearest sample, so the cost stays flat above ~100k faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from printprep.casting.analysis_kernels import depth_below_planes, weighted_moments
from printprep.casting.facts import facts_of
from printprep.casting.rays import PartRays
from printprep.errors import CastingError


@dataclass(frozen=True)
class DetailSettings:
    """Thresholds of the detail analysis (lengths in mm)."""

    thin_mm: float = 0.9
    #: a thin face this close to the convex hull is exposed ...
    tip_reach_mm: float = 1.0
    #: ... and an extremity (a prong tip) when the thin exposed surface within
    #: ``tip_radius_mm`` runs one way only: its largest principal spread is below
    #: ``tip_spread`` x the radius (a prong's end about 0.3, a sheet's rim 0.58)
    tip_radius_mm: float = 1.5
    tip_spread: float = 0.4
    recess_mm: float = 3.0
    recess_fraction: float = 0.5
    texture_radius_mm: float = 0.3
    texture_spread: float = 0.1
    margin_mm: float = 0.4
    max_samples: int = 60_000
    #: user-marked keep-out spheres: (x_mm, y_mm, z_mm, radius_mm) in the input frame
    keep_out: tuple[tuple[float, float, float, float], ...] = ()


@dataclass(frozen=True)
class SurfaceAnalysis:
    """Per-face measures of a part (faces in the order of the analysed mesh).

    thickness_mm : (f,) float64, mm — local section at each face centroid (the shortest
        inward ray, straight or tilted, scaled to the normal: about the inscribed
        diameter); above ``max_samples`` faces, the nearest sample's
    detail : (f,) bool — face lies on (or within the margin of) a detail region: no gate,
        no overhang tip
    hard : (f,) bool — the part of ``detail`` nothing may touch, not even an island tip:
        recesses, texture, marked regions and the free ends of thin features (prong tips);
        thin sections near thick metal are detail but not hard (an island there may get
        a fine tip when no orientation avoids it)
    reasons : face counts per detail reason before the margin ("thin", "recess", ...)
    """

    thickness_mm: np.ndarray
    detail: np.ndarray
    hard: np.ndarray
    reasons: dict[str, int] = field(default_factory=dict)
    #: (f,) bool — hard detail itself, before the margin: an island tip (a point contact
    #: at a local minimum) is judged against this grown by the tip's own radius
    hard_core: np.ndarray | None = None

    def thin_area_mm2(self, mesh: trimesh.Trimesh, below_mm: float) -> float:
        """Surface area of faces thinner than ``below_mm`` (mm²)."""
        return float(facts_of(mesh).areas[self.thickness_mm < below_mm].sum())


def ray_engine(mesh: trimesh.Trimesh) -> PartRays:
    """The ray scene of ``mesh`` (Embree through :class:`printprep.mesh.raycast.RayScene`)."""
    return PartRays.of(mesh)


def ray_distance_mm(
    engine: PartRays, origins: np.ndarray, directions: np.ndarray, max_dist: np.ndarray | float | None = None
) -> np.ndarray:
    """Distance along each ray to the first hit (inf when the ray escapes or hits only
    beyond ``max_dist`` (n,) or scalar mm), rounded to 10 nm (see
    :mod:`printprep.casting.rays`).

    origins, directions : (n, 3) float64, mm / unit vectors
    returns : (n,) float64, mm
    """
    return engine.distance_mm(origins, directions, max_dist)


def face_thickness_mm(mesh: trimesh.Trimesh, engine=None) -> np.ndarray:
    """Inward wall thickness per face: (f,) float64, mm (open walls get the median)."""
    engine = engine or ray_engine(mesh)
    facts = facts_of(mesh)
    normals = facts.normals
    eps = 1e-4 * max(facts.scale_mm, 1.0)
    origins = facts.centers - normals * eps
    t = ray_distance_mm(engine, origins, -normals) + eps
    finite = np.isfinite(t)
    if not finite.any():
        raise CastingError("no inward ray hits the part: the mesh is not a closed solid")
    t[~finite] = np.median(t[finite])
    return t


def _hemisphere_dirs(normals: np.ndarray, tilt_deg: float, count: int) -> np.ndarray:
    """``count`` unit directions tilted ``tilt_deg`` from each normal, evenly around it.

    normals : (n, 3) float64 unit; returns (count, n, 3) float64
    """
    helper = np.where(np.abs(normals[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
    u = np.cross(normals, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(normals, u)
    tilt = np.radians(tilt_deg)
    angles = np.arange(count) * 2 * np.pi / count
    return (
        np.cos(tilt) * normals[None]
        + np.sin(tilt) * (np.cos(angles)[:, None, None] * u[None] + np.sin(angles)[:, None, None] * v[None])
    )


def sample_faces(mesh: trimesh.Trimesh, max_samples: int) -> np.ndarray:
    """Deterministic area-weighted choice of at most ``max_samples`` face indices: (s,) int64."""
    n = len(mesh.faces)
    if n <= max_samples:
        return np.arange(n)
    rng = np.random.default_rng(0)
    area = facts_of(mesh).areas
    return np.sort(rng.choice(n, size=max_samples, replace=False, p=area / area.sum()))


def analyse_surface(
    mesh: trimesh.Trimesh, settings: DetailSettings | None = None, engine=None
) -> SurfaceAnalysis:
    """Thickness and detail regions of ``mesh`` (mm). See the module docstring."""
    s = settings or DetailSettings()
    engine = engine or ray_engine(mesh)
    facts = facts_of(mesh)
    centers = facts.centers
    normals = facts.normals

    sample = sample_faces(mesh, s.max_samples)
    sc, sn = centers[sample], normals[sample]
    eps = 1e-4 * max(facts.scale_mm, 1.0)
    # straight inward section on the samples (every face of a small mesh); a big mesh's
    # faces take their nearest sample's, like the other measures
    straight_s = ray_distance_mm(engine, sc - sn * eps, -sn) + eps
    finite = np.isfinite(straight_s)
    if not finite.any():
        raise CastingError("no inward ray hits the part: the mesh is not a closed solid")
    straight_s[~finite] = np.median(straight_s[finite])

    # section: inward rays tilted 50 degrees catch the ends of thin features, where the
    # straight inward ray runs the whole length of a prong
    tdirs = _hemisphere_dirs(-sn, 50.0, 6)
    torig = np.broadcast_to(sc - sn * eps, tdirs.shape).reshape(-1, 3)
    # only a median below straight x cos 50 changes the section; the 4th of six rays is
    # then below twice that: rays may stop there (a little beyond, for float32) and the
    # median is the same wherever it matters
    reach = 2.0 * straight_s * np.cos(np.radians(50.0)) * 1.001 + 1e-3
    tdist = ray_distance_mm(engine, torig, tdirs.reshape(-1, 3), np.tile(reach, len(tdirs))).reshape(len(tdirs), -1)
    # a ball tangent at the face through a hit at distance d, angle t off the inward
    # normal, has diameter d / cos t; the median of six ignores a nearby convex edge
    tilted_s = np.median(tdist, axis=0) / np.cos(np.radians(50.0)) + eps

    # recess: fraction of 7 outward rays (normal + 6 at 55 degrees) closed within recess_mm
    dirs = np.concatenate([sn[None], _hemisphere_dirs(sn, 55.0, 6)], axis=0)
    origins = np.broadcast_to(sc + sn * eps, dirs.shape).reshape(-1, 3)
    # only "closed within recess_mm" counts: rays may stop a little beyond it
    dist = ray_distance_mm(engine, origins, dirs.reshape(-1, 3), s.recess_mm * 1.001 + 1e-3).reshape(len(dirs), -1)
    closed = (dist < s.recess_mm).mean(axis=0)
    recess_s = closed >= s.recess_fraction

    # texture: spread of normals within texture_radius_mm (1 - |mean normal|)
    tree = cKDTree(sc)
    pairs = tree.query_pairs(s.texture_radius_mm, output_type="ndarray")
    acc = sn.copy()
    cnt = np.ones(len(sc))
    if len(pairs):
        both = np.concatenate([pairs, pairs[:, ::-1]])
        for k in range(3):
            acc[:, k] += np.bincount(both[:, 0], weights=sn[both[:, 1], k], minlength=len(sc))
        cnt += np.bincount(both[:, 0], minlength=len(sc))
    spread = 1.0 - np.linalg.norm(acc, axis=1) / cnt
    # a lone sharp edge spreads normals too; texture needs several neighbours disagreeing
    texture_s = (spread > s.texture_spread) & (cnt >= 4)

    thickness_s = np.minimum(straight_s, tilted_s)
    if len(sample) == len(mesh.faces):
        recess, texture, thickness = recess_s, texture_s, thickness_s
    else:
        _, nearest = tree.query(centers, workers=-1)
        recess, texture, thickness = recess_s[nearest], texture_s[nearest], thickness_s[nearest]

    thin = thickness < s.thin_mm
    # exposed ends: depth below the hull, measured on the samples, carried by nearest
    near_hull_s = np.zeros(len(sample), dtype=bool)
    thin_s = thickness[sample] < s.thin_mm
    near_hull_s[thin_s] = hull_depth_mm(mesh, sc[thin_s]) < s.tip_reach_mm
    if len(sample) == len(mesh.faces):
        # every face analysed: spread points over the exposed faces (a coarse mesh's long
        # rim slivers would otherwise look like lone tips)
        pts, w_pts = surface_points(mesh, np.nonzero(near_hull_s)[0], s.tip_radius_mm / 5)
    else:  # area-weighted samples: each stands for an equal share of the surface
        pts = sc[near_hull_s]
        w_pts = np.full(len(pts), facts.area_mm2 / len(sample))
    tip_s = near_hull_s.copy()
    tip_s[near_hull_s] = extremity(
        sc[near_hull_s], pts, w_pts, s.tip_radius_mm, s.tip_spread, centre=facts.center_mass
    )
    tips = thin & (tip_s if len(sample) == len(mesh.faces) else tip_s[nearest])

    marked = np.zeros(len(mesh.faces), dtype=bool)
    for x, y, z, r in s.keep_out:
        marked |= np.linalg.norm(centers - [x, y, z], axis=1) <= r
    # a thin wire or prong curves tightly by being thin, not by being textured: its
    # normals spread within the radius all along; its free end is the tip rule's
    texture = texture & ~thin
    hard_raw = tips | recess | texture | marked
    if len(sample) == len(mesh.faces):
        detail = grow_mask(centers, hard_raw | thin, s.margin_mm)
        hard = grow_mask(centers, hard_raw, s.margin_mm)
    else:
        # grow on the samples (the margin is far above their spacing), carry by nearest
        detail = (hard_raw | thin) | grow_mask(sc, (hard_raw | thin)[sample], s.margin_mm)[nearest]
        hard = hard_raw | grow_mask(sc, hard_raw[sample], s.margin_mm)[nearest]
    reasons = {
        "thin": int(thin.sum()),
        "thin_tip": int(tips.sum()),
        "recess": int(recess.sum()),
        "texture": int(texture.sum()),
        "marked": int(marked.sum()),
    }
    return SurfaceAnalysis(thickness_mm=thickness, detail=detail, hard=hard, reasons=reasons, hard_core=hard_raw)


def surface_points(
    mesh: trimesh.Trimesh, faces: np.ndarray, spacing_mm: float, max_points: int = 200_000
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic points spread over ``faces`` about ``spacing_mm`` apart, whatever
    the tessellation (a long sliver face gets many, a tiny face one).

    faces : (k,) int64. returns points (p, 3) float64 mm and the area each stands for
    (p,) float64 mm².
    """
    facts = facts_of(mesh)
    area = facts.areas[faces]
    cell = max(spacing_mm**2, float(area.sum()) / max_points)
    per = np.maximum(1, np.round(area / cell)).astype(np.int64)
    face_of = np.repeat(faces, per)
    k = np.arange(len(face_of)) - np.repeat(np.cumsum(per) - per, per)
    g = 1.32471795724474602596  # R2 low-discrepancy sequence, folded into the triangle
    u = np.mod(0.5 + k / g, 1.0)
    v = np.mod(0.5 + k / (g * g), 1.0)
    flip = u + v > 1.0
    u, v = np.where(flip, 1.0 - u, u), np.where(flip, 1.0 - v, v)
    single = np.repeat(per == 1, per)
    u, v = np.where(single, 1 / 3, u), np.where(single, 1 / 3, v)
    tri = facts.triangles(face_of)
    pts = tri[:, 0] + u[:, None] * (tri[:, 1] - tri[:, 0]) + v[:, None] * (tri[:, 2] - tri[:, 0])
    return pts, np.repeat(area / per, per)


def extremity(
    query: np.ndarray,
    points: np.ndarray,
    area_mm2: np.ndarray,
    radius_mm: float,
    spread: float,
    centre: np.ndarray | None = None,
) -> np.ndarray:
    """Query points where the exposed surface (``points``, each standing for
    ``area_mm2``) within ``radius_mm`` reaches out one way only: its largest principal
    standard deviation is below ``spread`` x radius. The end of a wire or prong (its
    exposed part runs one way from the tip: about 0.3 r) is one; the rim of a sheet or
    the middle of a wire (running both ways: 0.58 r) and a sheet's face (0.5 r) are not.

    With ``centre`` (3,) mm, only ends pointing away from it count: a prong's free top
    points out of the piece, its foot hanging under a basket points back in.

    query : (n, 3), points : (p, 3) float64, mm; area_mm2 : (p,). returns (n,) bool.
    """
    out = np.zeros(len(query), dtype=bool)
    n = len(query)
    if n == 0 or len(points) == 0:
        # nothing to measure; the kernel still runs (on no pairs), so a warm-up on a
        # piece without thin ends compiles it too
        i = j = np.zeros(0, dtype=np.int64)
    else:
        sdm = cKDTree(query).sparse_distance_matrix(cKDTree(points), radius_mm, output_type="ndarray")
        i, j = sdm["i"], sdm["j"]
    wsum, first, second = weighted_moments(
        np.ascontiguousarray(i, dtype=np.int64),
        np.ascontiguousarray(j, dtype=np.int64),
        np.ascontiguousarray(query, dtype=np.float64),
        np.ascontiguousarray(points, dtype=np.float64),
        np.ascontiguousarray(area_mm2, dtype=np.float64),
        n,
    )
    ok = wsum > 0
    if not ok.any():
        return out
    mean = first[ok] / wsum[ok, None]
    cov = second[ok] / wsum[ok, None, None] - mean[:, :, None] * mean[:, None, :]
    out[ok] = np.sqrt(np.clip(np.linalg.eigvalsh(cov)[:, -1], 0.0, None)) < spread * radius_mm
    if centre is not None:
        # mean is the neighbourhood's centroid minus the point: the end points along -mean
        out[ok] &= np.einsum("ij,ij->i", -mean, query[ok] - centre) > 0.0
    return out


def hull_depth_mm(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Depth of each point below the convex hull of ``mesh``: (n,) float64, mm (0 on it).

    points : (n, 3) float64, mm. The hull of at most 20k of the vertices, thinned to
    1.5k hull vertices when it has over 3k facets (a prong tip is a hull vertex either way);
    the depths in one compiled pass (:func:`analysis_kernels.depth_below_planes`).
    """
    verts = mesh.vertices
    if len(verts) > 20_000:
        verts = verts[np.linspace(0, len(verts) - 1, 20_000).astype(np.int64)]
    hull = trimesh.convex.convex_hull(verts)
    if len(hull.faces) > 3_000:
        hv = hull.vertices[np.linspace(0, len(hull.vertices) - 1, 1_500).astype(np.int64)]
        hull = trimesh.convex.convex_hull(hv)
    n = hull.face_normals
    d = np.einsum("ij,ij->i", n, hull.triangles[:, 0])
    out = depth_below_planes(
        np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3), np.ascontiguousarray(n, dtype=np.float64), d
    )
    return np.clip(out, 0.0, None)


def grow_mask(points: np.ndarray, mask: np.ndarray, margin_mm: float) -> np.ndarray:
    """Every point within ``margin_mm`` of a masked point: (n,) bool.

    points : (n, 3) float64, mm; mask : (n,) bool
    """
    if margin_mm <= 0 or not mask.any() or mask.all():
        return mask.copy()
    dist, _ = cKDTree(points[mask]).query(points, distance_upper_bound=margin_mm, workers=-1)
    return np.isfinite(dist)
