"""Layer checks on meshes, without writing images (:func:`check_mesh_layers`).

The parts are placed and cut as :func:`printprep.slicing.slice_to_archive` places and
cuts them, rasterized the same way, and fed to the same
:class:`~printprep.slicing.checks.LayerChecker` as an archive's layers, so the findings
are those :func:`~printprep.slicing.checks.check_layers` would make on the sliced print.

Given the result of an earlier call, it re-checks only the layers whose cross-sections
changed (and the layer above each), so a support re-plan costs the layers it touched;
with ``near_fixed_only`` only where a change lies near a reused part or an earlier
finding (:func:`_near_changes`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import manifold3d
import numpy as np
import trimesh

from printprep.slicing.checks import LayerChecker, LayerReport
from printprep.slicing.raster import Band, DisplayTransform, rasterize

__all__ = ["MeshLayers", "check_mesh_layers"]


@dataclass
class MeshLayers:
    """What :func:`check_mesh_layers` found, and what a later call may reuse.

    report : the LayerReport of the whole stack
    shift_mm : (3,) float64 mm, parts' frame -> machine frame (x, y on the display, z
        from the plate); machine = parts' frame + shift
    z_mm : (n,) float64, cut heights in the parts' frame
    parts : the solids checked; rings_mm[k][i] : part k's rings in layer i, each (m, 2)
        float64 mm in the parts' frame
    checked_layers : how many layers this call rasterized and checked
    """

    report: LayerReport
    shift_mm: np.ndarray
    z_mm: np.ndarray
    parts: list[manifold3d.Manifold]
    rings_mm: list[list[list[np.ndarray]]]
    sources: list[Any] = field(default_factory=list)
    checked_layers: int = 0


def _solid(part: Any) -> manifold3d.Manifold:
    if isinstance(part, manifold3d.Manifold):
        return part
    m = manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.ascontiguousarray(part.vertices, dtype=np.float32),
            tri_verts=np.ascontiguousarray(part.faces, dtype=np.uint32),
        )
    )
    if m.status() != manifold3d.Error.NoError:
        from printprep.errors import SliceError

        raise SliceError(f"a part to check is not a closed, oriented mesh ({m.status().name})")
    return m


def _same_rings(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def check_mesh_layers(
    parts: Sequence[trimesh.Trimesh | manifold3d.Manifold],
    profile: Any,
    layer_height_mm: float | None = None,
    *,
    previous: MeshLayers | None = None,
    reach_mm: float = 3.0,
    centre_mm: tuple[float, float] | None = None,
    near_fixed_only: bool = False,
) -> MeshLayers:
    """Run the layer checks on ``parts`` as they would print on ``profile``.

    parts : closed meshes or manifold3d solids in one frame (mm), overlapping allowed
        (they print as their union, the raster's non-zero fill), placed as
        slice_to_archive places their union: the XY bounding-box centre on the display
        centre, the lowest point on the plate, cut at the layer centres.
    centre_mm : the point (x, y) of the parts' frame that goes on the display centre
        (as slice_to_archive's ``placements_mm`` can put it); default the XY
        bounding-box centre of all parts
    previous : an earlier result for the same display, layer height and placement: a part
        that is the same object reuses its rings, and only layers whose cross-sections
        changed (and the layer above each) are rasterized and checked again; the other
        layers keep the earlier findings. With another placement or height, all layers
        are checked.
    near_fixed_only : with ``previous``, a changed layer is checked again only where a
        part's cross-sections changed within the reach (plus 3 px) of a reused part's, or
        of an earlier finding: for parts that stand on themselves (support pillars and
        trees, which rise from the base or from the reused part) a change far from
        everything else cannot make or mend an island or a reach.
    """
    from printprep.slicing.layers import layer_heights

    lh = float(layer_height_mm or profile.layer_height_mm)
    solids = [_solid(p) for p in parts]
    boxes = np.array([np.asarray(m.bounding_box(), float).reshape(2, 3) for m in solids if not m.is_empty()])
    lo, hi = boxes[:, 0].min(axis=0), boxes[:, 1].max(axis=0)
    w_mm, h_mm = profile.display_mm
    cx, cy = ((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2) if centre_mm is None else centre_mm
    shift = np.array([w_mm / 2 - cx, h_mm / 2 - cy, -lo[2]])
    zs = layer_heights(float(hi[2] - lo[2]), lh) + lo[2]
    reuse = (
        previous is not None
        and np.allclose(previous.shift_mm, shift, rtol=0, atol=1e-9)
        and np.array_equal(previous.z_mm, zs)
        and len(previous.parts) == len(solids)
    )
    rings: list[list[list[np.ndarray]]] = []
    changed = np.zeros(len(zs), dtype=bool) if reuse else np.ones(len(zs), dtype=bool)
    fixed: list[int] = []  # parts reused as they were
    moved: list[tuple[list[list[np.ndarray]], list[list[np.ndarray]]]] = []  # (new, old) rings
    for k, (src, m) in enumerate(zip(parts, solids, strict=True)):
        if reuse and (src is previous.sources[k] or m is previous.parts[k]):
            rings.append(previous.rings_mm[k])
            fixed.append(k)
            continue
        mine = [m.slice(float(z)).to_polygons() for z in zs]
        if reuse:
            old = previous.rings_mm[k]
            changed |= np.array([not _same_rings(a, b) for a, b in zip(mine, old, strict=True)])
            moved.append((mine, old))
        rings.append(mine)
    if reuse and near_fixed_only and changed.any():
        pitch = max(DisplayTransform.for_profile(profile).image_pitch_mm)
        changed = _near_changes(changed, [rings[k] for k in fixed], moved, previous.report, shift, reach_mm + 3 * pitch)
    tr = DisplayTransform.for_profile(profile)
    origin = tr.to_image(np.zeros((1, 2)))[0]
    lin = np.column_stack([tr.to_image(np.array([[1.0, 0.0]]))[0] - origin, tr.to_image(np.array([[0.0, 1.0]]))[0] - origin])
    off = lin @ shift[:2] + origin
    flip = np.linalg.det(lin) < 0  # a mirrored display: keep the rings' winding as the slicer's

    def band(i: int) -> Band:
        px = [(r[::-1] if flip else r) @ lin.T + off for part in rings for r in part[i]]
        return rasterize(px, tr.image_px)

    todo = changed.copy()
    todo[1:] |= changed[:-1]
    checker = LayerChecker(tr, lh, reach_mm=reach_mm)
    # the layers to raster, in order: each checked layer, and the one under it when that
    # one is not checked itself (the checker must see what the layer stands on)
    need: list[tuple[int, bool]] = []
    for i in np.flatnonzero(todo):
        if i > 0 and not todo[i - 1]:
            need.append((int(i) - 1, False))
        need.append((int(i), True))
    # rasterizing (numpy, releasing the GIL) runs two layers ahead in a second thread
    # while this one checks: the checks need the layers in order, the raster does not
    with ThreadPoolExecutor(max_workers=2) as pool:
        ahead: deque[tuple[int, bool, Future[Band]]] = deque()
        k = 0
        while k < len(need) or ahead:
            while k < len(need) and len(ahead) < 3:
                ahead.append((*need[k], pool.submit(band, need[k][0])))
                k += 1
            i, check, fut = ahead.popleft()
            if check:
                checker.add(fut.result())
            else:
                checker.seek(i + 1, fut.result())
    new = checker.report()
    new.layer_count = len(zs)
    if reuse:
        old = previous.report
        keep = ~todo
        new.islands = sorted([x for x in old.islands if keep[x.layer]] + new.islands, key=lambda x: x.layer)
        new.reach_layers = sorted([x for x in old.reach_layers if keep[x.layer]] + new.reach_layers, key=lambda x: x.layer)
        new.empty_layers = sorted([x for x in old.empty_layers if keep[x]] + new.empty_layers)
        new.touching_frame = sorted([x for x in old.touching_frame if keep[x]] + new.touching_frame)
    return MeshLayers(new, shift, zs, solids, rings, list(parts), int(todo.sum()))


def _ring_key(ring: np.ndarray) -> bytes:
    """A ring's bytes from its lowest-sorting vertex on (the slicer may start it anywhere)."""
    start = int(np.lexsort((ring[:, 1], ring[:, 0]))[0])
    return np.roll(ring, -start, axis=0).tobytes()


def _boxes(rings: list[np.ndarray]) -> np.ndarray:
    """(k, 4) float64 [xmin, ymin, xmax, ymax] of each ring."""
    if not rings:
        return np.zeros((0, 4))
    return np.array([[*r.min(axis=0), *r.max(axis=0)] for r in rings])


def _near_changes(
    changed: np.ndarray,
    fixed: list[list[list[np.ndarray]]],
    moved: list[tuple[list[list[np.ndarray]], list[list[np.ndarray]]]],
    old_report: LayerReport,
    shift: np.ndarray,
    grow_mm: float,
) -> np.ndarray:
    """Layers (n,) bool whose check a change can affect: the changed rings of layer i
    (added or gone) within ``grow_mm`` of a fixed part's rings or of an earlier finding
    in layer i or i + 1 mark those layers."""
    n = len(changed)
    findings: dict[int, list[tuple[float, float]]] = {}
    for f in [*old_report.islands, *old_report.reach_layers]:
        findings.setdefault(f.layer, []).append((f.x_mm - shift[0], f.y_mm - shift[1]))
    out = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(changed):
        diff: list[np.ndarray] = []
        for new, old in moved:
            a = {_ring_key(r): r for r in new[i]}
            b = {_ring_key(r): r for r in old[i]}
            diff += [r for key, r in a.items() if key not in b] + [r for key, r in b.items() if key not in a]
        if not diff:
            continue
        box = _boxes(diff)
        box[:, :2] -= grow_mm
        box[:, 2:] += grow_mm
        for j in (i, i + 1):
            if j >= n or out[j]:
                continue
            near = np.concatenate([_boxes(part[layer]) for part in fixed for layer in (j - 1, j) if 0 <= layer < n] or [np.zeros((0, 4))])
            pts = np.array(findings.get(j, []), dtype=float).reshape(-1, 2)
            hit = (
                (near[:, None, 0] <= box[None, :, 2]) & (near[:, None, 2] >= box[None, :, 0])
                & (near[:, None, 1] <= box[None, :, 3]) & (near[:, None, 3] >= box[None, :, 1])
            ).any() or (
                (pts[:, None, 0] >= box[None, :, 0]) & (pts[:, None, 0] <= box[None, :, 2])
                & (pts[:, None, 1] >= box[None, :, 1]) & (pts[:, None, 1] <= box[None, :, 3])
            ).any()
            out[j] = bool(hit)
    return out
