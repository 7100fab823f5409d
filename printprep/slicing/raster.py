"""Polygons -> anti-aliased layer images by exact area coverage.

The convention is PrusaSlicer's (AGG with gamma 1): pixel (col, row) is the unit square
[col, col+1) x [row, row+1) in image coordinates, the fill rule is non-zero, and a pixel's
grey value is 255 x the fraction of that square the polygons cover.

The method is the signed-area accumulation used by font rasterizers: every polygon edge
is cut where it crosses a pixel column or row boundary; each piece, lying inside one
cell, adds its exact trapezoid area to that cell and the rest of its height ``dy`` to the
cell on its right; a running sum along each row then gives every pixel's winding-weighted
coverage. Everything is vectorized over edge pieces; work and memory scale with the
perimeter and the lit bounding box, not with the display size.

:class:`DisplayTransform` maps machine millimetres to image pixels exactly as PrusaSlicer
writes images for the same prusaslicer.ini (orientation and mirroring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from printprep.profiles import ResinPrinterProfile


@dataclass(frozen=True)
class DisplayTransform:
    """Machine XY (mm, y up, origin at the display's corner) -> image (col, row) in px.

    With u = x / pitch_x and v = y / pitch_y (display pixels in the landscape reading):
    landscape: col = u (Px - u with mirror_x), row = Py - v (v with mirror_y);
    portrait:  col = Py - v (v with mirror_x), row = Px - u (u with mirror_y).
    These are the mappings PrusaSlicer 2.5 applies (verified against its output).
    """

    pitch_mm: tuple[float, float]
    display_px: tuple[int, int]
    portrait: bool
    mirror_x: bool
    mirror_y: bool

    @classmethod
    def for_profile(cls, profile: ResinPrinterProfile) -> DisplayTransform:
        return cls(
            pitch_mm=profile.pitch_mm,
            display_px=profile.display_px,
            portrait=profile.orientation == "portrait",
            mirror_x=profile.mirror_x,
            mirror_y=profile.mirror_y,
        )

    @property
    def image_px(self) -> tuple[int, int]:
        """Image (width, height) in px."""
        px, py = self.display_px
        return (py, px) if self.portrait else (px, py)

    @property
    def image_pitch_mm(self) -> tuple[float, float]:
        """Size in mm of one image pixel along (columns, rows)."""
        px, py = self.pitch_mm
        return (py, px) if self.portrait else (px, py)

    def to_image(self, xy_mm: np.ndarray) -> np.ndarray:
        """Map points (n, 2) float64 mm -> (n, 2) float64 image (col, row) px."""
        px, py = self.display_px
        u = xy_mm[:, 0] / self.pitch_mm[0]
        v = xy_mm[:, 1] / self.pitch_mm[1]
        if self.portrait:
            col = v if self.mirror_x else py - v
            row = u if self.mirror_y else px - u
        else:
            col = px - u if self.mirror_x else u
            row = v if self.mirror_y else py - v
        return np.column_stack([col, row])

    def to_machine(self, colrow_px: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_image`: (n, 2) image px -> (n, 2) machine mm."""
        px, py = self.display_px
        col, row = colrow_px[:, 0], colrow_px[:, 1]
        if self.portrait:
            v = col if self.mirror_x else py - col
            u = row if self.mirror_y else px - row
        else:
            u = px - col if self.mirror_x else col
            v = row if self.mirror_y else py - row
        return np.column_stack([u * self.pitch_mm[0], v * self.pitch_mm[1]])


@dataclass(frozen=True)
class Band:
    """The lit part of one layer image.

    pixels : (rows, cols) uint8 grey coverage for image rows row0..row0+rows and columns
    col0..col0+cols; everything outside the band is 0. An empty layer has rows == 0.
    """

    row0: int
    col0: int
    pixels: np.ndarray

    @property
    def empty(self) -> bool:
        return self.pixels.shape[0] == 0 or not self.pixels.any()

    def full(self, image_px: tuple[int, int]) -> np.ndarray:
        """The whole (height, width) uint8 image."""
        w, h = image_px
        out = np.zeros((h, w), np.uint8)
        r, c = self.pixels.shape
        out[self.row0 : self.row0 + r, self.col0 : self.col0 + c] = self.pixels
        return out


def edges_of(rings: list[np.ndarray]) -> np.ndarray:
    """Closed rings -> edges (m, 4) float64 [x0, y0, x1, y1], horizontal edges dropped.

    rings : list of (k, 2) float64 point arrays, each implicitly closed.
    """
    rings = [r for r in rings if len(r) >= 3]
    if not rings:
        return np.zeros((0, 4))
    pts = np.concatenate(rings)
    lengths = np.array([len(r) for r in rings])
    starts = np.cumsum(lengths) - lengths
    nxt = np.arange(1, len(pts) + 1)
    nxt[starts + lengths - 1] = starts
    e = np.column_stack([pts, pts[nxt]])
    return e[e[:, 1] != e[:, 3]]


def _pieces(edges: np.ndarray, width_px: int) -> tuple[np.ndarray, ...]:
    """Cut edges at every integer column/row crossing.

    Returns (row, col, dy, fx) for each piece: the cell it lies in, its signed height
    and its mean x offset inside the cell (0..1). Pieces left or right of the image are
    folded onto its border (x clamped after cutting at x = 0 and x = width), which keeps
    the coverage of every pixel inside the image exact.
    """
    x0, y0, x1, y1 = edges.T
    # integers strictly inside (min, max) along each axis
    xa, xb = np.minimum(x0, x1), np.maximum(x0, x1)
    ya, yb = np.minimum(y0, y1), np.maximum(y0, y1)
    nx = np.maximum(np.ceil(xb) - np.floor(xa) - 1, 0).astype(np.int64)
    ny = np.maximum(np.ceil(yb) - np.floor(ya) - 1, 0).astype(np.int64)
    m = len(edges)
    ids = np.arange(m)

    def crossings(n: np.ndarray, lo: np.ndarray, a0: np.ndarray, a1: np.ndarray):
        total = int(n.sum())
        eid = np.repeat(ids, n)
        first = np.cumsum(n) - n
        k = np.arange(total) - np.repeat(first, n) + np.floor(lo[eid]) + 1
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (k - a0[eid]) / (a1[eid] - a0[eid])
        return eid, t

    ex, tx = crossings(nx, xa, x0, x1)
    ey, ty = crossings(ny, ya, y0, y1)
    eid = np.concatenate([ids, ids, ex, ey])
    t = np.concatenate([np.zeros(m), np.ones(m), tx, ty])
    order = np.argsort(eid * 2.0 + t)  # t in [0, 1]: sorts by edge, then along it
    eid, t = eid[order], t[order]
    same = eid[1:] == eid[:-1]
    e = eid[:-1][same]
    ta, tb = t[:-1][same], t[1:][same]
    dxe, dye = (x1 - x0)[e], (y1 - y0)[e]
    pxa, pya = x0[e] + ta * dxe, y0[e] + ta * dye
    pxb, pyb = x0[e] + tb * dxe, y0[e] + tb * dye
    dy = pyb - pya
    keep = dy != 0
    pxa = np.clip(pxa, 0.0, width_px)
    pxb = np.clip(pxb, 0.0, width_px)
    xm = 0.5 * (pxa + pxb)[keep]
    ym = 0.5 * (pya + pyb)[keep]
    col = np.floor(xm).astype(np.int64)
    np.clip(col, 0, width_px - 1, out=col)
    row = np.floor(ym).astype(np.int64)
    return row, col, dy[keep], xm - col


@dataclass(frozen=True)
class RunBand:
    """A layer image as runs of equal grey, row-major over the band's box: what
    :func:`rasterize_runs` makes on the way to a :class:`Band`, kept by the layer checks
    (a few kB a layer) so an archive can be written from the very pixels they checked.

    row0, col0 : image position of the box; shape : (rows, cols), (0, 0) when empty;
    grey : (k,) uint8 values; lengths : (k,) int32 run lengths summing to rows x cols.
    """

    row0: int
    col0: int
    shape: tuple[int, int]
    grey: np.ndarray
    lengths: np.ndarray

    def band(self) -> Band:
        """The dense Band: ``np.repeat(grey, lengths)`` in the box."""
        rows, cols = self.shape
        if rows == 0:
            return Band(0, 0, np.zeros((0, 0), np.uint8))
        return Band(self.row0, self.col0, np.repeat(self.grey, self.lengths).reshape(rows, cols))

    @property
    def grey_sum(self) -> float:
        """Sum of the grey values of all pixels (255 per fully lit pixel)."""
        return float(np.dot(self.grey.astype(np.float64), self.lengths))


_EMPTY_RUNS = RunBand(0, 0, (0, 0), np.zeros(0, np.uint8), np.zeros(0, np.int32))


def rasterize(rings_px: list[np.ndarray], image_px: tuple[int, int]) -> Band:
    """Area-coverage rasterization of polygons given in image pixel coordinates
    (:func:`rasterize_runs` as a dense :class:`Band`)."""
    return rasterize_runs(rings_px, image_px).band()


def rasterize_runs(rings_px: list[np.ndarray], image_px: tuple[int, int]) -> RunBand:
    """Area-coverage rasterization of polygons given in image pixel coordinates (the
    compiled pass :func:`~printprep.slicing.raster_kernels.coverage_runs`; the same bits
    as :func:`rasterize_runs_numpy`, which documents the method)."""
    return rasterize_edges(edges_of(rings_px), image_px)


def rasterize_edges(edges: np.ndarray, image_px: tuple[int, int]) -> RunBand:
    """:func:`rasterize_runs` of edges (m, 4) float64 [x0, y0, x1, y1] px (non-horizontal,
    as :func:`edges_of` makes them)."""
    from printprep.slicing.raster_kernels import coverage_runs  # numba: only when used

    width, height = image_px
    if len(edges) == 0:
        return _EMPTY_RUNS
    if np.abs(edges[:, [0, 2]]).max() > 4 * width + 16:
        raise ValueError("polygon coordinates far outside the image")
    r0, c0, rows, cols, grey, lengths = coverage_runs(np.ascontiguousarray(edges), int(width), int(height))
    if rows == 0:
        return _EMPTY_RUNS
    return RunBand(int(r0), int(c0), (int(rows), int(cols)), grey, lengths)


def rasterize_runs_numpy(rings_px: list[np.ndarray], image_px: tuple[int, int]) -> RunBand:
    """Area-coverage rasterization of polygons given in image pixel coordinates.

    rings_px : list of (k, 2) float64 (col, row) px, closed implicitly, any orientation
               (non-zero rule; overlapping regions saturate at full coverage).
    image_px : (width, height) of the image.

    As in AGG, the saturation applies to each pixel's integrated winding, so a pixel where
    one region's border runs inside another region is approximate. The slicer never feeds
    such borders: manifold3d's cross-sections are unions.

    Only the cells that edges touch get computed values; every run of untouched cells
    between two touched cells of a row has the constant coverage left by the winding sum
    of the cells before it, so the band is assembled by one ``np.repeat`` of
    (value, run length) pairs: the cost follows the perimeter, not the area. Those
    pairs are the result (a :class:`RunBand`).
    """
    width, height = image_px
    empty = _EMPTY_RUNS
    edges = edges_of(rings_px)
    if len(edges) == 0:
        return empty
    if np.abs(edges[:, [0, 2]]).max() > 4 * width + 16:
        raise ValueError("polygon coordinates far outside the image")
    row, col, dy, fx = _pieces(edges, width)
    inside = (row >= 0) & (row < height)
    if not inside.all():
        row, col, dy, fx = row[inside], col[inside], dy[inside], fx[inside]
    if len(row) == 0:
        return empty
    # group pieces by cell, cells in row-major order
    key = row * (width + 1) + col
    order = np.argsort(key, kind="stable")
    key, dy = key[order], dy[order]
    own = dy * (1.0 - fx[order])  # area inside the piece's own cell
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    cell = key[starts]
    crow, ccol = cell // (width + 1), cell % (width + 1)
    cell_own = np.add.reduceat(own, starts)
    cell_dy = np.add.reduceat(dy, starts)
    # winding after each cell: running sum of dy within its row
    run = np.cumsum(cell_dy)
    row_first = np.ones(len(cell), bool)
    row_first[1:] = crow[1:] != crow[:-1]
    base = (run - cell_dy)[row_first]  # running sum before each row's first cell
    after = run - np.repeat(base, np.diff(np.append(np.flatnonzero(row_first), len(cell))))
    at = after - cell_dy + cell_own
    r0, r1 = int(crow[0]), int(crow[-1]) + 1
    c0, c1 = int(ccol.min()), int(ccol.max()) + 1
    ncols = c1 - c0
    # segments in row-major order: [gap before the row's first cell], then per cell:
    # [the cell itself], [the run up to the next cell of the row or the band's end]
    nxt = np.empty(len(cell), np.int64)
    nxt[:-1] = ccol[1:]
    row_last = np.append(row_first[1:], True)
    nxt[row_last] = c1
    lit_rows = crow[row_first]
    gap_len = np.full(r1 - r0, ncols, np.int64)  # rows with no cell are one empty run
    gap_len[lit_rows - r0] = ccol[row_first] - c0
    n = len(cell)
    values = np.empty(2 * n, np.float64)
    lengths = np.empty(2 * n, np.int64)
    values[0::2], lengths[0::2] = at, 1
    values[1::2], lengths[1::2] = after, nxt - ccol - 1
    # interleave the per-row gaps in front of each row's first cell
    seg_row = np.repeat(crow, 2)
    gap_pos = np.searchsorted(seg_row, np.arange(r0, r1))
    values = np.insert(values, gap_pos, 0.0)
    lengths = np.insert(lengths, gap_pos, gap_len)
    np.abs(values, out=values)
    np.minimum(values, 1.0, out=values)
    grey = (values * 255.0 + 0.5).astype(np.uint8)
    used = lengths > 0
    return RunBand(r0, c0, (r1 - r0, ncols), grey[used], lengths[used].astype(np.int32))
