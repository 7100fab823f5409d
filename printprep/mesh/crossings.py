"""Resolving crossings: a shell that passes through itself is cut into pieces, and
shells that cross, touch or contain each other are fused with manifold3d. Used by
:mod:`printprep.mesh.repair`."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from printprep.mesh import clean, fuse, weld_kernels
from printprep.mesh.intersect import crossing_pairs
from printprep.mesh.measure import signed_volumes_mm3
from printprep.mesh.raycast import RayScene
from printprep.mesh.shells import Shells, shell_measures
from printprep.mesh.topology import EdgeInfo, components, edge_info, face_components
from printprep.mesh.weld import compact

#: Volume change of a shell that a repair must report, fraction.
VOLUME_TOLERANCE = 0.005


@dataclass
class CrossingFacts:
    """The crossing search of one mesh: ``vertices`` (n, 3) float64, mm and ``faces``
    (m, 3) int64 as tested, its ray ``scene`` and edge grouping ``info``, and the crossing
    pairs ``owner``, ``hit`` (p,) int64 (see :func:`intersect.crossing_pairs`)."""

    vertices: np.ndarray
    faces: np.ndarray
    scene: RayScene
    info: EdgeInfo
    owner: np.ndarray
    hit: np.ndarray

    def tested(self, vertices: np.ndarray, faces: np.ndarray) -> bool:
        """Whether ``vertices`` and ``faces`` are the very arrays that were tested."""
        return vertices is self.vertices and faces is self.faces


def shell_info(
    vertices: np.ndarray, faces: np.ndarray, patch: np.ndarray, info: EdgeInfo | None = None,
    scene: RayScene | None = None, face_area_mm2: np.ndarray | None = None,
) -> tuple[EdgeInfo, Shells]:
    """Edge grouping (``info`` when already known) and per-shell measures for shells
    labelled by ``patch`` (``scene``: a ray scene of these faces, when one exists;
    ``face_area_mm2``: (m,) float64 their areas, when known)."""
    if info is None:
        info = edge_info(faces, len(vertices))
    n = int(patch.max()) + 1 if len(patch) else 0
    return info, shell_measures(vertices, faces, patch, n, info, face_area_mm2=face_area_mm2, scene=scene)


def matching_faces(old_vertices: np.ndarray, old_faces: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """For each face of ``faces`` (m, 3) int64, the id of a face of ``old_faces`` with
    exactly the same corner coordinates in the same order, or -1: (m,) int64.

    One hash pass over the nine coordinates' bits of both meshes
    (:func:`weld_kernels.unique_rows_bits`).
    """
    rows = np.concatenate([old_vertices[old_faces].reshape(-1, 9), vertices[faces].reshape(-1, 9)]) + 0.0
    first, inverse = weld_kernels.unique_rows_bits(rows.view(np.uint64))
    del rows
    src = first[inverse[len(old_faces):]]
    return np.where(src < len(old_faces), src, -1)


def recheck_crossings(facts: CrossingFacts, vertices: np.ndarray, faces: np.ndarray, info: EdgeInfo) -> tuple[np.ndarray, RayScene]:
    """Self-intersecting faces of ``vertices``/``faces`` (a later state of the mesh that
    ``facts`` describes), testing only the faces that changed.

    A face whose corners are exactly those of a tested face keeps that face's crossings
    with other unchanged faces; faces created or moved are tested against all faces
    (``only=`` of :func:`intersect.crossing_pairs`; the whole mesh when that keyword is
    missing). Returns (crossing face ids (k,) int64 sorted, the ray scene of ``faces``).
    """
    scene = RayScene(vertices, faces)
    if len(faces) == 0:
        return np.zeros(0, np.int64), scene
    same = matching_faces(facts.vertices, facts.faces, vertices, faces)
    changed = np.flatnonzero(same < 0)
    if len(changed) > len(faces) // 2 or not _has_only():
        owner, hit = crossing_pairs(vertices, faces, info, scene)
        return np.unique(np.concatenate([owner, hit])), scene
    old_to_new = np.full(len(facts.faces), -1, dtype=np.int64)
    kept = np.flatnonzero(same >= 0)
    old_to_new[same[kept]] = kept
    a, b = old_to_new[facts.owner], old_to_new[facts.hit]
    both = (a >= 0) & (b >= 0)
    parts = [a[both], b[both]]
    if len(changed):
        owner, hit = crossing_pairs(vertices, faces, info, scene, only=changed)
        parts += [owner, hit]
    return np.unique(np.concatenate(parts)), scene


def _has_only() -> bool:
    """Whether :func:`intersect.crossing_pairs` takes ``only=`` (test some faces)."""
    return "only" in inspect.signature(crossing_pairs).parameters


def split_own_crossings(vertices, faces, patch, debris_mm3, info=None, scene=None, pairs=None):
    """Cut a shell that crosses itself into pieces that do not.

    Without the crossing faces a self-crossing shell falls apart into pieces (the lobes
    that pass through each other). Each crossing face is given back to every piece it
    borders, so the pieces overlap where the lobes did; each piece is closed and the
    pieces are fused again by a boolean union later. Returns (vertices, faces, patch,
    crossing faces, same-origin pairs (p, 2) of patch ids to fuse, the
    :class:`CrossingFacts` of the mesh as given). info, scene : the edge grouping and a
    ray scene of ``faces`` when already known. pairs : (owner, hit) of
    :func:`intersect.crossing_pairs` for these faces when already found (e.g. started on
    a thread before the faces were rewound or their unused vertices dropped: the pairs
    depend on the faces' corners and order only).
    """
    none = np.zeros((0, 2), dtype=np.int64)
    if len(faces) == 0:
        return vertices, faces, patch, 0, none, None
    if info is None:
        info = edge_info(faces, len(vertices))
    if scene is None:
        scene = RayScene(vertices, faces)
    owner, hit = pairs if pairs is not None else crossing_pairs(vertices, faces, info, scene)
    facts = CrossingFacts(vertices, faces, scene, info, owner, hit)
    own = patch[owner] == patch[hit]
    bad = np.zeros(len(faces), dtype=bool)
    bad[owner[own]] = True
    bad[hit[own]] = True
    if not bad.any():  # nothing changes: later steps reuse the scene and the crossings
        return vertices, faces, patch, 0, none, facts
    a, b = info.manifold_pairs()
    fa, fb = a // 3, b // 3
    m = len(faces)
    # pieces: good faces joined across manifold edges; bad faces: their own components
    good_pair = ~bad[fa] & ~bad[fb]
    bad_pair = bad[fa] & bad[fb]
    _, piece = components(m, fa[good_pair], fb[good_pair])
    _, bad_comp = components(m, fa[bad_pair], fb[bad_pair])
    mixed = bad[fa] != bad[fb]
    bf = np.where(bad[fa], fa, fb)[mixed]
    gf = np.where(bad[fa], fb, fa)[mixed]
    links = np.unique(np.stack([bad_comp[bf], piece[gf]], axis=1), axis=0)  # (bad comp, piece)
    bad_ids = np.flatnonzero(bad)
    order = np.argsort(bad_comp[bad_ids], kind="stable")
    bad_sorted = bad_ids[order]
    comp_sorted = bad_comp[bad_sorted]
    start_i = np.searchsorted(comp_sorted, links[:, 0], side="left")
    stop_i = np.searchsorted(comp_sorted, links[:, 0], side="right")
    counts = stop_i - start_i
    rep = np.repeat(start_i, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    extra_faces = bad_sorted[rep]
    extra_piece = np.repeat(links[:, 1], counts)
    good_ids = np.flatnonzero(~bad)
    all_faces = np.concatenate([good_ids, extra_faces])
    all_piece = np.concatenate([piece[good_ids], extra_piece])
    _, all_piece = np.unique(all_piece, return_inverse=True)
    n_piece = int(all_piece.max()) + 1
    origin = np.zeros(n_piece, dtype=np.int64)
    origin[all_piece] = patch[all_faces]
    # every piece gets its own copy of its vertices, then fans are split within pieces
    key = all_piece.astype(np.int64)[:, None] * len(vertices) + faces[all_faces]
    uniq, inverse = np.unique(key.reshape(-1), return_inverse=True)
    vertices, faces, piece, _, _ = clean.split_fans(vertices[uniq % len(vertices)], inverse.reshape(-1, 3).astype(np.int64))
    n_piece = int(piece.max()) + 1
    origin_new = np.zeros(n_piece, dtype=np.int64)
    origin_new[piece] = origin[all_piece]
    origin = origin_new
    vertices, faces, piece, _, sheets = clean.fill_holes(vertices, faces, piece)
    vol = np.abs(np.bincount(piece, weights=signed_volumes_mm3(vertices, faces), minlength=n_piece))
    drop = vol < debris_mm3
    drop[sheets] = True
    if drop.all():
        drop[:] = False
    keep_f = ~drop[piece]
    vertices, faces = compact(vertices, faces[keep_f])
    kept = np.flatnonzero(~drop)
    piece = np.searchsorted(kept, piece[keep_f])
    origin = origin[kept]
    order = np.argsort(origin, kind="stable")
    same = origin[order[1:]] == origin[order[:-1]]
    pairs = np.stack([order[:-1][same], order[1:][same]], axis=1)
    return vertices, faces, piece.astype(np.int64), int(bad.sum()), pairs, facts


def _drop_union_junk(vertices: np.ndarray, faces: np.ndarray, biggest_mm3: float) -> tuple[np.ndarray, np.ndarray]:
    """Drop slivers a union of imperfect pieces leaves: shells below 1e-4 of the largest
    input, facing inward outside any other shell, or facing outward inside a solid (a
    union has no solid within solid: such a shell is a piece's leftover, already counted)."""
    info = edge_info(faces, len(vertices))
    n, labels = face_components(info, len(faces))
    if n < 2:
        return vertices, faces
    sh = shell_measures(vertices, faces, labels, n, info)
    cavity = sh.depth % 2 == 1
    junk = (np.abs(sh.volume_mm3) < 1e-4 * biggest_mm3) | ((sh.volume_mm3 < 0) & ~cavity)
    parent_vol = sh.volume_mm3[np.maximum(sh.parent, 0)]
    junk |= (sh.volume_mm3 > 0) & (sh.parent >= 0) & (parent_vol > 0)
    if junk.all():
        return vertices, faces
    return compact(vertices, faces[~junk[labels]])


def fuse_shells(vertices, faces, patch, same_origin, facts=None):
    """Union shells that cross, touch or contain each other; leave the rest as they are.

    same_origin : (p, 2) int64 pairs of ``patch`` ids that must be fused (pieces of one
    shell cut apart where it crossed itself). facts : the :class:`CrossingFacts` of
    exactly these arrays when known.
    """
    problems: list[str] = []
    if len(faces) == 0:
        return vertices, faces, 0, problems
    labels = patch
    n_shells = int(patch.max()) + 1
    if n_shells == 1:
        return vertices, faces, 0, problems
    cache = facts if facts is not None and facts.tested(vertices, faces) else None
    _, sh = shell_info(vertices, faces, labels, None if cache is None else cache.info, None if cache is None else cache.scene)
    # units: each solid shell with the cavities directly inside it
    unit = np.arange(n_shells)
    cavity = (sh.depth % 2 == 1) & (sh.volume_mm3 < 0) & (sh.parent >= 0)  # oriented by now
    unit[cavity] = sh.parent[cavity]
    nested_solid = (sh.depth > 0) & ~cavity & (sh.parent >= 0)
    pairs = [np.stack([unit[nested_solid], unit[sh.parent[nested_solid]]], 1), unit[same_origin]]
    if n_shells > 1:
        if cache is not None:
            owner, hit = cache.owner, cache.hit
        else:
            owner, hit = crossing_pairs(vertices, faces, edge_info(faces, len(vertices)), RayScene(vertices, faces))
        a, b = unit[labels[owner]], unit[labels[hit]]
        pairs.append(np.stack([a[a != b], b[a != b]], 1))
        uniq_units = np.unique(unit)
        lo = np.full((n_shells, 3), np.inf)
        hi = np.full((n_shells, 3), -np.inf)
        np.minimum.at(lo, unit, sh.lo_mm)
        np.maximum.at(hi, unit, sh.hi_mm)
        close = (lo[:, None] <= hi[None] + fuse.TOUCH_MM).all(-1) & (lo[None] <= hi[:, None] + fuse.TOUCH_MM).all(-1)
        cand = np.argwhere(np.triu(close, 1))
        cand = cand[np.isin(cand[:, 0], uniq_units) & np.isin(cand[:, 1], uniq_units)]
        if 0 < len(cand) <= 2000:
            solids = {u: fuse.to_manifold(vertices, faces[unit[labels] == u]) for u in np.unique(cand)}
            for i, j in cand.tolist():  # candidate pairs of shells, not triangles
                if solids[i] is not None and solids[j] is not None and solids[i].min_gap(solids[j], 2 * fuse.TOUCH_MM) < fuse.TOUCH_MM:
                    pairs.append(np.array([[i, j]]))
    pairs_arr = np.concatenate(pairs).astype(np.int64) if pairs else np.zeros((0, 2), np.int64)
    n_groups, group = fuse.fuse_groups(pairs_arr, n_shells)
    face_group = group[unit[labels]]
    sizes = np.bincount(group[np.unique(unit)], minlength=n_groups)
    fused = np.flatnonzero(sizes > 1)
    if len(fused) == 0:
        return vertices, faces, 0, problems
    keep = ~np.isin(face_group, fused)
    out_v, out_f = [vertices], [faces[keep]]
    offset = len(vertices)
    n_fused = 0
    for g in fused.tolist():  # one boolean per group of overlapping shells
        members = np.unique(unit[np.unique(labels[face_group == g])])
        solids = [fuse.to_manifold(vertices, faces[(unit[labels] == u)]) for u in members]
        if any(s is None for s in solids):
            problems.append(f"{len(members)} overlapping shells could not be fused (not closed 2-manifolds)")
            out_f.append(faces[face_group == g])
            continue
        merged = fuse.union(solids)
        v, f = fuse.from_manifold(merged)
        biggest = max(s.volume() for s in solids)
        if merged.volume() < biggest * (1 - VOLUME_TOLERANCE):
            problems.append(
                f"fusing {len(members)} shells lost volume: {merged.volume():.3f} mm³ < the largest "
                f"shell's {biggest:.3f} mm³"
            )
        v, f = _drop_union_junk(v, f, biggest)
        out_v.append(v)
        out_f.append(f + offset)
        offset += len(v)
        n_fused += len(members)
    return np.concatenate(out_v), np.concatenate(out_f), n_fused, problems
