"""Resin slicing: parts + printer profile -> layer archive (SL1 or PNG zip).

The pipeline streams: the placed parts are cut a few dozen layers at a time by the
compiled cut (:mod:`printprep.slicing.cut`, both cores); a small thread pool rasterizes
and PNG-encodes one layer per task (compiled passes that release the GIL); the main
thread writes finished layers to the archive in order as they come back. At most
``2 x workers + 2`` layers and one chunk of rings are in flight, so memory does not grow
with the layer count. A single part given with its solid is cut in its own frame, as the
layer checks cut it; with ``layers`` (the checks' own rasters) nothing is cut at all.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from printprep.errors import SliceError
from printprep.profiles import (
    MaterialProfile,
    PrinterProfile,
    ResinPrinterProfile,
    load_material,
    load_profile,
)
from printprep.slicing import estimate
from printprep.slicing.checks import LayerChecker, LayerReport
from printprep.slicing.cut import LayerCutter
from printprep.slicing.formats.pngzip import PngZipWriter
from printprep.slicing.formats.sl1 import THUMBNAIL_SIZES, SL1Writer, config_ini, prusaslicer_ini
from printprep.slicing.layers import PlacedParts, layer_heights, place_parts
from printprep.slicing.litmask import RingRaster
from printprep.slicing.meshcheck import MeshLayers, complete_layers
from printprep.slicing.png import encode_runs
from printprep.slicing.raster import Band, RunBand, rasterize_runs
from printprep.slicing.thumbnail import thumbnails_png

FORMATS = ("sl1", "pngzip")
#: layers cut in one compiled pass when slicing a solid (bounds the rings held at once)
_CUT_CHUNK = 48


@dataclass
class SliceResult:
    """What a slice produced.

    print_time_s : estimated print time, s; resin_ml : material volume, ml (filament:
    filament volume); cost : material cost in ``currency``.
    """

    path: Path
    format: str  # "sl1" | "pngzip" | "gcode"
    layer_count: int
    layer_height_mm: float
    print_time_s: float
    resin_ml: float
    cost: float
    currency: str = "EUR"
    profile: str = ""
    material: str = ""
    layer_report: LayerReport | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "path": str(self.path),
            "format": self.format,
            "profile": self.profile,
            "material": self.material,
            "layer_count": self.layer_count,
            "layer_height_mm": self.layer_height_mm,
            "print_time_s": round(self.print_time_s, 1),
            "resin_ml": round(self.resin_ml, 4),
            "cost": round(self.cost, 2),
            "currency": self.currency,
            **self.extra,
        }
        if self.layer_report is not None:
            d["layers"] = self.layer_report.to_dict()
        return d


def resolve_layer_height(profile: PrinterProfile, layer_height_mm: float | None) -> float:
    """The layer height to use: the given one (checked against the profile's range) or
    the profile's default."""
    if layer_height_mm is None:
        return profile.layer_height_mm
    lo, hi = profile.layer_height_range_mm
    if not lo <= layer_height_mm <= hi:
        raise SliceError(
            f"layer height {layer_height_mm} mm is outside {lo}..{hi} mm allowed by "
            f"profile {profile.name!r}"
        )
    return float(layer_height_mm)


def _resolve_material(
    profile: PrinterProfile, material: str | Path | MaterialProfile | None
) -> MaterialProfile:
    mat = load_material(material if material is not None else profile.default_material)
    if mat.kind != profile.kind:
        raise SliceError(
            f"material {mat.name!r} is a {mat.kind} material; profile {profile.name!r} prints {profile.kind}"
        )
    return mat


def _render_px_rings(rings_px: list[np.ndarray], image_px: tuple[int, int]) -> tuple[Band, bytes, float]:
    """Rasterize and encode one layer cut from the placed parts (rings already in image
    px; worker thread): (band, PNG, lit pixels as full-pixel equivalents)."""
    runs = rasterize_runs(rings_px, image_px)
    return runs.band(), _encode(image_px, runs), runs.grey_sum / 255.0


def _render_rings(
    rings_mm: list[np.ndarray], raster: RingRaster, image_px: tuple[int, int]
) -> tuple[Band, bytes, float]:
    """Rasterize one layer of a solid cut in its own frame as the layer checks do, and
    encode it (worker thread)."""
    runs = raster.runs(rings_mm)
    return runs.band(), _encode(image_px, runs), runs.grey_sum / 255.0


def _encode_layer(runs: RunBand, image_px: tuple[int, int]) -> tuple[None, bytes, float]:
    """Encode one layer the layer checks already rasterized (worker thread)."""
    return None, _encode(image_px, runs), runs.grey_sum / 255.0


def _encode(image_px: tuple[int, int], runs: RunBand) -> bytes:
    """The layer's PNG, deflated straight from its grey runs."""
    return encode_runs(image_px, runs.row0, runs.col0, runs.shape, runs.grey, runs.lengths)


def _checked_layers(
    layers: MeshLayers, placed: PlacedParts, z: np.ndarray, layer_height_mm: float, solids: Sequence[Any] | None
) -> MeshLayers:
    """``layers`` completed (:func:`~printprep.slicing.meshcheck.complete_layers`) after
    making sure they are the layers of this very slice: one part, its solid, the same
    placement on the display and the same cut heights. SliceError otherwise."""
    if len(placed.meshes) != 1 or len(layers.parts) != 1:
        raise SliceError("checked layers can stand for one part only")
    if solids is not None and solids[0] is not None and solids[0] is not layers.parts[0]:
        raise SliceError("the checked layers are of another solid than the part's")
    if layers.transform is None or layers.transform != placed.transform:
        raise SliceError("the checked layers were rasterized for another display")
    same_place = np.allclose(layers.shift_mm, placed.shifts_mm[0], rtol=0.0, atol=1e-9)
    same_z = len(layers.z_mm) == len(z) and np.allclose(layers.z_mm + layers.shift_mm[2], z, rtol=0.0, atol=1e-9)
    if not (same_place and same_z):
        raise SliceError("the checked layers were cut at another placement or other heights than this slice")
    if not np.isclose(layers.report.layer_height_mm, layer_height_mm, rtol=0.0, atol=1e-12):
        raise SliceError(
            f"the checked layers are {layers.report.layer_height_mm} mm high, this slice's {layer_height_mm} mm"
        )
    return complete_layers(layers)


def slice_to_archive(
    parts: Sequence[trimesh.Trimesh] | trimesh.Trimesh,
    profile: str | Path | PrinterProfile,
    out_path: str | Path,
    *,
    material: str | Path | MaterialProfile | None = None,
    layer_height_mm: float | None = None,
    fmt: str | None = None,
    placements_mm: Sequence[tuple[float, float]] | None = None,
    check: bool = True,
    workers: int | None = None,
    thumbnails: bool = True,
    progress: Callable[[int, int], None] | None = None,
    solids: Sequence[Any] | None = None,
    layers: MeshLayers | None = None,
) -> SliceResult:
    """Slice parts for a resin printer and write the layer archive.

    parts : meshes in mm (closed). placements_mm : each part's XY bounding-box centre on
    the display (machine mm); default: the display centre. fmt : "sl1" | "pngzip";
    default the profile's archive_format. check : also run the layer checks (islands,
    empty layers, frame, overhang reach) on the fly; the report is in
    ``result.layer_report``. progress(done, total) is called per layer written.
    solids : optional manifold3d solids of the parts (same frame, None for a part without
    one): those parts are cut from them (see :func:`~printprep.slicing.layers.place_parts`).
    layers : the layer checks of this very print (one part: its solid, placed and cut
    as here; :func:`~printprep.slicing.meshcheck.check_mesh_layers`' result, as casting's
    verify rounds leave it in ``Prepared.print_layers``): their anti-aliased rasters are
    encoded as they are, nothing is cut or rasterized again except layers they hold no
    raster of, and their findings are the layer report (checked again only there).
    SliceError when they do not belong to this slice.
    """
    prof = load_profile(profile)
    if not isinstance(prof, ResinPrinterProfile):
        raise SliceError(f"profile {prof.name!r} is a {prof.kind} printer: use slice_gcode")
    if isinstance(parts, trimesh.Trimesh):
        parts = [parts]
    mat = _resolve_material(prof, material)
    lh = resolve_layer_height(prof, layer_height_mm)
    fmt = fmt or prof.archive_format
    if fmt not in FORMATS:
        raise SliceError(f"unknown archive format {fmt!r} (use {' or '.join(FORMATS)})")
    out = Path(out_path)
    if not out.parent.is_dir():
        raise SliceError("output folder does not exist", where=str(out.parent))

    if layers is not None and solids is None:
        solids = list(layers.parts)
    # one part with its solid: cut in the solid's own frame and placed as the layer
    # checks (check_mesh_layers) place rings, so the pixels are the ones they check
    own_frame = len(parts) == 1 and solids is not None and solids[0] is not None
    placed = place_parts(parts, prof, placements_mm, solids, evaluate=not own_frame)
    z = layer_heights(placed.height_mm, lh)
    if len(z) == 0:
        raise SliceError(
            f"parts are {placed.height_mm:.4f} mm tall: thinner than one {lh} mm layer"
        )
    image_px = placed.transform.image_px
    done: MeshLayers | None = None
    if layers is not None:
        done = _checked_layers(layers, placed, z, lh, solids)
        check = False  # the checked layers' own findings are the report
    checker = LayerChecker(placed.transform, lh) if check else None
    raster = RingRaster(placed.transform, placed.shifts_mm[0]) if own_frame else None
    own_z = z - placed.shifts_mm[0][2]  # cut heights in the solid's own frame
    cutter = None
    if done is None:  # the solid in its own frame, or all parts placed in image px
        if raster is not None and solids is not None:
            cutter = LayerCutter(solids[0], own_z)
        else:
            cutter = LayerCutter(placed.manifold, z)
    chunk: list[list[np.ndarray]] = []
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    writer_cls = SL1Writer if fmt == "sl1" else PngZipWriter
    lit_px = 0.0
    # the checks run in order on their own thread, overlapping the slicing
    checks = ThreadPoolExecutor(1) if checker is not None else None
    check_futures: deque[Future[None]] = deque()
    with writer_cls(out) as writer, ThreadPoolExecutor(workers) as pool:
        # both thumbnails in one task (the triangle areas once): one worker, not all
        thumbs: Future[dict[tuple[int, int], bytes]] | None = None
        if thumbnails:
            thumbs = pool.submit(thumbnails_png, placed.meshes, THUMBNAIL_SIZES, placed.shifts_mm)
        pending: deque[Future[tuple[Band | None, bytes, float]]] = deque()

        def drain_one() -> None:
            nonlocal lit_px
            band, png, lit = pending.popleft().result()
            writer.add_layer(png)
            lit_px += lit
            if checker is not None and checks is not None and band is not None:
                check_futures.append(checks.submit(checker.add, band))
                while len(check_futures) > 16:
                    check_futures.popleft().result()
            if progress is not None:
                progress(writer.count, len(z))

        for i in range(len(z)):
            if done is not None:
                runs = done.lit[i].runs  # type: ignore[union-attr]  # complete: all known
                pending.append(pool.submit(_encode_layer, runs, image_px))
            elif cutter is not None:
                if i % _CUT_CHUNK == 0:  # cut a few dozen layers at once (compiled, two threads)
                    chunk = cutter.rings((np.arange(len(z)) >= i) & (np.arange(len(z)) < i + _CUT_CHUNK))
                if raster is not None:
                    pending.append(pool.submit(_render_rings, chunk[i], raster, image_px))
                else:
                    pending.append(pool.submit(_render_px_rings, chunk[i], image_px))
            while len(pending) > 2 * workers + 2:
                drain_one()
        while pending:
            drain_one()
        while check_futures:
            check_futures.popleft().result()
        if checks is not None:
            checks.shutdown()

        exposure = estimate.exposure_for(prof, mat)
        time_s = estimate.print_time_s(prof, exposure, len(z))
        ml = estimate.resin_ml(lit_px, prof.pitch_mm, lh)
        config = config_ini(
            job_dir=out.stem,
            profile=prof,
            material=mat,
            layer_count=len(z),
            layer_height_mm=lh,
            exposure_s=exposure.exposure_s,
            bottom_exposure_s=exposure.bottom_exposure_s,
            print_time_s=time_s,
            resin_ml=ml,
        )
        ini = prusaslicer_ini(prof, mat, lh, exposure.exposure_s, exposure.bottom_exposure_s)
        ini["bottom_layers"] = prof.bottom_layers
        writer.finish(config, ini, thumbs.result() if thumbs is not None else {})
    return SliceResult(
        path=out,
        format=fmt,
        layer_count=len(z),
        layer_height_mm=lh,
        print_time_s=time_s,
        resin_ml=ml,
        cost=mat.cost(ml),
        currency=mat.currency,
        profile=prof.name,
        material=mat.name,
        layer_report=checker.report() if checker else (done.report if done is not None else None),
        extra={
            "parts": len(parts),
            **({"layers_reused": len(z) - done.rasterized_layers} if done is not None else {}),
            "mesh_volume_mm3": round(placed.volume_mm3, 3),
            "height_mm": round(placed.height_mm, 4),
        },
    )
