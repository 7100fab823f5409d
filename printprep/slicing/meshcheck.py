"""Layer checks on meshes, without writing images (:func:`check_mesh_layers`).

The parts are placed and cut as :func:`printprep.slicing.slice_to_archive` places and
cuts them, rasterized the same way, and fed to the same
:class:`~printprep.slicing.checks.LayerChecker` as an archive's layers, so the findings
are those :func:`~printprep.slicing.checks.check_layers` would make on the sliced print.

Given the result of an earlier call, it rasterizes again only the layers whose
cross-sections changed, and checks again only those whose lit pixels changed (and the
layer above each: the checks look at a layer and the one below), so a support re-plan
costs the layers it touched; the lit pixels of every layer are kept bit-packed
(:class:`LitMask`, about 40 kB a layer for a ring) for the next call to compare with;
with ``near_fixed_only`` only where a change lies near a reused part or an earlier
finding (:func:`_near_changes`).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import manifold3d
import numpy as np
import trimesh

from printprep.slicing.checks import LayerChecker, LayerReport
from printprep.slicing.cut import cut_layers
from printprep.slicing.litmask import LitMask, RingRaster
from printprep.slicing.raster import DisplayTransform

__all__ = ["LitMask", "MeshLayers", "RingRaster", "check_mesh_layers", "complete_layers"]


@dataclass
class MeshLayers:
    """What :func:`check_mesh_layers` found, and what a later call may reuse.

    report : the LayerReport of the whole stack
    shift_mm : (3,) float64 mm, parts' frame -> machine frame (x, y on the display, z
        from the plate); machine = parts' frame + shift
    z_mm : (n,) float64, cut heights in the parts' frame
    parts : the solids checked; rings_mm[k][i] : part k's rings in layer i, each (m, 2)
        float64 mm in the parts' frame
    checked_layers : how many layers this call checked
    lit : per layer, its lit pixels (:class:`LitMask`) as last rasterized, or None
        where the rings changed since without a new raster
    rasterized_layers : how many layers this call rasterized
    transform : the display transform the rasters were made with
    """

    report: LayerReport
    shift_mm: np.ndarray
    z_mm: np.ndarray
    parts: list[manifold3d.Manifold]
    rings_mm: list[list[list[np.ndarray]]]
    sources: list[Any] = field(default_factory=list)
    checked_layers: int = 0
    lit: list[LitMask | None] = field(default_factory=list)
    rasterized_layers: int = 0
    transform: DisplayTransform | None = None


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
    """The same rings, in any order and from any starting vertex (a union lists the
    shells' untouched rings in its own order)."""
    if len(a) != len(b):
        return False
    if not a:
        return True
    # rings from the compiled cut are in a canonical order and start: the same section
    # gives the same arrays, compared in one go
    if [len(x) for x in a] == [len(y) for y in b] and np.array_equal(np.concatenate(a), np.concatenate(b)):
        return True
    return sorted(_ring_key(r) for r in a) == sorted(_ring_key(r) for r in b)


def check_mesh_layers(
    parts: Sequence[trimesh.Trimesh | manifold3d.Manifold],
    profile: Any,
    layer_height_mm: float | None = None,
    *,
    previous: MeshLayers | None = None,
    reach_mm: float = 3.0,
    centre_mm: tuple[float, float] | None = None,
    near_fixed_only: bool = False,
    layers: np.ndarray | None = None,
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
        changed are rasterized again; of those, the layers whose lit pixels differ from
        the earlier raster (and the layer above each) are checked again; the other
        layers keep the earlier findings. With another placement or height, all layers
        are checked.
    near_fixed_only : with ``previous``, a changed layer is checked again only where a
        part's cross-sections changed within the reach (plus 3 px) of a reused part's, or
        of an earlier finding: for parts that stand on themselves (support pillars and
        trees, which rise from the base or from the reused part) a change far from
        everything else cannot make or mend an island or a reach.
    layers : with ``previous``, (n,) bool: the only layers where a part that is not
        reused can differ from the earlier result's part of the same index (a caller
        that knows where a change lies, e.g. the z-range of a boolean's overlap): it is
        cut only there and keeps the earlier rings elsewhere.
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
        cut = np.ones(len(zs), dtype=bool) if not (reuse and layers is not None) else np.asarray(layers, bool)
        mine = _cut(m, zs, cut, previous.rings_mm[k] if reuse and layers is not None else None)
        if reuse:
            old = previous.rings_mm[k]
            changed |= np.array([not _same_rings(a, b) for a, b in zip(mine, old, strict=True)])
            moved.append((mine, old))
        rings.append(mine)
    # the lit masks of the earlier result stand for layers whose rings did not change
    cache: list[LitMask | None] = list(previous.lit) if reuse and len(previous.lit) == len(zs) else [None] * len(zs)
    cand = changed
    if reuse and near_fixed_only and changed.any():
        pitch = max(DisplayTransform.for_profile(profile).image_pitch_mm)
        cand = _near_changes(changed, [rings[k] for k in fixed], moved, previous.report, shift, reach_mm + 3 * pitch)
    for i in np.flatnonzero(changed & ~cand):
        cache[i] = None  # changed far from everything: kept findings, but no raster of it
    tr = DisplayTransform.for_profile(profile)
    raster = _Rasterizer(tr, shift, rings)
    checker = LayerChecker(tr, lh, reach_mm=reach_mm)
    new, todo, rasterized = _run_checks(cand, cache, raster.lit_of, checker, previous.report if reuse else None)
    return MeshLayers(new, shift, zs, solids, rings, list(parts), int(todo.sum()), cache, rasterized, tr)


def complete_layers(layers: MeshLayers) -> MeshLayers:
    """``layers`` with the anti-aliased raster of every layer known (``lit[i].runs``):
    the layers a near-only re-check left without a raster are rasterized from their
    rings and checked again (with the layer above each), so the report is what checking
    every layer of the archive would give. Returns ``layers`` itself when nothing is
    missing."""
    n = len(layers.z_mm)
    lit = layers.lit if len(layers.lit) == n else [None] * n
    missing = np.array([m is None or m.runs is None for m in lit], dtype=bool)
    if not missing.any():
        return layers
    if layers.transform is None:
        raise ValueError("complete_layers needs the display transform check_mesh_layers records")
    cache: list[LitMask | None] = [None if missing[i] else lit[i] for i in range(n)]
    tr = layers.transform
    old = layers.report
    checker = LayerChecker(tr, old.layer_height_mm, reach_mm=old.reach_mm)
    raster = _Rasterizer(tr, layers.shift_mm, layers.rings_mm)
    new, todo, rasterized = _run_checks(missing, cache, raster.lit_of, checker, old)
    return dataclasses.replace(
        layers, report=new, lit=cache, checked_layers=int(todo.sum()), rasterized_layers=rasterized
    )


class _Rasterizer:
    """Layer i of ``rings`` (per part, per layer) -> its :class:`LitMask` with its runs."""

    def __init__(self, tr: DisplayTransform, shift: np.ndarray, rings: list[list[list[np.ndarray]]]) -> None:
        self.raster = RingRaster(tr, shift)
        self.rings = rings

    def lit_of(self, i: int) -> LitMask:
        runs = self.raster.runs([r for part in self.rings for r in part[i]])
        return LitMask.from_runs(runs)


def _run_checks(
    cand: np.ndarray,
    cache: list[LitMask | None],
    lit_of: Any,
    checker: LayerChecker,
    old: LayerReport | None,
) -> tuple[LayerReport, np.ndarray, int]:
    """Rasterize the layers ``cand`` (n,) bool with ``lit_of(i)``, check those whose lit
    pixels differ from ``cache[i]`` (and the layer above each) and merge the findings with
    ``old``'s for the other layers (all layers are checked when ``old`` is None and
    ``cand`` is all True). ``cache`` is updated in place. Returns (report, checked (n,)
    bool, number of layers rasterized)."""
    n = len(cand)
    # a layer whose rings changed is rasterized again; it is checked again only when its
    # lit pixels (or those of the layer below) differ from the earlier raster: rings that
    # differ in their vertices but not in their pixels (a union's re-cut facets, a far
    # pillar) cost a raster, not a check. In order, with the rasters of the changed
    # layers running ahead on a second thread (numpy releases the GIL).
    visit = np.flatnonzero(cand | np.concatenate([[False], cand[:-1]]))
    lit_new: dict[int, LitMask] = {}
    really = np.zeros(n, dtype=bool)
    todo = np.zeros(n, dtype=bool)
    last_added = -2
    rasterized = 0

    def lit_at(i: int) -> LitMask:
        nonlocal rasterized
        if i in lit_new:
            return lit_new[i]
        if cache[i] is None:
            rasterized += 1
            lit_new[i] = lit_of(i)
            return lit_new[i]
        return cache[i]  # type: ignore[return-value]

    with ThreadPoolExecutor(max_workers=2) as pool:
        ahead: deque[tuple[int, Future[LitMask]]] = deque()
        queue = [int(i) for i in visit if cand[i]]
        k = 0
        for i in (int(v) for v in visit):
            while k < len(queue) and len(ahead) < 4:
                ahead.append((queue[k], pool.submit(lit_of, queue[k])))
                k += 1
            if cand[i]:
                j, fut = ahead.popleft()
                assert j == i
                lit_new[i] = fut.result()
                rasterized += 1
                really[i] = cache[i] is None or lit_new[i] != cache[i]
            todo[i] = really[i] or (i > 0 and really[i - 1])
            if not todo[i]:
                continue
            if last_added != i - 1:
                if i > 0:
                    checker.seek_mask(i, *lit_at(i - 1).mask())
                else:
                    checker.seek(i, None)
            checker.add_mask(*lit_at(i).mask())
            last_added = i
        for i, lm in lit_new.items():
            cache[i] = lm
    new = checker.report()
    new.layer_count = n
    if old is not None:
        keep = ~todo
        new.islands = sorted([x for x in old.islands if keep[x.layer]] + new.islands, key=lambda x: x.layer)
        new.reach_layers = sorted([x for x in old.reach_layers if keep[x.layer]] + new.reach_layers, key=lambda x: x.layer)
        new.empty_layers = sorted([x for x in old.empty_layers if keep[x]] + new.empty_layers)
        new.touching_frame = sorted([x for x in old.touching_frame if keep[x]] + new.touching_frame)
    return new, todo, rasterized


def _cut(
    solid: manifold3d.Manifold, zs: np.ndarray, cut: np.ndarray, old: list[list[np.ndarray]] | None
) -> list[list[np.ndarray]]:
    """Rings (list of (m, 2) float64 mm) of ``solid`` at each height ``zs`` (n,) where
    ``cut`` (n,) bool, else ``old[i]``: all layers in one compiled pass
    (:func:`~printprep.slicing.cut.cut_layers`; manifold3d's own cut runs over all faces
    for each layer, ~7 ms a layer on a 1M-face solid)."""
    out: list[list[np.ndarray]] = [[] for _ in zs] if old is None else list(old)
    new = cut_layers(solid, zs, cut)
    for i in np.flatnonzero(cut):
        out[i] = new[i]
    return out


def _ring_key(ring: np.ndarray) -> bytes:
    """A ring's bytes from its lowest-sorting vertex on (the slicer may start it anywhere):
    the lowest x, the lowest y among ties, the first of equal vertices."""
    x = ring[:, 0]
    start = int(np.argmin(x))
    if np.count_nonzero(x == x[start]) > 1:
        start = int(np.lexsort((ring[:, 1], x))[0])
    return ring[start:].tobytes() + ring[:start].tobytes()


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
    fixed_boxes: dict[int, np.ndarray] = {}  # layer -> boxes of the fixed parts' rings

    def boxes_at(layer: int) -> np.ndarray:
        if layer not in fixed_boxes:
            fixed_boxes[layer] = np.concatenate([_boxes(part[layer]) for part in fixed] or [np.zeros((0, 4))])
        return fixed_boxes[layer]

    for i in np.flatnonzero(changed):
        diff: list[np.ndarray] = []
        for new, old in moved:
            # the compiled cut's rings start at their lowest vertex already: their bytes
            # are their keys (a ring started elsewhere would only count as changed)
            a = {r.tobytes(): r for r in new[i]}
            b = {r.tobytes(): r for r in old[i]}
            diff += [r for key, r in a.items() if key not in b] + [r for key, r in b.items() if key not in a]
        if not diff:
            continue
        box = _boxes(diff)
        box[:, :2] -= grow_mm
        box[:, 2:] += grow_mm
        for j in (i, i + 1):
            if j >= n or out[j]:
                continue
            near = np.concatenate([boxes_at(layer) for layer in (j - 1, j) if 0 <= layer < n] or [np.zeros((0, 4))])
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
