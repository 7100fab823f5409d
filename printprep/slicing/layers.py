"""Meshes -> per-layer contours, by manifold3d's slicer.

Parts are placed on the plate (XY bounding-box centre on a given point, default the
display centre, as ``prusa-slicer --center W/2,H/2`` does; bottom on z = 0), joined into
one manifold and mapped into image pixel coordinates by the display transform, so each
``slice`` returns rings ready for the rasterizer. Layers are cut at their centres:
layer i covers [i h, (i + 1) h) and is cut at z = (i + 0.5) h, PrusaSlicer's grid for
``initial_layer_height = layer_height``; there are floor(height / h) layers, as there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import manifold3d
import numpy as np
import trimesh

from printprep.errors import SliceError
from printprep.profiles import ResinPrinterProfile
from printprep.slicing.raster import DisplayTransform

#: Slack (mm) allowed when checking that a part lies on the display.
FIT_TOLERANCE_MM = 1e-6


@dataclass
class PlacedParts:
    """Parts on the plate, ready to slice.

    manifold : all parts, in image pixel coordinates (x, y) and mm (z); None when placed
        without ``evaluate`` (a caller that has the layers already)
    volume_mm3 : total volume of the parts, mm³
    height_mm : tallest part, mm
    bounds_mm : (2, 3) float64, machine-coordinate bounds of all parts, mm
    meshes, shifts_mm : the parts as given and the (3,) mm shift that places each one
    """

    manifold: manifold3d.Manifold | None
    volume_mm3: float
    height_mm: float
    bounds_mm: np.ndarray
    meshes: list[trimesh.Trimesh]
    shifts_mm: list[np.ndarray]
    transform: DisplayTransform


def _to_manifold(mesh: trimesh.Trimesh, matrix: np.ndarray, index: int) -> manifold3d.Manifold:
    """Build a manifold of ``mesh`` with its vertices mapped by the (3, 4) ``matrix``.

    Vertices are transformed straight into a float32 array (no mesh copy); a mirroring
    matrix also reverses the triangles so the solid stays outward-facing.
    """

    def build(vertices: np.ndarray, faces: np.ndarray) -> manifold3d.Manifold:
        verts = np.empty((len(vertices), 3), np.float32)
        np.matmul(vertices, matrix[:, :3].T, out=verts, casting="same_kind")
        verts += matrix[:, 3].astype(np.float32)
        tris = faces.astype(np.uint32)
        if np.linalg.det(matrix[:, :3]) < 0:
            tris = tris[:, ::-1].copy()
        return manifold3d.Manifold(manifold3d.Mesh(vert_properties=verts, tri_verts=tris))

    m = build(np.asarray(mesh.vertices), np.asarray(mesh.faces))
    if m.status() != manifold3d.Error.NoError:
        # duplicate vertices are the usual cause; merge them and try once more
        merged = trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)
        m = build(np.asarray(merged.vertices), np.asarray(merged.faces))
    if m.status() != manifold3d.Error.NoError:
        raise SliceError(
            f"part {index} is not a closed, consistently oriented mesh "
            f"({m.status().name}); repair it first (printprep repair)"
        )
    return m


def place_parts(
    parts: Sequence[trimesh.Trimesh],
    profile: ResinPrinterProfile,
    placements_mm: Sequence[tuple[float, float]] | None = None,
    solids: Sequence[manifold3d.Manifold | None] | None = None,
    *,
    evaluate: bool = True,
) -> PlacedParts:
    """Place parts on the display and build one manifold in image coordinates.

    parts : meshes in mm (not modified). placements_mm : each part's XY bounding-box
    centre on the display (machine mm, origin at the display corner); default the
    display centre. solids : optional manifold3d solids of the parts in the same frame
    (None where a part has none): such a part is placed and cut from its solid (bounds
    from the solid too) instead of a manifold rebuilt from its triangles, so a caller
    that checked the very solid gets the same cross-sections and saves the rebuild.
    evaluate=False (every part with a solid): the placement, bounds and volume only, no
    solid in image coordinates (``manifold`` None): nothing is cut.
    Raises SliceError when a part falls off the display or exceeds the build height.
    """
    if not evaluate and (solids is None or any(s is None for s in solids)):
        raise SliceError("placing without evaluating needs a solid for every part")
    if not parts:
        raise SliceError("nothing to slice: no parts given")
    if solids is not None and len(solids) != len(parts):
        raise SliceError(f"{len(solids)} solids given for {len(parts)} parts")
    w_mm, h_mm = profile.display_mm
    if placements_mm is None:
        placements_mm = [(w_mm / 2, h_mm / 2)] * len(parts)
    if len(placements_mm) != len(parts):
        raise SliceError(f"{len(placements_mm)} placements given for {len(parts)} parts")
    tr = DisplayTransform.for_profile(profile)
    image = np.array(_image_matrix(tr))
    shifts: list[np.ndarray] = []
    manifolds = []
    lows, highs = [], []
    for i, (mesh, (cx, cy)) in enumerate(zip(parts, placements_mm, strict=True)):
        if len(mesh.faces) == 0:
            raise SliceError(f"part {i} has no triangles")
        solid = None if solids is None else solids[i]
        if solid is not None:
            if solid.is_empty() or solid.status() != manifold3d.Error.NoError:
                raise SliceError(f"the solid of part {i} is empty or broken ({solid.status().name})")
            lo, hi = np.asarray(solid.bounding_box(), float).reshape(2, 3)
        else:
            lo, hi = mesh.bounds
        shift = np.array([cx - (lo[0] + hi[0]) / 2, cy - (lo[1] + hi[1]) / 2, -lo[2]])
        plo, phi = lo + shift, hi + shift
        tol = FIT_TOLERANCE_MM
        if plo[0] < -tol or plo[1] < -tol or phi[0] > w_mm + tol or phi[1] > h_mm + tol:
            raise SliceError(
                f"part {i} ({hi[0] - lo[0]:.2f} x {hi[1] - lo[1]:.2f} mm at "
                f"({cx:.2f}, {cy:.2f})) does not fit the {w_mm} x {h_mm} mm display of "
                f"profile {profile.name!r}"
            )
        if phi[2] > profile.build_height_mm + tol:
            raise SliceError(
                f"part {i} is {phi[2]:.2f} mm tall; profile {profile.name!r} builds "
                f"at most {profile.build_height_mm} mm"
            )
        # placement then display transform, as one affine map
        matrix = image.copy()
        matrix[:, 3] += image[:, :3] @ shift
        if not evaluate:
            manifolds.append(solid)
        elif solid is not None:  # manifold3d keeps a mirrored solid outward-facing itself
            manifolds.append(solid.transform(matrix))
        else:
            manifolds.append(_to_manifold(mesh, matrix, i))
        shifts.append(shift)
        lows.append(plo)
        highs.append(phi)
    if evaluate:
        whole = manifolds[0] if len(manifolds) == 1 else manifold3d.Manifold.compose(manifolds)
        whole.num_tri()  # evaluate now, before threads share the object
        px_volume = abs(np.linalg.det(image[:, :3]))
        volume = float(sum(abs(x.volume()) for x in manifolds)) / px_volume
    else:  # the solids in their own frame (mm)
        whole = None
        volume = float(sum(abs(x.volume()) for x in manifolds))
    bounds = np.array([np.min(lows, axis=0), np.max(highs, axis=0)])
    return PlacedParts(
        manifold=whole,
        volume_mm3=volume,
        height_mm=float(bounds[1, 2]),
        bounds_mm=bounds,
        meshes=list(parts),
        shifts_mm=shifts,
        transform=tr,
    )


def _image_matrix(tr: DisplayTransform) -> list[list[float]]:
    """3x4 affine matrix taking (x_mm, y_mm, z_mm) to (col_px, row_px, z_mm)."""
    origin = tr.to_image(np.zeros((1, 2)))[0]
    ex = tr.to_image(np.array([[1.0, 0.0]]))[0] - origin
    ey = tr.to_image(np.array([[0.0, 1.0]]))[0] - origin
    return [
        [ex[0], ey[0], 0.0, origin[0]],
        [ex[1], ey[1], 0.0, origin[1]],
        [0.0, 0.0, 1.0, 0.0],
    ]


def layer_heights(height_mm: float, layer_height_mm: float) -> np.ndarray:
    """Cut heights (n,) float64 mm at layer centres (i + 0.5) h.

    As PrusaSlicer 2.5 does, only whole layers are printed: n = floor(height / h) (a top
    remainder thinner than a layer is dropped); a part thinner than one layer still gets
    one layer, cut at half its height.
    """
    n = int(np.floor(height_mm / layer_height_mm + 1e-6))
    if n == 0:
        return np.array([height_mm / 2]) if height_mm > 0 else np.zeros(0)
    return (np.arange(n) + 0.5) * layer_height_mm


def iter_layer_rings(placed: PlacedParts, z_mm: np.ndarray) -> Iterator[list[np.ndarray]]:
    """Yield each layer's rings: list of (k, 2) float64 (col, row) px, closed implicitly."""
    for z in z_mm:
        yield placed.manifold.slice(float(z)).to_polygons()
