"""numba kernel deflating a layer's lit rows straight from its grey runs
(:func:`printprep.slicing.png.encode_runs`).

A layer is runs of black, of full white and single anti-aliased edge pixels: each run
is one literal and distance-1 matches, written as one fixed-Huffman deflate block (RFC
1951 §3.2.6) and closed like zlib's sync flush (an empty stored block), so the piece
joins the cached black-row pieces byte-aligned. No general compressor, no dense image:
~0.1 ms a layer where zlib over the rows took ~3 ms.
"""

from __future__ import annotations

import numba
import numpy as np

_MOD = 65521

#: deflate length symbols 257..285: base lengths and extra bits (RFC 1951 §3.2.5)
LENGTH_BASE = np.array(
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
     131, 163, 195, 227, 258], np.int64)
LENGTH_EXTRA = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0], np.int64)


@numba.njit(cache=True, nogil=True)
def _put(out: np.ndarray, state: np.ndarray, value: int, nbits: int) -> None:
    """Append ``nbits`` bits of ``value``, least significant first (state: [byte
    position, bit buffer, bits in buffer])."""
    buf = state[1] | (value << state[2])
    n = state[2] + nbits
    pos = state[0]
    while n >= 8:
        out[pos] = buf & 0xFF
        pos += 1
        buf >>= 8
        n -= 8
    state[0] = pos
    state[1] = buf
    state[2] = n


@numba.njit(cache=True, nogil=True)
def _code(out: np.ndarray, state: np.ndarray, code: int, nbits: int) -> None:
    """Append a Huffman code (written most significant bit first)."""
    rev = 0
    for i in range(nbits):
        rev = (rev << 1) | ((code >> i) & 1)
    _put(out, state, rev, nbits)


@numba.njit(cache=True, nogil=True)
def _literal(out: np.ndarray, state: np.ndarray, sym: int) -> None:
    """A fixed-Huffman literal/length symbol 0..287."""
    if sym < 144:
        _code(out, state, 0x30 + sym, 8)
    elif sym < 256:
        _code(out, state, 0x190 + sym - 144, 9)
    elif sym < 280:
        _code(out, state, sym - 256, 7)
    else:
        _code(out, state, 0xC0 + sym - 280, 8)


@numba.njit(cache=True, nogil=True)
def _match(out: np.ndarray, state: np.ndarray, length: int, base: np.ndarray, extra: np.ndarray) -> None:
    """A match of ``length`` (3..258) bytes at distance 1."""
    k = 28
    while base[k] > length:
        k -= 1
    _literal(out, state, 257 + k)
    if extra[k]:
        _put(out, state, length - base[k], extra[k])
    _code(out, state, 0, 5)  # distance code 0: distance 1


@numba.njit(cache=True, nogil=True)
def _run(out: np.ndarray, state: np.ndarray, value: int, length: int, base: np.ndarray, extra: np.ndarray) -> None:
    """``length`` copies of byte ``value``: a literal, then distance-1 matches."""
    _literal(out, state, value)
    rest = length - 1
    while rest > 0:
        if rest >= 3:
            m = min(rest, 258)
            if rest - m in (1, 2) and m > 3:
                m -= 3  # leave a whole match, not one or two lone literals
            _match(out, state, m, base, extra)
            rest -= m
        else:
            _literal(out, state, value)
            rest -= 1


@numba.njit(cache=True, nogil=True)
def _emit(
    out: np.ndarray, state: np.ndarray, value: int, length: int, a: int, b: int, base: np.ndarray, extra: np.ndarray,
) -> tuple[int, int]:
    """Write a run of ``length`` bytes of ``value`` (:func:`_run`) and continue the
    Adler-32 sums (a, b) over it in closed form: the same as ``length`` single-byte
    updates ``a += value; b += a`` (mod 65521)."""
    b = (b + length * a + value * (length * (length + 1) // 2)) % _MOD
    a = (a + value * length) % _MOD
    _run(out, state, value, length, base, extra)
    return a, b


@numba.njit(cache=True, nogil=True)
def deflate_runs(
    grey: np.ndarray, lengths: np.ndarray, rows: int, cols: int, col0: int, width: int,
    adler: int, base: np.ndarray, extra: np.ndarray,
) -> tuple[np.ndarray, int]:
    """Deflate the PNG rows of a band: each of ``rows`` rows is a filter byte 0 and
    ``width`` pixels, zero except columns col0..col0 + cols, which hold the band's
    row-major runs (grey (k,) uint8, lengths (k,) int32). Returns (the piece: one
    non-final fixed-Huffman block and an empty stored block, byte-aligned, (b,) uint8;
    the Adler-32 continued from ``adler`` over those rows' bytes).

    In numpy terms: ``raw = zeros((rows, width + 1)); raw[:, 1 + col0:1 + col0 + cols] =
    repeat(grey, lengths).reshape(rows, cols)``; the piece inflates (raw deflate) to
    ``raw.tobytes()`` and the checksum is ``zlib.adler32(raw, adler)``.
    """
    total = rows * (width + 1)
    out = np.empty(total * 9 // 8 + 64, np.uint8)
    state = np.zeros(3, np.int64)
    _put(out, state, 0b010, 3)  # BFINAL 0, BTYPE 01 (fixed Huffman)
    a = adler & 0xFFFF
    b = (adler >> 16) & 0xFFFF
    run_v = 0  # the run being gathered: value and length (filter byte first)
    run_n = 1 + col0
    k = 0
    left = lengths[0] if lengths.shape[0] else 0
    for r in range(rows):
        if r > 0:
            gap = (width - col0 - cols) + 1 + col0  # right margin, filter byte, left margin
            if run_v == 0:
                run_n += gap
            else:
                a, b = _emit(out, state, run_v, run_n, a, b, base, extra)
                run_v, run_n = 0, gap
        c = 0
        while c < cols:
            while left == 0:
                k += 1
                left = lengths[k]
            take = min(left, cols - c)
            v = np.int64(grey[k])
            if v == run_v:
                run_n += take
            else:
                if run_n:
                    a, b = _emit(out, state, run_v, run_n, a, b, base, extra)
                run_v, run_n = v, take
            left -= take
            c += take
    tail = width - col0 - cols
    if run_v == 0:
        run_n += tail
    else:
        a, b = _emit(out, state, run_v, run_n, a, b, base, extra)
        run_v, run_n = 0, tail
    if run_n:
        a, b = _emit(out, state, run_v, run_n, a, b, base, extra)
    _code(out, state, 0, 7)  # end of block
    _put(out, state, 0, 3)  # an empty stored block: BFINAL 0, BTYPE 00 ...
    if state[2]:
        _put(out, state, 0, 8 - state[2])  # ... byte-aligned
    pos = state[0]
    out[pos] = 0
    out[pos + 1] = 0
    out[pos + 2] = 0xFF
    out[pos + 3] = 0xFF
    return out[: pos + 4].copy(), int((b << 16) | a)
