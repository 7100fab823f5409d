"""Our layers against PrusaSlicer's own ``--export-sla`` output for the same display.

Every test slices the same mesh twice, with printprep and with ``prusa-slicer`` fed the
prusaslicer.ini that printprep writes into its SL1 (supports and pad off, part centred
on the display), and compares the layer images. Displays are cropped (small pixel
counts at real pitches) to keep the tests fast.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import require_tool
from shapely.geometry import LineString, Polygon

from printprep.profiles import ResinPrinterProfile, load_material, load_profile
from printprep.slicing import read_archive, slice_to_archive
from printprep.slicing.formats.sl1 import CONFIG_KEYS, ini_text, prusaslicer_ini


def cropped(name: str, display_px: tuple[int, int], **changes: object) -> ResinPrinterProfile:
    """A shipped profile with fewer pixels at the same pitch (and optional changes)."""
    prof = load_profile(name)
    assert isinstance(prof, ResinPrinterProfile)
    pitch = prof.pitch_mm
    mm = (display_px[0] * pitch[0], display_px[1] * pitch[1])
    return dataclasses.replace(
        prof, display_px=display_px, display_mm=mm, name=f"{name}-crop", **changes
    )


def prusa_sla(mesh: trimesh.Trimesh, prof: ResinPrinterProfile, lh: float, out: Path) -> Path:
    """Run prusa-slicer --export-sla with the display settings printprep writes."""
    exe = require_tool("prusa-slicer")
    mat = load_material(prof.default_material)
    ini = out.with_suffix(".ini")
    ini.write_text(
        ini_text(prusaslicer_ini(prof, mat, lh, prof.exposure_s, prof.bottom_exposure_s))
    )
    stl = out.with_suffix(".stl")
    mesh.export(stl)
    w, h = prof.display_mm
    cmd = [exe, "--export-sla", "--load", str(ini), "--no-supports-enable", "--no-pad-enable",
           "--center", f"{w / 2},{h / 2}", "-o", str(out), str(stl)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return out


def stack_iou(ours: Path, theirs: Path) -> tuple[np.ndarray, int, int]:
    """Per-layer IoU of the images thresholded at 128 (layers empty in both count as 1)."""
    with read_archive(ours) as a, read_archive(theirs) as b:
        n = min(a.layer_count, b.layer_count)
        ious = []
        for i in range(n):
            x, y = a.layer(i) >= 128, b.layer(i) >= 128
            union = (x | y).sum()
            ious.append((x & y).sum() / union if union else 1.0)
        return np.array(ious), a.layer_count, b.layer_count


def test_twisted_ring_matches_prusaslicer(tmp_path: Path, meshes: Path) -> None:
    mesh = trimesh.load(meshes / "jewelry" / "jmarsik_twisted_ring.stl")
    prof = cropped("phrozen-sonic-4k", (820, 800))
    ours = slice_to_archive(
        [mesh], prof, tmp_path / "ours.sl1", layer_height_mm=0.05, check=False, thumbnails=False
    )
    theirs = prusa_sla(mesh, prof, 0.05, tmp_path / "ps.sl1")
    ious, n_ours, n_theirs = stack_iou(ours.path, theirs)
    assert n_ours == n_theirs
    assert ious.min() >= 0.99, (ious.argmin(), ious.min())
    # PrusaSlicer's usedMaterial and ours agree on the resin volume
    with read_archive(ours.path) as a, read_archive(theirs) as b:
        assert float(a.meta["usedMaterial"]) == pytest.approx(
            float(b.meta["usedMaterial"]), rel=0.01
        )


def _asymmetric_part() -> trimesh.Trimesh:
    """A 6 x 3 mm slab with a tower on its +x +y corner: any flip or swap shows."""
    slab = trimesh.creation.box((6.0, 3.0, 0.5))
    slab.apply_translation((3.0, 1.5, 0.25))
    tower = trimesh.creation.box((1.2, 1.0, 1.5))
    tower.apply_translation((5.4, 2.5, 0.75))
    return trimesh.boolean.union([slab, tower], engine="manifold")


@pytest.mark.parametrize("orientation", ["landscape", "portrait"])
@pytest.mark.parametrize(
    ("mirror_x", "mirror_y"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_orientation_and_mirroring_match_prusaslicer(
    tmp_path: Path, orientation: str, mirror_x: bool, mirror_y: bool
) -> None:
    part = _asymmetric_part()
    prof = cropped(
        "prusa-sl1s", (200, 120), orientation=orientation, mirror_x=mirror_x, mirror_y=mirror_y
    )
    ours = slice_to_archive(
        [part], prof, tmp_path / "ours.sl1", layer_height_mm=0.1, check=False, thumbnails=False
    )
    theirs = prusa_sla(part, prof, 0.1, tmp_path / "ps.sl1")
    ious, n_ours, n_theirs = stack_iou(ours.path, theirs)
    assert n_ours == n_theirs == 15
    assert ious.min() >= 0.99
    with read_archive(ours.path) as a:
        w, h = a.image_px
        assert (w, h) == ((120, 200) if orientation == "portrait" else (200, 120))
        top = a.layer(a.layer_count - 1)
        # the tower's centre lands where the display transform says +x/+y go
        rows, cols = np.nonzero(top >= 128)
        centre_mm = a.transform.to_machine(np.array([[cols.mean() + 0.5, rows.mean() + 0.5]]))[0]
        display = np.array(prof.display_mm)
        expected = display / 2 + np.array([5.4 - 3.0, 2.5 - 1.5 + (3.0 - 3.0) / 2])
        assert centre_mm == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("height_mm", [1.199, 1.201, 1.27, 1.31])
def test_layer_count_matches_prusaslicer_for_any_height(tmp_path: Path, height_mm: float) -> None:
    block = trimesh.creation.box((2.0, 2.0, height_mm))
    prof = cropped("prusa-sl1s", (100, 80))
    ours = slice_to_archive(
        [block], prof, tmp_path / "ours.sl1", layer_height_mm=0.1, check=False, thumbnails=False
    )
    theirs = prusa_sla(block, prof, 0.1, tmp_path / "ps.sl1")
    with read_archive(theirs) as b:
        assert ours.layer_count == b.layer_count


def test_non_square_pixels_match_prusaslicer(tmp_path: Path) -> None:
    part = _asymmetric_part()
    prof = cropped("elegoo-saturn-4-ultra-16k", (700, 300))
    assert prof.pitch_mm[0] != pytest.approx(prof.pitch_mm[1])
    ours = slice_to_archive(
        [part], prof, tmp_path / "ours.sl1", layer_height_mm=0.1, check=False, thumbnails=False
    )
    theirs = prusa_sla(part, prof, 0.1, tmp_path / "ps.sl1")
    ious, n_ours, n_theirs = stack_iou(ours.path, theirs)
    assert n_ours == n_theirs
    assert ious.min() >= 0.99
    with read_archive(ours.path) as a:
        slab = a.layer(0) >= 128
        rows, cols = np.nonzero(slab)
        # 6 mm at 14 um across, 3 mm at 19 um down
        assert cols.max() - cols.min() + 1 == pytest.approx(6.0 / prof.pitch_mm[0], abs=1)
        assert rows.max() - rows.min() + 1 == pytest.approx(3.0 / prof.pitch_mm[1], abs=1)


def test_ring_inner_diameter_within_one_pixel(tmp_path: Path, meshes: Path) -> None:
    """Lay the solitaire's band flat and measure its inner diameter in a band layer."""
    mesh = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    mesh.apply_translation(-mesh.bounds[0])
    prof = cropped("phrozen-sonic-4k", (800, 900))
    lh = 0.05
    ours = slice_to_archive(
        [mesh], prof, tmp_path / "ours.sl1", layer_height_mm=lh, check=False, thumbnails=False
    )
    theirs = prusa_sla(mesh, prof, lh, tmp_path / "ps.sl1")
    # the band's mid-height layer; its hole from the exact mesh section, placed as the
    # slicer places the part (XY bounding-box centre on the display centre)
    layer = int(mesh.bounds[1, 2] / 2 / lh)
    z = (layer + 0.5) * lh
    section = mesh.section(plane_origin=[0, 0, z], plane_normal=[0, 0, 1])
    loops = [Polygon(d[:, :2]) for d in section.discrete]
    outer = max(loops, key=lambda p: p.area)
    hole = max((p for p in loops if p is not outer and outer.contains(p)), key=lambda p: p.area)
    shift = np.array(prof.display_mm) / 2 - (mesh.bounds[0, :2] + mesh.bounds[1, :2]) / 2
    with read_archive(ours.path) as a:
        tr = a.transform
    centre_px = tr.to_image(np.array([[hole.centroid.x + shift[0], hole.centroid.y + shift[1]]]))[0]
    row = int(centre_px[1])
    y_mm = tr.to_machine(np.array([[0.0, row + 0.5]]))[0, 1] - shift[1]
    chord = hole.intersection(LineString([(-100, y_mm), (100, y_mm)]))
    true_px = chord.length / prof.pitch_mm[0]
    assert true_px > 200
    for path in (ours.path, theirs):
        with read_archive(path) as a:
            line = a.layer(layer)[row].astype(float) / 255.0
        lit = np.nonzero(line >= 0.5)[0]
        inside = lit[(lit < centre_px[0])].max(), lit[(lit > centre_px[0])].min()
        left, right = inside
        # uncovered fraction of every pixel from the left wall's edge pixel to the right's
        inner_px = (1.0 - line[left : right + 1]).sum()
        assert abs(inner_px - true_px) <= 1.0, (path.name, inner_px, true_px)


def test_our_sl1_follows_prusaslicers_rules(tmp_path: Path, meshes: Path) -> None:
    mesh = trimesh.load(meshes / "jewelry" / "jjg_pendant.stl")
    prof = cropped("prusa-sl1s", (1300, 900))
    ours = slice_to_archive([mesh], prof, tmp_path / "pendant.sl1", layer_height_mm=0.1)
    theirs = prusa_sla(mesh, prof, 0.1, tmp_path / "ps.sl1")
    import configparser
    import zipfile

    def ini(z: zipfile.ZipFile, name: str) -> dict[str, str]:
        cp = configparser.ConfigParser(interpolation=None)
        cp.optionxform = str  # type: ignore[assignment,method-assign]
        cp.read_string("[r]\n" + z.read(name).decode())
        return dict(cp["r"])

    with zipfile.ZipFile(ours.path) as zo, zipfile.ZipFile(theirs) as zt:
        for name in ("config.ini", "prusaslicer.ini"):
            assert name in zo.namelist()
        co, ct = ini(zo, "config.ini"), ini(zt, "config.ini")
        assert set(ct) <= set(co) == set(CONFIG_KEYS)
        po = ini(zo, "prusaslicer.ini")
        for key in ("display_pixels_x", "display_pixels_y", "display_width", "display_height",
                    "display_mirror_x", "display_mirror_y", "display_orientation"):  # fmt: skip
            assert key in po
        layers = [n for n in zo.namelist() if n.startswith(co["jobDir"]) and n.endswith(".png")]
        assert len(layers) == int(co["numFast"]) + int(co["numSlow"]) == ours.layer_count
        assert co["numFast"] == ct["numFast"] or int(co["numFast"]) == int(ct["numFast"]) + int(
            ct["numSlow"]
        )
        assert float(co["printTime"]) == pytest.approx(ours.print_time_s, rel=1e-6)
        assert float(co["usedMaterial"]) == pytest.approx(float(ct["usedMaterial"]), rel=0.01)
        assert float(co["usedMaterial"]) == pytest.approx(mesh.volume / 1000.0, rel=0.01)
        assert {"thumbnail/thumbnail400x400.png", "thumbnail/thumbnail800x480.png"} <= set(
            zo.namelist()
        )
    with read_archive(ours.path) as a, read_archive(theirs) as b:
        assert a.image_px == b.image_px == (900, 1300)
        assert a.layer(3).shape == b.layer(3).shape
