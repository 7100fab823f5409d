"""Prepared prints sliced and checked with the slicing stage's own layer check.

Low resolution (0.1 mm pixels, 0.1 mm layers, a cropped display) keeps this quick: the
test is about supports, not pixels. The full-resolution figures, and PrusaSlicer's own
supports on the same pieces, are in bench/prepare_bench.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import trimesh

from printprep.casting import PrepareOptions, plate_layout, prepare, write_prepared
from printprep.errors import CastingError
from printprep.profiles import load_profile
from printprep.slicing import check_layers, read_archive


@pytest.fixture(scope="module")
def coarse():
    prof = load_profile("phrozen-sonic-4k")
    return dataclasses.replace(
        prof, name="sonic-4k-coarse", display_px=(900, 700), display_mm=(90.0, 70.0), layer_height_mm=0.1
    )


@pytest.mark.parametrize("name", ["jmarsik_twisted_ring", "jjg_pendant2"])
def test_prepared_print_has_no_islands_and_no_far_reach(meshes, coarse, tmp_path, name):
    mesh = trimesh.load(meshes / "jewelry" / f"{name}.stl")
    prepared = prepare(mesh, coarse)
    paths = write_prepared(prepared, tmp_path, name, coarse)
    for kind in ("casting", "print", "part", "sprues", "supports", "archive", "report", "preview"):
        assert paths[kind].is_file() and paths[kind].stat().st_size > 0, kind
    report = check_layers(paths["archive"])  # the slicing stage's check, from the file
    assert report.islands == [], [(i.layer, i.area_px) for i in report.islands]
    assert report.overhang_reach_area_mm2 == 0.0
    assert report.empty_layers == [] or report.empty_layers == [report.layer_count - 1]

    # the casting (part + sprues: a sprue may point down and take the supports) is
    # lifted 3-5 mm, and the first layers hold only the base: identical slabs
    lift = prepared.casting_mesh.bounds[0, 2]
    assert 3.0 <= lift <= 5.0
    base_layers = int(round(1.0 / coarse.layer_height_mm))
    with read_archive(paths["archive"]) as a:
        first = a.layer(0) >= 128
        assert first.sum() > 0
        for i in range(1, base_layers):
            assert np.array_equal(a.layer(i) >= 128, first), f"layer {i} is not just the base"
        # nothing of the part below the lift: layers under it hold base and pillars only
        lit_below = [(a.layer(i) >= 128).sum() for i in range(base_layers, int(lift / coarse.layer_height_mm) - 2)]
        assert max(lit_below) < first.sum()


def test_plate_layout_places_several_prints_without_collisions(meshes, coarse):
    prints = []
    for name in ("jjg_pendant", "solitaire_ring", "jmarsik_twisted_ring"):
        mesh = trimesh.load(meshes / "jewelry" / f"{name}.stl")
        prints.append(prepare(mesh, coarse, PrepareOptions(verify_rounds=0)))
    gap = 4.0
    centres = plate_layout(prints, coarse, gap_mm=gap)
    assert len(centres) == 3
    boxes = []
    for p, (cx, cy) in zip(prints, centres, strict=True):
        w, h = np.ptp(p.print_mesh.bounds[:, :2], axis=0)
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        assert box[0] >= 0 and box[1] >= 0 and box[2] <= 90.0 and box[3] <= 70.0
        boxes.append(box)
    for i in range(3):
        for j in range(i + 1, 3):
            a, b = boxes[i], boxes[j]
            apart = max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])
            assert apart >= gap - 1e-9, (i, j, apart)
    # largest first: the pendant (largest footprint) sits at the plate's first corner
    areas = [np.prod(np.ptp(p.print_mesh.bounds[:, :2], axis=0)) for p in prints]
    first = int(np.argmin([c[0] + c[1] for c in centres]))
    assert first == int(np.argmax(areas))
    with pytest.raises(CastingError, match="plate"):
        plate_layout(prints * 6, coarse, gap_mm=gap)
