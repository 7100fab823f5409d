"""Thumbnails of the parts for archives and previews: a shaded 3/4 view as RGBA PNG.

Points are sampled evenly over the surface (about four per output pixel the parts
cover), projected along the view direction and kept nearest-first per pixel (a z-buffer
done with one sort); each pixel is shaded by its surface normal. No OpenGL needed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import trimesh
from PIL import Image

#: Resin-like colour (RGB) and the light direction in view space.
COLOUR = np.array([70.0, 140.0, 210.0])
LIGHT = np.array([-0.4, 0.5, 0.77])
SAMPLES_PER_PX = 3
MAX_SAMPLES = 1_500_000


def _view_rotation(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """(3, 3) rotation: world -> view (x right, y up, z towards the viewer)."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(el), -np.sin(el)], [0, np.sin(el), np.cos(el)]])
    # look from -y (front), tilted down by the elevation
    base = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)
    return rx.T @ base @ rz


def _face_areas(vertices: np.ndarray, faces: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """(m,) float64 triangle areas, computed in chunks (nothing cached on the mesh)."""
    if len(faces) > chunk:  # a big mesh: the mesh code's compiled pass (numba only when it pays)
        from printprep.mesh.measure import face_areas_mm2

        return face_areas_mm2(vertices, faces)
    out = np.empty(len(faces))
    for s in range(0, len(faces), chunk):
        f = faces[s : s + chunk]
        a = vertices[f[:, 1]] - vertices[f[:, 0]]
        b = vertices[f[:, 2]] - vertices[f[:, 0]]
        out[s : s + chunk] = 0.5 * np.linalg.norm(np.cross(a, b), axis=1)
    return out


def render(
    meshes: Sequence[trimesh.Trimesh],
    size_px: tuple[int, int],
    *,
    shifts_mm: Sequence[np.ndarray] | None = None,
    azimuth_deg: float = -30.0,
    elevation_deg: float = 35.0,
    seed: int = 0,
    areas: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Render parts (mm, each moved by its shift) into a (h, w, 4) uint8 RGBA image with
    a transparent background. areas : each part's (m,) float64 triangle areas, mm², when
    the caller has them (several renders of one mesh)."""
    w, h = size_px
    shifts = list(shifts_mm) if shifts_mm is not None else [np.zeros(3)] * len(meshes)
    rot = _view_rotation(azimuth_deg, elevation_deg)
    corners = (
        np.concatenate(
            [trimesh.bounds.corners(m.bounds + s) for m, s in zip(meshes, shifts, strict=True)]
        )
        @ rot.T
    )
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    span = np.maximum(hi[:2] - lo[:2], 1e-9)
    scale = 0.9 * min(w / span[0], h / span[1])
    covered_px = span[0] * span[1] * scale * scale
    count = int(min(MAX_SAMPLES, max(10_000, SAMPLES_PER_PX * covered_px)))
    rng = np.random.default_rng(seed)
    if areas is None:
        areas = [_face_areas(np.asarray(m.vertices), np.asarray(m.faces)) for m in meshes]
    totals = np.array([a.sum() for a in areas])
    per_part = rng.multinomial(count, totals / totals.sum())
    pts_all, normals_all = [], []
    for mesh, shift, area, n in zip(meshes, shifts, areas, per_part, strict=True):
        cum = np.cumsum(area)
        face = np.searchsorted(cum, np.sort(rng.random(n)) * cum[-1])  # sorted: cache-friendly
        face = np.minimum(face, len(area) - 1)
        tri = np.asarray(mesh.vertices)[np.asarray(mesh.faces)[face]]
        r = rng.random((n, 2))
        flip = r.sum(axis=1) > 1
        r[flip] = 1 - r[flip]
        pts_all.append(
            tri[:, 0]
            + r[:, :1] * (tri[:, 1] - tri[:, 0])
            + r[:, 1:] * (tri[:, 2] - tri[:, 0])
            + shift
        )
        nrm = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normals_all.append(nrm / np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12))
    view = np.concatenate(pts_all) @ rot.T
    normals = np.concatenate(normals_all) @ rot.T
    centre = (lo[:2] + hi[:2]) / 2
    col = np.floor((view[:, 0] - centre[0]) * scale + w / 2).astype(np.int64)
    row = np.floor((centre[1] - view[:, 1]) * scale + h / 2).astype(np.int64)
    ok = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    pix = (row * w + col)[ok]
    depth = -view[ok, 2]
    normals = normals[ok]
    depth01 = (depth - depth.min()) / max(float(np.ptp(depth)), 1e-12) * 0.5
    order = np.argsort(pix + depth01)  # by pixel, nearest first
    pix, normals = pix[order], normals[order]
    first = np.ones(len(pix), bool)
    first[1:] = pix[1:] != pix[:-1]
    pix, normals = pix[first], normals[first]
    light = LIGHT / np.linalg.norm(LIGHT)
    shade = 0.35 + 0.65 * np.clip(np.abs(normals @ light), 0, 1)
    img = np.zeros((h * w, 4), np.uint8)
    img[pix, :3] = np.clip(COLOUR[None, :] * shade[:, None] * 1.15, 0, 255).astype(np.uint8)
    img[pix, 3] = 255
    return img.reshape(h, w, 4)


def thumbnails_png(
    meshes: Sequence[trimesh.Trimesh],
    sizes_px: Sequence[tuple[int, int]],
    shifts_mm: Sequence[np.ndarray] | None = None,
) -> dict[tuple[int, int], bytes]:
    """:func:`thumbnail_png` at each size, the triangle areas computed once."""
    areas = [_face_areas(np.asarray(m.vertices), np.asarray(m.faces)) for m in meshes]
    return {size: thumbnail_png(meshes, size, shifts_mm, areas=areas) for size in sizes_px}


def thumbnail_png(
    meshes: Sequence[trimesh.Trimesh],
    size_px: tuple[int, int],
    shifts_mm: Sequence[np.ndarray] | None = None,
    areas: Sequence[np.ndarray] | None = None,
) -> bytes:
    """PNG bytes of the parts at ``size_px`` (width, height): rendered at half size and
    scaled up smoothly, which looks the same at thumbnail size for a quarter of the work."""
    w, h = size_px
    small = render(meshes, (max(1, w // 2), max(1, h // 2)), shifts_mm=shifts_mm, areas=areas)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    buf = io.BytesIO()
    Image.fromarray(img, "RGBA").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def render_preview(
    mesh: trimesh.Trimesh | Sequence[trimesh.Trimesh],
    path: str | Path,
    size_px: tuple[int, int] = (400, 400),
) -> Path:
    """Write a shaded PNG picture of the part(s) to ``path`` (the job preview)."""
    meshes = [mesh] if isinstance(mesh, trimesh.Trimesh) else list(mesh)
    out = Path(path)
    out.write_bytes(thumbnail_png(meshes, size_px))
    return out
