"""Repair steps that work on index arrays: drop bad faces, cut non-manifold edges,
orient, close holes. Each returns new arrays plus a count for the report."""

from __future__ import annotations

import numpy as np

from printprep.errors import MeshError
from printprep.mesh.holes import (
    boundary_loops,
    centre_fan,
    curved_patch,
    edge_keys,
    triangulate_loop,
)
from printprep.mesh.holes_kernels import faces_near_boxes
from printprep.mesh.intersect import crossing_pairs
from printprep.mesh.measure import bounds_mm, row_norm, triangle_cross
from printprep.mesh.raycast import RayScene
from printprep.mesh.sorting import argsort_keys
from printprep.mesh.topology import EdgeInfo, edge_info, orient_faces
from printprep.mesh.topology_kernels import MAX_NODES, fans_and_patches
from printprep.mesh.weld import compact

#: Zero-area faces whose shortest edge is below this are collapsed, mm (1 µm: far below
#: any printer's resolution).
SLIVER_EDGE_MM = 1e-3
#: An open patch whose holes would need more than this fraction of its own area to close
#: is a sheet, not a solid with holes: it is reported, not faked into a solid.
SHEET_FILL_RATIO = 0.4


def drop_repeated(faces: np.ndarray, info: EdgeInfo | None = None) -> tuple[np.ndarray, int]:
    """Remove faces that use a vertex twice (collapsed to a line or a point).

    info : the edge grouping of ``faces`` when known: its edge table counted the
    half-edges from a vertex to itself (none: no face repeats a vertex, no look)."""
    if info is not None and not info.repeats_vertex():
        return faces, 0
    bad = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 2] == faces[:, 0])
    n_bad = int(np.count_nonzero(bad))
    return (faces[~bad] if n_bad else faces), n_bad


def drop_duplicates(faces: np.ndarray, info: EdgeInfo | None = None) -> tuple[np.ndarray, int]:
    """Keep one face of each set of faces over the same three vertices.

    info : the edge grouping of ``faces`` when known: without non-manifold edges two
    faces over the same three vertices are the two faces of an edge with the same third
    vertex, so a look across the manifold pairs proves that there are none (no sort).
    """
    if len(faces) == 0:
        return faces, 0
    if info is not None and info.n_non_manifold == 0 and not info.pairs_share_third_vertex():
        return faces, 0
    a, b, c = (faces[:, k].astype(np.int64) for k in range(3))
    lo = np.minimum(np.minimum(a, b), c)
    hi = np.maximum(np.maximum(a, b), c)
    mid = a + b + c - lo - hi
    del a, b, c
    n = int(hi.max()) + 1
    if n < 2_000_000:  # one exact int64 key per vertex triple
        key = (lo * n + mid) * n + hi
        sk = np.sort(key)  # vectorised sort: cheap proof that nothing repeats
        if not (sk[1:] == sk[:-1]).any():
            return faces, 0
        _, first = np.unique(key, return_index=True)
    else:
        _, first = np.unique(np.stack([lo, mid, hi], axis=1), axis=0, return_index=True)
    if len(first) == len(faces):
        return faces, 0
    first.sort()
    return faces[first], int(len(faces) - len(first))


def collapse_slivers(
    vertices: np.ndarray, faces: np.ndarray, max_area_mm2: float, max_edge_mm: float = SLIVER_EDGE_MM,
    area_mm2: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Collapse the shortest edge of every zero-area face (a sliver a boolean leaves
    along its cut lines) when that edge is shorter than ``max_edge_mm`` (and than 1e-4 of
    the part's size).

    vertices : (n, 3) float64, mm; faces : (m, 3) int64 of closed shells. The two ends of
    a collapsed edge meet at their midpoint (moving them less than half the edge) and the
    two faces on the edge vanish. An edge is collapsed only when its ends share exactly
    the two neighbours opposite it (the link condition), so the surface stays closed and
    manifold. area_mm2 : (m,) float64 the face areas when known. Returns (vertices, faces,
    faces removed).
    """
    area = 0.5 * row_norm(triangle_cross(vertices, faces)) if area_mm2 is None else area_mm2
    bad = np.flatnonzero(area <= max_area_mm2)
    if len(bad) == 0:
        return vertices, faces, 0
    lo, hi = bounds_mm(vertices)
    size_mm = float(np.linalg.norm(hi - lo))
    limit_mm = min(max_edge_mm, 1e-4 * size_mm)
    tri = faces[bad]
    length = np.stack([row_norm(vertices[tri[:, k]] - vertices[tri[:, (k + 1) % 3]]) for k in range(3)], axis=1)
    k = np.argmin(length, axis=1)
    short = length[np.arange(len(bad)), k] < limit_mm
    if not short.any():
        return vertices, faces, 0
    corner_order, _ = argsort_keys(faces.reshape(-1), len(vertices) - 1)
    corner_vertex = faces.reshape(-1)[corner_order]
    alive = np.ones(len(faces), dtype=bool)
    vertices = vertices.copy()
    remap = np.arange(len(vertices), dtype=np.int64)

    def find(v: int) -> int:
        return int(remap[v])  # merges are redirected at once: one link, never a chain

    def around(v: int) -> np.ndarray:
        """Live faces using vertex ``v`` (after earlier collapses), as (f, 3) rows."""
        members = np.flatnonzero(remap == v).tolist()  # v and the vertices merged into it
        ids = []
        for u in members:  # the vertex and those merged into it (a handful)
            lo, hi = np.searchsorted(corner_vertex, [u, u + 1])
            ids.append(corner_order[lo:hi] // 3)
        f = np.unique(np.concatenate(ids))
        f = f[alive[f]]
        rows = faces[f].copy()
        for r in rows:
            for j in range(3):
                r[j] = find(int(r[j]))
        return f, rows

    n_removed = 0
    for row, kk in zip(tri[short], k[short], strict=True):  # a handful of slivers, not triangles
        a, b = find(int(row[kk])), find(int(row[(kk + 1) % 3]))
        if a == b:
            continue
        fa, ra = around(a)
        fb, rb = around(b)
        on_edge = np.union1d(fa[(ra == b).any(axis=1)], fb[(rb == a).any(axis=1)])
        if len(on_edge) != 2:
            continue  # not a manifold edge any more
        ring_a = set(ra.reshape(-1).tolist()) - {a, b}
        ring_b = set(rb.reshape(-1).tolist()) - {a, b}
        opposite = set(faces[on_edge].reshape(-1).tolist())
        opposite = {find(int(x)) for x in opposite} - {a, b}
        if ring_a & ring_b != opposite:
            continue  # collapsing would pinch the surface
        mid = 0.5 * (vertices[a] + vertices[b])
        keep_f = np.isin(np.concatenate([fa, fb]), on_edge, invert=True)
        rows = np.concatenate([ra, rb])[keep_f]
        moved = np.where((rows == a) | (rows == b), -1, rows)
        before = triangle_cross(vertices, rows)
        after = triangle_cross(np.vstack([vertices, mid]), np.where(moved < 0, len(vertices), moved))
        solid = row_norm(before) > 2 * max_area_mm2  # slivers around it have no direction
        if (np.einsum("ij,ij->i", before, after)[solid] <= 0).any():
            continue  # a face around the edge would fold over
        vertices[a] = mid
        remap[remap == b] = a
        alive[on_edge] = False
        n_removed += len(on_edge)
    if n_removed == 0:
        return vertices, faces, 0
    new_faces = remap[faces[alive]]
    new_faces, _ = drop_repeated(new_faces)
    v, f = compact(vertices, new_faces)
    return v, f, int(len(faces) - len(f))


def split_fans(
    vertices: np.ndarray, faces: np.ndarray, info: EdgeInfo | None = None, *, patches: bool = True,
    all_used: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int, EdgeInfo]:
    """Give each fan of faces around a vertex its own copy of the vertex.

    A fan is a set of faces around a vertex joined across manifold (two-face) edges.
    After the split every edge is used by at most two faces and no two surfaces meet at
    a single vertex: non-manifold edges and vertices are cut apart. Returns (vertices,
    faces, patch (m,) int64 labels of manifold-connected patches, non-manifold edges cut,
    the edge grouping of the input with ``src`` renamed: its manifold pairs still hold).
    When every vertex has one fan, the input arrays and grouping come back as they are.
    patches : False leaves the patches to the caller (patch None; :func:`topology.
    orient_and_patches` finds the same ones). all_used : every vertex is used by a face
    (not counted again).
    """
    if info is None:
        info = edge_info(faces, len(vertices))
    n_cut = info.n_non_manifold
    m = len(faces)
    n_corner = 3 * m
    # corners of one fan share a label; corners of different vertices never do; faces
    # joined across manifold edges share a patch (splitting renames vertices only)
    if n_corner > MAX_NODES:
        raise MeshError(f"{m} triangles exceed the {MAX_NODES // 3} that splitting fans handles", where="mesh")
    n_label, _, _, patch = fans_and_patches(info.he_sorted, info.edge_start, info.edge_count, info.src, m, False, patches)
    if all_used:
        n_used = len(vertices)
    else:
        used = np.zeros(len(vertices), dtype=bool)
        used[faces.reshape(-1)] = True
        n_used = int(np.count_nonzero(used))
    if not patches:
        patch = None
    if n_label == n_used:  # one fan per vertex: nothing to split
        return vertices, faces, patch, n_cut, info
    # fans to split: their labels (the same union again, numbered this time)
    n_label, corner_label, _, _ = fans_and_patches(info.he_sorted, info.edge_start, info.edge_count, info.src, m, True, False)
    # corners of one fan share a label; corners of different vertices never do
    first = np.zeros(n_label, dtype=np.int64)
    first[corner_label[::-1]] = np.arange(n_corner)[::-1]
    new_vertices = vertices[faces.reshape(-1)[first]]
    new_faces = corner_label.reshape(-1, 3)
    # same half-edges with new vertex ids (for orient()); edge_vertices keep the old ids
    # and only the manifold pairs still hold
    info = EdgeInfo(info.he_sorted, info.edge_start, info.edge_count, info.edge_vertices, new_faces.reshape(-1))
    return new_vertices, new_faces, patch, n_cut, info


def orient(
    faces: np.ndarray, patch: np.ndarray, info: EdgeInfo, flips: tuple[np.ndarray, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Make the winding consistent within each patch, keeping the majority's direction.

    info : the manifold pairs of ``faces`` (from :func:`split_fans`). flips : what
    :func:`orient_faces` gives for these pairs when already known (it may be worked out
    on the grouping before the fans were split: the same pairs); it is written to.
    Returns (faces, flip (m,) bool the faces reversed, non-orientable patches).
    """
    flip, n_bad = flips if flips is not None else orient_faces(info, len(faces), patch)
    # keep what most faces of a patch said: flip whole patches where the minority ruled
    n = int(patch.max()) + 1 if len(patch) else 0
    # (integer counts of the few flipped faces: no float weights for every face)
    flipped_share = np.bincount(patch[flip], minlength=n) / np.maximum(np.bincount(patch, minlength=n), 1)
    minority = flipped_share > 0.5
    if minority.any():
        flip ^= minority[patch]
    out = faces.copy()
    out[flip] = out[flip][:, ::-1]
    return out, flip, n_bad


def _rows(vertices: np.ndarray, extra: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rows ``ids`` (k,) int64 of ``vertices`` (n, 3) followed by ``extra`` (e, 3), without
    joining the two arrays: (k, 3) float64."""
    n = len(vertices)
    out = np.empty((len(ids), 3))
    mine = ids < n
    out[mine] = vertices[ids[mine]]
    out[~mine] = extra[ids[~mine] - n]
    return out


def _near_fills(
    vertices: np.ndarray, faces: np.ndarray, fills: list[np.ndarray], wide: tuple | None = None,
    extra: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple | None]:
    """(m,) bool: faces whose bounding box overlaps a hole patch's box (compiled,
    :func:`holes_kernels.faces_near_boxes`), and the search to pass to the next call.

    vertices : (n, 3) float64, mm; extra : (e, 3) float64 the patches' new vertices (ids
    n..n+e-1), when any; faces : (m, 3) int64 (ids below n); fills : the patches, (t, 3)
    int64 each. wide : what the previous call returned for
    the same faces: (face ids near the widened boxes, widened lo (h, 3), hi (h, 3)). The
    whole mesh is searched once, with each box widened by a fifth of its size on every side;
    later calls whose boxes stay inside the widened ones (a patch replaced by another
    kind for the same hole) test only the faces found then: the same answer.
    """
    if not fills or len(faces) == 0:
        return np.zeros(len(faces), dtype=bool), wide
    boxes = [_rows(vertices, extra if extra is not None else np.zeros((0, 3)), fill.reshape(-1)) for fill in fills]
    lo = np.array([p.min(axis=0) for p in boxes])
    hi = np.array([p.max(axis=0) for p in boxes])
    margin = np.array([1e-9 * (1.0 + float(np.abs(p).max())) for p in boxes])
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    inside = (
        wide is not None and len(wide[1]) == len(lo)
        and bool((lo - margin[:, None] >= wide[1]).all() and (hi + margin[:, None] <= wide[2]).all())
    )
    if not inside:
        grow = 0.2 * (hi - lo).max(axis=1, keepdims=True) + margin[:, None]
        wide_lo, wide_hi = lo - grow, hi + grow
        ids = np.flatnonzero(faces_near_boxes(vertices, faces, wide_lo, wide_hi, np.zeros(len(lo))))
        wide = (ids, wide_lo, wide_hi)
    ids = wide[0]
    near = np.zeros(len(faces), dtype=bool)
    near[ids[faces_near_boxes(vertices, faces[ids], lo, hi, margin)]] = True
    return near, wide


def fill_holes(
    vertices: np.ndarray, faces: np.ndarray, patch: np.ndarray, info: EdgeInfo | None = None,
    face_area_mm2: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
    """Close every boundary loop of consistently wound patches.

    Patches whose holes are too large for their area (:data:`SHEET_FILL_RATIO`) are left
    open. info : the edge grouping of ``faces`` when already known; face_area_mm2 : (m,)
    float64 their areas when known. Returns (vertices (centre vertices of fans appended),
    faces, patch, holes closed, sheet patch ids (s,) int64).
    """
    if info is None:
        info = edge_info(faces, len(vertices))
    loops = boundary_loops(faces, info)
    if not loops:
        return vertices, faces, patch, 0, np.zeros(0, dtype=np.int64)
    n = int(patch.max()) + 1
    n_v = len(vertices)
    if face_area_mm2 is None:
        face_area_mm2 = 0.5 * row_norm(triangle_cross(vertices, faces))
    area = np.bincount(patch, weights=face_area_mm2, minlength=n)
    # the faces touching a hole: their edges are the only mesh edges a patch's chord (a
    # segment between two rim vertices) can repeat, and they are the surface around it
    on_rim = np.zeros(n_v, dtype=bool)
    on_rim[np.concatenate([lp.vertices for lp in loops])] = True
    rim_corner = on_rim[faces]  # (m, 3) bool; three column ors: numpy's any(axis=1) over
    touch = np.flatnonzero(rim_corner[:, 0] | rim_corner[:, 1] | rim_corner[:, 2])  # rows of 3 is 4x slower
    del rim_corner
    touch_faces = faces[touch]
    existing = np.sort(edge_keys(touch_faces.reshape(-1), touch_faces[:, [1, 2, 0]].reshape(-1), n_v))
    # vertex -> faces around the holes (a sort of the touching faces' corners only)
    corner_order = np.argsort(touch_faces.reshape(-1), kind="stable")
    corner_vertex = touch_faces.reshape(-1)[corner_order]
    corner_face = touch[corner_order // 3]
    added: list[np.ndarray] = []
    n_added = 0

    def candidate(li: int, kind: int) -> np.ndarray | None:
        """Patch ``kind`` for loop ``li``: 0 curved, 1 flat without slivers, 2 centre
        fan, 3 flat with slivers. Returns triangles or None when it does not apply."""
        nonlocal n_added
        loop = loops[li].vertices
        if kind == 0:
            lo = np.searchsorted(corner_vertex, loop, side="left")
            hi = np.searchsorted(corner_vertex, loop, side="right")
            near_faces = corner_face[np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])]
            around = vertices[np.setdiff1d(faces[near_faces].reshape(-1), loop)]
            curved = curved_patch(vertices, loop, around, n_v + n_added)
            if curved is None:
                return None
            added.append(curved[0])
            n_added += len(curved[0])
            return curved[1]
        if kind in (1, 3):
            tri = triangulate_loop(vertices, loop, existing)
            if tri is not None and kind == 1 and len(tri) > 1:
                area2 = row_norm(triangle_cross(vertices, tri))
                if (area2 <= 1e-6 * area2.max()).any():
                    return None  # collinear rim points would make slivers
            return tri
        centre, tri = centre_fan(vertices, loop, n_v + n_added)
        added.append(centre[None])
        n_added += 1
        return tri

    kinds = np.zeros(len(loops), dtype=np.int64)
    fills: list[np.ndarray] = []
    for li in range(len(loops)):  # one patch per hole
        tri = None
        while tri is None:
            tri = candidate(li, int(kinds[li]))
            if tri is None:
                kinds[li] += 1
        fills.append(tri)
    wide = None
    for _ in range(3):  # patches that run into other faces try the next kind
        extra_v = np.concatenate(added) if added else np.zeros((0, 3))
        near, wide = _near_fills(vertices, faces, fills, wide, extra_v)
        local_f = np.concatenate([faces[near], *fills])
        owner_of = np.concatenate([np.full(int(near.sum()), -1), np.repeat(np.arange(len(fills)), [len(f) for f in fills])])
        # the patches and the faces near them, over their own vertices (renumbered in
        # order: the same edges, crossings and ray hits as over the whole mesh's)
        used, inverse = np.unique(local_f, return_inverse=True)
        local_v = _rows(vertices, extra_v, used)
        local_f = inverse.reshape(local_f.shape)
        a, b = crossing_pairs(local_v, local_f, edge_info(local_f, len(local_v)), RayScene(local_v, local_f))
        bad = np.unique(owner_of[np.concatenate([a, b])])
        bad = bad[(bad >= 0) & (kinds[np.maximum(bad, 0)] < 3)]
        if len(bad) == 0:
            break
        for li in bad.tolist():  # the holes whose patch crosses something
            tri = None
            while tri is None and kinds[li] < 3:
                kinds[li] += 1
                tri = candidate(li, int(kinds[li]))
            if tri is not None:
                fills[li] = tri
    patches = [np.full(len(f), patch[lp.face], dtype=np.int64) for f, lp in zip(fills, loops, strict=True)]
    new_faces = np.concatenate(fills)
    if added:  # new vertices of patches replaced later stay unused: only the used ones are kept
        extra = np.concatenate(added)
        used = np.zeros(len(extra), dtype=bool)
        ids = new_faces[new_faces >= n_v] - n_v
        used[ids] = True
        if not used.all():
            remap = np.arange(n_v + len(extra), dtype=np.int64)
            remap[n_v:] = n_v + np.cumsum(used) - 1
            new_faces = remap[new_faces]
            extra = extra[used]
        vertices = np.concatenate([vertices, extra])
    new_patch = np.concatenate(patches)
    fill_area = np.bincount(new_patch, weights=0.5 * row_norm(triangle_cross(vertices, new_faces)), minlength=n)
    sheet = fill_area > SHEET_FILL_RATIO * np.maximum(area, 1e-300)
    keep = ~sheet[new_patch]
    loop_patch = np.array([patch[lp.face] for lp in loops])
    n_closed = int(np.count_nonzero(~sheet[loop_patch]))
    return (
        vertices,
        np.concatenate([faces, new_faces[keep]]),
        np.concatenate([patch, new_patch[keep]]),
        n_closed,
        np.flatnonzero(sheet & (np.bincount(loop_patch, minlength=n) > 0)),
    )
