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

from printprep.mesh import clean
from printprep.mesh.check import (
    BACKGROUND_MIN_FACES,
    DEGENERATE_AREA_MM2,
    CheckReport,
    KnownFacts,
    StepCallback,
    _as_loaded,
    check_mesh,
    debris_volume_mm3,
    resolve_profile,
)
from printprep.mesh.chunks import Background
from printprep.mesh.crossings import (
    VOLUME_TOLERANCE,
    CrossingFacts,
    fuse_shells,
    recheck_crossings,
    shell_info,
    split_own_crossings,
)
from printprep.mesh.intersect import crossing_pairs
from printprep.mesh.load import LoadedMesh, trimesh_of
from printprep.mesh.measure import face_areas_mm2, signed_volumes_mm3
from printprep.mesh.raycast import RayScene
from printprep.mesh.sorting import dense_labels
from printprep.mesh.topology import (
    append_faces,
    edge_info,
    face_components,
    inconsistent_edges,
    orient_and_patches,
)
from printprep.mesh.weld import compact, weld_exact, weld_near

#: Near welding joins open-edge vertices closer than this, mm (below any printer's pixel).
NEAR_WELD_MM = 0.01
#: The self-crossing search's edge rays run beside the shell measures (big meshes).
CROSSINGS_BESIDE_SHELLS = True


@dataclass
class RepairResult:
    """What :func:`repair_mesh` made: the mesh (mm), the steps taken, its check report.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64. ``mesh`` is the same as a
    trimesh.Trimesh, built on first use (writing an STL does not need it).
    """

    vertices: np.ndarray
    faces: np.ndarray
    steps: list[dict[str, Any]]
    report: CheckReport
    volume_before_mm3: float
    problems: list[str] = field(default_factory=list)
    _mesh: Any = field(default=None, repr=False)

    @property
    def mesh(self) -> Any:
        """trimesh.Trimesh of the repaired mesh (mm), built once."""
        if self._mesh is None:
            self._mesh = trimesh_of(self.vertices, self.faces)
        return self._mesh

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

    vertices = loaded.vertices
    faces = loaded.faces
    face_vol0 = Background(signed_volumes_mm3, vertices, faces, inline=len(faces) < BACKGROUND_MIN_FACES)  # beside the edge table
    info0 = edge_info(faces, len(vertices))
    face_vol0 = face_vol0.result()
    volume_before = float(face_vol0.sum())
    # the input's volume means something only for closed, consistently wound, outward
    # shells (the shells are labelled only when the cheaper conditions hold)
    was_closed = info0.n_boundary == 0 and info0.n_non_manifold == 0 and inconsistent_edges(info0) == 0
    if was_closed:
        n0, labels0 = face_components(info0, len(faces))
        was_closed = bool((np.bincount(labels0, weights=face_vol0, minlength=n0) > 0).all())
    del face_vol0
    if loaded.scale != 1.0:
        record(f"scale {loaded.units} to mm (x{loaded.scale:g})", len(vertices))

    step("welding")
    if getattr(loaded, "welded", False):  # load_mesh welded exactly already
        n = 0
    else:
        vertices, faces, n = weld_exact(vertices, faces)
    record("weld identical vertices", n)
    info = info0 if n == 0 and len(vertices) == len(loaded.vertices) else edge_info(faces, len(vertices))
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
    faces, n_rep = clean.drop_repeated(faces, info if n_near == 0 else None)
    record("remove degenerate faces", n_rep)
    faces, n_dup = clean.drop_duplicates(faces, info if n_near == 0 and n_rep == 0 else None)
    record("remove duplicate faces", n_dup)
    n_before = len(vertices)
    if not (getattr(loaded, "welded", False) and n == 0 and n_near == 0 and n_rep == 0 and n_dup == 0):
        vertices, faces = compact(vertices, faces)  # (load_mesh leaves every vertex used)
    unchanged = n_near == 0 and n_rep == 0 and n_dup == 0 and len(vertices) == n_before

    step("non-manifold edges")
    n_unsplit = len(vertices)
    if not unchanged:
        info = edge_info(faces, len(vertices))
    # the winding's flips and the patches (one union-find over the manifold pairs) are
    # worked out on a second thread while the fans are found from the edge table
    # (splitting fans renames vertices only: the pairs and which way each runs its edge
    # stay); every vertex is used here (load_mesh and compact leave no unused one)
    # That thread goes on to rewind the faces and start the ray scene's build on them:
    # splitting fans keeps the faces' order and corners, all a scene depends on
    faces_unsplit = faces
    early = Background(_orient_early, vertices, faces, info, inline=len(faces) < BACKGROUND_MIN_FACES)
    vertices, faces, _, n, split_info = clean.split_fans(vertices, faces, info, patches=False, all_used=True)
    record("split non-manifold edges and vertices", n)
    step("winding")
    flip, n_bad, patch, oriented, oriented_flip, base_scene = early.result()
    if faces is faces_unsplit:  # no vertex was split: the rewound faces hold as they are
        faces, flip = oriented, oriented_flip
    else:
        faces, flip, n_bad = clean.orient(faces, patch, split_info, (flip, n_bad))
    del early, faces_unsplit, oriented, oriented_flip
    # the edge grouping carries over (no sort) unless vertices were split apart
    info = split_info.flipped(faces, flip) if len(vertices) == n_unsplit and n == 0 else None
    del split_info
    record("flip faces to a consistent winding", int(flip.sum()))
    if n_bad:
        problems.append(f"{n_bad} patches are non-orientable (like a Möbius strip) and stay so")

    step("holes")
    n_faces = len(faces)
    # the ray scene of the faces as orient left them (base_scene, started by
    # _orient_early) goes on building while the holes are closed; the patches join it
    # afterwards (RayScene.extended), without a second build
    if info is None:
        info = edge_info(faces, len(vertices))
    # face areas (m,) mm², measured once for the holes, shells, slivers and report
    face_area = face_areas_mm2(vertices, faces)
    vertices, faces, patch, n, sheets = clean.fill_holes(vertices, faces, patch, info, face_area)
    if len(faces) != n_faces:  # patches appended: merged into the grouping, not regrouped
        info = append_faces(info, faces, n_faces)
        face_area = np.concatenate([face_area, face_areas_mm2(vertices, faces[n_faces:])])
    record("close holes", n)
    if len(sheets):
        problems.append(
            f"{len(sheets)} open surfaces (sheets) cannot be made solid: their openings are "
            "larger than the surface itself"
        )

    step("shells")
    vertices, faces, patch, n_flip, n_cav, shells, info, scene, crossings = _orient_shells(
        vertices, faces, patch, sheets, info, face_area, base_scene, n_faces
    )
    del base_scene
    area_faces = faces  # flipping keeps every face's area
    record("turn inverted shells outward", n_flip)
    if n_cav:
        record("keep cavities (inward-facing inner shells)", n_cav)

    step("debris")
    n_faces, n_vertices = len(faces), len(vertices)
    vertices, faces, patch, n, removed_mm3, total_mm3 = _remove_debris(vertices, faces, patch, debris_mm3, sheets, shells)
    if len(faces) != n_faces or len(vertices) != n_vertices:  # unused vertices dropped: renumbered
        info = None
    if len(faces) != n_faces:  # the scene holds face ids and their geometry: valid until faces go
        scene = None
    record(f"remove debris shells (< {debris_mm3:.3g} mm³)", n)
    if total_mm3 > 0 and removed_mm3 > VOLUME_TOLERANCE * total_mm3:
        problems.append(f"debris removal took {removed_mm3:.3f} mm³ ({100 * removed_mm3 / total_mm3:.2f} % of the volume)")

    step("self-intersections")
    # the edge-ray crossing pairs found beside the shell step hold while no face was
    # removed since (they depend on the faces' corners and order only)
    pairs = crossings.result() if crossings is not None and scene is not None else None
    vertices, faces, patch, n_cut, same_origin, facts = split_own_crossings(
        vertices, faces, patch, debris_mm3, info, scene, pairs
    )
    del scene, crossings, pairs
    record("cut shells apart where they cross themselves", n_cut)

    step("fusing shells")
    vertices_pre, faces_pre = vertices, faces
    vertices, faces, n_fused, fuse_problems = fuse_shells(vertices, faces, patch, same_origin, facts)
    record("fuse overlapping or touching shells", n_fused)
    problems += fuse_problems
    vol_pre = _closed_volume(vertices_pre, faces_pre) if n_cut or n_fused else None
    if n_cut or n_fused:
        vol_post = _closed_volume(vertices, faces)
        if vol_pre > 0 and abs(vol_post - vol_pre) > VOLUME_TOLERANCE * vol_pre:
            problems.append(
                f"fusing crossing shells changed the volume by {100 * (vol_post - vol_pre) / vol_pre:+.2f} % "
                f"({vol_pre:.3f} -> {vol_post:.3f} mm³; overlaps were counted twice before)"
            )

    step("slivers")
    known_area = face_area if faces is area_faces else None
    vertices, faces, n_sliver = (
        clean.collapse_slivers(vertices, faces, DEGENERATE_AREA_MM2, area_mm2=known_area) if len(faces) else (vertices, faces, 0)
    )
    record("collapse zero-area slivers", n_sliver)
    # the shells measured after orientation still describe the result when no step since
    # removed, cut, fused or collapsed a face
    shells_hold = n == 0 and n_cut == 0 and n_fused == 0 and n_sliver == 0 and shells is not None

    if shells_hold:
        volume_after = float(shells.volume_mm3.sum())  # the faces measured after orientation
    elif vertices is vertices_pre and faces is faces_pre and vol_pre is not None:
        volume_after = vol_pre  # fusing changed nothing
    else:
        volume_after = float(signed_volumes_mm3(vertices, faces).sum()) if len(faces) else 0.0
    del vertices_pre, faces_pre
    if was_closed and abs(volume_before) > 0:
        change = (volume_after - volume_before) / abs(volume_before)
        if abs(change) > VOLUME_TOLERANCE:
            problems.append(
                f"the repair changed the volume by {100 * change:+.2f} % "
                f"({volume_before:.3f} -> {volume_after:.3f} mm³)"
            )
    nothing_left = False
    if len(faces) == 0:
        problems.append("nothing solid is left: the input cannot be made solid")
        vertices, faces = loaded.vertices.copy(), loaded.faces.copy()
        nothing_left = True
    step("report")
    out_loaded = LoadedMesh(
        None, loaded.units, loaded.scale, loaded.units_detected, loaded.path, loaded.format, loaded.units_note,
        vertices=vertices, faces=faces,
    )
    known = _known_facts(vertices, faces, facts, patch, shells if shells_hold else None) if len(faces) and not nothing_left else None
    if known is not None and faces is area_faces:
        known.area_mm2 = face_area
    report = check_mesh(out_loaded, profile=prof, alloy=alloy, thickness=thickness, _known=known)
    return RepairResult(vertices, faces, steps, report, volume_before, problems)


def _known_facts(vertices: np.ndarray, faces: np.ndarray, facts: CrossingFacts | None, patch: np.ndarray, shells: Any) -> KnownFacts:
    """What repair knows of its result, for the final check: the edge grouping, the ray
    scene and the self-intersecting faces (unchanged faces keep the crossings found
    before; only faces created or moved are tested again), and the shells when no face
    changed since they were measured."""
    known = KnownFacts()
    if facts is not None and facts.tested(vertices, faces):
        known.info, known.scene = facts.info, facts.scene
        known.crossing = np.unique(np.concatenate([facts.owner, facts.hit]))
    elif facts is not None:
        known.info = edge_info(faces, len(vertices))
        known.crossing, known.scene = recheck_crossings(facts, vertices, faces, known.info)
    if shells is not None and known.info is not None and known.info.n_non_manifold == 0 and len(patch) == len(faces):
        known.shells = (shells.count, patch, shells)
    return known


def _orient_early(vertices: np.ndarray, faces: np.ndarray, info: Any) -> tuple:
    """The winding step worked out beside the fans (on a thread of its own): the flips and
    patches of :func:`orient_and_patches`, the faces rewound as :func:`clean.orient` does,
    and a ray scene of them whose build starts at once (``RayScene(background=True)``):
    Embree's watertight test rounds a rewound face differently, so the scene is built on
    the faces as orient leaves them. Returns (flip (m,) bool as found, non-orientable
    patches, patch (m,) int64, rewound faces (m, 3) int64, their flip (m,) bool, scene or
    None without faces)."""
    flip, n_bad, patch = orient_and_patches(info, len(faces))
    oriented, oriented_flip, _ = clean.orient(faces, patch, info, (flip.copy(), n_bad))
    scene = RayScene(vertices, oriented, background=True) if len(oriented) else None
    return flip, n_bad, patch, oriented, oriented_flip, scene


def debris_volume_mm3_of(prof: Any) -> float:
    return debris_volume_mm3(prof)


def _orient_shells(vertices, faces, patch, sheets, info=None, face_area=None, base_scene=None, n_base=0):
    """Flip shells so solids face outward and cavities inward.

    A closed shell nested inside another that faced inward before is a cavity and faces
    inward; a nested shell that faced outward is an overlapping part (fused later).
    info : the edge grouping of ``faces`` when known; returned for the flipped faces.
    face_area : (m,) float64 mm² face areas when known. base_scene : a RayScene of the
    first ``n_base`` faces (the rest were appended since), extended rather than built.
    """
    if len(faces) == 0:
        return vertices, faces, patch, 0, 0, None, None, None, None
    # for nesting here and the crossing search next
    scene = base_scene.extended(vertices, faces, n_base) if base_scene is not None else RayScene(vertices, faces)
    if info is None:
        info = edge_info(faces, len(vertices))
    # the edge rays of the self-crossing search start now, on a thread of their own, while
    # the shells are measured: turning shells and dropping unused vertices change none of
    # their pairs (crossings.split_own_crossings(pairs=))
    crossings = Background(
        crossing_pairs, vertices, faces, info, scene, inline=len(faces) < BACKGROUND_MIN_FACES or not CROSSINGS_BESIDE_SHELLS
    )
    info, sh = shell_info(vertices, faces, patch, info, scene, face_area)
    cavity = _cavities(sh)
    wrong = sh.closed & (((sh.volume_mm3 < 0) & ~cavity) | ((sh.volume_mm3 > 0) & cavity))
    flip = wrong[patch]
    if flip.any():
        faces = faces.copy()
        faces[flip] = faces[flip][:, ::-1]
        info = info.flipped(faces, flip)
    sh.volume_mm3 = np.where(wrong, -sh.volume_mm3, sh.volume_mm3)
    return vertices, faces, patch, int(wrong.sum()), int(cavity.sum()), sh, info, scene, crossings


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
    if not drop.any():  # nothing to drop: same faces (unused vertices still go)
        v, f = compact(vertices, faces)
        return v, f, patch, 0, 0.0, float(vol.sum())
    keep = ~drop[patch]
    removed = float(vol[drop & ~is_sheet].sum())
    v, f = compact(vertices, faces[keep])
    return v, f, _relabel(patch[keep]), int(drop.sum()), removed, float(vol.sum())


def _relabel(patch: np.ndarray) -> np.ndarray:
    return dense_labels(patch)[1]


def _closed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    return float(signed_volumes_mm3(vertices, faces).sum()) if len(faces) else 0.0
