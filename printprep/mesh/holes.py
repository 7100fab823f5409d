"""Closing holes of any size and shape.

Each boundary loop is walked once, projected on the plane of its Newell normal and
triangulated with manifold3d's polygon triangulator, which always returns triangles that
use every loop edge exactly once in the given direction, so the patch closes the hole
watertight with the mesh's winding. Loops are walked by a compiled kernel (one step per
boundary edge, :func:`holes_kernels.trace_loops`); the triangles come back as arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import manifold3d
import numpy as np

from printprep.mesh.holes_kernels import trace_loops
from printprep.mesh.topology import EdgeInfo


@dataclass
class HoleLoop:
    """One boundary loop: vertex ids (k,) int64 in the mesh's boundary direction."""

    vertices: np.ndarray
    face: int  # a face on the loop (for the loop's shell)


def boundary_loops(faces: np.ndarray, info: EdgeInfo) -> list[HoleLoop]:
    """Walk the boundary edges of a consistently wound mesh into closed loops."""
    he = info.boundary
    if len(he) == 0:
        return []
    f, k = he // 3, he % 3
    src = faces[f, k]
    dst = faces[f, (k + 1) % 3]
    n_v = int(max(src.max(), dst.max())) + 1
    chain, starts, first = trace_loops(src.astype(np.int64), dst.astype(np.int64), n_v)
    loops: list[HoleLoop] = []
    for c in np.flatnonzero(np.diff(starts) >= 3).tolist():  # one entry per hole
        loops.append(HoleLoop(chain[starts[c] : starts[c + 1]].copy(), int(f[first[c]])))
    return loops


def edge_keys(a: np.ndarray, b: np.ndarray, n_vertices: int) -> np.ndarray:
    """One int64 key per undirected edge (a, b)."""
    return np.minimum(a, b).astype(np.int64) * n_vertices + np.maximum(a, b)


def triangulate_loop(
    vertices: np.ndarray, loop: np.ndarray, existing_keys: np.ndarray | None = None
) -> np.ndarray | None:
    """Triangles (t, 3) int64 (mesh vertex ids) closing ``loop`` (k,) with opposite winding.

    existing_keys : sorted (e,) int64 :func:`edge_keys` of the mesh. When a chord of the
    triangulation is already a mesh edge (it would be shared by four faces), returns None:
    the caller closes the loop with a fan from a new centre vertex instead.
    """
    poly = loop[::-1]  # the patch runs each boundary edge the other way
    pts = vertices[poly]
    if len(poly) == 3:
        return poly[None, :].copy()
    tri = _triangulate(pts, poly)
    if tri is None or existing_keys is None:
        return tri
    n = len(vertices)
    keys = edge_keys(tri.reshape(-1), tri[:, [1, 2, 0]].reshape(-1), n)
    loop_keys = edge_keys(poly, np.roll(poly, -1), n)
    chords = np.setdiff1d(keys, loop_keys)
    pos = np.searchsorted(existing_keys, chords)
    pos = np.minimum(pos, len(existing_keys) - 1)
    if len(existing_keys) and (existing_keys[pos] == chords).any():
        return None
    return tri


def _triangulate(pts: np.ndarray, poly: np.ndarray) -> np.ndarray | None:
    frame = _frame(pts)
    if frame is None:
        return None
    centre, axis_u, axis_v, _ = frame
    centered = pts - centre
    uv = np.stack([centered @ axis_u, centered @ axis_v], axis=1)
    try:
        tri = np.asarray(manifold3d.triangulate([uv]), dtype=np.int64)
    except Exception:  # noqa: BLE001 - the triangulator rejects hopeless polygons
        return None
    if len(tri) != len(poly) - 2:
        return None
    return poly[tri]


def centre_fan(vertices: np.ndarray, loop: np.ndarray, centre_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Close ``loop`` with a fan around a new vertex at its length-weighted centre.

    Only new edges (centre to loop) are made, so the patch is always edge-manifold.
    Returns (centre (3,) float64, triangles (k, 3) int64 using ``centre_id``).
    """
    poly = loop[::-1]
    nxt = np.roll(poly, -1)
    mid = 0.5 * (vertices[poly] + vertices[nxt])
    w = np.linalg.norm(vertices[nxt] - vertices[poly], axis=1)
    centre = (mid * w[:, None]).sum(axis=0) / max(w.sum(), 1e-300)
    tri = np.stack([poly, nxt, np.full(len(poly), centre_id)], axis=1)
    return centre, tri


def _frame(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(centre, u, v, n) of a loop's Newell plane, or None for a degenerate loop."""
    nxt = np.roll(pts, -1, axis=0)
    normal = np.array([
        np.sum((pts[:, 1] - nxt[:, 1]) * (pts[:, 2] + nxt[:, 2])),
        np.sum((pts[:, 2] - nxt[:, 2]) * (pts[:, 0] + nxt[:, 0])),
        np.sum((pts[:, 0] - nxt[:, 0]) * (pts[:, 1] + nxt[:, 1])),
    ])
    length = np.linalg.norm(normal)
    if length == 0:
        return None
    normal /= length
    u = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    return pts.mean(axis=0), u, np.cross(normal, u), normal


def curved_patch(
    vertices: np.ndarray, loop: np.ndarray, around: np.ndarray, first_id: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Close a star-shaped hole with rings of new vertices lifted onto the surrounding
    surface, so a hole in a curved band comes back curved (volume kept).

    around : (a, 3) float64 points of the surface around the hole (the loop's
    neighbours). The height over the loop's plane is fitted by a quadric to the loop and
    ``around``. Returns (new vertices (p, 3), triangles (t, 3) int64 with new vertex ids
    from ``first_id``), or None when the hole is not star-shaped around its centre.
    """
    poly = loop[::-1]
    pts = vertices[poly]
    frame = _frame(pts)
    if frame is None or len(poly) < 4:
        return None
    centre, u, v, n = frame
    uv = np.stack([(pts - centre) @ u, (pts - centre) @ v], axis=1)
    nxt = np.roll(uv, -1, axis=0)
    cross = uv[:, 0] * nxt[:, 1] - uv[:, 1] * nxt[:, 0]
    sign = np.sign(cross.sum())
    if sign == 0 or np.count_nonzero(cross * sign > 0) < 0.8 * len(cross):
        return None  # far from star-shaped around the centroid: flat triangulation instead
    perimeter = np.linalg.norm(nxt - uv, axis=1).sum()
    if abs(cross.sum()) / 2 < 0.01 * perimeter**2:
        return None  # a slit, not a hole: nothing to bulge
    fit = np.concatenate([pts, around]) - centre
    fu, fv, fw = fit @ u, fit @ v, fit @ n
    design = np.stack([np.ones_like(fu), fu, fv, fu * fu, fu * fv, fv * fv], axis=1)
    if len(fit) < 8:
        design = design[:, :3]
    coef = np.linalg.lstsq(design, fw, rcond=None)[0]
    edge = np.linalg.norm(np.diff(np.vstack([pts, pts[:1]]), axis=0), axis=1).mean()
    radius = np.linalg.norm(uv, axis=1).mean()
    rings = int(np.clip(round(radius / max(edge, 1e-12)), 1, 8))
    k = len(poly)
    t = (np.arange(1, rings) / rings)[:, None, None]  # (r-1, 1, 1)
    ring_uv = uv[None] * (1 - t)  # towards the centre (0, 0)
    inner_uv = np.concatenate([ring_uv.reshape(-1, 2), [[0.0, 0.0]]])

    def height(q: np.ndarray) -> np.ndarray:
        terms = np.stack([np.ones(len(q)), q[:, 0], q[:, 1], q[:, 0] ** 2, q[:, 0] * q[:, 1], q[:, 1] ** 2], 1)
        return terms[:, : len(coef)] @ coef

    # blend from the loop's own heights at the rim to the fitted surface inside
    rim_w = (pts - centre) @ n
    fitted_rim = height(uv)
    w_inner = height(inner_uv)
    offset = np.concatenate([((rim_w - fitted_rim)[None] * (1 - t[..., 0])).reshape(-1), [0.0]])
    w_inner = w_inner + offset
    new_pts = centre + inner_uv[:, :1] * u + inner_uv[:, 1:] * v + w_inner[:, None] * n
    # ids: ring 0 = the loop, ring j >= 1 = new vertices, centre last
    ids = np.empty((rings, k), dtype=np.int64)
    ids[0] = poly
    if rings > 1:
        ids[1:] = first_id + np.arange((rings - 1) * k).reshape(rings - 1, k)
    centre_id = first_id + (rings - 1) * k
    i = np.arange(k)
    j = np.arange(rings - 1)[:, None]
    a, b = ids[j, i], ids[j, (i + 1) % k]
    c, d = ids[j + 1, (i + 1) % k], ids[j + 1, i]
    quads = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    fan = np.stack([ids[-1], ids[-1][(i + 1) % k], np.full(k, centre_id)], 1)
    return new_pts, np.concatenate([quads, fan])
