"""The rasterizer's exact area coverage and the band PNG encoder."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image
from shapely.geometry import Polygon, box
from shapely.ops import unary_union

from printprep.slicing.png import encode_band, encode_image
from printprep.slicing.raster import DisplayTransform, rasterize


def _coverage(geom, w: int, h: int) -> np.ndarray:
    """Reference: exact covered area of every unit pixel square, by shapely."""
    return np.array(
        [[geom.intersection(box(c, r, c + 1, r + 1)).area for c in range(w)] for r in range(h)]
    )


def _star(
    rng: np.random.Generator, centre: tuple[float, float], radius: float, n: int
) -> np.ndarray:
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = rng.uniform(0.3, 1.0, n) * radius
    return np.column_stack([centre[0] + rad * np.cos(ang), centre[1] + rad * np.sin(ang)])


@pytest.mark.parametrize("seed", range(4))
def test_coverage_is_exact_area_with_holes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    outer = _star(rng, (8.3, 7.1), 6.5, 9)
    hole = _star(rng, (8.3, 7.1), 1.5, 5)
    band = rasterize([outer, hole[::-1]], (17, 15))
    got = band.full((17, 15)) / 255.0
    ref = _coverage(Polygon(outer, [hole]), 17, 15)
    assert np.abs(got - ref).max() <= 0.5 / 255 + 1e-9


def test_nonzero_rule_and_overlaps_saturate() -> None:
    a = np.array([[1.2, 1.3], [7.7, 1.3], [7.7, 6.6], [1.2, 6.6]])
    b = a + [3.1, 2.05]
    got = rasterize([a, b], (14, 12)).full((14, 12)) / 255.0
    pa, pb = Polygon(a), Polygon(b)
    ref = _coverage(unary_union([pa, pb]), 14, 12)
    # as in AGG, the clamp applies to a pixel's integrated winding: only pixels where one
    # region's border runs inside the other are approximate (the slicer's cross-sections
    # are unions, so it never feeds such borders)
    inner = unary_union([pa.exterior.intersection(pb), pb.exterior.intersection(pa)])
    exact = np.array(
        [[not box(c, r, c + 1, r + 1).intersects(inner) for c in range(14)] for r in range(12)]
    )
    assert np.abs(got - ref)[exact].max() <= 0.5 / 255 + 1e-9
    assert (got[exact] == 1.0).sum() > 20 and (got >= ref - 0.5 / 255 - 1e-9).all()
    # orientation does not matter for a lone polygon
    ccw = rasterize([a], (14, 12)).full((14, 12))
    assert np.array_equal(ccw, rasterize([a[::-1]], (14, 12)).full((14, 12)))
    assert np.abs(ccw / 255.0 - _coverage(pa, 14, 12)).max() <= 0.5 / 255 + 1e-9


def test_parts_beyond_the_image_are_clipped_exactly() -> None:
    poly = np.array([[-3.0, -2.5], [6.4, 1.75], [4.2, 12.6], [-1.5, 9.3]])
    got = rasterize([poly], (8, 9)).full((8, 9)) / 255.0
    ref = _coverage(Polygon(poly), 8, 9)
    assert np.abs(got - ref).max() <= 0.5 / 255 + 1e-9


def test_display_transform_round_trips() -> None:
    pts = np.array([[1.0, 2.0], [30.5, 10.25]])
    for portrait in (False, True):
        for mx in (False, True):
            for my in (False, True):
                tr = DisplayTransform((0.014, 0.019), (3000, 1500), portrait, mx, my)
                back = tr.to_machine(tr.to_image(pts))
                assert back == pytest.approx(pts)


def _idat(png: bytes) -> bytes:
    pos, out = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        crc = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])[0]
        assert zlib.crc32(data, zlib.crc32(kind)) == crc
        if kind == b"IDAT":
            out += data
        pos += 12 + length
    return out


@pytest.mark.parametrize(
    ("width", "height", "row0", "col0", "rows", "cols"),
    [
        (64, 48, 10, 5, 20, 30),
        (64, 48, 0, 0, 48, 64),  # the band is the whole image
        (63, 49, 48, 62, 1, 1),  # last pixel
        (3001, 4100, 1500, 100, 7, 2800),  # tall: black runs from doubled cache blocks
        (80, 40, 0, 0, 0, 0),  # empty layer
    ],
)
def test_band_png_decodes_everywhere(
    width: int, height: int, row0: int, col0: int, rows: int, cols: int
) -> None:
    rng = np.random.default_rng(width + height)
    pixels = rng.integers(0, 256, (rows, cols), dtype=np.uint8)
    pixels[:, ::3] = 0
    png = encode_band((width, height), row0, col0, pixels)
    full = np.zeros((height, width), np.uint8)
    full[row0 : row0 + rows, col0 : col0 + cols] = pixels
    pil = Image.open(io.BytesIO(png))
    assert pil.mode == "L" and pil.size == (width, height)
    assert np.array_equal(np.array(pil), full)
    assert np.array_equal(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED), full)
    raw = zlib.decompress(_idat(png))  # verifies the Adler-32 we computed in closed form
    assert len(raw) == height * (width + 1)
    assert np.array_equal(encode_image(full)[:8], png[:8])
    assert np.array_equal(np.array(Image.open(io.BytesIO(encode_image(full)))), full)


def test_narrow_band_rows_with_equal_ends_decode() -> None:
    """Rows whose last and next first bytes are equal and lit: the case a run-length
    match across the spliced black runs would get wrong."""
    width, height = 2000, 300
    rng = np.random.default_rng(7)
    pixels = np.full((60, 90), 200, np.uint8)
    pixels[:, 30:60] = rng.integers(0, 256, (60, 30), dtype=np.uint8)
    for row0, col0 in ((0, 0), (100, 1000), (240, 1910)):
        png = encode_band((width, height), row0, col0, pixels)
        full = np.zeros((height, width), np.uint8)
        full[row0 : row0 + 60, col0 : col0 + 90] = pixels
        assert np.array_equal(
            cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED), full
        )
        assert np.array_equal(np.array(Image.open(io.BytesIO(png))), full)
        zlib.decompress(_idat(png))


def _same_runs(a, b) -> bool:
    return (a.row0, a.col0, a.shape) == (b.row0, b.col0, b.shape) and np.array_equal(
        a.grey, b.grey
    ) and np.array_equal(a.lengths, b.lengths)


@pytest.mark.parametrize("mirror_x", [False, True])
def test_compiled_raster_is_the_numpy_raster_bit_for_bit(meshes, mirror_x: bool) -> None:
    """The numba rasterizer (rings in mm mapped and filled in compiled passes) gives the
    very runs of the numpy one on a real ring's layers (pave holes, a mirrored display),
    on random stars with holes, on polygons off the image and on pixel-aligned squares
    (ties at pixel edges and corners)."""
    import dataclasses

    import trimesh

    from printprep.casting.solids import to_manifold
    from printprep.profiles import load_profile
    from printprep.slicing.meshcheck import RingRaster
    from printprep.slicing.raster import rasterize_runs, rasterize_runs_numpy

    prof = dataclasses.replace(load_profile("phrozen-sonic-4k"), mirror_x=mirror_x)
    tr = DisplayTransform.for_profile(prof)
    solid = to_manifold(trimesh.load(meshes / "jewelry" / "solitaire_ring.stl"))
    lo, hi = np.asarray(solid.bounding_box()).reshape(2, 3)
    raster = RingRaster(tr, np.array([prof.display_mm[0] / 2 + 0.0123, prof.display_mm[1] / 2, -lo[2]]))
    lit = 0
    for z in np.linspace(lo[2] + 0.01, hi[2] - 0.01, 40):
        rings = solid.slice(float(z)).to_polygons()
        got = raster.runs(rings)
        assert _same_runs(got, rasterize_runs_numpy(raster.rings_px(rings), tr.image_px)), z
        lit += int((got.band().pixels >= 128).sum())
    assert lit > 10000
    rng = np.random.default_rng(7)
    shapes = []
    for _ in range(30):
        c = rng.uniform(-5, 60, 2)
        shapes.append([_star(rng, tuple(c), rng.uniform(2, 30), 12), _star(rng, tuple(c), 1.5, 6)[::-1]])
    square = np.array([[3.0, 4.0], [9.0, 4.0], [9.0, 10.0], [3.0, 10.0]])
    shapes += [[square], [square + 0.5], [square, square + [2.0, 2.0]], [np.array([[1.0, 1.0], [5.0, 5.0], [1.0, 9.0]])]]
    for rings in shapes:
        assert _same_runs(rasterize_runs(rings, (50, 40)), rasterize_runs_numpy(rings, (50, 40)))


@pytest.mark.parametrize(
    "width, height, row0, col0, rows, cols",
    [
        (64, 48, 10, 5, 20, 30),
        (64, 48, 0, 0, 48, 64),  # the band is the whole image
        (63, 49, 48, 62, 1, 1),  # last pixel
        (3001, 4100, 1500, 100, 7, 2800),  # tall; runs longer than one 258-byte match
        (2000, 300, 100, 1000, 60, 90),
    ],
)
def test_png_from_runs_decodes_to_the_band(
    width: int, height: int, row0: int, col0: int, rows: int, cols: int
) -> None:
    """encode_runs (deflated straight from the runs by the compiled fixed-Huffman
    writer) gives the image encode_band gives for the dense band: by PIL, OpenCV, zlib
    (which checks our Adler-32) and our own band reader; runs of every length, runs
    crossing rows, lit edges meeting the black margins."""
    from printprep.slicing.png import decode_band, encode_runs

    rng = np.random.default_rng(width + rows)
    pixels = np.repeat(rng.choice([0, 255, 17, 128, 200], size=(rows, max(1, cols // 7) + 1)), 7, axis=1)[:, :cols]
    pixels = pixels.astype(np.uint8)
    pixels[:, ::11] = rng.integers(0, 256, pixels[:, ::11].shape, dtype=np.uint8)
    if rows > 2:
        pixels[1] = 255  # a lit row: runs spanning it whole
    flat = pixels.ravel()
    starts = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1])
    lengths = np.diff(np.append(starts, len(flat))).astype(np.int32)
    png = encode_runs((width, height), row0, col0, (rows, cols), flat[starts], lengths)
    full = np.zeros((height, width), np.uint8)
    full[row0 : row0 + rows, col0 : col0 + cols] = pixels
    assert np.array_equal(np.array(Image.open(io.BytesIO(png))), full)
    assert np.array_equal(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED), full)
    assert len(zlib.decompress(_idat(png))) == height * (width + 1)
    r0, c0, band = decode_band(png)
    assert (r0, c0) == (row0, col0) and np.array_equal(band, pixels)


def test_lit_mask_from_runs_is_the_lit_mask_of_the_band(meshes) -> None:
    """LitMask.from_runs (compiled, no dense band) equals LitMask.of(runs.band()) on a
    real ring's layers, on runs that cross rows, on bands lit only at the threshold and
    on empty ones."""
    import trimesh

    from printprep.casting.solids import to_manifold
    from printprep.profiles import load_profile
    from printprep.slicing.meshcheck import LitMask, RingRaster
    from printprep.slicing.raster import RunBand

    prof = load_profile("phrozen-sonic-4k")
    tr = DisplayTransform.for_profile(prof)
    solid = to_manifold(trimesh.load(meshes / "jewelry" / "solitaire_ring.stl"))
    lo, hi = np.asarray(solid.bounding_box()).reshape(2, 3)
    raster = RingRaster(tr, np.array([prof.display_mm[0] / 2, prof.display_mm[1] / 2, -lo[2]]))
    bands = [raster.runs(solid.slice(float(z)).to_polygons()) for z in np.linspace(lo[2] + 0.01, hi[2] - 0.01, 25)]
    grey = np.array([0, 127, 128, 255, 0, 200, 0], np.uint8)
    for lengths in ([5, 3, 9, 2, 30, 1, 10], [1, 1, 1, 1, 1, 1, 54]):
        bands.append(RunBand(7, 11, (6, 10), grey, np.array(lengths, np.int32)))
    bands.append(RunBand(0, 0, (3, 4), np.array([127], np.uint8), np.array([12], np.int32)))
    lit_px = 0
    for runs in bands:
        want = LitMask.of(runs.band(), runs)
        got = LitMask.from_runs(runs)
        assert got == want
        lit_px += want.shape[0] * want.shape[1]
    assert lit_px > 10000
