"""Soundness report of a mesh: what a caster needs to know before printing. Never edits.

See :func:`check_mesh`. The report's ``problems`` are defects that make the file not
printable or castable as is (exit code 1); ``warnings`` are facts worth a look that do
not (loose parts, walls thinner than the default casting minimum when no alloy was named).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from printprep.mesh.clean import drop_duplicates
from printprep.mesh.coplanar import coplanar_contacts
from printprep.mesh.intersect import self_intersecting_faces
from printprep.mesh.load import LoadedMesh
from printprep.mesh.measure import (
    ALLOY_MIN_WALL_MM,
    DEFAULT_MIN_WALL_MM,
    alloy_key,
    bounds_mm,
    metal_weights_g,
    row_norm,
    triangle_cross,
)
from printprep.mesh.raycast import RayScene
from printprep.mesh.shells import shell_measures
from printprep.mesh.thickness import face_thickness_mm, start_face_thickness, thin_regions
from printprep.mesh.topology import EdgeInfo, edge_info, face_components, inconsistent_edges

#: Default printer voxel when no profile is given: 35 µm pixels, 50 µm layers
#: (Phrozen Sonic 4K, the default profile).
DEFAULT_PITCH_MM = 0.035
DEFAULT_LAYER_MM = 0.05
#: A shell smaller than this many voxels per axis (cubed) is debris, not a part.
DEBRIS_VOXELS_PER_AXIS = 3
#: A printer cannot form a feature narrower than this many pixels.
MIN_FEATURE_PX = 3
#: A patch thinner than the printer floor matters from a square of this many floors a side.
FLOOR_PATCH_FACTOR = 2.0
#: Faces smaller than this, mm², are degenerate (zero area for printing purposes).
DEGENERATE_AREA_MM2 = 1e-12
#: From this many faces on, independent measures run on a thread of their own beside
#: the next step (repair's signed volumes beside the edge table, the wall rays beside
#: the coplanar-contact search).
BACKGROUND_MIN_FACES = 50_000
#: The wall-thickness rays of a repaired mesh's report trace beside the coplanar search.
THICKNESS_BESIDE = True

StepCallback = Callable[[str], None] | None


@dataclass
class KnownFacts:
    """Facts about exactly the vertices and faces being checked that a caller already
    computed (repair passes what it knows of its result, so the final check does not
    compute them again). Every field is optional.

    info : the edge grouping. scene : a ray scene of these faces. crossing : (k,) int64
    the self-intersecting face ids. shells : (count, labels (m,) int64, Shells) the
    face-connected shells, measured and with the volume signs of these faces.
    area_mm2 : (m,) float64 the face areas, mm².
    """

    info: EdgeInfo | None = None
    scene: RayScene | None = None
    crossing: np.ndarray | None = None
    shells: tuple[int, np.ndarray, Any] | None = None
    area_mm2: np.ndarray | None = None


def debris_volume_mm3(profile: Any = None) -> float:
    """Volume below which a shell is debris: a cube of 3 × 3 pixels × 3 layers, mm³."""
    pitch, layer = DEFAULT_PITCH_MM, DEFAULT_LAYER_MM
    if profile is not None:
        pitch = float(max(getattr(profile, "pitch_mm", None) or (getattr(profile, "nozzle_mm", pitch),)))
        layer = float(getattr(profile, "layer_height_mm", None) or layer)
    n = DEBRIS_VOXELS_PER_AXIS
    return (n * pitch) ** 2 * (n * layer)


def resolve_profile(profile: Any) -> Any:
    """A profile object from a name or path (printprep.profiles), or the object itself."""
    if profile is None or not isinstance(profile, str | bytes) and not hasattr(profile, "__fspath__"):
        return profile
    from printprep.profiles import load_profile  # lazy: mesh is the base stage

    return load_profile(profile)


@dataclass
class CheckReport:
    """What :func:`check_mesh` found. ``to_dict()`` gives the ``--json`` object."""

    data: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    thin: list = field(default_factory=list)

    @property
    def printable(self) -> bool:
        """True when the mesh can be printed and cast as is (no problems)."""
        return not self.problems

    @property
    def exit_code(self) -> int:
        """0 printable as is, 1 defects found."""
        return 0 if self.printable else 1

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.data)
        out["thin_regions"] = [r.to_dict() for r in self.thin]
        out["problems"] = list(self.problems)
        out["warnings"] = list(self.warnings)
        out["printable"] = self.printable
        return out


def _as_loaded(mesh_or_loaded: Any) -> LoadedMesh:
    """A LoadedMesh as is; a trimesh.Trimesh (or anything with ``vertices`` and ``faces``)
    wrapped as given in mm."""
    if isinstance(mesh_or_loaded, LoadedMesh):
        return mesh_or_loaded
    if hasattr(mesh_or_loaded, "vertices") and hasattr(mesh_or_loaded, "faces"):
        return LoadedMesh(mesh_or_loaded, "mm", 1.0, False, None, "mesh", "given in mm")
    raise TypeError(f"expected a LoadedMesh or trimesh.Trimesh, got {type(mesh_or_loaded).__name__}")


def check_mesh(
    mesh_or_loaded: Any, *, profile: Any = None, alloy: str | None = None,
    min_wall_mm: float | None = None, thickness: bool = True, on_step: StepCallback = None,
    _known: KnownFacts | None = None,
) -> CheckReport:
    """Check a mesh (mm) for printing and casting.

    profile : printer profile (object or name for :func:`printprep.profiles.load_profile`):
        adds the build-area fit and the printer's 3-pixel feature floor.
    alloy : an :data:`ALLOYS` name: walls below its casting minimum become problems.
    min_wall_mm : overrides the casting minimum wall.
    thickness : False skips the wall-thickness ray casting.
    on_step : called with a label as each stage starts (progress bars).
    _known : :class:`KnownFacts` already computed for exactly these vertices and faces
        (repair passes them on to spare a second pass).
    """
    step = on_step or (lambda _label: None)
    loaded = _as_loaded(mesh_or_loaded)
    prof = resolve_profile(profile)
    alloy = alloy_key(alloy) if alloy else None
    vertices = loaded.vertices
    faces = loaded.faces
    problems: list[str] = []
    warnings: list[str] = []

    step("edges")
    known = _known or KnownFacts()
    info = known.info if known.info is not None else edge_info(faces, len(vertices))
    n_inconsistent = inconsistent_edges(info)
    cross = None  # the face cross products are needed only for the areas
    if known.area_mm2 is not None and len(known.area_mm2) == len(faces):
        area = known.area_mm2
    else:
        cross = triangle_cross(vertices, faces)
        area = 0.5 * row_norm(cross)
    degenerate = area <= DEGENERATE_AREA_MM2
    if info.repeats_vertex():  # (known from the edge table, or looked for here)
        degenerate |= (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 2] == faces[:, 0])
    n_degenerate = int(np.count_nonzero(degenerate))
    n_duplicate = len(faces) - len(drop_duplicates(faces, info)[0])

    step("shells")
    scene = known.scene
    if scene is None and (known.crossing is None or thickness):
        scene = RayScene(vertices, faces)  # one scene for nesting, crossings and walls
    if known.shells is not None:
        n_shells, labels, shells = known.shells
    else:
        n_shells, labels = face_components(info, len(faces))
        shells = shell_measures(vertices, faces, labels, n_shells, info, face_area_mm2=area, scene=scene)
    cavity = shells.depth % 2 == 1
    closed = shells.closed
    inverted = closed & (((shells.volume_mm3 < 0) & ~cavity) | ((shells.volume_mm3 > 0) & cavity))
    debris_mm3 = debris_volume_mm3(prof)
    debris = (np.abs(shells.volume_mm3) < debris_mm3) | (shells.faces < 4)
    if debris.all():
        debris[:] = False  # the whole mesh is small or flat: not debris, a problem of its own
    bodies = int(np.count_nonzero(~cavity & ~debris))
    volume = float(shells.volume_mm3.sum())
    watertight = info.n_boundary == 0 and info.n_non_manifold == 0

    limit_mm = min_wall_mm or (ALLOY_MIN_WALL_MM[alloy] if alloy else DEFAULT_MIN_WALL_MM)
    floor_mm, floor_reason = _printer_floor(prof)
    wall_limit_mm = max(limit_mm, floor_mm or 0.0)
    flip_face = ((shells.volume_mm3 < 0) ^ cavity)[labels] if thickness else None  # normals into material
    walls = None
    if thickness and THICKNESS_BESIDE and len(faces) >= BACKGROUND_MIN_FACES and known.crossing is not None:
        # the wall rays start now on a thread of their own and the coplanar-contact search
        # below runs meanwhile (a repaired mesh's report, whose crossings repair knows: a
        # plain check traces its own crossing rays first). The rays stop at the limit:
        # only walls under it and the thinnest wall are reported
        walls = start_face_thickness(vertices, faces, scene, flip_face, exact_below_mm=wall_limit_mm)

    step("self-intersections")
    if known.crossing is not None:
        crossing = known.crossing
    else:
        crossing = self_intersecting_faces(vertices, faces, info, scene)

    # faces pressed face to face: only meaningful once the winding is consistent (a
    # flipped face faces its neighbours already)
    n_contact = None
    if n_inconsistent == 0:
        ca, cb = coplanar_contacts(vertices, faces)
        n_contact = int(len(np.unique(np.concatenate([ca, cb]))))

    thin = []
    min_thickness = None
    if thickness:
        step("wall thickness")
        if walls is not None:
            th = walls.result()
        else:  # only walls under the limit and the thinnest wall are reported: rays stop there
            th = face_thickness_mm(vertices, faces, scene, flip=flip_face, cross=cross, exact_below_mm=wall_limit_mm)
        finite = th[np.isfinite(th)]
        min_thickness = float(finite.min()) if len(finite) else None
        wall_reason = f"{alloy} needs {limit_mm} mm to cast" if alloy else f"casting minimum {limit_mm} mm"
        thin = thin_regions(vertices, faces, th, info, wall_limit_mm, wall_reason)
        floor_area = _below_floor_area(vertices, faces, th, info, floor_mm, area)
        for r in thin:
            below = float(floor_area[r.face_ids].sum())
            below_floor = below > 0
            if below_floor:
                r.reason = f"{floor_reason}; {wall_reason}"
            c = ", ".join(f"{x:.1f}" for x in r.center_mm)
            over = f"{r.area_mm2:.2f} mm²" + (f" ({below:.2f} mm² below {floor_mm:.3f} mm)" if below_floor else "")
            sentence = f"walls are {r.min_thickness_mm:.2f} mm near ({c}) over {over}; {r.reason}"
            if below_floor or (alloy and r.min_thickness_mm < limit_mm):
                problems.append(sentence)
            else:
                warnings.append(sentence)

    lo, hi = bounds_mm(vertices)
    fits = None
    if prof is not None:
        fits, why = _fits(prof, hi - lo)
        if not fits:
            problems.append(why)

    if info.n_boundary:
        problems.append(f"not watertight: {info.n_boundary} open (boundary) edges")
    if info.n_non_manifold:
        problems.append(f"{info.n_non_manifold} non-manifold edges (shared by more than two faces)")
    if n_inconsistent:
        problems.append(f"winding is inconsistent across {n_inconsistent} edges (flipped faces)")
    if inverted.any():
        problems.append(f"{int(inverted.sum())} shells face inward (inverted normals)")
    if n_degenerate:
        problems.append(f"{n_degenerate} degenerate faces (zero area)")
    if n_duplicate:
        problems.append(f"{n_duplicate} duplicate faces")
    if len(crossing):
        problems.append(f"{len(crossing)} faces intersect other faces of the mesh (self-intersection)")
    if debris.any():
        problems.append(
            f"{int(debris.sum())} debris shells (smaller than {debris_mm3:.3g} mm³ or under four faces)"
        )
    if volume <= 0:
        problems.append("the mesh encloses no positive volume: it cannot be printed as a solid")
    if n_contact:
        warnings.append(
            f"{n_contact} faces lie face to face on other faces of the mesh (coplanar overlap): "
            "parts pressed together without being joined; they print as one piece"
        )
    if bodies > 1:
        warnings.append(
            f"{bodies - 1} of {bodies} parts are loose (not connected to the largest): they "
            "would print and cast as separate pieces"
        )
    if loaded.units_detected and loaded.units != "mm":
        warnings.append(f"units assumed to be {loaded.units} (×{loaded.scale:g}): {loaded.units_note}")

    data = {
        "path": str(loaded.path) if loaded.path else None,
        "format": loaded.format,
        "triangles": len(faces),
        "vertices": len(vertices),
        "shells": n_shells,
        "bodies": bodies,
        "watertight": bool(watertight),
        "winding_consistent": n_inconsistent == 0,
        "inverted_shells": int(inverted.sum()),
        "cavities": int(cavity.sum()),
        "volume_mm3": round(volume, 4),
        "area_mm2": round(float(area.sum()), 4),
        "bounding_box_mm": {"min": lo.round(4).tolist(), "max": hi.round(4).tolist(), "size": (hi - lo).round(4).tolist()},
        "boundary_edges": info.n_boundary,
        "non_manifold_edges": info.n_non_manifold,
        "inconsistent_edges": n_inconsistent,
        "degenerate_faces": n_degenerate,
        "duplicate_faces": n_duplicate,
        "self_intersecting_faces": len(crossing),
        "coplanar_contact_faces": n_contact,
        "debris_shells": int(debris.sum()),
        "debris_volume_mm3": debris_mm3,
        "units": loaded.units,
        "scale": loaded.scale,
        "units_detected": loaded.units_detected,
        "units_note": loaded.units_note,
        "metal_weight_g": metal_weights_g(volume),
        "alloy": alloy,
        "min_thickness_mm": None if min_thickness is None else round(min_thickness, 4),
        "wall_limit_mm": limit_mm,
        "profile": getattr(prof, "name", None),
        "fits_build_area": fits,
    }
    return CheckReport(data, problems, warnings, thin)


def _below_floor_area(
    vertices: np.ndarray, faces: np.ndarray, th_mm: np.ndarray, info: Any, floor_mm: float | None,
    area_mm2: np.ndarray,
) -> np.ndarray:
    """Area of each face that lies in a wall thinner than the printer floor, mm²: (m,) float64.

    A patch below the floor counts only when it covers at least a square of twice the
    floor (``(2 floor_mm)²``, 6 × 6 pixels): a smaller one is a lip or burr hardly taller
    than it is thick (e.g. a 0.1 mm step where two halves of a model meet), which the
    printer merely rounds off, not a wall that breaks.
    """
    out = np.zeros(len(faces))
    if floor_mm is None:
        return out
    for r in thin_regions(vertices, faces, th_mm, info, floor_mm, "", min_area_mm2=(FLOOR_PATCH_FACTOR * floor_mm) ** 2, max_regions=None):
        out[r.face_ids] = area_mm2[r.face_ids]
    return out


def _printer_floor(prof: Any) -> tuple[float | None, str]:
    """The thinnest feature the printer forms, mm, and the sentence that explains it."""
    if prof is None:
        return None, ""
    pitch = getattr(prof, "pitch_mm", None)
    if pitch:
        px = float(max(pitch))
        floor = MIN_FEATURE_PX * px
        return floor, f"{getattr(prof, 'name', 'the printer')} needs {MIN_FEATURE_PX} pixels ({floor:.3f} mm)"
    nozzle = getattr(prof, "nozzle_mm", None)
    if nozzle:
        return float(nozzle), f"{getattr(prof, 'name', 'the printer')} nozzle is {nozzle} mm"
    return None, ""


def _fits(prof: Any, size_mm: np.ndarray) -> tuple[bool, str]:
    """Does a part of ``size_mm`` (3,) fit the build volume (any rotation about z)?"""
    name = getattr(prof, "name", "the printer")
    if getattr(prof, "display_mm", None) is not None:
        area = np.asarray(prof.display_mm, dtype=float)[:2]
        height = float(getattr(prof, "build_height_mm", np.inf) or np.inf)
    else:
        bed = np.asarray(prof.bed_mm, dtype=float)
        area, height = bed[:2], float(bed[2])
    xy = np.sort(size_mm[:2])
    fits = bool((xy <= np.sort(area)).all() and size_mm[2] <= height)
    why = (
        f"the part ({size_mm[0]:.1f} × {size_mm[1]:.1f} × {size_mm[2]:.1f} mm) does not fit "
        f"{name}'s build area ({area[0]:.1f} × {area[1]:.1f} × {height:.1f} mm)"
    )
    return fits, why
