"""A preview PNG: part, sprues and supports in three colours, from two angles.

A point-splat z-buffer: each mesh is sampled (face centroids, plus barycentric points on
faces larger than a pixel), projected orthographically, and the nearest point per pixel
wins (one compiled pass, :func:`~printprep.casting.preview_kernels.splat_faces`);
shading is Lambert from a head light on the winning face's normal. No OpenGL, no display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from printprep.casting.facts import facts_of
from printprep.casting.preview_kernels import splat_faces

PART_RGB = (205, 170, 90)
SPRUE_RGB = (200, 60, 50)
SUPPORT_RGB = (70, 120, 210)
BACKGROUND_RGB = (245, 245, 245)


def _points_per_face(mesh: trimesh.Trimesh, px_mm: float, cap: int = 3_000_000) -> np.ndarray:
    """Points to splat per face, about two per pixel of its area (at least one, at most
    2000; all faces together at most ``cap``): (f,) int64."""
    per = np.clip(np.ceil(facts_of(mesh).areas / (0.5 * px_mm * px_mm)), 1, 2000).astype(np.int64)
    if per.sum() > cap:
        per = np.maximum(1, (per * cap / per.sum()).astype(np.int64))
    return per


def _view(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Rotation (3, 3): world -> camera (x right, y up, z toward the viewer)."""
    a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    # camera looks along -y of the rotated world, z up
    to_cam = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], dtype=float)
    return to_cam @ rx @ rz


def render(
    meshes: Sequence[tuple[trimesh.Trimesh, tuple[int, int, int]]],
    view: np.ndarray,
    size_px: int = 480,
) -> np.ndarray:
    """One view: (size_px, size_px, 3) uint8."""
    allv = [m.vertices for m, _ in meshes if len(m.vertices)]
    img = np.empty((size_px, size_px, 3), dtype=np.uint8)
    img[:] = BACKGROUND_RGB
    if not allv:
        return img
    cam = np.vstack(allv) @ view.T
    lo, hi = cam.min(axis=0), cam.max(axis=0)
    span = float(max(hi[0] - lo[0], hi[1] - lo[1])) * 1.08 + 1e-9
    px_mm = span / size_px
    centre = (lo + hi) / 2
    light = np.array([0.3, 0.5, 0.81])
    light /= np.linalg.norm(light)
    n_px = size_px * size_px
    best_depth = np.full(n_px, -np.inf)
    best_face = np.full(n_px, -1, np.int64)
    best_mesh = np.full(n_px, -1, np.int64)
    for k, (mesh, _) in enumerate(meshes):
        if len(mesh.faces) == 0:
            continue
        splat_faces(
            np.ascontiguousarray(mesh.vertices, dtype=np.float64),
            np.ascontiguousarray(mesh.faces, dtype=np.int64),
            _points_per_face(mesh, px_mm),
            np.ascontiguousarray(view, dtype=np.float64),
            np.asarray(centre, dtype=np.float64),
            float(px_mm),
            size_px,
            best_depth,
            best_face,
            best_mesh,
            k,
        )
    flat = img.reshape(-1, 3)
    for k, (mesh, rgb) in enumerate(meshes):
        lit = np.flatnonzero(best_mesh == k)
        if len(lit) == 0:
            continue
        normals = facts_of(mesh).normals[best_face[lit]]
        shade = 0.35 + 0.65 * np.abs((normals @ view.T) @ light)
        flat[lit] = np.clip(shade[:, None] * np.asarray(rgb, np.float64)[None], 0, 255).astype(np.uint8)
    return img


def write_preview(
    path: str | Path,
    part: trimesh.Trimesh,
    sprues: trimesh.Trimesh,
    supports: trimesh.Trimesh,
    size_px: int = 480,
) -> Path:
    """Write the two-view preview PNG (front-left and back-right, from above)."""
    layers = [(part, PART_RGB), (sprues, SPRUE_RGB), (supports, SUPPORT_RGB)]
    a = render(layers, _view(-35.0, 20.0), size_px)
    b = render(layers, _view(145.0, 35.0), size_px)
    out = Path(path)
    Image.fromarray(np.concatenate([a, b], axis=1)).save(out)
    return out
