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
    """A manifold3d solid of ``mesh`` (mm); CastingError when it is not a closed 2-manifold.

    Each triangle's face id is its index in ``mesh``: a boolean's result keeps it on the
    triangles that come from ``mesh`` (see :func:`source_faces`)."""
    m = manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.ascontiguousarray(mesh.vertices, dtype=np.float32),
            tri_verts=np.ascontiguousarray(mesh.faces, dtype=np.uint32),
            face_id=np.arange(len(mesh.faces), dtype=np.uint32),
        )
    )
    if m.status() != manifold3d.Error.NoError:
        raise CastingError(
            f"not a closed, oriented solid ({m.status().name}); run `printprep repair` first",
            where=where,
        )
    return m


def to_trimesh(solid: manifold3d.Manifold, with_face_ids: bool = False):
    """The triangles of a manifold3d solid as a trimesh (mm), without re-processing;
    with ``with_face_ids`` also each triangle's face id ((f,) int64, see
    :func:`source_faces`): ``(mesh, face_ids)``."""
    out = solid.to_mesh()
    verts = np.asarray(out.vert_properties, dtype=np.float64)[:, :3]
    faces = np.asarray(out.tri_verts, dtype=np.int64)
    mesh = trimesh.Trimesh(vertices=verts, faces=faces, process=False)
    if with_face_ids:
        return mesh, np.asarray(out.face_id, dtype=np.int64)
    return mesh


def source_faces(
    result: trimesh.Trimesh, face_ids: np.ndarray, source: trimesh.Trimesh, tol_mm: float = 1e-3
) -> np.ndarray:
    """For each triangle of ``result`` (a boolean of ``source``'s :func:`to_manifold`
    solid with others, face ids from ``to_trimesh(..., with_face_ids=True)``): the
    triangle of ``source`` it is, or -1.

    A triangle counts as ``source``'s when its face id names a triangle of ``source``
    whose centroid lies within ``tol_mm`` of its own (a triangle the boolean cut keeps
    the id but moved: -1, as for the other solids' triangles, whose ids name nothing).
    returns (f,) int64. The same as the nearest ``source`` centroid within ``tol_mm``
    (a k-d tree over a million centroids costs seconds; this is one pass).
    """
    from printprep.casting.facts import facts_of

    n = len(source.faces)
    ok = (face_ids >= 0) & (face_ids < n)
    idx = np.where(ok, face_ids, 0)
    d = np.linalg.norm(facts_of(result).centers - facts_of(source).centers[idx], axis=1)
    return np.where(ok & (d <= tol_mm), idx, -1)


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
