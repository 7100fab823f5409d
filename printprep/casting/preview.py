"""A preview PNG: part, sprues and supports in three colours, from two angles.

A point-splat z-buffer in numpy: each mesh is sampled (face centroids, plus barycentric
points on faces larger than a pixel), projected orthographically, and the nearest point
per pixel wins; shading is Lambert from a head light. No OpenGL, no display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from printprep.casting.preview_kernels import nearest_per_pixel

PART_RGB = (205, 170, 90)
SPRUE_RGB = (200, 60, 50)
SUPPORT_RGB = (70, 120, 210)
BACKGROUND_RGB = (245, 245, 245)


def _samples(mesh: trimesh.Trimesh, px_mm: float, cap: int = 3_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Points on the surface at about pixel spacing, with their face normals: (n, 3) x 2."""
    if len(mesh.faces) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    area = mesh.area_faces
    per = np.clip(np.ceil(area / (0.5 * px_mm * px_mm)), 1, 2000).astype(np.int64)
    if per.sum() > cap:
        per = np.maximum(1, (per * cap / per.sum()).astype(np.int64))
    face = np.repeat(np.arange(len(mesh.faces)), per)
    k = np.arange(len(face)) - np.repeat(np.cumsum(per) - per, per)
    g = 1.32471795724474602596
    u = np.mod(0.5 + k / g, 1.0)
    v = np.mod(0.5 + k / (g * g), 1.0)
    flip = u + v > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    tri = mesh.triangles[face]
    pts = tri[:, 0] + u[:, None] * (tri[:, 1] - tri[:, 0]) + v[:, None] * (tri[:, 2] - tri[:, 0])
    return pts, mesh.face_normals[face]


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
    shade_all, depth_all, pix_all, rgb_all = [], [], [], []
    light = np.array([0.3, 0.5, 0.81])
    light /= np.linalg.norm(light)
    for mesh, rgb in meshes:
        pts, nrm = _samples(mesh, px_mm)
        if len(pts) == 0:
            continue
        p = pts @ view.T
        ix = ((p[:, 0] - centre[0]) / px_mm + size_px / 2).astype(np.int64)
        iy = (size_px / 2 - (p[:, 1] - centre[1]) / px_mm).astype(np.int64)
        ok = (ix >= 0) & (ix < size_px) & (iy >= 0) & (iy < size_px)
        pix_all.append(iy[ok] * size_px + ix[ok])
        depth_all.append(p[ok, 2])
        shade_all.append(0.35 + 0.65 * np.abs((nrm[ok] @ view.T) @ light))
        rgb_all.append(np.broadcast_to(np.asarray(rgb, np.float64), (int(ok.sum()), 3)))
    if not pix_all:
        return img
    # the nearest sample (largest z toward the viewer) per pixel wins; colour only those
    best = nearest_per_pixel(np.concatenate(pix_all), np.concatenate(depth_all), size_px * size_px)
    lit = np.flatnonzero(best >= 0)
    win = best[lit]
    col = np.concatenate(shade_all)[win, None] * np.concatenate(rgb_all)[win]
    img.reshape(-1, 3)[lit] = np.clip(col, 0, 255).astype(np.uint8)
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
