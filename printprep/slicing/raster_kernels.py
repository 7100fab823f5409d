"""numba kernel of the area-coverage rasterizer (:func:`printprep.slicing.raster.rasterize_runs`).

One compiled pass replaces the numpy version's dozen passes over edge pieces (a layer of
a 1.35M-triangle band: 3.7 ms in numpy). It follows the numpy version operation by
operation (the same crossings, piece midpoints, stable cell order, numpy's pairwise sums
within a cell and the running sum across the band), so its runs are the same bits.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _pairwise(a: np.ndarray, lo: int, n: int) -> float:
    """numpy's pairwise sum of a[lo:lo + n] (as its add.reduce inner loop does it)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= 128:
        r0 = a[lo]
        r1 = a[lo + 1]
        r2 = a[lo + 2]
        r3 = a[lo + 3]
        r4 = a[lo + 4]
        r5 = a[lo + 5]
        r6 = a[lo + 6]
        r7 = a[lo + 7]
        i = 8
        while i < n - (n % 8):
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a, lo, n2) + _pairwise(a, lo + n2, n - n2)


@numba.njit(cache=True, nogil=True)
def _reduce(a: np.ndarray, lo: int, n: int) -> float:
    """np.add.reduce(a[lo:lo + n]) bit for bit: the first element, plus the pairwise sum
    of the rest."""
    return a[lo] + _pairwise(a, lo + 1, n - 1) if n > 1 else a[lo]


@numba.njit(cache=True, nogil=True)
def _stable_order(row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """np.argsort(row * (w + 1) + col, kind="stable") for (n,) int64 rows and columns:
    a counting sort by row, then a stable sort by column within each row (insertion
    sort for the usual few dozen pieces of a row)."""
    n = row.shape[0]
    lo = row.min()
    nrows = row.max() - lo + 1
    start = np.zeros(nrows + 1, np.int64)
    for i in range(n):
        start[row[i] - lo + 1] += 1
    for r in range(nrows):
        start[r + 1] += start[r]
    fill = start[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        r = row[i] - lo
        order[fill[r]] = i
        fill[r] += 1
    for r in range(nrows):
        a, b = start[r], start[r + 1]
        if b - a > 64:
            seg = order[a:b].copy()
            sub = np.argsort(col[seg], kind="mergesort")
            order[a:b] = seg[sub]
            continue
        for i in range(a + 1, b):
            v = order[i]
            c = col[v]
            j = i - 1
            while j >= a and col[order[j]] > c:
                order[j + 1] = order[j]
                j -= 1
            order[j + 1] = v
    return order


@numba.njit(cache=True, nogil=True)
def ring_edges(
    pts_mm: np.ndarray, lengths: np.ndarray, lin: np.ndarray, off: np.ndarray, flip: bool
) -> np.ndarray:
    """Rings in mm -> image edges (m, 4) float64 [x0, y0, x1, y1] px, horizontal ones
    left out (the rasterizer's input).

    pts_mm : (p, 2) float64, the rings one after another; lengths : (r,) int64 points per
    ring (rings under 3 points are skipped); lin : (2, 2), off : (2,): px = lin @ mm + off;
    flip : each ring reversed first (a mirrored display keeps the winding).
    In numpy: ``q = r[::-1] if flip else r``, ``px = q[:, 0:1] * lin[:, 0] + q[:, 1:2] *
    lin[:, 1] + off`` per ring, then raster.edges_of over all rings.
    """
    total = 0
    for k in range(lengths.shape[0]):
        if lengths[k] >= 3:
            total += lengths[k]
    out = np.empty((total, 4), np.float64)
    px = np.empty((pts_mm.shape[0], 2), np.float64)
    start = 0
    for k in range(lengths.shape[0]):
        n = lengths[k]
        for j in range(n):
            q = start + (n - 1 - j if flip else j)
            x, y = pts_mm[q, 0], pts_mm[q, 1]
            px[start + j, 0] = x * lin[0, 0] + y * lin[0, 1] + off[0]
            px[start + j, 1] = x * lin[1, 0] + y * lin[1, 1] + off[1]
        start += n
    m = 0
    start = 0
    for k in range(lengths.shape[0]):
        n = lengths[k]
        if n >= 3:
            for j in range(n):
                a = start + j
                b = start + (j + 1 if j + 1 < n else 0)
                if px[a, 1] != px[b, 1]:
                    out[m, 0] = px[a, 0]
                    out[m, 1] = px[a, 1]
                    out[m, 2] = px[b, 0]
                    out[m, 3] = px[b, 1]
                    m += 1
        start += n
    return out[:m]


@numba.njit(cache=True, nogil=True)
def coverage_runs(edges: np.ndarray, width: int, height: int) -> tuple[int, int, int, int, np.ndarray, np.ndarray]:
    """Exact-area coverage of oriented edges, as runs of grey over the lit box.

    edges : (m, 4) float64 [x0, y0, x1, y1] image px, no horizontal edges; width, height:
    the image size in px. Returns (row0, col0, rows, cols, grey (k,) uint8, lengths (k,)
    int32): the box and its pixels in row-major runs (zero-length runs left out); rows
    == 0 when nothing is covered.

    In numpy (raster.py's former body): cut every edge at each integer x and y it
    crosses (t = (k - x0) / (x1 - x0)), sort the cuts along each edge; each piece with
    dy != 0 goes to the cell of its midpoint (x clamped to [0, width], column to
    [0, width - 1]), rows outside [0, height) dropped; cells in row-major order
    (stable), per cell ``own = add.reduceat(dy * (1 - fx))`` and ``dy = add.reduceat(dy)``;
    the winding after each cell is the running sum of all cells' dy minus its value
    before the row's first cell; a cell's coverage is ``after - dy + own``, the run up to
    the next cell of the row ``after``; grey = uint8(min(|c|, 1) * 255 + 0.5).
    """
    m = edges.shape[0]
    # pieces per edge: one more than the cuts inside it
    total = 0
    for e in range(m):
        x0, y0, x1, y1 = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
        nx = max(math.ceil(max(x0, x1)) - math.floor(min(x0, x1)) - 1, 0)
        ny = max(math.ceil(max(y0, y1)) - math.floor(min(y0, y1)) - 1, 0)
        total += nx + ny + 1
    prow = np.empty(total, np.int64)
    pcol = np.empty(total, np.int64)
    pdy = np.empty(total, np.float64)
    pfx = np.empty(total, np.float64)
    count = 0
    for e in range(m):
        x0, y0, x1, y1 = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
        xa, xb = min(x0, x1), max(x0, x1)
        ya, yb = min(y0, y1), max(y0, y1)
        nx = max(math.ceil(xb) - math.floor(xa) - 1, 0)
        ny = max(math.ceil(yb) - math.floor(ya) - 1, 0)
        fx0 = math.floor(xa)
        fy0 = math.floor(ya)
        # the cuts along x and along y each come in order of t (ascending k when the
        # edge runs toward +x / +y, descending otherwise): merged, no sort needed
        jx, jy = 0, 0
        ta = 0.0
        for _ in range(nx + ny + 1):
            tx = 2.0
            if jx < nx:
                kx = jx if x1 > x0 else nx - 1 - jx
                tx = (fx0 + 1 + kx - x0) / (x1 - x0)
            ty = 2.0
            if jy < ny:
                ky = jy if y1 > y0 else ny - 1 - jy
                ty = (fy0 + 1 + ky - y0) / (y1 - y0)
            if jx >= nx and jy >= ny:
                tb = 1.0
            elif tx <= ty:
                tb = tx
                jx += 1
            else:
                tb = ty
                jy += 1
            t0 = ta
            ta = tb
            dxe, dye = x1 - x0, y1 - y0
            pya = y0 + t0 * dye
            pyb = y0 + tb * dye
            dy = pyb - pya
            if dy == 0.0:
                continue
            pxa = min(max(x0 + t0 * dxe, 0.0), float(width))
            pxb = min(max(x0 + tb * dxe, 0.0), float(width))
            xm = 0.5 * (pxa + pxb)
            ym = 0.5 * (pya + pyb)
            col = min(max(int(math.floor(xm)), 0), width - 1)
            row = int(math.floor(ym))
            if row < 0 or row >= height:
                continue
            prow[count] = row
            pcol[count] = col
            pdy[count] = dy
            pfx[count] = xm - col
            count += 1
    empty_g = np.zeros(0, np.uint8)
    empty_l = np.zeros(0, np.int32)
    if count == 0:
        return 0, 0, 0, 0, empty_g, empty_l
    key = prow[:count] * (width + 1) + pcol[:count]
    order = _stable_order(prow[:count], pcol[:count])
    skey = key[order]
    sdy = pdy[:count][order]
    own = sdy * (1.0 - pfx[:count][order])
    # cells: runs of equal keys
    ncell = 1
    for i in range(1, count):
        if skey[i] != skey[i - 1]:
            ncell += 1
    crow = np.empty(ncell, np.int64)
    ccol = np.empty(ncell, np.int64)
    cown = np.empty(ncell, np.float64)
    cdy = np.empty(ncell, np.float64)
    start = 0
    c = 0
    for i in range(1, count + 1):
        if i == count or skey[i] != skey[start]:
            crow[c] = skey[start] // (width + 1)
            ccol[c] = skey[start] % (width + 1)
            cown[c] = _reduce(own, start, i - start)
            cdy[c] = _reduce(sdy, start, i - start)
            c += 1
            start = i
    r0 = crow[0]
    r1 = crow[ncell - 1] + 1
    c0 = ccol[0]
    c1 = ccol[0] + 1
    for i in range(ncell):
        c0 = min(c0, ccol[i])
        c1 = max(c1, ccol[i] + 1)
    ncols = c1 - c0
    grey = np.empty(2 * ncell + (r1 - r0), np.uint8)
    lengths = np.empty(2 * ncell + (r1 - r0), np.int32)
    k = 0
    run = 0.0
    base = 0.0
    i = 0
    for r in range(r0, r1):
        if i >= ncell or crow[i] != r:
            grey[k] = 0
            lengths[k] = ncols
            k += 1
            continue
        if ccol[i] > c0:
            grey[k] = 0
            lengths[k] = ccol[i] - c0
            k += 1
        first = True
        while i < ncell and crow[i] == r:
            run += cdy[i]
            if first:  # the running sum before the row's first cell, as numpy gets it
                base = run - cdy[i]
                first = False
            after = run - base
            at = after - cdy[i] + cown[i]
            grey[k] = np.uint8(min(abs(at), 1.0) * 255.0 + 0.5)
            lengths[k] = 1
            k += 1
            nxt = ccol[i + 1] if i + 1 < ncell and crow[i + 1] == r else c1
            if nxt - ccol[i] - 1 > 0:
                grey[k] = np.uint8(min(abs(after), 1.0) * 255.0 + 0.5)
                lengths[k] = nxt - ccol[i] - 1
                k += 1
            i += 1
    return r0, c0, r1 - r0, ncols, grey[:k], lengths[:k]


@numba.njit(cache=True, nogil=True)
def lit_bits(grey: np.ndarray, lengths: np.ndarray, rows: int, cols: int, lit: int) -> tuple[int, int, int, int, np.ndarray]:
    """The lit pixels (grey >= ``lit``) of a band given as row-major runs (grey (k,)
    uint8, lengths (k,) int32 over a rows x cols box), cropped to their bounding box and
    bit-packed. Returns (r0, c0, h, w, bits (ceil(h w / 8),) uint8); h == 0 when nothing
    is lit. In numpy: ``m = repeat(grey, lengths).reshape(rows, cols) >= lit``, the box of
    ``m``'s true rows and columns, ``packbits(m[box])``.
    """
    r_lo, r_hi, c_lo, c_hi = rows, -1, cols, -1
    p = 0
    for k in range(grey.shape[0]):
        n = lengths[k]
        if n > 0 and grey[k] >= lit:
            a, b = p, p + n - 1
            ra, rb = a // cols, b // cols
            r_lo = min(r_lo, ra)
            r_hi = max(r_hi, rb)
            if ra != rb:  # a run over a row's end reaches both sides of the box
                c_lo = 0
                c_hi = cols - 1
            else:
                c_lo = min(c_lo, a % cols)
                c_hi = max(c_hi, b % cols)
        p += n
    if r_hi < 0:
        return 0, 0, 0, 0, np.zeros(0, np.uint8)
    h = r_hi - r_lo + 1
    w = c_hi - c_lo + 1
    bits = np.zeros((h * w + 7) // 8, np.uint8)
    p = 0
    for k in range(grey.shape[0]):
        n = lengths[k]
        if n > 0 and grey[k] >= lit:
            for q in range(p, p + n):
                r = q // cols - r_lo
                c = q % cols - c_lo
                if 0 <= c < w:
                    i = r * w + c
                    bits[i >> 3] |= np.uint8(0x80 >> (i & 7))
        p += n
    return r_lo, c_lo, h, w, bits
