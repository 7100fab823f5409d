"""Coplanar contacts: faces of one mesh pressed together face to face.

Two parts of a surface that lie in one plane facing each other and overlap (zero-thickness
contact) cross nothing, so the edge rays of :mod:`printprep.mesh.intersect` cannot see
them; they are found here by binning faces by plane and place.
"""

from __future__ import annotations

import numpy as np

from printprep.mesh.intersect import only_mask
from printprep.mesh.measure import row_norm

#: Faces are also binned by place, in cubes of this many typical edge lengths.
CONTACT_CELL_EDGES = 4.0
#: Above this many candidate faces the contact scan runs on every core.
CONTACT_THREADED_ITEMS = 20_000


def coplanar_contacts(
    vertices: np.ndarray, faces: np.ndarray, cross: np.ndarray | None = None, *, only: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of faces that lie in one plane facing each other and overlap: two parts of a
    surface pressed together face to face (zero-thickness contact), which no ray along an
    edge can find because nothing passes through anything.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64; cross : unused (kept for callers
    that pass the face cross products); only : (m,) bool mask or (k,) int face ids: only
    pairs with at least one of these faces. Faces are binned by their plane (unoriented
    normal and offset, rounded) and place (cubes of a few typical edges), twice with the
    grid shifted half a bin so no pair is split by a bin border; within a bin only faces
    of opposite orientation are tested (compiled kernels, :mod:`coplanar_kernels`).
    Returns ((p,) int64 negative-side faces, (p,) int64 positive-side faces).
    """
    from printprep.mesh import coplanar_kernels as ck  # noqa: PLC0415 - kernels load on first use
    from printprep.mesh.chunks import two_pass  # noqa: PLC0415
    from printprep.mesh.intersect_kernels import bounds  # noqa: PLC0415

    del cross
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    m = len(faces)
    mask = only_mask(only, m)
    if m < 2 or (mask is not None and not mask.any()):
        return none
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    lo, hi = bounds(vertices)
    centre = 0.5 * (lo + hi)
    step = max(m // 4096, 1)  # a sample of faces gives the typical size
    edge = row_norm(vertices[faces[::step, 1]] - vertices[faces[::step, 0]])
    cell_mm = max(CONTACT_CELL_EDGES * float(np.median(edge)), 1e-9)
    normal, nlen, sign, keys = ck.plane_keys(vertices, faces, centre, cell_mm)
    table_bits = max(int(m).bit_length(), 4)
    keys = ck.two_sided(keys, table_bits)  # faces alone in their bucket's orientation: out
    found = []
    for k in range(2):
        n_items = int(np.count_nonzero(keys[k] >= 0))
        if n_items == 0:
            continue
        # the candidates left are few (a tenth of the faces or less): a table sized to
        # them, not to every face, to count, fill and scan (any size groups equal keys)
        bucket_bits = max(n_items.bit_length(), 4)
        start, items, item_key = ck.bucket_by_key(np.ascontiguousarray(keys[k]), bucket_bits)

        def scan(lo, hi, write, a, at_a, _b, _at_b, start=start, items=items, item_key=item_key):
            return ck.scan_contacts(vertices, faces, normal, nlen, sign, start, items, item_key, lo, hi, write, a, at_a), 0

        # few candidates: one thread, no pool of chunks (the scan is a few ms then)
        per_thread = 4096 if len(items) > CONTACT_THREADED_ITEMS else len(start)
        found.append(two_pass(scan, len(start) - 1, min_per_thread=per_thread)[0])
    if not found:
        return none
    pairs = np.concatenate(found)
    if mask is not None:
        pairs = pairs[mask[pairs[:, 0]] | mask[pairs[:, 1]]]
    if len(pairs) == 0:
        return none
    pair = np.unique(pairs[:, 0] * np.int64(m) + pairs[:, 1])
    return pair // m, pair % m
