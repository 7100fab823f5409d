"""Repair a mesh into sound solids without destroying detail. See :func:`repair_mesh`.

Order: weld (exact, then near along open edges) -> drop collapsed and duplicate faces ->
cut non-manifold edges -> orient each patch -> close holes -> make shells face outward
(cavities inward) -> remove debris -> cut out and re-close a shell's own crossings ->
fuse crossing or touching shells (manifold3d) -> report. Every step is listed with its
count; volume changes over 0.5 % are problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from printprep.mesh import clean, fuse
from printprep.mesh.check import (
    CheckReport,
    StepCallback,
    _as_loaded,
    check_mesh,
    debris_volume_mm3,
    resolve_profile,
)
from printprep.mesh.intersect import crossing_pairs
from printprep.mesh.measure import signed_volumes_mm3
from printprep.mesh.raycast import RayScene
from printprep.mesh.shells import shell_measures
from printprep.mesh.topology import edge_info, face_components, inconsistent_edges
from printprep.mesh.weld import compact, weld_exact, weld_near

#: Volume change of a shell that a repair must report, fraction.
VOLUME_TOLERANCE = 0.005
#: Near welding joins open-edge vertices closer than this, mm (below any printer's pixel).
NEAR_WELD_MM = 0.01
#: Rounds of cutting out and re-closing a shell's own crossings.
CROSSING_ROUNDS = 3


@dataclass
class RepairResult:
    """What :func:`repair_mesh` made: the mesh (mm), the steps taken, its check report."""

    mesh: trimesh.Trimesh
    steps: list[dict[str, Any]]
    report: CheckReport
    volume_before_mm3: float
    problems: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        """Watertight, consistently wound, outward, positive volume, no crossings."""
        d = self.report.data
        return bool(
            d["watertight"] and d["winding_consistent"] and d["inverted_shells"] == 0
            and d["volume_mm3"] > 0 and d["self_intersecting_faces"] == 0
        )

    @property
    def exit_code(self) -> int:
        return 0 if self.sound else 1

    def to_dict(self) -> dict[str, Any]:
        out = self.report.to_dict()
        out["problems"] = self.problems + out["problems"]
        out["steps"] = list(self.steps)
        out["volume_before_mm3"] = round(self.volume_before_mm3, 4)
        out["sound"] = self.sound
        return out


def repair_mesh(
    mesh_or_loaded: Any, *, debris_volume_mm3: float | None = None, profile: Any = None,
    alloy: str | None = None, near_weld_mm: float = NEAR_WELD_MM, thickness: bool = True,
    on_step: StepCallback = None,
) -> RepairResult:
    """Repair a mesh (mm) into sound solids; returns a new mesh, the steps, the report.

    debris_volume_mm3 : shells smaller than this are removed (default: 3 × 3 × 3 voxels
        of ``profile``'s printer, or of a 35 µm / 50 µm printer).
    profile, alloy : passed to the final :func:`check_mesh`.
    near_weld_mm : open-edge vertices closer than this are merged.
    """
    step = on_step or (lambda _label: None)
    loaded = _as_loaded(mesh_or_loaded)
    prof = resolve_profile(profile)
    debris_mm3 = debris_volume_mm3 if debris_volume_mm3 is not None else debris_volume_mm3_of(prof)
    steps: list[dict[str, Any]] = []
    problems: list[str] = []

    def record(name: str, count: int) -> None:
        steps.append({"step": name, "count": int(count)})

    vertices = np.asarray(loaded.mesh.vertices, dtype=np.float64)
    faces = np.asarray(loaded.mesh.faces, dtype=np.int64)
    volume_before = float(signed_volumes_mm3(vertices, faces).sum())
    info0 = edge_info(faces, len(vertices))
    # the input's volume means something only for closed, consistently wound, outward shells
    n0, labels0 = face_components(info0, len(faces))
    shell_vol0 = np.bincount(labels0, weights=signed_volumes_mm3(vertices, faces), minlength=n0)
    was_closed = (
        info0.n_boundary == 0 and info0.n_non_manifold == 0
        and inconsistent_edges(info0) == 0 and bool((shell_vol0 > 0).all())
    )
    if loaded.scale != 1.0:
        record(f"scale {loaded.units} to mm (x{loaded.scale:g})", len(vertices))

    step("welding")
    vertices, faces, n = weld_exact(vertices, faces)
    record("weld identical vertices", n)
    info = info0 if n == 0 and len(vertices) == len(loaded.mesh.vertices) else edge_info(faces, len(vertices))
    open_e = info.edge_vertices[info.edge_count != 2]
    open_v = np.unique(open_e)
    tol_mm = near_weld_mm
    if len(open_e):
        length = np.linalg.norm(vertices[open_e[:, 0]] - vertices[open_e[:, 1]], axis=1)
        length = length[length > 0]
        if len(length):  # never merge the two ends of an edge of the part itself
            tol_mm = min(near_weld_mm, 0.25 * float(length.min()))
    vertices, faces, n_near = weld_near(vertices, faces, open_v, tol_mm)
    record(f"weld vertices closer than {tol_mm:.3g} mm", n_near)
    faces, n_rep = clean.drop_repeated(faces)
    record("remove degenerate faces", n_rep)
    faces, n_dup = clean.drop_duplicates(faces)
    record("remove duplicate faces", n_dup)
    n_before = len(vertices)
    vertices, faces = compact(vertices, faces)
    unchanged = n_near == 0 and n_rep == 0 and n_dup == 0 and len(vertices) == n_before

    step("non-manifold edges")
    vertices, faces, patch, n, split_info = clean.split_fans(vertices, faces, info if unchanged else None)
    record("split non-manifold edges and vertices", n)
    step("winding")
    faces, n, n_bad = clean.orient(faces, patch, split_info)
    del split_info
    record("flip faces to a consistent winding", n)
    if n_bad:
        problems.append(f"{n_bad} patches are non-orientable (like a Möbius strip) and stay so")

    step("holes")
    vertices, faces, patch, n, sheets = clean.fill_holes(vertices, faces, patch)
    record("close holes", n)
    if len(sheets):
        problems.append(
            f"{len(sheets)} open surfaces (sheets) cannot be made solid: their openings are "
            "larger than the surface itself"
        )

    step("shells")
    vertices, faces, patch, n_flip, n_cav, shells = _orient_shells(vertices, faces, patch, sheets)
    record("turn inverted shells outward", n_flip)
    if n_cav:
        record("keep cavities (inward-facing inner shells)", n_cav)

    step("debris")
    vertices, faces, patch, n, removed_mm3, total_mm3 = _remove_debris(vertices, faces, patch, debris_mm3, sheets, shells)
    record(f"remove debris shells (< {debris_mm3:.3g} mm³)", n)
    if total_mm3 > 0 and removed_mm3 > VOLUME_TOLERANCE * total_mm3:
        problems.append(f"debris removal took {removed_mm3:.3f} mm³ ({100 * removed_mm3 / total_mm3:.2f} % of the volume)")

    step("self-intersections")
    vertices, faces, patch, n_cut, same_origin, cache = _split_own_crossings(vertices, faces, patch, debris_mm3)
    record("cut shells apart where they cross themselves", n_cut)

    step("fusing shells")
    vol_pre = _closed_volume(vertices, faces)
    vertices, faces, n_fused, fuse_problems = _fuse(vertices, faces, patch, same_origin, cache)
    record("fuse overlapping or touching shells", n_fused)
    problems += fuse_problems
    if n_cut or n_fused:
        vol_post = _closed_volume(vertices, faces)
        if vol_pre > 0 and abs(vol_post - vol_pre) > VOLUME_TOLERANCE * vol_pre:
            problems.append(
                f"fusing crossing shells changed the volume by {100 * (vol_post - vol_pre) / vol_pre:+.2f} % "
                f"({vol_pre:.3f} -> {vol_post:.3f} mm³; overlaps were counted twice before)"
            )

    result = trimesh.Trimesh(vertices, faces, process=False, validate=False)
    volume_after = float(signed_volumes_mm3(vertices, faces).sum()) if len(faces) else 0.0
    if was_closed and abs(volume_before) > 0:
        change = (volume_after - volume_before) / abs(volume_before)
        if abs(change) > VOLUME_TOLERANCE:
            problems.append(
                f"the repair changed the volume by {100 * change:+.2f} % "
                f"({volume_before:.3f} -> {volume_after:.3f} mm³)"
            )
    if len(faces) == 0:
        problems.append("nothing solid is left: the input cannot be made solid")
        result = loaded.mesh.copy()
    step("report")
    out_loaded = type(loaded)(result, loaded.units, loaded.scale, loaded.units_detected, loaded.path, loaded.format, loaded.units_note)
    known = None
    if cache is not None and n_fused == 0 and len(faces) and result is not loaded.mesh:
        scene, owner, hit = cache
        known = (scene, np.unique(np.concatenate([owner, hit])))
    report = check_mesh(out_loaded, profile=prof, alloy=alloy, thickness=thickness, _known=known)
    return RepairResult(result, steps, report, volume_before, problems)


def debris_volume_mm3_of(prof: Any) -> float:
    return debris_volume_mm3(prof)


def _shell_info(vertices: np.ndarray, faces: np.ndarray, patch: np.ndarray):
    info = edge_info(faces, len(vertices))
    n = int(patch.max()) + 1 if len(patch) else 0
    return info, shell_measures(vertices, faces, patch, n, info)


def _orient_shells(vertices, faces, patch, sheets):
    """Flip shells so solids face outward and cavities inward.

    A closed shell nested inside another that faced inward before is a cavity and faces
    inward; a nested shell that faced outward is an overlapping part (fused later).
    """
    if len(faces) == 0:
        return vertices, faces, patch, 0, 0, None
    _, sh = _shell_info(vertices, faces, patch)
    cavity = _cavities(sh)
    wrong = sh.closed & (((sh.volume_mm3 < 0) & ~cavity) | ((sh.volume_mm3 > 0) & cavity))
    flip = wrong[patch]
    faces = faces.copy()
    faces[flip] = faces[flip][:, ::-1]
    sh.volume_mm3 = np.where(wrong, -sh.volume_mm3, sh.volume_mm3)
    return vertices, faces, patch, int(wrong.sum()), int(cavity.sum()), sh


def _cavities(sh) -> np.ndarray:
    """(k,) bool: shells that are cavities, i.e. nested an odd number of times and wound
    against the shell that contains them (a nested shell wound like its container is an
    overlapping part, fused later)."""
    nested = (sh.depth % 2 == 1) & (sh.parent >= 0)
    parent_vol = sh.volume_mm3[np.maximum(sh.parent, 0)]
    return nested & (np.sign(sh.volume_mm3) != np.sign(parent_vol))


def _remove_debris(vertices, faces, patch, debris_mm3, sheets, sh):
    """Drop shells too small to print, and loose sheets beside solid bodies."""
    if sh is None or len(faces) == 0:
        return vertices, faces, patch, 0, 0.0, 0.0
    vol = np.abs(sh.volume_mm3)
    small = (vol < debris_mm3) | (sh.faces < 4)
    is_sheet = np.zeros(sh.count, dtype=bool)
    is_sheet[sheets] = True
    solid = ~small & ~is_sheet
    drop = small | (is_sheet & solid.any())
    if drop.all():
        return vertices, faces, patch, 0, 0.0, float(vol.sum())
    keep = ~drop[patch]
    removed = float(vol[drop & ~is_sheet].sum())
    v, f = compact(vertices, faces[keep])
    return v, f, _relabel(patch[keep]), int(drop.sum()), removed, float(vol.sum())


def _relabel(patch: np.ndarray) -> np.ndarray:
    return np.unique(patch, return_inverse=True)[1].astype(np.int64)


def _closed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    return float(signed_volumes_mm3(vertices, faces).sum()) if len(faces) else 0.0


def _split_own_crossings(vertices, faces, patch, debris_mm3):
    """Cut a shell that crosses itself into pieces that do not.

    Without the crossing faces a self-crossing shell falls apart into pieces (the lobes
    that pass through each other). Each crossing face is given back to every piece it
    borders, so the pieces overlap where the lobes did; each piece is closed and the
    pieces are fused again by a boolean union later. Returns (vertices, faces, patch,
    crossing faces, same-origin pairs (p, 2) of patch ids to fuse).
    """
    none = np.zeros((0, 2), dtype=np.int64)
    if len(faces) == 0:
        return vertices, faces, patch, 0, none, None
    info = edge_info(faces, len(vertices))
    scene = RayScene(vertices, faces)
    owner, hit = crossing_pairs(vertices, faces, info, scene)
    own = patch[owner] == patch[hit]
    bad = np.zeros(len(faces), dtype=bool)
    bad[owner[own]] = True
    bad[hit[own]] = True
    if not bad.any():  # nothing changes: later steps reuse the scene and the crossings
        return vertices, faces, patch, 0, none, (scene, owner, hit)
    a, b = info.manifold_pairs()
    fa, fb = a // 3, b // 3
    m = len(faces)
    # pieces: good faces joined across manifold edges; bad faces: their own components
    good_pair = ~bad[fa] & ~bad[fb]
    bad_pair = bad[fa] & bad[fb]
    _, piece = connected_components(_graph(fa[good_pair], fb[good_pair], m), directed=False)
    _, bad_comp = connected_components(_graph(fa[bad_pair], fb[bad_pair], m), directed=False)
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
    return vertices, faces, piece.astype(np.int64), int(bad.sum()), pairs, None


def _drop_union_junk(vertices: np.ndarray, faces: np.ndarray, biggest_mm3: float) -> tuple[np.ndarray, np.ndarray]:
    """Drop slivers a union of imperfect pieces leaves: shells below 1e-4 of the largest
    input or facing inward outside any other shell."""
    info = edge_info(faces, len(vertices))
    n, labels = face_components(info, len(faces))
    if n < 2:
        return vertices, faces
    sh = shell_measures(vertices, faces, labels, n, info)
    cavity = sh.depth % 2 == 1
    junk = (np.abs(sh.volume_mm3) < 1e-4 * biggest_mm3) | ((sh.volume_mm3 < 0) & ~cavity)
    if junk.all():
        return vertices, faces
    return compact(vertices, faces[~junk[labels]])


def _graph(u: np.ndarray, v: np.ndarray, n: int) -> coo_matrix:
    return coo_matrix((np.ones(len(u), np.int8), (u, v)), shape=(n, n))


def _fuse(vertices, faces, patch, same_origin, cache=None):
    """Union shells that cross, touch or contain each other; leave the rest as they are.

    same_origin : (p, 2) int64 pairs of ``patch`` ids that must be fused (pieces of one
    shell cut apart where it crossed itself).
    """
    problems: list[str] = []
    if len(faces) == 0:
        return vertices, faces, 0, problems
    labels = patch
    n_shells = int(patch.max()) + 1
    if n_shells == 1:
        return vertices, faces, 0, problems
    _, sh = _shell_info(vertices, faces, labels)
    # units: each solid shell with the cavities directly inside it
    unit = np.arange(n_shells)
    cavity = (sh.depth % 2 == 1) & (sh.volume_mm3 < 0) & (sh.parent >= 0)  # oriented by now
    unit[cavity] = sh.parent[cavity]
    nested_solid = (sh.depth > 0) & ~cavity & (sh.parent >= 0)
    pairs = [np.stack([unit[nested_solid], unit[sh.parent[nested_solid]]], 1), unit[same_origin]]
    if n_shells > 1:
        if cache is not None:
            _, owner, hit = cache
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
