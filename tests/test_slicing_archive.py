"""Archives: PNG zip, the reader's checks, several parts, estimates, streaming, errors."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from printprep.errors import SliceError
from printprep.profiles import ResinPrinterProfile, load_material, load_profile
from printprep.slicing import read_archive, slice_for_profile, slice_to_archive
from printprep.slicing.estimate import exposure_for


def small(
    name: str = "phrozen-sonic-4k", px: tuple[int, int] = (400, 300), **kw: object
) -> ResinPrinterProfile:
    prof = load_profile(name)
    assert isinstance(prof, ResinPrinterProfile)
    mm = (px[0] * prof.pitch_mm[0], px[1] * prof.pitch_mm[1])
    return dataclasses.replace(prof, display_px=px, display_mm=mm, name=f"{name}-small", **kw)


def cylinder(r: float, h: float) -> trimesh.Trimesh:
    c = trimesh.creation.cylinder(radius=r, height=h, sections=64)
    c.apply_translation([0, 0, h / 2])
    return c


def test_pngzip_round_trip(tmp_path: Path) -> None:
    prof = small("elegoo-mars-4-dlp")
    result = slice_to_archive([cylinder(2.0, 1.0)], prof, tmp_path / "c.zip", layer_height_mm=0.05)
    assert result.format == "pngzip" and result.layer_count == 20
    with zipfile.ZipFile(result.path) as z:
        names = set(z.namelist())
        assert {f"{i}.png" for i in range(1, 21)} <= names
        plate = json.loads(z.read("plate.json"))
        profile = json.loads(z.read("profile.json"))
    assert plate["LayersCount"] == 20 and profile["Depth"] == pytest.approx(50.0)
    with read_archive(result.path) as a:
        assert a.format == "pngzip" and a.layer_count == 20
        assert a.image_px == prof.image_px
        lit = (a.layer(10) >= 128).sum() * prof.pitch_mm[0] * prof.pitch_mm[1]
        assert lit == pytest.approx(np.pi * 4.0, rel=0.02)
        assert set(a.thumbnails) == {
            "thumbnail/thumbnail400x400.png",
            "thumbnail/thumbnail800x480.png",
        }


def test_several_parts_land_at_their_placements(tmp_path: Path) -> None:
    prof = small()
    parts = [cylinder(1.0, 0.5), cylinder(1.5, 1.0)]
    at = [(3.0, 4.0), (9.0, 6.0)]
    result = slice_to_archive(
        parts, prof, tmp_path / "two.sl1", layer_height_mm=0.05, placements_mm=at
    )
    assert result.layer_count == 20
    with read_archive(result.path) as a:
        import cv2

        img = (a.layer(2) >= 128).astype(np.uint8)
        n, _, stats, centroids = cv2.connectedComponentsWithStats(img)
        assert n == 3
        centres = a.transform.to_machine(centroids[1:] + 0.5)
        for x, y in at:
            assert np.min(np.hypot(centres[:, 0] - x, centres[:, 1] - y)) < 0.02
        assert (a.layer(15) >= 128).sum() > 0  # only the taller part is left
    expected_ml = (np.pi * 1.0 * 0.5 + np.pi * 2.25 * 1.0) / 1000.0
    assert result.resin_ml == pytest.approx(expected_ml, rel=0.02)


def test_print_time_and_cost(tmp_path: Path) -> None:
    prof = small(bottom_layers=3, fade_layers=0)
    mat = load_material("bluecast-x10")
    result = slice_to_archive(
        [cylinder(2.0, 0.5)], prof, tmp_path / "t.sl1", layer_height_mm=0.05, material=mat
    )
    exp = exposure_for(prof, mat)
    n = 10
    per_layer_motion = (
        prof.lift_height_mm / prof.lift_speed_mm_s + prof.lift_height_mm / prof.retract_speed_mm_s
    )
    bottom_motion = (
        prof.bottom_lift_height_mm / prof.bottom_lift_speed_mm_s
        + prof.bottom_lift_height_mm / prof.retract_speed_mm_s
    )
    expected = (3 * (exp.bottom_exposure_s + bottom_motion) + (n - 3) * (exp.exposure_s + per_layer_motion)
                + n * prof.wait_before_exposure_s)  # fmt: skip
    assert result.print_time_s == pytest.approx(expected)
    assert result.cost == pytest.approx(result.resin_ml * mat.price_per_l / 1000.0)
    with read_archive(result.path) as a:
        assert float(a.meta["printTime"]) == pytest.approx(expected)
        assert a.meta["materialName"] == mat.display_name


def test_memory_does_not_grow_with_layer_count(tmp_path: Path) -> None:
    prof = small(px=(300, 300))

    def peak(height_mm: float) -> int:
        part = cylinder(4.0, height_mm)
        tracemalloc.start()
        slice_to_archive(
            [part], prof, tmp_path / "m.sl1", layer_height_mm=0.05, thumbnails=False, check=False
        )
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    peak(0.5)  # warm caches (PNG black-row blocks, imports)
    short, tall = peak(1.0), peak(8.0)  # 20 vs 160 layers
    # each layer image is ~50 KB (a band of 230 x 230 px): keeping them would add far
    # more than the few hundred bytes per layer the zip's directory entries cost
    assert (tall - short) / 140 < 8 * 1024, (short, tall)


def test_bad_inputs_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    prof = small()
    out = tmp_path / "x.sl1"
    with pytest.raises(SliceError, match="does not fit"):
        slice_to_archive([cylinder(20.0, 1.0)], prof, out)
    with pytest.raises(SliceError, match="layer height 0.5 mm is outside"):
        slice_to_archive([cylinder(1.0, 1.0)], prof, out, layer_height_mm=0.5)
    with pytest.raises(SliceError, match="filament printer"):
        slice_to_archive([cylinder(1.0, 1.0)], "prusa-mk4-castable", out)
    with pytest.raises(SliceError, match="polycast.*filament material"):
        slice_to_archive([cylinder(1.0, 1.0)], prof, out, material="polycast")
    with pytest.raises(SliceError, match="output folder does not exist"):
        slice_to_archive([cylinder(1.0, 1.0)], prof, tmp_path / "no" / "x.sl1")
    open_box = trimesh.creation.box((2, 2, 2))
    open_box.faces = open_box.faces[:-2]
    with pytest.raises(SliceError, match="part 0 is not a closed"):
        slice_to_archive([open_box], prof, out)
    assert list(tmp_path.iterdir()) == []


def test_reader_refuses_broken_archives(tmp_path: Path) -> None:
    good = slice_to_archive(
        [cylinder(1.0, 0.3)], small(), tmp_path / "g.sl1", layer_height_mm=0.05
    ).path

    def rewrite(
        name: str, drop: str | None = None, replace: tuple[str, bytes] | None = None
    ) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
            for item in src.namelist():
                if item == drop:
                    continue
                data = replace[1] if replace and replace[0] == item else src.read(item)
                dst.writestr(item, data)
        return path

    with pytest.raises(SliceError, match="config.ini is missing"):
        read_archive(rewrite("a.sl1", drop="config.ini"))
    with pytest.raises(SliceError, match="5 layer files .* numFast \\+ numSlow = 6"):
        read_archive(rewrite("b.sl1", drop="g00003.png"))
    ini = zipfile.ZipFile(good).read("prusaslicer.ini").decode()
    no_orient = "".join(
        line + "\n" for line in ini.splitlines() if not line.startswith("display_orientation")
    )
    with pytest.raises(SliceError, match="lacks key 'display_orientation'"):
        read_archive(rewrite("c.sl1", replace=("prusaslicer.ini", no_orient.encode())))
    from printprep.slicing.png import encode_image

    wrong = encode_image(np.zeros((10, 10), np.uint8))
    with (
        read_archive(rewrite("d.sl1", replace=("g00002.png", wrong))) as a,
        pytest.raises(SliceError, match="10x10 px; the display is 400x300"),
    ):
        a.layer(2)
    junk = tmp_path / "junk.sl1"
    junk.write_bytes(b"not a zip")
    with pytest.raises(SliceError, match="not a readable ZIP"):
        read_archive(junk)
    with pytest.raises(SliceError, match="not found"):
        read_archive(tmp_path / "missing.sl1")


def test_slice_for_profile_picks_the_output(tmp_path: Path, meshes: Path) -> None:
    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    res = slice_for_profile(
        [ring], small("elegoo-mars-4-dlp", (500, 600)), tmp_path, "ring", layer_height_mm=0.1
    )
    assert res.path == tmp_path / "ring.zip" and res.path.is_file()
    sl1s = slice_for_profile(
        [cylinder(1.0, 0.3)], small("prusa-sl1s"), tmp_path, "small", layer_height_mm=0.1
    )
    assert sl1s.path == tmp_path / "small.sl1s"
    with read_archive(sl1s.path) as a:
        assert a.meta["printerModel"] == "SL1S" and a.meta["jobDir"] == "small"
    shutil.rmtree(tmp_path / "unused", ignore_errors=True)


def test_thumbnails_and_preview_show_the_part(tmp_path: Path, meshes: Path) -> None:
    import io

    from PIL import Image

    from printprep.slicing import render_preview

    ring = trimesh.load(meshes / "jewelry" / "pixelverse_ring.stl")
    out = render_preview(ring, tmp_path / "preview.png")
    img = np.array(Image.open(out))
    assert img.shape == (400, 400, 4)
    covered = (img[:, :, 3] > 0).mean()
    assert 0.1 < covered < 0.9  # the part fills the frame, with background around it
    result = slice_to_archive(
        [ring], small(px=(1000, 900)), tmp_path / "r.sl1", layer_height_mm=0.1, check=False
    )
    with read_archive(result.path) as a:
        thumbs = a.thumbnails
    big = Image.open(io.BytesIO(thumbs["thumbnail/thumbnail800x480.png"]))
    assert big.size == (800, 480) and big.mode == "RGBA"


def test_a_part_cut_from_its_solid_gives_the_same_layers(tmp_path: Path, meshes: Path) -> None:
    """slice_to_archive(..., solids=[...]) places and cuts the given manifold3d solid
    instead of one rebuilt from the triangles: the same ring, placed the same way, gives
    the same lit pixels in every layer (a mirrored display included), and the same
    checks; a broken solid is refused naming the part."""
    import manifold3d

    from printprep.casting.solids import to_manifold
    from printprep.slicing import check_layers

    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    ring.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # lying: 76 layers
    for prof in (small(px=(720, 720)), small(px=(720, 720), mirror_x=True)):
        kw = {"layer_height_mm": 0.1, "placements_mm": [(12.6, 12.6)], "thumbnails": False}
        a = slice_to_archive([ring], prof, tmp_path / "mesh.sl1", **kw)
        b = slice_to_archive([ring], prof, tmp_path / "solid.sl1", solids=[to_manifold(ring)], **kw)
        assert a.layer_count == b.layer_count > 50
        with read_archive(a.path) as ra, read_archive(b.path) as rb:
            lit_a = np.stack([ra.layer(i) >= 128 for i in range(ra.layer_count)])
            lit_b = np.stack([rb.layer(i) >= 128 for i in range(rb.layer_count)])
        # float32 vertices of the rebuilt manifold vs the solid's own: a pixel at the
        # threshold may flip, nothing more
        assert lit_a.sum() > 0 and (lit_a != lit_b).sum() <= 1e-4 * lit_a.sum()
        assert len(a.layer_report.islands) == len(b.layer_report.islands) == len(check_layers(b.path).islands)
    with pytest.raises(SliceError, match="part 0"):
        slice_to_archive([ring], small(), tmp_path / "bad.sl1", solids=[manifold3d.Manifold()])
