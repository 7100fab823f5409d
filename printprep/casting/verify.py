"""Self-check of a supported print with the slicer's own layer check.

The print is checked by :func:`printprep.slicing.checks.check_mesh_layers`: placed, cut
and rasterized as ``printprep.slicing`` will slice it, without writing images. Islands
left and layers that reach too far get tips at the part's underside straight above them
(:func:`problem_tips`); :func:`prepare` re-plans the supports with those and checks
again. The casting (part + sprues, the big mesh) is sliced once: each later round passes
the earlier result, so only the support solid is sliced again, and only the layers where
its cross-sections changed within the reach of the casting (or of an earlier finding),
and the layer above each, are rasterized and checked. The casting's box centre (the
print frame's origin) sits on the display centre in every round and in the archive
(write_prepared places it so), so rounds share one raster grid.

Overlapping shells and their boolean union cover the same points, but not the same
pixels: the union's new edges (where a support tip enters the casting) can move a
raster edge by one pixel, and an island can appear in the archive that no shell round
saw. A fused print is therefore confirmed by :func:`check_fused` on the fused solid
itself, the very manifold3d object write_prepared cuts the archive from
(``Prepared.print_solid``): it is cut only within the z-range of the shells' overlap
(:func:`overlap_of`; elsewhere the union's cross-sections are the shells'), rasterized
where its rings differ from the shells', and checked again only where its lit pixels
differ from the shell round's (and the layer above each); the other layers keep the
shell round's findings.
"""

from __future__ import annotations

import manifold3d
import numpy as np

from printprep.slicing.checks import LayerReport
from printprep.slicing.layers import layer_heights
from printprep.slicing.meshcheck import MeshLayers, check_mesh_layers


def check_print(
    casting: manifold3d.Manifold,
    supports: manifold3d.Manifold | None,
    profile,
    layer_height_mm: float,
    previous: MeshLayers | None = None,
) -> MeshLayers:
    """Layer checks of ``casting`` + ``supports`` (print frame, mm) on ``profile``;
    ``previous`` (an earlier round with the same casting object) limits the work to the
    layers the supports changed."""
    parts = [casting] if supports is None or supports.is_empty() else [casting, supports]
    if previous is not None and len(previous.parts) != len(parts):
        previous = None
    # the casting's XY box centre (the print frame's origin) goes on the display centre,
    # as write_prepared places it: supports growing a side do not move the raster grid
    # supports stand on themselves (pillars from the base, trees into pillars, struts on
    # the casting): a layer is checked again only where they changed near the casting
    return check_mesh_layers(
        parts, profile, layer_height_mm, previous=previous, centre_mm=(0.0, 0.0), near_fixed_only=True
    )


def check_fused(
    print_mesh,
    shells: MeshLayers,
    profile,
    layer_height_mm: float,
    overlap: manifold3d.Manifold | None = None,
) -> MeshLayers:
    """Layer checks of the fused print on ``profile``, the casting's box centre (the
    frame's origin) on the display centre as in the archive.

    print_mesh : the fused print (print frame, mm): the manifold3d solid write_prepared
        slices (``Prepared.print_solid``; prepare passes it) or a trimesh.Trimesh of it
        (made a solid again from its float32 vertices, as the slicer would).

    ``shells`` is the last :func:`check_print` of the same casting and supports as
    separate shells: where the union's cross-sections equal the shells' (ring for ring,
    in any order), the rasters and so the findings are the same; the other layers are
    rasterized, and only those whose lit pixels differ from the shells' (and the layer
    above each) are checked again (a union re-cuts the facets of the pillars it touches:
    other vertices, the same pixels). ``checked_layers`` of the result counts those.

    overlap : the intersection of the shells (casting ^ supports, :func:`overlap_of`):
    outside its z-range the union's cross-sections are the shells' own, so the union is
    cut only in the layers it spans (and one beside each end).
    """
    if isinstance(print_mesh, manifold3d.Manifold):
        fused = print_mesh
    else:
        fused = manifold3d.Manifold(
            manifold3d.Mesh(
                vert_properties=np.ascontiguousarray(print_mesh.vertices, dtype=np.float32),
                tri_verts=np.ascontiguousarray(print_mesh.faces, dtype=np.uint32),
            )
        )
    lo, hi = np.asarray(fused.bounding_box(), float).reshape(2, 3)
    w_mm, h_mm = profile.display_mm
    shift = np.array([w_mm / 2, h_mm / 2, -lo[2]])
    zs = layer_heights(float(hi[2] - lo[2]), layer_height_mm) + lo[2]
    if len(zs) == len(shells.z_mm):
        # the shells' cross-sections, all parts' rings of a layer together, stand in as
        # an "earlier result" of one part: check_mesh_layers compares the union's rings
        # with them and re-checks only where they differ (a baseline cut at other
        # heights differs wherever that matters, so it is only slower, never wrong)
        rings = [[r for part in shells.rings_mm for r in part[i]] for i in range(len(zs))]
        baseline: MeshLayers | None = MeshLayers(
            shells.report, shift, zs, [manifold3d.Manifold()], [rings], [None], 0, shells.lit
        )
    else:
        baseline = None
    layers = None
    if baseline is not None and overlap is not None:
        layers = np.zeros(len(zs), dtype=bool)
        for piece in overlap.decompose():
            z0, z1 = np.asarray(piece.bounding_box(), float).reshape(2, 3)[:, 2]
            layers |= (zs >= z0 - layer_height_mm) & (zs <= z1 + layer_height_mm)
    return check_mesh_layers(
        [fused], profile, layer_height_mm, previous=baseline, centre_mm=(0.0, 0.0), layers=layers
    )


def overlap_of(casting: manifold3d.Manifold, supports: manifold3d.Manifold) -> manifold3d.Manifold:
    """Where the shells overlap (their intersection, print frame, mm): the only place their
    union differs from them. Small beside the union: tips and struts inside the casting."""
    return casting ^ supports


def problem_tips(
    report: LayerReport, shift: np.ndarray, engine, layer_height_mm: float, pitch_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Tips for each island and each reaching layer of ``report``: the part's underside
    straight above the problem's centroid (or a pixel beside it), found by rays up from
    two layers below. returns points (k, 3) mm (print frame) and faces (k,) int64.
    """
    spots = [(i.x_mm, i.y_mm, i.z_mm) for i in report.islands]
    spots += [(r.x_mm, r.y_mm, r.z_mm) for r in report.reach_layers]
    if not spots:
        return np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    base = np.asarray(spots, dtype=float) - shift
    base[:, 2] -= 2.0 * layer_height_mm
    offs = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [2, 0], [-2, 0], [0, 2], [0, -2]], float)
    o = (base[None] + np.column_stack([offs * pitch_mm, np.zeros(len(offs))])[:, None]).reshape(-1, 3)
    d = np.tile([0.0, 0.0, 1.0], (len(o), 1))
    loc, ray, tri = engine.intersects_location(o, d, multiple_hits=False)
    loc = np.round(loc, 5)  # embree's parallel build: see analysis.ray_distance_mm
    dist = np.full(len(o), np.inf)
    dist[ray] = np.linalg.norm(loc - o[ray], axis=1)
    hit_loc = np.zeros((len(o), 3))
    hit_loc[ray] = loc
    hit_tri = np.zeros(len(o), dtype=np.int64)
    hit_tri[ray] = tri
    dist = dist.reshape(len(offs), -1)
    best = np.argmin(dist, axis=0)
    cols = np.arange(len(base))
    ok = dist[best, cols] < 6.0 * layer_height_mm
    flat = best * len(base) + cols
    return hit_loc[flat[ok]], hit_tri[flat[ok]]
