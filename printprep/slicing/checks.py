"""Layer checks over a stack of layer images, as UVtools does them.

- **islands**: 4-connected lit regions (grey >= 128) with too little lit beneath them in
  the previous layer: fewer than ``min_supported_px`` (10) supported pixels and under
  ``min_supported_fraction`` (25 %) of the region. Each needs a support.
- **empty layers**: layers with nothing lit (the print separates there).
- **touching the frame**: lit pixels on the image border (the part is cut off).
- **overhang reach**: lit pixels farther than ``reach_mm`` (3 mm) from anything lit in
  the layer below, summed over the stack (mm²) and per layer with the centroid of the
  far pixels, so supports can be placed where a layer reaches out too far.

Layer 0 stands on the plate: it has no islands and no reach. Layers are fed one at a
time (:class:`LayerChecker`), so the checks run while slicing or over an archive with
one layer in memory.

:func:`~printprep.slicing.meshcheck.check_mesh_layers` runs the same checks on meshes,
without writing images (module :mod:`printprep.slicing.meshcheck`; its names are still
importable from here).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from printprep.slicing.formats.reader import Archive, read_archive
from printprep.slicing.raster import Band, DisplayTransform

__all__ = [
    "Island",
    "LayerChecker",
    "LayerReport",
    "Reach",
    "check_layers",
]

LIT = 128

@dataclass(frozen=True)
class Island:
    """A region needing support: layer index, z of the layer centre (mm), centroid on the
    plate (machine mm), area (mm² and px) and its supported pixel count."""

    layer: int
    z_mm: float
    x_mm: float
    y_mm: float
    area_mm2: float
    area_px: int
    supported_px: int


@dataclass(frozen=True)
class Reach:
    """Pixels of one layer farther than the reach from the layer below."""

    layer: int
    z_mm: float
    area_mm2: float
    x_mm: float
    y_mm: float


@dataclass
class LayerReport:
    layer_count: int
    layer_height_mm: float
    pitch_mm: tuple[float, float]
    reach_mm: float
    islands: list[Island] = field(default_factory=list)
    empty_layers: list[int] = field(default_factory=list)
    touching_frame: list[int] = field(default_factory=list)
    reach_layers: list[Reach] = field(default_factory=list)

    @property
    def overhang_reach_area_mm2(self) -> float:
        return float(sum(r.area_mm2 for r in self.reach_layers))

    @property
    def problems(self) -> list[str]:
        out = []
        if self.layer_count == 0:
            out.append("no layers")
        if self.islands:
            layers = sorted({i.layer for i in self.islands})
            out.append(
                f"{len(self.islands)} unsupported islands in {len(layers)} layers (first at layer {layers[0]})"
            )
        if self.empty_layers:
            out.append(f"{len(self.empty_layers)} empty layers (first: {self.empty_layers[0]})")
        if self.touching_frame:
            out.append(f"parts touch the display frame in {len(self.touching_frame)} layers")
        if self.reach_layers:
            out.append(
                f"{self.overhang_reach_area_mm2:.2f} mm² of layers reach farther than "
                f"{self.reach_mm:g} mm beyond the layer below (in {len(self.reach_layers)} layers)"
            )
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer_count": self.layer_count,
            "layer_height_mm": self.layer_height_mm,
            "pitch_mm": list(self.pitch_mm),
            "ok": self.ok,
            "problems": self.problems,
            "islands": [asdict(i) for i in self.islands],
            "empty_layers": self.empty_layers,
            "touching_frame": self.touching_frame,
            "reach_mm": self.reach_mm,
            "overhang_reach_area_mm2": self.overhang_reach_area_mm2,
            "reach_layers": [asdict(r) for r in self.reach_layers],
        }


class LayerChecker:
    """Feed layers in order with :meth:`add`; :meth:`report` gives the LayerReport."""

    def __init__(
        self,
        transform: DisplayTransform,
        layer_height_mm: float,
        *,
        reach_mm: float = 3.0,
        min_supported_px: int = 10,
        min_supported_fraction: float = 0.25,
    ) -> None:
        self.tr = transform
        self.image_px = transform.image_px
        self.lh = layer_height_mm
        self.pc, self.pr = transform.image_pitch_mm
        self.px_area_mm2 = self.pc * self.pr
        self.reach_mm = reach_mm
        self.min_px = min_supported_px
        self.min_frac = min_supported_fraction
        self.report_ = LayerReport(0, layer_height_mm, transform.pitch_mm, reach_mm)
        self.prev: tuple[int, int, np.ndarray] | None = None  # (row0, col0, lit mask)

    def add(self, band: Band) -> None:
        lit = band.pixels >= LIT
        rows = np.flatnonzero(lit.any(axis=1))
        if len(rows) == 0:
            self.add_mask(0, 0, np.zeros((0, 0), bool))
            return
        cols = np.flatnonzero(lit.any(axis=0))
        r0, c0 = band.row0 + int(rows[0]), band.col0 + int(cols[0])
        self.add_mask(r0, c0, lit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])

    def add_mask(self, r0: int, c0: int, lit: np.ndarray) -> None:
        """:meth:`add` of a layer given as its lit pixels (rows, cols) bool at image
        position (r0, c0), already cropped to their bounding box ((0, 0): empty)."""
        i = self.report_.layer_count
        self.report_.layer_count += 1
        if lit.shape[0] == 0:
            self.report_.empty_layers.append(i)
            self.prev = None
            return
        h, w = lit.shape
        width, height = self.image_px
        if r0 == 0 or c0 == 0 or r0 + h == height or c0 + w == width:
            self.report_.touching_frame.append(i)
        if i > 0:
            self._islands(i, r0, c0, lit)
            self._reach(i, r0, c0, lit)
        self.prev = (r0, c0, lit)

    def seek(self, layer: int, below: Band | None) -> None:
        """Continue at ``layer`` (the next :meth:`add` checks it) with ``below`` as the
        layer under it; the layers skipped are not checked."""
        self.report_.layer_count = layer
        self.prev = None
        if below is not None and not below.empty:
            lit = below.pixels >= LIT
            rows, cols = np.flatnonzero(lit.any(axis=1)), np.flatnonzero(lit.any(axis=0))
            if len(rows):
                self.prev = (
                    below.row0 + int(rows[0]),
                    below.col0 + int(cols[0]),
                    lit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1],
                )

    def seek_mask(self, layer: int, r0: int, c0: int, below: np.ndarray) -> None:
        """:meth:`seek` with the layer below given as its cropped lit mask (see
        :meth:`add_mask`)."""
        self.report_.layer_count = layer
        self.prev = (r0, c0, below) if below.shape[0] else None

    def _prev_in(self, r0: int, c0: int, h: int, w: int) -> np.ndarray:
        """The previous layer's lit mask in the window rows r0..r0+h, cols c0..c0+w."""
        out = np.zeros((h, w), bool)
        if self.prev is None:
            return out
        pr0, pc0, plit = self.prev
        ph, pw = plit.shape
        a0, a1 = max(r0, pr0), min(r0 + h, pr0 + ph)
        b0, b1 = max(c0, pc0), min(c0 + w, pc0 + pw)
        if a0 < a1 and b0 < b1:
            out[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = plit[
                a0 - pr0 : a1 - pr0, b0 - pc0 : b1 - pc0
            ]
        return out

    def _z(self, i: int) -> float:
        return (i + 0.5) * self.lh

    def _machine(self, col: float, row: float) -> tuple[float, float]:
        xy = self.tr.to_machine(np.array([[col, row]]))[0]
        return float(xy[0]), float(xy[1])

    def _islands(self, i: int, r0: int, c0: int, lit: np.ndarray) -> None:
        h, w = lit.shape
        below = self._prev_in(r0, c0, h, w)
        if not (lit & ~below).any():
            return  # every region stands fully on the layer below
        n, labels = cv2.connectedComponents(lit.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
        supported = np.bincount(labels[below & lit], minlength=n)
        if not (supported[1:] < self.min_px).any():
            return  # every region has enough pixels standing on the layer below
        area = np.bincount(labels.ravel(), minlength=n)
        bad = (supported < self.min_px) & (supported < self.min_frac * area)
        bad[0] = False  # background
        if not bad.any():
            return
        rr, cc = np.indices(labels.shape, sparse=True)
        flat = labels.ravel()
        sum_r = np.bincount(flat, np.broadcast_to(rr, labels.shape).ravel(), minlength=n)
        sum_c = np.bincount(flat, np.broadcast_to(cc, labels.shape).ravel(), minlength=n)
        for k in np.flatnonzero(bad):
            x, y = self._machine(c0 + sum_c[k] / area[k] + 0.5, r0 + sum_r[k] / area[k] + 0.5)
            self.report_.islands.append(
                Island(
                    i,
                    self._z(i),
                    x,
                    y,
                    float(area[k] * self.px_area_mm2),
                    int(area[k]),
                    int(supported[k]),
                )
            )

    def _reach(self, i: int, r0: int, c0: int, lit: np.ndarray) -> None:
        h, w = lit.shape
        mr = int(np.ceil(self.reach_mm / self.pr)) + 1
        mc = int(np.ceil(self.reach_mm / self.pc)) + 1
        width, height = self.image_px
        wr0, wc0 = max(0, r0 - mr), max(0, c0 - mc)
        wr1, wc1 = min(height, r0 + h + mr), min(width, c0 + w + mc)
        below_w = self._prev_in(wr0, wc0, wr1 - wr0, wc1 - wc0)
        sl = (slice(r0 - wr0, r0 - wr0 + h), slice(c0 - wc0, c0 - wc0 + w))
        new = lit & ~below_w[sl]
        if not new.any():
            return  # every lit pixel stands on a lit pixel
        if not below_w.any():
            far = lit
        else:
            # quick exit: inside a box of half-size reach/sqrt(2) around a lit pixel below
            # every point is within the reach
            kr = int(self.reach_mm / np.sqrt(2) / self.pr)
            kc = int(self.reach_mm / np.sqrt(2) / self.pc)
            if self._surely_near(below_w, new, sl, kr, kc):
                return
            near = cv2.dilate(
                below_w.view(np.uint8),
                cv2.getStructuringElement(cv2.MORPH_RECT, (2 * kc + 1, 2 * kr + 1)),
            )
            if not (new & ~near[sl].view(bool)).any():
                return
            if abs(self.pc - self.pr) <= 1e-9 * self.pc:
                dist = cv2.distanceTransform(
                    (~below_w).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
                )
                far = lit & (dist[sl] * self.pc > self.reach_mm)
            else:
                from scipy import ndimage  # only for non-square pixels

                dist = ndimage.distance_transform_edt(~below_w, sampling=(self.pr, self.pc))
                far = lit & (dist[sl] > self.reach_mm)
        n = int(far.sum())
        if n:
            rr, cc = np.nonzero(far)
            x, y = self._machine(c0 + cc.mean() + 0.5, r0 + rr.mean() + 0.5)
            self.report_.reach_layers.append(Reach(i, self._z(i), n * self.px_area_mm2, x, y))

    @staticmethod
    def _surely_near(below: np.ndarray, new: np.ndarray, sl: tuple[slice, slice], kr: int, kc: int) -> bool:
        """True when every ``new`` pixel is within (kr, kc) px of a lit ``below`` pixel,
        decided on 4 x 4 px blocks: a block within K blocks of a lit block is within
        (K + 1) x 4 - 1 px of a lit pixel. Cheap (1/16 of the pixels, a small kernel);
        False means "look closer", never "far"."""
        f = 4
        kbr, kbc = kr // f - 1, kc // f - 1
        if kbr < 1 or kbc < 1:
            return False
        h, w = below.shape
        hb, wb = -(-h // f), -(-w // f)

        def block_or(mask: np.ndarray, r0: int, c0: int) -> np.ndarray:
            """(hb, wb) bool: any pixel of ``mask`` (placed at r0, c0) in each block, as
            ORs of strided views (numpy's max over axes (1, 3) of the 4-d reshape walks
            the image in 4-byte strides and cost most of the check)."""
            pad = np.zeros((hb * f, wb * f), bool)
            pad[r0 : r0 + mask.shape[0], c0 : c0 + mask.shape[1]] = mask
            rows = pad[0::f] | pad[1::f]
            rows |= pad[2::f]
            rows |= pad[3::f]
            blocks = rows[:, 0::f] | rows[:, 1::f]
            blocks |= rows[:, 2::f]
            blocks |= rows[:, 3::f]
            return blocks

        blocks = block_or(below, 0, 0).view(np.uint8)
        near = cv2.dilate(blocks, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * kbc + 1, 2 * kbr + 1)))
        # every new pixel's block is near: no block holding a new pixel is not near
        return not bool((block_or(new, sl[0].start, sl[1].start) & ~near.view(bool)).any())

    def report(self) -> LayerReport:
        return self.report_


def check_layers(archive_or_path: Archive | str | Path, *, reach_mm: float = 3.0) -> LayerReport:
    """Run the layer checks over an archive (opened or by path)."""
    if isinstance(archive_or_path, Archive):
        return _check(archive_or_path, reach_mm)
    with read_archive(archive_or_path) as archive:
        return _check(archive, reach_mm)


def _check(archive: Archive, reach_mm: float) -> LayerReport:
    checker = LayerChecker(archive.transform, archive.layer_height_mm, reach_mm=reach_mm)
    for i in range(archive.layer_count):
        checker.add(archive.layer_band(i))
    return checker.report()
