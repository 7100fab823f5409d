"""The lit pixels of a layer: rings (mm) -> anti-aliased grey runs (:class:`RingRaster`)
-> the bit-packed lit mask the layer checks read (:class:`LitMask`). The layer checks of
a mesh (:mod:`printprep.slicing.meshcheck`) and an archive cut from a solid both
rasterize this way, so they see the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from printprep.slicing.checks import LIT
from printprep.slicing.raster import Band, DisplayTransform, RunBand, rasterize_edges

__all__ = ["LitMask", "RingRaster"]


@dataclass(frozen=True)
class LitMask:
    """The lit pixels (grey >= 128) of one layer, cropped to their box and bit-packed:
    all the layer checks look at (about 1/8 of a byte per pixel of the box).

    row0, col0 : image position of the box; shape : (rows, cols), (0, 0) when empty;
    bits : np.packbits of the (rows, cols) bool mask.
    runs : the anti-aliased raster these lit pixels come from (grey runs, a few kB),
        when known: an archive encodes it instead of cutting and rasterizing the layer
        again. Not part of equality (the checks see only the lit pixels).
    """

    row0: int
    col0: int
    shape: tuple[int, int]
    bits: bytes
    runs: RunBand | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, band: Band, runs: RunBand | None = None) -> LitMask:
        lit = band.pixels >= LIT
        rows = np.flatnonzero(lit.any(axis=1))
        if len(rows) == 0:
            return cls(0, 0, (0, 0), b"", runs)
        cols = np.flatnonzero(lit.any(axis=0))
        crop = lit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        return cls(band.row0 + int(rows[0]), band.col0 + int(cols[0]), crop.shape, np.packbits(crop).tobytes(), runs)

    @classmethod
    def from_runs(cls, runs: RunBand) -> LitMask:
        """:meth:`of` ``runs.band()``, straight from the runs in one compiled pass (no
        dense band)."""
        from printprep.slicing.raster_kernels import lit_bits

        rows, cols = runs.shape
        if rows == 0:
            return cls(0, 0, (0, 0), b"", runs)
        r0, c0, h, w, bits = lit_bits(runs.grey, runs.lengths, rows, cols, LIT)
        if h == 0:
            return cls(0, 0, (0, 0), b"", runs)
        return cls(runs.row0 + int(r0), runs.col0 + int(c0), (int(h), int(w)), bits.tobytes(), runs)

    def mask(self) -> tuple[int, int, np.ndarray]:
        """(row0, col0, (rows, cols) bool): the lit pixels, cropped to their box (what
        :meth:`LayerChecker.add_mask` takes)."""
        h, w = self.shape
        if h == 0:
            return 0, 0, np.zeros((0, 0), bool)
        lit = np.unpackbits(np.frombuffer(self.bits, np.uint8), count=h * w).reshape(h, w)
        return self.row0, self.col0, lit.view(bool)

    def band(self) -> Band:
        """A Band whose lit pixels are exactly these (grey 255, else 0)."""
        h, w = self.shape
        if h == 0:
            return Band(0, 0, np.zeros((0, 0), np.uint8))
        lit = np.unpackbits(np.frombuffer(self.bits, np.uint8), count=h * w).reshape(h, w)
        return Band(self.row0, self.col0, lit * np.uint8(255))


class RingRaster:
    """Rings cut in the parts' own frame (mm), placed by ``shift`` (3,) mm on the display
    of ``tr`` -> their anti-aliased raster. The layer checks and an archive of a solid
    (:func:`~printprep.slicing.slice_to_archive` with ``solids``) both rasterize this way,
    so their pixels are the same."""

    def __init__(self, tr: DisplayTransform, shift: np.ndarray) -> None:
        origin = tr.to_image(np.zeros((1, 2)))[0]
        self.lin = np.column_stack(
            [tr.to_image(np.array([[1.0, 0.0]]))[0] - origin, tr.to_image(np.array([[0.0, 1.0]]))[0] - origin]
        )
        self.off = self.lin @ shift[:2] + origin
        self.flip = np.linalg.det(self.lin) < 0  # a mirrored display: keep the rings' winding as the slicer's
        self.tr = tr

    def runs(self, rings_mm: list[np.ndarray]) -> RunBand:
        """rings_mm : list of (m, 2) float64 mm, closed implicitly -> RunBand (mapped and
        rasterized in compiled passes: :mod:`printprep.slicing.raster_kernels`)."""
        from printprep.slicing.raster_kernels import ring_edges

        if not rings_mm:
            return rasterize_edges(np.zeros((0, 4)), self.tr.image_px)
        pts = np.concatenate(rings_mm).astype(np.float64, copy=False)
        lengths = np.array([len(r) for r in rings_mm], np.int64)
        edges = ring_edges(pts, lengths, self.lin, self.off, bool(self.flip))
        return rasterize_edges(edges, self.tr.image_px)

    def rings_px(self, rings_mm: list[np.ndarray]) -> list[np.ndarray]:
        """The rings in image px as :meth:`runs` maps them (numpy; for reference)."""
        lin, off = self.lin, self.off
        out = []
        for r in rings_mm:
            q = r[::-1] if self.flip else r
            out.append(np.column_stack([q[:, 0] * lin[0, 0] + q[:, 1] * lin[0, 1] + off[0],
                                        q[:, 0] * lin[1, 0] + q[:, 1] * lin[1, 1] + off[1]]))
        return out
