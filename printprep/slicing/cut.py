"""Cross-sections of a solid at many heights (:func:`cut_layers`), in one compiled pass.

The layer checks and an archive cut from a solid use this instead of manifold3d's
``slice``, which walks every triangle for every layer while holding the GIL (~7 ms a
layer at 1.35M triangles): here each layer is cut from only the triangles it crosses,
on two threads (:mod:`printprep.slicing.cut_kernels`). The rings are manifold3d's in
everything the raster sees: the same crossing points up to rounding (a vertex on a
plane counts as above it), outer rings counter-clockwise, holes clockwise.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


def mesh_arrays(solid: Any) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (v, 3) float64 mm, faces (f, 3) int64) of a manifold3d solid (its own
    double-precision positions) or of a trimesh-like object with vertices and faces."""
    if hasattr(solid, "to_mesh64"):
        m = solid.to_mesh64()
        verts = np.ascontiguousarray(np.asarray(m.vert_properties, dtype=np.float64)[:, :3])
        return verts, np.ascontiguousarray(np.asarray(m.tri_verts, dtype=np.int64))
    return (
        np.ascontiguousarray(np.asarray(solid.vertices, dtype=np.float64)),
        np.ascontiguousarray(np.asarray(solid.faces, dtype=np.int64)),
    )


def _cut_on_threads(
    verts: np.ndarray, faces: np.ndarray, zs: np.ndarray, start: np.ndarray, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~printprep.slicing.cut_kernels.cut_rings_into` over all layers, the layers
    split in two runs of about equal triangle counts on two threads (the kernel holds no
    GIL). Returns (pts (s, 2), ring_len (s,), rings (n,))."""
    from printprep.slicing.cut_kernels import cut_rings_into

    n = len(zs)
    pts = np.empty((len(ids), 2), np.float64)
    ring_len = np.zeros(len(ids), np.int64)
    rings = np.zeros(n, np.int64)
    args = (verts, faces, zs, start, ids)
    if len(ids) < 20000:  # a small cut: not worth a thread
        cut_rings_into(*args, 0, n, pts, ring_len, rings)
        return pts, ring_len, rings
    mid = int(np.searchsorted(start, len(ids) / 2))
    with ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(cut_rings_into, *args, mid, n, pts, ring_len, rings)
        cut_rings_into(*args, 0, mid, pts, ring_len, rings)
        other.result()
    return pts, ring_len, rings


class LayerCutter:
    """Cuts one solid at fixed heights, a few layers at a time: the layers each triangle
    spans are found once (:func:`~printprep.slicing.cut_kernels.face_layers`), each
    :meth:`rings` call buckets and cuts only the layers it is asked for.

    solid : a manifold3d solid or a closed, outward mesh; zs_mm : (n,) float64 ascending;
    arrays : the solid's (vertices, faces) when the caller has them (:func:`mesh_arrays`).
    """

    def __init__(self, solid: Any, zs_mm: np.ndarray, arrays: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        from printprep.slicing.cut_kernels import face_layers  # numba: only when used

        self.zs = np.ascontiguousarray(zs_mm, dtype=np.float64)
        self.verts, self.faces = arrays if arrays is not None else mesh_arrays(solid)
        if len(self.faces) and len(self.zs):
            self.lo, self.hi = face_layers(self.verts, self.faces, self.zs)
        else:
            self.lo = self.hi = np.zeros(0, np.int64)

    def rings(self, want: np.ndarray | None = None) -> list[list[np.ndarray]]:
        """Per layer a list of (m, 2) float64 mm rings, closed implicitly; [] for layers
        where ``want`` (n,) bool is False (default: every layer)."""
        from printprep.slicing.cut_kernels import bucket_faces

        n = len(self.zs)
        if n == 0 or len(self.faces) == 0:
            return [[] for _ in range(n)]
        mask = np.ones(n, dtype=bool) if want is None else np.ascontiguousarray(want, dtype=bool)
        start, ids = bucket_faces(self.lo, self.hi, mask)
        pts, ring_len, rings = _cut_on_threads(self.verts, self.faces, self.zs, start, ids)
        out: list[list[np.ndarray]] = []
        for i in range(n):
            a, b = int(start[i]), int(start[i + 1])
            if b == a:
                out.append([])
                continue
            lens = ring_len[a : a + int(rings[i])]
            out.append(np.split(pts[a:b], np.cumsum(lens)[:-1]))
        return out


def cut_layers(
    solid: Any, zs_mm: np.ndarray, want: np.ndarray | None = None,
    arrays: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[list[np.ndarray]]:
    """Rings of ``solid`` (a manifold3d solid or a closed, outward mesh) at each height
    ``zs_mm`` (n,) float64 ascending: per layer a list of (m, 2) float64 mm rings,
    closed implicitly; [] for layers where ``want`` (n,) bool is False. ``arrays``:
    the solid's (vertices, faces) when the caller has them (:func:`mesh_arrays`)."""
    return LayerCutter(solid, zs_mm, arrays).rings(want)
