"""Layer checks: islands, empty layers, frame contact, overhang reach."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import trimesh

from printprep.profiles import ResinPrinterProfile, load_profile
from printprep.slicing import check_layers, read_archive, slice_to_archive

LH = 0.05


def small_sonic(
    px: tuple[int, int] = (460, 400), name: str = "phrozen-sonic-4k"
) -> ResinPrinterProfile:
    prof = load_profile(name)
    assert isinstance(prof, ResinPrinterProfile)
    mm = (px[0] * prof.pitch_mm[0], px[1] * prof.pitch_mm[1])
    return dataclasses.replace(prof, display_px=px, display_mm=mm, name="small-sonic")


def _box(size: tuple[float, float, float], corner: tuple[float, float, float]) -> trimesh.Trimesh:
    b = trimesh.creation.box(size)
    b.apply_translation([c + s / 2 for c, s in zip(corner, size, strict=True)])
    return b


@pytest.mark.parametrize(
    ("name", "px"), [("phrozen-sonic-4k", (460, 400)), ("elegoo-saturn-4-ultra-16k", (800, 580))]
)
def test_tee_overhang_reach_matches_geometry(
    tmp_path: Path, name: str, px: tuple[int, int]
) -> None:
    """A 1 x 1 mm post under a 10 x 10 mm plate: the plate's first layer reaches out
    farther than 3 mm everywhere except within 3 mm of the post (square pixels, and the
    16K printer's 14 x 19 um ones)."""
    post = _box((1.0, 1.0, 1.0), (4.5, 4.5, 0.0))
    plate = _box((10.0, 10.0, 0.5), (0.0, 0.0, 1.0))
    tee = trimesh.boolean.union([post, plate], engine="manifold")
    result = slice_to_archive(
        [tee], small_sonic(px, name), tmp_path / "tee.sl1", layer_height_mm=LH
    )
    report = check_layers(result.path)
    expected = 100.0 - (1.0 + 4 * 3.0 * 1.0 + math.pi * 9.0)
    assert [r.layer for r in report.reach_layers] == [20]
    assert report.overhang_reach_area_mm2 == pytest.approx(expected, rel=0.03)
    # the plate stands on the post with > 10 supported pixels: no island, no empty layer
    assert report.islands == [] and report.empty_layers == [] and report.touching_frame == []
    assert report.to_dict()["overhang_reach_area_mm2"] == pytest.approx(expected, rel=0.03)
    # the same report on the fly, while slicing
    assert result.layer_report is not None
    live = result.layer_report
    assert (live.islands, live.empty_layers, live.touching_frame) == ([], [], [])
    assert [r.layer for r in live.reach_layers] == [20]
    assert live.overhang_reach_area_mm2 == pytest.approx(report.overhang_reach_area_mm2)
    # a longer reach limit finds nothing
    assert check_layers(result.path, reach_mm=8.0).reach_layers == []


def test_floating_block_is_an_island_after_empty_layers(tmp_path: Path) -> None:
    base = _box((3.0, 3.0, 0.5), (0.0, 0.0, 0.0))
    floating = _box((1.0, 2.0, 0.5), (5.0, 0.5, 1.0))  # 0.5 mm gap above the plate level
    part = trimesh.util.concatenate([base, floating])
    result = slice_to_archive([part], small_sonic(), tmp_path / "float.sl1", layer_height_mm=LH)
    report = check_layers(result.path)
    assert report.empty_layers == list(range(10, 20))
    assert len(report.islands) == 1
    island = report.islands[0]
    assert island.layer == 20 and island.supported_px == 0
    assert island.area_mm2 == pytest.approx(2.0, rel=0.06)  # whole pixels >= 50 % lit
    # its centre on the plate: the parts' bounding box is centred on the display
    w, h = small_sonic().display_mm
    assert island.x_mm == pytest.approx(w / 2 - 3.0 + 5.5, abs=0.05)
    assert island.y_mm == pytest.approx(h / 2 - 1.5 + 1.5, abs=0.05)
    assert not report.ok and any("island" in p for p in report.problems)


def test_part_touching_the_frame(tmp_path: Path) -> None:
    part = _box((2.0, 2.0, 0.3), (0, 0, 0))
    prof = small_sonic()
    at_edge = slice_to_archive(
        [part], prof, tmp_path / "edge.sl1", layer_height_mm=LH, placements_mm=[(1.0, 5.0)]
    )
    assert check_layers(at_edge.path).touching_frame == list(range(6))
    centred = slice_to_archive([part], prof, tmp_path / "mid.sl1", layer_height_mm=LH)
    assert check_layers(centred.path).touching_frame == []
    assert check_layers(centred.path).ok


def test_checks_on_a_real_ring(tmp_path: Path, meshes: Path) -> None:
    """The upright solitaire: prongs start beside the seat, each a small island."""
    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    result = slice_to_archive(
        [ring], small_sonic((700, 320)), tmp_path / "sol.zip", layer_height_mm=0.1, fmt="pngzip"
    )
    with read_archive(result.path) as archive:
        report = check_layers(archive)
    assert report.layer_count == result.layer_count == round(ring.extents[2] / 0.1)
    assert report.empty_layers == [] and report.touching_frame == []
    # the band's first layer stands on the plate; anything flagged is above it
    assert all(i.layer > 0 for i in report.islands)
