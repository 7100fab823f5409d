"""The mesh layer check casting's verify rounds use, against the slicer's own check.

check_mesh_layers must find what check_layers finds in the archive slice_to_archive
writes for the same print (same placement, cut heights and raster), and a re-check that
reuses an earlier result must equal a fresh check while rasterizing fewer layers.
Coarse display (0.1 mm pixels, 0.1 mm layers) keeps it quick.
"""

from __future__ import annotations

import dataclasses

import manifold3d
import numpy as np
import pytest
import trimesh

from printprep.casting import PrepareOptions, prepare
from printprep.casting.solids import to_manifold
from printprep.profiles import load_profile
from printprep.slicing import check_layers, slice_to_archive
from printprep.slicing.meshcheck import check_mesh_layers


@pytest.fixture(scope="module")
def coarse():
    prof = load_profile("phrozen-sonic-4k")
    return dataclasses.replace(
        prof, name="sonic-4k-coarse", display_px=(900, 700), display_mm=(90.0, 70.0), layer_height_mm=0.1
    )


@pytest.fixture(scope="module")
def solitaire(meshes, coarse):
    mesh = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    return prepare(mesh, coarse, PrepareOptions(verify_rounds=0))


def _summary(report):
    return (
        report.layer_count,
        sorted((i.layer, i.area_px, i.supported_px) for i in report.islands),
        sorted((r.layer, round(r.area_mm2, 6)) for r in report.reach_layers),
        report.empty_layers,
        report.touching_frame,
    )


@pytest.mark.parametrize("kind", ["casting", "print"])
def test_mesh_check_matches_the_archive_check(solitaire, coarse, tmp_path, kind):
    # the bare casting floats (islands everywhere); the supported print has few or none
    mesh = solitaire.casting_mesh if kind == "casting" else solitaire.print_mesh
    res = slice_to_archive([mesh], coarse, tmp_path / f"{kind}.sl1")
    from_file = check_layers(res.path)
    from_mesh = check_mesh_layers([mesh], coarse).report
    assert _summary(from_mesh) == _summary(from_file)
    if kind == "casting":
        assert len(from_file.islands) > 0  # the comparison is not between two empty lists


def test_recheck_of_changed_supports_equals_a_fresh_check(solitaire, coarse):
    cast = to_manifold(solitaire.casting_mesh)
    sup = solitaire.supports.solid
    first = check_mesh_layers([cast, sup], coarse)
    assert first.checked_layers == first.report.layer_count
    # cut the supports through in a slab well inside their box: the print's placement
    # and heights stay, the layers above the cut lose what held them
    lo, hi = np.asarray(sup.bounding_box()).reshape(2, 3)
    z0 = lo[2] + 2.0
    slab = manifold3d.Manifold.cube((hi[0] - lo[0] + 2, hi[1] - lo[1] + 2, 0.5)).translate((lo[0] - 1, lo[1] - 1, z0))
    cut = sup - slab
    again = check_mesh_layers([cast, cut], coarse, previous=first)
    fresh = check_mesh_layers([cast, cut], coarse)
    assert _summary(again.report) == _summary(fresh.report)
    assert len(fresh.report.islands) > len(first.report.islands)  # the cut made islands
    assert 0 < again.checked_layers < fresh.checked_layers
    # unchanged supports: nothing to rasterize, the same findings
    same = check_mesh_layers([cast, cut], coarse, previous=fresh)
    assert same.checked_layers == 0 and _summary(same.report) == _summary(fresh.report)


def test_reach_matches_a_brute_force_distance_on_shifted_layers(coarse):
    """The reach check's block quick exit never hides far pixels: each layer's far area
    equals an exact Euclidean distance transform's, for a layer shifted by steps around
    the 3 mm reach (0.1 mm pixels)."""
    from scipy import ndimage

    from printprep.slicing.checks import LayerChecker
    from printprep.slicing.raster import Band, DisplayTransform

    tr = DisplayTransform.for_profile(coarse)
    w, h = tr.image_px
    yy, xx = np.mgrid[0:h, 0:w]
    expected, got = [], []
    for shift_px in (0, 10, 25, 29, 30, 31, 35, 60):
        checker = LayerChecker(tr, 0.1)
        below = (xx - 300) ** 2 / 40**2 + (yy - 300) ** 2 / 25**2 <= 1
        above = (xx - 300 - shift_px) ** 2 / 45**2 + (yy - 300) ** 2 / 30**2 <= 1
        for img in (below, above):
            checker.add(Band(0, 0, img.astype(np.uint8) * 255))
        far = above & (ndimage.distance_transform_edt(~below) * 0.1 > 3.0)
        expected.append(round(float(far.sum()) * 0.01, 6))
        got.append(round(checker.report().overhang_reach_area_mm2, 6))
    assert got == expected
    assert expected[0] == 0.0 and expected[-1] > 0.0  # both outcomes are exercised


def test_recheck_near_the_casting_only_equals_a_fresh_check(solitaire, coarse):
    """With near_fixed_only, a support change far from the casting (a pillar's middle)
    is not re-checked, a change at the casting (a head cut off) is, and the findings
    equal a fresh check's."""
    cast = to_manifold(solitaire.casting_mesh)
    sup = solitaire.supports.solid
    first = check_mesh_layers([cast, sup], coarse, centre_mm=(0.0, 0.0))
    lo, hi = np.asarray(sup.bounding_box()).reshape(2, 3)
    # a thin slab through the pillars just above the base: far below the casting
    low = manifold3d.Manifold.cube((hi[0] - lo[0] + 2, hi[1] - lo[1] + 2, 0.3)).translate((lo[0] - 1, lo[1] - 1, 1.6))
    cut = sup - low
    again = check_mesh_layers([cast, cut], coarse, previous=first, centre_mm=(0.0, 0.0), near_fixed_only=True)
    fresh = check_mesh_layers([cast, cut], coarse, centre_mm=(0.0, 0.0))
    assert again.checked_layers < 3  # nothing near the casting changed
    # the pillars cut through their middles now start in mid-air: an island each, which
    # near_fixed_only does not look for (supports built by prepare never do that)
    assert len(fresh.report.islands) >= len(again.report.islands)
    # remove the heads (the top 1.5 mm of the supports' reach under the casting)
    part_lo = float(np.asarray(cast.bounding_box()).reshape(2, 3)[0, 2])
    heads = manifold3d.Manifold.cube((hi[0] - lo[0] + 2, hi[1] - lo[1] + 2, 40.0)).translate((lo[0] - 1, lo[1] - 1, part_lo + 1.0))
    headless = sup - heads
    again = check_mesh_layers([cast, headless], coarse, previous=first, centre_mm=(0.0, 0.0), near_fixed_only=True)
    fresh = check_mesh_layers([cast, headless], coarse, centre_mm=(0.0, 0.0))
    assert _summary(again.report) == _summary(fresh.report)
    assert len(fresh.report.islands) > len(first.report.islands)
    assert 0 < again.checked_layers < fresh.checked_layers


def test_fused_confirmation_matches_the_archive_of_the_fused_print(solitaire, coarse, tmp_path):
    """check_fused (the round that ends prepare's verify loop) finds what check_layers
    finds in the archive write_prepared slices from the fused print, whether it re-checks
    only the layers where the union's rings differ from the shells' or all of them; the
    supports cut under the casting make islands, so it is not two empty lists."""
    from printprep.casting import solids
    from printprep.casting.verify import check_fused, check_print, overlap_of

    cast = to_manifold(solitaire.casting_mesh)
    sup = solitaire.supports.solid
    lo, hi = np.asarray(sup.bounding_box()).reshape(2, 3)
    part_lo = float(np.asarray(cast.bounding_box()).reshape(2, 3)[0, 2])
    # cut the support heads off on one half: islands in the casting's underside
    heads = manifold3d.Manifold.cube((hi[0] - lo[0] + 2, (hi[1] - lo[1]) / 2 + 1, 40.0)).translate(
        (lo[0] - 1, lo[1] - 1, part_lo + 0.5)
    )
    for supports in (sup, sup - heads):
        shells = check_print(cast, supports, coarse, 0.1)
        print_mesh = solids.to_trimesh(cast + supports)
        confirm = check_fused(print_mesh, shells, coarse, 0.1)
        # as write_prepared places it: the casting's box centre on the display centre
        plo, phi = print_mesh.bounds
        w, h = coarse.display_mm
        place = [(w / 2 + (plo[0] + phi[0]) / 2, h / 2 + (plo[1] + phi[1]) / 2)]
        res = slice_to_archive([print_mesh], coarse, tmp_path / "fused.sl1", placements_mm=place)
        from_file = check_layers(res.path)
        assert _summary(confirm.report) == _summary(from_file)
        fresh = check_mesh_layers([print_mesh], coarse, 0.1, centre_mm=(0.0, 0.0))
        assert _summary(fresh.report) == _summary(from_file)
        assert confirm.checked_layers <= fresh.checked_layers
        # as prepare does it: the fused solid itself, cut only within the z-range of the
        # shells' overlap, and the archive cut from that very solid
        solid = cast + supports
        by_solid = check_fused(solid, shells, coarse, 0.1, overlap_of(cast, supports))
        slo, shi = np.asarray(solid.bounding_box(), float).reshape(2, 3)
        place = [(w / 2 + (slo[0] + shi[0]) / 2, h / 2 + (slo[1] + shi[1]) / 2)]
        res = slice_to_archive([print_mesh], coarse, tmp_path / "solid.sl1", placements_mm=place, solids=[solid])
        from_solid_file = check_layers(res.path)
        assert _summary(by_solid.report) == _summary(from_solid_file)
        assert by_solid.checked_layers <= confirm.checked_layers
        assert by_solid.checked_layers < fresh.checked_layers
    assert len(from_file.islands) > 0  # the headless half floats


def test_archive_from_the_checked_layers_equals_one_sliced_from_the_solid(meshes, coarse, tmp_path):
    """write_prepared encodes the layers the last verify round rasterized and checked
    (Prepared.print_layers) instead of slicing again: its archive equals, pixel for pixel
    and grey level for grey level, an archive sliced afresh from the same fused solid,
    and its layer report equals check_layers on the written file (layers the rounds
    left without a raster are rasterized and checked on the way)."""
    import json

    from printprep.casting import write_prepared
    from printprep.errors import SliceError
    from printprep.slicing import read_archive

    mesh = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    prepared = prepare(mesh, coarse)
    checked = prepared.print_layers
    assert checked is not None and prepared.print_solid is checked.parts[0]
    paths = write_prepared(prepared, tmp_path, "ring", coarse)
    report = json.loads(paths["report"].read_text())["slice"]
    assert report["layers_reused"] > 0  # the rasters came from the checks
    solid = prepared.print_solid
    lo, hi = np.asarray(solid.bounding_box(), float).reshape(2, 3)
    w, h = coarse.display_mm
    place = [(w / 2 + (lo[0] + hi[0]) / 2, h / 2 + (lo[1] + hi[1]) / 2)]
    fresh = slice_to_archive([prepared.print_mesh], coarse, tmp_path / "fresh.sl1", placements_mm=place, solids=[solid])
    with read_archive(paths["archive"]) as a, read_archive(fresh.path) as b:
        assert a.layer_count == b.layer_count == len(checked.z_mm)
        lit = 0
        for i in range(a.layer_count):
            x, y = a.layer(i), b.layer(i)
            assert np.array_equal(x, y), f"layer {i}: {(x != y).sum()} pixels differ"
            lit += int((x >= 128).sum())
    assert lit > 1000
    from_file = check_layers(paths["archive"])
    assert report["layers"] == from_file.to_dict()
    assert _summary(fresh.layer_report) == _summary(from_file)
    assert report["resin_ml"] == round(fresh.resin_ml, 4)
    # layers of another placement are refused, not encoded at the wrong spot
    with pytest.raises(SliceError, match="placement"):
        slice_to_archive(
            [prepared.print_mesh], coarse, tmp_path / "moved.sl1", placements_mm=[(place[0][0] + 1.0, place[0][1])],
            solids=[solid], layers=checked,
        )
    assert not (tmp_path / "moved.sl1").exists()


def test_another_profile_slices_the_print_anew(meshes, coarse, tmp_path):
    """write_prepared for a profile other than the one prepare checked (another pitch)
    cuts the archive anew instead of encoding rasters made for another display; for the
    same profile the rasters are used once and then dropped."""
    import json

    from printprep.casting import write_prepared

    mesh = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    prepared = prepare(mesh, coarse, PrepareOptions(verify_rounds=1))
    assert prepared.print_layers is not None
    finer = dataclasses.replace(coarse, name="sonic-4k-finer", display_px=(1800, 1400))
    other = json.loads(write_prepared(prepared, tmp_path / "a", "ring", finer)["report"].read_text())["slice"]
    assert "layers_reused" not in other and other["layer_count"] > 0
    assert prepared.print_layers is not None  # not used: still there
    same = json.loads(write_prepared(prepared, tmp_path / "b", "ring", coarse)["report"].read_text())["slice"]
    assert same["layers_reused"] > 0 and prepared.print_layers is None
