"""Solid building blocks on manifold3d: conversion, tapered rods, unions.

Every solid printprep adds to a part (sprue, reservoir, support, base) is built here so
the union with the part is guaranteed manifold.
"""

from __future__ import annotations

from collections.abc import Sequence

import manifold3d
import numpy as np
import trimesh

from printprep.errors import CastingError

#: segments around a support rod or sprue (support rods stay coarse: many of them)
ROD_SEGMENTS = 12
SPRUE_SEGMENTS = 32


def to_manifold(mesh: trimesh.Trimesh, where: str = "part") -> manifold3d.Manifold:
    """A manifold3d solid of ``mesh`` (mm); CastingError when it is not a closed 2-manifold."""
    m = manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.ascontiguousarray(mesh.vertices, dtype=np.float32),
            tri_verts=np.ascontiguousarray(mesh.faces, dtype=np.uint32),
        )
    )
    if m.status() != manifold3d.Error.NoError:
        raise CastingError(
            f"not a closed, oriented solid ({m.status().name}); run `printprep repair` first",
            where=where,
        )
    return m


def to_trimesh(solid: manifold3d.Manifold) -> trimesh.Trimesh:
    """The triangles of a manifold3d solid as a trimesh (mm), without re-processing."""
    out = solid.to_mesh()
    verts = np.asarray(out.vert_properties, dtype=np.float64)[:, :3]
    faces = np.asarray(out.tri_verts, dtype=np.int64)
    return trimesh.Trimesh(vertices=verts, faces=faces, process=False)


def _frame_to(direction: np.ndarray) -> np.ndarray:
    """A rotation (3, 3) taking +z to unit ``direction``."""
    d = direction / np.linalg.norm(direction)
    helper = np.array([1.0, 0, 0]) if abs(d[0]) < 0.9 else np.array([0, 1.0, 0])
    x = np.cross(helper, d)
    x /= np.linalg.norm(x)
    y = np.cross(d, x)
    return np.column_stack([x, y, d])


def rod(
    a: Sequence[float], b: Sequence[float], r_a_mm: float, r_b_mm: float, segments: int = ROD_SEGMENTS
) -> manifold3d.Manifold:
    """A tapered cylinder from point ``a`` (radius ``r_a_mm``) to ``b`` (``r_b_mm``)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    length = float(np.linalg.norm(b - a))
    if length < 1e-6:
        raise CastingError(f"zero-length rod at {a.round(3).tolist()}")
    cyl = manifold3d.Manifold.cylinder(length, r_a_mm, r_b_mm, segments)
    m = np.zeros((3, 4))
    m[:, :3] = _frame_to(b - a)
    m[:, 3] = a
    return cyl.transform(m)


def capsule(
    a: Sequence[float], b: Sequence[float], r_a_mm: float, r_b_mm: float, segments: int = ROD_SEGMENTS
) -> manifold3d.Manifold:
    """A rod with round ends (hull of two spheres): joints of bent supports stay closed."""
    sa = manifold3d.Manifold.sphere(r_a_mm, segments).translate(tuple(np.asarray(a, float)))
    sb = manifold3d.Manifold.sphere(r_b_mm, segments).translate(tuple(np.asarray(b, float)))
    return manifold3d.Manifold.batch_hull([sa, sb])


def sphere(center: Sequence[float], r_mm: float, segments: int = SPRUE_SEGMENTS) -> manifold3d.Manifold:
    return manifold3d.Manifold.sphere(r_mm, segments).translate(tuple(np.asarray(center, float)))


def union(solids: Sequence[manifold3d.Manifold]) -> manifold3d.Manifold:
    """Union of many solids (an empty manifold when there are none)."""
    solids = [s for s in solids if not s.is_empty()]
    if not solids:
        return manifold3d.Manifold()
    if len(solids) == 1:
        return solids[0]
    return manifold3d.Manifold.batch_boolean(list(solids), manifold3d.OpType.Add)
