"""Uniform-grid broad phase over triangle boxes: which faces of a mesh cross each other or
lie pressed together face to face, in one pass.

Each face's axis-aligned box is entered in every cube of a grid it touches (cube size: a
few typical faces, grown until the entries stay within a small multiple of the faces);
cubes are hashed into buckets by a counting sort. Faces sharing a cube are the
candidates; a numba kernel runs the exact float64 tests on each candidate pair, in
parallel over buckets (:mod:`printprep.mesh.grid_kernels`). With a selection of faces
(``only=``) the grid holds the chosen faces alone and every face of the mesh looks up the
cells its box touches, so a few changed faces cost one pass over the mesh, not a grid of
it.

On a dense mesh (the 1.35M band: 13M pairs of overlapping boxes) the all-faces search is
slower than one Embree ray per edge, so the whole-mesh self-intersection search stays on
rays (:func:`printprep.mesh.intersect.crossing_pairs`); this one serves selections and is
the exact reference for the ray search in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from printprep.mesh import grid_kernels as gk
from printprep.mesh import intersect_kernels as kern
from printprep.mesh.chunks import two_pass
from printprep.mesh.intersect import only_mask

#: Grid cube edge in typical face sizes (the median of the faces' largest box extents).
CELL_FACES = 1.0
#: The cube grows (doubles) while the (face, cube) entries exceed this many per face.
MAX_ENTRIES_PER_FACE = 6.0
#: Buckets in the hash table per entry (rounded up to a power of two).
BUCKETS_PER_ENTRY = 1.0


@dataclass(frozen=True)
class FacePairs:
    """Result of one broad phase.

    crossing : (p, 2) int64 rows (piercing face, pierced face): an edge of the first face
        that shares no vertex with the second passes strictly through its interior.
    contacts : (q, 2) int64 rows (negative-side face, positive-side face): coplanar faces
        facing each other that overlap (None when not asked for).
    """

    crossing: np.ndarray
    contacts: np.ndarray | None


def _cells(box_lo: np.ndarray, box_hi: np.ndarray, origin: np.ndarray, cell_mm: float) -> tuple[np.ndarray, np.ndarray, int]:
    """First and last cube of each box ((m, 3) int64 each) and the number of entries."""
    lo = np.floor((box_lo - origin) / cell_mm).astype(np.int64)
    hi = np.floor((box_hi - origin) / cell_mm).astype(np.int64)
    span = hi - lo + 1
    return lo, hi, int((span[:, 0] * span[:, 1] * span[:, 2]).sum())


def face_pairs(
    vertices: np.ndarray, faces: np.ndarray, *, only: np.ndarray | None = None, coplanar: bool = True,
) -> FacePairs:
    """Crossing pairs and coplanar contacts of ``vertices[faces]`` in one grid pass.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64; only : (m,) bool mask or (k,) int
    face ids: only pairs with at least one of these faces; coplanar : also look for
    coplanar contacts.
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    m = len(faces)
    empty = np.zeros((0, 2), dtype=np.int64)
    mask = only_mask(only, m)
    if m < 2 or (mask is not None and not mask.any()):
        return FacePairs(empty, empty if coplanar else None)
    v_lo, v_hi = kern.bounds(vertices)
    origin = v_lo - 1e-6
    span_mm = float((v_hi - origin).max())
    sample = vertices[faces[:: max(m // 4096, 1)]]  # the typical face size from a sample
    extent = (sample.max(axis=1) - sample.min(axis=1)).max(axis=1)
    cell_mm = max(CELL_FACES * float(np.median(extent)), span_mm / ((1 << gk.CELL_BITS) - 2), 1e-9)
    # the grid holds every face, or with a selection the chosen faces only (every face then
    # looks up the cells its box touches)
    ids = np.arange(m, dtype=np.int64) if mask is None else np.flatnonzero(mask)
    tri, b_lo, b_hi, normal, nlen, plane_d, sign = kern.face_frames(vertices, faces, ids)
    while True:
        cell_lo, cell_hi, n_entries = _cells(b_lo, b_hi, origin, cell_mm)
        if n_entries <= MAX_ENTRIES_PER_FACE * len(b_lo) + 64:
            break
        cell_mm *= 2.0
    table_bits = max(int(np.ceil(np.log2(max(BUCKETS_PER_ENTRY * n_entries, 2)))), 4)
    box32 = np.concatenate([
        np.nextafter(b_lo.astype(np.float32), np.float32(-np.inf)),
        np.nextafter(b_hi.astype(np.float32), np.float32(np.inf)),
    ], axis=1)
    start, entry_face, entry_key, entry_flag, entry_box = gk.bin_faces(cell_lo, cell_hi, box32, n_entries, table_bits)
    del box32
    if mask is not None:
        entries = (start, ids[entry_face], entry_key, entry_flag, entry_box, table_bits,
                   cell_lo.min(axis=0), cell_hi.max(axis=0))

        def scan(lo, hi, write, a, at_a, b, at_b):
            return gk.query_range(vertices, faces, mask, origin, cell_mm, *entries, lo, hi, coplanar, write, a, at_a, b, at_b)

        crossing, contacts = two_pass(scan, m)
        return FacePairs(crossing, contacts if coplanar else None)
    gk.sort_buckets_by_flag(start, entry_face, entry_key, entry_flag, entry_box)

    def scan_all(lo, hi, write, a, at_a, b, at_b):
        return gk.scan_buckets(tri, faces, normal, nlen, plane_d, sign, start, entry_face, entry_key, entry_flag,
                               entry_box, lo, hi, coplanar, write, a, at_a, b, at_b)

    crossing, contacts = two_pass(scan_all, len(start) - 1)
    return FacePairs(crossing, contacts if coplanar else None)
