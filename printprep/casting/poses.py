"""The geometry of a pose: candidate "up" directions, the rotation that makes one of them
+z, an area-weighted face sample to score poses on, and whether a part is a ring (its
axis). Used by orientation (:mod:`orient`) and the island finder (:mod:`islands`)."""

from __future__ import annotations

import numpy as np
import trimesh

from printprep.casting.analysis import ray_distance_mm, ray_engine
from printprep.casting.facts import facts_of


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` near-uniform unit vectors: (n, 3) float64 (deterministic)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


def face_areas_mm2(mesh: trimesh.Trimesh) -> np.ndarray:
    """Area of every face: (f,) float64, mm² (the mesh's :class:`PartFacts`)."""
    return facts_of(mesh).areas


def area_sample(area_mm2: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` face indices, area-weighted and deterministic: (s,) int64, sorted.

    Systematic sampling: the faces laid end to end by area, one pick every 1/n of the
    total (a face larger than that is picked once). All faces when there are at most n.
    One cumulative sum and a search, where a weighted draw without replacement costs
    seconds at 1M faces.
    """
    if len(area_mm2) <= n:
        return np.arange(len(area_mm2))
    c = np.cumsum(area_mm2)
    pos = (np.arange(n) + 0.5) * (c[-1] / n)
    return np.unique(np.minimum(np.searchsorted(c, pos), len(area_mm2) - 1))


def rotation_to_z(u: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector ``u`` to +z: (3, 3) float64."""
    u = np.asarray(u, dtype=float) / np.linalg.norm(u)
    z = np.array([0.0, 0.0, 1.0])
    c = float(u @ z)
    if c < -1.0 + 1e-12:
        return np.diag([1.0, -1.0, -1.0])
    v = np.cross(u, z)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1.0 + c)


def ring_axis(mesh: trimesh.Trimesh, engine=None) -> np.ndarray | None:
    """The axis of a ring (unit, part frame), or None when ``mesh`` is not a ring.

    A ring here: one body whose principal axis of largest inertia passes through the
    centre of mass without touching metal, and which is closed all round that axis in at
    least one cross-section: of 32 rays out from the axis across it, at 9 heights along
    it, all of one height hit metal. Pierced or open-work bands (pixelverse_ring) are
    closed in some sections and open in others, so one closed section is enough; an open
    cuff (a gap all along) is not a ring.
    """
    facts = facts_of(mesh)
    if facts.body_count != 1:
        return None
    engine = engine or ray_engine(mesh)
    center = facts.center_mass
    _, vecs = np.linalg.eigh(facts.inertia)
    axis = vecs[:, 2]
    axis = axis * (1.0 if axis[np.argmax(np.abs(axis))] > 0 else -1.0)
    through = ray_distance_mm(engine, np.array([center, center]), np.array([axis, -axis]))
    if np.isfinite(through).any():
        return None
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    ang = np.arange(32) * np.pi / 16
    dirs = np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2
    h = (mesh.vertices - center) @ axis
    heights = h.min() + np.linspace(0.1, 0.9, 9) * (h.max() - h.min())
    origins = center + heights[:, None] * axis  # (9, 3)
    o = np.repeat(origins, len(dirs), axis=0)
    d = ray_distance_mm(engine, o, np.tile(dirs, (len(origins), 1)))
    closed = np.isfinite(d).reshape(len(origins), len(dirs)).all(axis=1)
    return axis if closed.any() else None
