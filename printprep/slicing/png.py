"""A PNG encoder for layer images: 8-bit greyscale frames that are mostly black.

A layer image is a small lit band inside a large black frame, so encoding the whole
frame with a general encoder spends nearly all its time on zeros. This encoder writes
the zlib stream in three independent pieces joined at full-flush boundaries:

- the black rows above the band and below it come from a per-width cache of
  pre-compressed blocks of 2^k black rows (filter byte 0 + zeros), so they cost nothing;
- only the band's rows are compressed (filter 0 "None", zlib level 1, Z_RLE strategy:
  the fastest setting that still compresses anti-aliased edges well); when the band is
  narrow, only its own columns go through zlib, row by row, and the equal-length black
  runs between them are one cached piece repeated;
- the Adler-32 checksum of the black rows is computed in closed form (a run of n zero
  bytes leaves A unchanged and adds n x A to B).

Every piece is a byte-aligned run of non-final deflate blocks with no back-references
across pieces, so their concatenation followed by an empty final block is a valid zlib
stream; any PNG reader (Pillow, OpenCV, libpng, PrusaSlicer, UVtools) decodes it.
zlib releases the GIL while compressing, so two threads encode two layers at once.
"""

from __future__ import annotations

import struct
import threading
import zlib

import numpy as np

_ADLER_MOD = 65521
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_LEVEL = 1
_STRATEGY = zlib.Z_RLE
_FINAL_BLOCK = b"\x03\x00"  # an empty final block with fixed Huffman codes
_ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KiB window, "fastest" level hint

#: Private ancillary chunk (readers skip it) recording where the lit band is: row0, rows,
#: col0, cols, and the byte offset and length of its deflate piece in the zlib stream,
#: so our reader inflates only the band, never the black rows.
BAND_CHUNK = b"ppBD"

_cache: dict[int, list[bytes]] = {}
_cache_lock = threading.Lock()


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _deflate_piece(raw: bytes | memoryview) -> bytes:
    """Raw deflate of ``raw``, ending on a full flush (byte aligned, empty window)."""
    c = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, 9, _STRATEGY)
    return c.compress(raw) + c.flush(zlib.Z_FULL_FLUSH)


def _black_blocks(width_px: int) -> list[bytes]:
    """Pre-compressed pieces of 2^k black rows, k = 0..16, for images ``width_px`` wide.

    Pieces up to ~4 MB of raw zeros are compressed directly; larger ones are two copies
    of the next smaller piece (valid, since pieces are independent), so building the
    cache costs a few milliseconds even for 16K frames.
    """
    blocks = _cache.get(width_px)
    if blocks is None:
        with _cache_lock:
            blocks = _cache.get(width_px)
            if blocks is None:
                row = width_px + 1
                blocks = []
                for k in range(17):
                    if (row << k) <= 1 << 22 or not blocks:
                        blocks.append(_deflate_piece(bytes(row << k)))
                    else:
                        blocks.append(blocks[-1] * 2)
                _cache[width_px] = blocks
    return blocks


def _black_rows(width_px: int, n_rows: int) -> bytes:
    if n_rows <= 0:
        return b""
    if n_rows >= 1 << 17:
        raise ValueError(f"image taller than {1 << 17} rows")
    blocks = _black_blocks(width_px)
    return b"".join(blocks[k] for k in range(17) if n_rows >> k & 1)


def _adler_zeros(adler: int, n_bytes: int) -> int:
    a, b = adler & 0xFFFF, adler >> 16
    b = (b + n_bytes % _ADLER_MOD * a) % _ADLER_MOD
    return (b << 16) | a


def _narrow_band(pixels: np.ndarray, width: int, col0: int, adler: int) -> tuple[bytes, int]:
    """Deflate the band rows of a band much narrower than the image.

    Only the band's own bytes go through the compressor (one full-flushed piece per row);
    the black run between one row's band and the next (the rest of the row, the next
    filter byte, the next row's left margin) is the same length for every row, so it is
    compressed once and its bytes repeated. Returns the piece and the updated Adler-32.
    """
    rows, cols = pixels.shape
    lead = 1 + col0  # filter byte + left margin of the first row
    # Each band row goes in with one black byte after it (the first of the gap). Z_RLE
    # only ever refers back one byte, so after a sync flush the compressor's "previous
    # byte" is that black byte, as it is in the real stream once the rest of the black
    # run is spliced in: the pieces stay valid without the costly full flush.
    gap = width - cols  # rest of the gap: right margin, next filter byte, next left margin
    tail = width - col0 - cols - 1
    gap_piece = _deflate_piece(bytes(gap))
    c = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, 9, _STRATEGY)
    out = [_deflate_piece(bytes(lead))]
    adler = _adler_zeros(adler, lead)
    band = np.zeros((rows, cols + 1), np.uint8)
    band[:, :cols] = pixels
    for r in range(rows):
        row = band[r].data
        out.append(c.compress(row) + c.flush(zlib.Z_SYNC_FLUSH))
        adler = zlib.adler32(row, adler)
        if r + 1 < rows:
            out.append(gap_piece)
            adler = _adler_zeros(adler, gap)
    if tail > 0:
        out.append(_deflate_piece(bytes(tail)))
        adler = _adler_zeros(adler, tail)
    return b"".join(out), adler


def encode_band(image_px: tuple[int, int], row0: int, col0: int, pixels: np.ndarray) -> bytes:
    """Encode a (height, width) greyscale image that is zero outside one band.

    image_px : (width, height) px of the full image.
    row0, col0 : where ``pixels`` sits in the image.
    pixels : (rows, cols) uint8, the lit band (may be empty: (0, 0)).
    Returns the PNG file's bytes.
    """
    width, height = image_px
    rows, cols = pixels.shape
    if rows == 0:
        row0 = 0
    if row0 < 0 or col0 < 0 or row0 + rows > height or col0 + cols > width:
        raise ValueError("band outside the image")
    stride = width + 1
    adler = 1
    parts = [_ZLIB_HEADER, _black_rows(width, row0)]
    adler = _adler_zeros(adler, row0 * stride)
    band_at = len(parts[0]) + len(parts[1])
    band_len = 0
    if rows and cols * 2 < width and col0 + cols < width:
        piece, adler = _narrow_band(pixels, width, col0, adler)
        band_len = len(piece)
        parts.append(piece)
    elif rows:
        raw = np.zeros((rows, stride), np.uint8)
        raw[:, 1 + col0 : 1 + col0 + cols] = pixels
        data = raw.data
        piece = _deflate_piece(data)
        band_len = len(piece)
        parts.append(piece)
        adler = zlib.adler32(data, adler)
    return _finish(parts, adler, (width, height), (row0, rows, col0, cols), band_at, band_len)


def encode_runs(image_px: tuple[int, int], row0: int, col0: int, shape: tuple[int, int], grey: np.ndarray, lengths: np.ndarray) -> bytes:
    """Encode a layer given as a band's row-major grey runs (a RasterBand's ``row0``,
    ``col0``, ``shape``, ``grey`` (k,) uint8, ``lengths`` (k,) int32): the same image as
    :func:`encode_band` of the dense band, its lit rows deflated straight from the runs
    by one compiled pass (:func:`~printprep.slicing.png_kernels.deflate_runs`)."""
    from printprep.slicing import png_kernels as pk  # numba: only when used

    width, height = image_px
    rows, cols = shape
    if rows == 0:
        return encode_band(image_px, 0, 0, np.zeros((0, 0), np.uint8))
    if row0 < 0 or col0 < 0 or row0 + rows > height or col0 + cols > width:
        raise ValueError("band outside the image")
    stride = width + 1
    parts = [_ZLIB_HEADER, _black_rows(width, row0)]
    adler = _adler_zeros(1, row0 * stride)
    band_at = len(parts[0]) + len(parts[1])
    piece, adler = pk.deflate_runs(
        grey, lengths, rows, cols, col0, width, adler, pk.LENGTH_BASE, pk.LENGTH_EXTRA
    )
    parts.append(piece.tobytes())
    return _finish(parts, adler, (width, height), (row0, rows, col0, cols), band_at, len(piece))


def _finish(
    parts: list[bytes], adler: int, image_px: tuple[int, int], band_box: tuple[int, int, int, int],
    band_at: int, band_len: int,
) -> bytes:
    """The PNG file's bytes: ``parts`` (zlib header, black rows above, the band's deflate
    pieces) closed with the black rows below the band, the final block and the Adler-32
    (``adler`` so far), in IHDR / band note / IDAT / IEND chunks. band_box: (row0, rows,
    col0, cols) px; band_at, band_len: where the band's deflate bytes sit in the IDAT."""
    width, height = image_px
    row0, rows, col0, cols = band_box
    below = height - row0 - rows
    parts.append(_black_rows(width, below))
    adler = _adler_zeros(adler, below * (width + 1))
    parts.append(_FINAL_BLOCK)
    parts.append(struct.pack(">I", adler))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    band = struct.pack(">IIIIII", row0, rows, col0, cols, band_at, band_len)
    return b"".join(
        [
            _SIGNATURE,
            _chunk(b"IHDR", ihdr),
            _chunk(BAND_CHUNK, band),
            _chunk(b"IDAT", b"".join(parts)),
            _chunk(b"IEND", b""),
        ]
    )


def encode_image(pixels: np.ndarray) -> bytes:
    """Encode a whole (height, width) uint8 greyscale image (only its lit rows cost work)."""
    h, w = pixels.shape
    lit = np.flatnonzero(pixels.any(axis=1))
    if len(lit) == 0:
        return encode_band((w, h), 0, 0, np.zeros((0, 0), np.uint8))
    r0, r1 = int(lit[0]), int(lit[-1]) + 1
    return encode_band((w, h), r0, 0, pixels[r0:r1])


def _chunks(png: bytes) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    pos = 8
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        out.setdefault(kind, []).append(png[pos + 8 : pos + 8 + length])
        if kind == b"IEND":
            break
        pos += 12 + length
    return out


def decode_band(png: bytes) -> tuple[int, int, np.ndarray] | None:
    """Read only the lit band of a PNG this module wrote: (row0, col0, (rows, cols) uint8).

    None for any PNG without our band chunk (the caller decodes the whole image).
    """
    if png[:8] != _SIGNATURE:
        return None
    chunks = _chunks(png)
    if BAND_CHUNK not in chunks or b"IHDR" not in chunks:
        return None
    width = struct.unpack(">I", chunks[b"IHDR"][0][:4])[0]
    row0, rows, col0, cols, at, length = struct.unpack(">IIIIII", chunks[BAND_CHUNK][0])
    if rows == 0:
        return 0, 0, np.zeros((0, 0), np.uint8)
    stream = b"".join(chunks.get(b"IDAT", []))
    try:
        raw = zlib.decompressobj(-15).decompress(stream[at : at + length])
    except zlib.error:
        return None
    if len(raw) != rows * (width + 1):
        return None
    grid = np.frombuffer(raw, np.uint8).reshape(rows, width + 1)
    return row0, col0, grid[:, 1 + col0 : 1 + col0 + cols]


def decode_gray(png: bytes) -> np.ndarray | None:
    """Fast path for reading our own layer PNGs: 8-bit greyscale, not interlaced, every
    row with filter 0. Returns the (height, width) uint8 image, or None for any other PNG
    (the caller then uses a general decoder)."""
    if png[:8] != _SIGNATURE:
        return None
    pos, idat = 8, []
    width = height = 0
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data)
            if depth != 8 or colour != 0 or interlace != 0:
                return None
        elif kind == b"IDAT":
            idat.append(data)
        elif kind == b"IEND":
            break
        pos += 12 + length
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error:
        return None
    if not width or len(raw) != height * (width + 1):
        return None
    rows = np.frombuffer(raw, np.uint8).reshape(height, width + 1)
    if rows[:, 0].any():
        return None
    return rows[:, 1:]
