"""Where a print needs holding (domain.md §2), in the print frame (z up):

* **islands** — local minima of the surface that face down, where a new island starts
  on the layer stack (:func:`island_points`), with the face under each one;
* **overhangs** — faces within ``90 - critical_angle_deg`` of straight down covered by
  points ``spacing_mm`` apart, only where allowed (:func:`overhang_points`).

:mod:`supports` turns the points into heads, pillars, trees and a base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import trimesh

from printprep.casting.facts import facts_of
from printprep.casting.facts_kernels import most_down_face_of
from printprep.casting.islands import MinimaFinder

if TYPE_CHECKING:
    from printprep.casting.supports import SupportSettings

UP = np.array([0.0, 0.0, 1.0])


def island_points(
    mesh: trimesh.Trimesh,
    hard: np.ndarray | None = None,
    depth_mm: float = 0.0,
    finder: MinimaFinder | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Down-facing local minima of height: (vertex indices (m,), a face of each (m,)).

    A vertex is a minimum when it sorts below all its neighbours by (z, index), so flat
    bottoms give exactly one minimum per flat patch. A minimum touching ``hard`` (f,)
    bool faces that joins lower metal within ``depth_mm`` (a layer) prints from it and
    gets no tip: nothing touches hard detail that the layer stack does not need.
    """
    finder = finder or MinimaFinder.of(mesh)
    minima = finder.minima(UP)
    # the depth test where it is exact (cross-sections, up to 200k faces); a bigger
    # mesh's hard minima all get tips, as they always did
    if hard is not None and depth_mm > 0 and len(minima) and finder.solid is not None:
        vhard = np.zeros(len(mesh.vertices), dtype=bool)
        vhard[mesh.faces[hard].ravel()] = True
        on_hard = np.nonzero(vhard[minima])[0]
        drop = on_hard[finder.shallow(UP, minima[on_hard], depth_mm)]
        minima = np.delete(minima, drop)
    return minima, most_down_face(mesh, minima)


def most_down_face(mesh: trimesh.Trimesh, vertices: np.ndarray) -> np.ndarray:
    """The most down-facing face around each of ``vertices`` (m,) int64: (m,) int64
    (-1 for a vertex in no face; ties to the lowest face index).

    One compiled pass over the face corners
    (:func:`~printprep.casting.facts_kernels.most_down_face_of`) instead of trimesh's
    vertex_faces, which builds every vertex's face list (18 s at 1.35M faces on a loaded
    machine) to read a handful of them. ``vertices`` are distinct.
    """
    facts = facts_of(mesh)  # (no minima: the kernel runs on none, compiled at warm-up)
    return most_down_face_of(
        facts.faces,
        np.ascontiguousarray(facts.normals[:, 2]),
        np.ascontiguousarray(vertices, dtype=np.int64),
        len(facts.vertices),
    )


def overhang_points(
    mesh: trimesh.Trimesh, allowed: np.ndarray, s: SupportSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Points covering the down-facing overhang faces that may be touched.

    returns points (k, 3) float64 mm and their faces (k,) int64.
    """
    facts = facts_of(mesh)
    normals = facts.normals
    over = (-normals[:, 2] > np.cos(np.radians(90.0 - s.critical_angle_deg - s.overhang_margin_deg))) & allowed
    idx = np.nonzero(over)[0]
    if len(idx) == 0:
        return np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    # dense deterministic samples: centroids plus, on big faces, a sub-grid of barycentres
    area = facts.areas[idx]
    cell = s.spacing_mm
    per = np.clip(np.ceil(area / (cell * cell / 16.0)), 1, 64).astype(np.int64)
    face_of = np.repeat(idx, per)
    k = np.arange(len(face_of)) - np.repeat(np.cumsum(per) - per, per)
    # low-discrepancy barycentric points per face (R2 sequence, folded into the triangle)
    g = 1.32471795724474602596
    u = np.mod(0.5 + k / g, 1.0)
    v = np.mod(0.5 + k / (g * g), 1.0)
    flip = u + v > 1.0
    u = np.where(flip, 1.0 - u, u)
    v = np.where(flip, 1.0 - v, v)
    single = np.repeat(per == 1, per)
    u = np.where(single, 1.0 / 3.0, u)
    v = np.where(single, 1.0 / 3.0, v)
    tri = facts.triangles(face_of)
    pts = tri[:, 0] + u[:, None] * (tri[:, 1] - tri[:, 0]) + v[:, None] * (tri[:, 2] - tri[:, 0])
    # one point per grid cell: the one nearest the cell centre
    key = np.floor(pts / cell).astype(np.int64)
    off = np.linalg.norm(pts - (key + 0.5) * cell, axis=1)
    order = np.lexsort((off, key[:, 2], key[:, 1], key[:, 0]))
    ks = key[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(ks[1:] != ks[:-1], axis=1)
    keep = order[first]
    return pts[keep], face_of[keep]
