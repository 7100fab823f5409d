"""``check_mesh`` over every shared mesh, with the outcome each must have, plus the wall
thickness, alloy and printer-profile findings on purpose-built parts."""

from __future__ import annotations

from pathlib import Path

import manifold3d as m3d
import numpy as np
import pytest
import trimesh

from printprep.errors import MeshError
from printprep.mesh import ALLOYS, check_mesh, load_mesh, metal_weight_g

POS = object()  # "more than zero"

#: Expected outcome per shared mesh (see ../shared/meshes/README.md for the defects).
#: exit: 0 printable as is, 1 defects found. Other keys are check --json values.
CHECK_EXPECT: dict[str, dict] = {
    # jewelry: clean pieces print as is; loose parts are a warning, not a defect
    "jewelry/franout_bracelet_11shells.stl": {"exit": 0, "watertight": True, "shells": 11, "bodies": 11,
                                              "volume_mm3": 3473.8, "warning": "10 of 11 parts are loose"},
    "jewelry/franout_bracelet_fused.stl": {"exit": 0, "watertight": True, "bodies": 1, "volume_mm3": 3585.2},
    "jewelry/franout_fa_symbol.stl": {"exit": 1, "non_manifold_edges": 2},
    "jewelry/diara628_necklace.stl": {"exit": 0, "watertight": True, "bodies": 10},
    "jewelry/jjg_pendant.stl": {"exit": 0, "watertight": True, "bodies": 1},
    "jewelry/jjg_pendant2.stl": {"exit": 0, "watertight": True, "bodies": 1},
    "jewelry/jmarsik_twisted_ring.stl": {"exit": 0, "watertight": True, "bodies": 1},
    "jewelry/pixelverse_ring.stl": {"exit": 0, "watertight": True, "bodies": 1},
    "jewelry/solitaire_ring.stl": {"exit": 0, "watertight": True, "bodies": 1, "volume_mm3": 289.0},
    # broken: each labelled defect is found
    "broken/trimesh_bunny.ply": {"exit": 1, "boundary_edges": POS, "non_manifold_edges": 150, "duplicate_faces": POS},
    "broken/trimesh_chair_model.obj": {"exit": 1, "non_manifold_edges": POS, "duplicate_faces": POS},
    "broken/trimesh_cycloidal.ply": {"exit": 1, "self_intersecting_faces": POS, "shells": 112},
    "broken/trimesh_capsule.obj": {"exit": 1, "degenerate_faces": 200},
    "broken/trimesh_multibody.stl": {"exit": 1, "shells": 2, "inverted_shells": 1},
    "broken/trimesh_soup.stl": {"exit": 1, "shells": 100, "watertight": False, "boundary_edges": 300},
    "broken/trimesh_teapot.stl": {"exit": 1, "watertight": False, "shells": 4},
    "broken/trimesh_wallhole.obj": {"exit": 1, "non_manifold_edges": POS, "degenerate_faces": POS},
    "broken/trimesh_shared.STL": {"exit": 1, "non_manifold_edges": 1},
    "broken/trimesh_suzanne.ply": {"exit": 1, "boundary_edges": POS},
    "broken/trimesh_featuretype.3MF": {"exit": 1, "boundary_edges": POS, "units": "inch"},
    "broken/trimesh_featuretype.STL": {"exit": 0, "watertight": True},
    "broken/trimesh_torus.STL": {"exit": 0, "watertight": True, "bodies": 1},
    "broken/trimesh_unit_cube.STL": {"exit": 0, "watertight": True, "bodies": 1},
    "broken/manifold_self_intersectA.obj": {"exit": 1, "watertight": True, "self_intersecting_faces": POS},
    "broken/manifold_self_intersectB.obj": {"exit": 1, "watertight": True, "self_intersecting_faces": POS},
    "broken/manifold_openscad-nonmanifold-crash.obj": {"exit": 1, "non_manifold_edges": 18,
                                                       "degenerate_faces": POS, "duplicate_faces": POS},
    "broken/manifold_Offset1.obj": {"exit": 1, "non_manifold_edges": POS},
    "broken/pymeshfix_planar_mesh.ply": {"exit": 1, "watertight": False, "boundary_edges": POS},
    # io: unusual but sound files
    "io/numpystl_CubeInvalidUnicode.stl": {"exit": 0, "watertight": True},
    "io/numpystl_StarWithEmptyHeader.stl": {"exit": 0, "watertight": True},
    "io/numpystl_bwb.stl": {"exit": 0, "watertight": True},
    "io/numpystl_rear_case.stl": {"watertight": True, "bodies": 1},
    "io/trimesh_counter.unitsmm.STL": {"watertight": True, "shells": 6, "units": "mm"},
    "bench/pave_band_336k.stl": {"exit": 0, "watertight": True, "bodies": 1, "volume_mm3": 323.4},
}
for _kind in ("exact", "nearby", "fill-holes"):
    CHECK_EXPECT[f"broken/admesh_block_{_kind}-bad.stl"] = {"exit": 1, "watertight": False}
for _part in ("block", "conveyor", "hourglass"):
    CHECK_EXPECT[f"broken/admesh_{_part}_remove-unconnected-bad.stl"] = {"exit": 1}
CHECK_EXPECT["broken/admesh_block_normal-directions-bad.stl"] = {"exit": 1, "winding_consistent": False}
# The conveyor "-bad" holds the very same oriented facets as its "-good" (only the vertex
# order inside facets differs), and the hourglass "-bad" is consistently wound outward
# (admesh's own "-good" output is the inside-out one). The conveyor's only defect is its
# 34 zero-area slivers, which every conveyor file has.
CHECK_EXPECT["broken/admesh_conveyor_normal-directions-bad.stl"] = {"exit": 1, "winding_consistent": True, "degenerate_faces": 34}
CHECK_EXPECT["broken/admesh_hourglass_normal-directions-bad.stl"] = {"exit": 0, "winding_consistent": True}


def _all_mesh_files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.suffix.lower() != ".md"
    )


def test_every_shared_mesh_has_an_expected_outcome(meshes: Path) -> None:
    """A new file in ../shared/meshes must get a row here (or in the repair table)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("repair_table", Path(__file__).with_name("test_mesh_repair.py"))
    assert spec and spec.loader
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    known = set(CHECK_EXPECT) | set(table.REPAIR_EXPECT) | {"io/manifold_Cray_right.obj"}
    known |= {f for f in _all_mesh_files(meshes) if f.startswith("broken/admesh_") and f.endswith("-good.stl")}
    missing = [f for f in _all_mesh_files(meshes) if f not in known]
    assert missing == []


@pytest.mark.parametrize("name", sorted(CHECK_EXPECT))
def test_check_outcome(meshes: Path, name: str) -> None:
    expect = dict(CHECK_EXPECT[name])
    report = check_mesh(load_mesh(meshes / name), thickness=name.startswith("jewelry"))
    d = report.to_dict()
    exit_code = expect.pop("exit", None)
    warning = expect.pop("warning", None)
    if exit_code is not None:
        assert report.exit_code == exit_code, d["problems"]
        assert (d["problems"] == []) == (exit_code == 0)
    for key, want in expect.items():
        if want is POS:
            assert d[key] > 0, key
        elif isinstance(want, float):
            assert d[key] == pytest.approx(want, rel=1e-3), key
        else:
            assert d[key] == want, key
    if warning:
        assert any(warning in w for w in d["warnings"]), d["warnings"]


def test_the_unreadable_file_is_an_error(meshes: Path) -> None:
    with pytest.raises(MeshError):
        load_mesh(meshes / "io" / "manifold_Cray_right.obj")


def test_json_keys_and_metal_weights(meshes: Path) -> None:
    d = check_mesh(load_mesh(meshes / "jewelry" / "solitaire_ring.stl")).to_dict()
    for key in ("watertight", "winding_consistent", "shells", "volume_mm3", "units", "scale",
                "self_intersecting_faces", "non_manifold_edges", "boundary_edges", "metal_weight_g",
                "thin_regions", "problems", "triangles", "vertices", "area_mm2", "bounding_box_mm",
                "degenerate_faces", "duplicate_faces", "debris_shells", "inverted_shells"):
        assert key in d, key
    assert set(d["metal_weight_g"]) == set(ALLOYS)
    # 289.0 mm³ of 18K yellow (15.58 g/cm³) and of platinum (21.45 g/cm³)
    assert d["metal_weight_g"]["18k-yellow"] == pytest.approx(0.289037 * 15.58, abs=0.01)
    assert d["metal_weight_g"]["platinum"] == pytest.approx(0.289037 * 21.45, abs=0.01)
    assert metal_weight_g(1000.0, "Sterling") == pytest.approx(10.40)
    with pytest.raises(MeshError, match="unknown alloy"):
        metal_weight_g(1.0, "unobtainium")


def test_clean_check_ignores_watertight_when_faces_cross(meshes: Path) -> None:
    """manifold_self_intersectA is watertight with positive volume yet crosses itself."""
    d = check_mesh(load_mesh(meshes / "broken" / "manifold_self_intersectA.obj"), thickness=False).to_dict()
    assert d["watertight"] and d["volume_mm3"] > 0
    assert d["self_intersecting_faces"] >= 300
    assert any("self-intersection" in p for p in d["problems"])


def _ring_with_prongs(prong_d_mm: float) -> trimesh.Trimesh:
    """A 2 mm-wide, 1.5 mm-thick band (inner Ø 17 mm) with four prongs of ``prong_d_mm``."""
    band = m3d.Manifold.cylinder(2.0, 10.0, 10.0, 96) - m3d.Manifold.cylinder(2.0, 8.5, 8.5, 96).translate([0, 0, 0])
    band = band.translate([0, 0, -1.0])
    prongs = [
        m3d.Manifold.cylinder(4.0, prong_d_mm / 2, prong_d_mm / 2, 32).translate([x, y, 0.0])
        .translate([0, 0, 0]).rotate([-90, 0, 0]).translate([0, 9.5, 0])
        for x, y in ((-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0))
    ]
    part = m3d.Manifold.batch_boolean([band, *prongs], m3d.OpType.Add)
    mesh = part.to_mesh()
    return trimesh.Trimesh(mesh.vert_properties[:, :3], mesh.tri_verts, process=False)


def test_thin_prongs_are_named_with_the_alloy_minimum() -> None:
    thin = check_mesh(_ring_with_prongs(0.45), alloy="18k-yellow").to_dict()
    assert thin["min_thickness_mm"] == pytest.approx(0.45, abs=0.03)
    assert thin["thin_regions"], thin
    assert all(r["min_thickness_mm"] < 0.6 for r in thin["thin_regions"])
    assert any("0.45 mm" in p and "18k-yellow needs 0.6 mm" in p for p in thin["problems"]), thin["problems"]
    assert thin["printable"] is False
    sound = check_mesh(_ring_with_prongs(0.9), alloy="18k-yellow").to_dict()
    assert sound["thin_regions"] == [] and sound["printable"], sound["problems"]
    assert sound["min_thickness_mm"] >= 0.6


def test_thin_walls_without_an_alloy_are_only_warnings() -> None:
    d = check_mesh(_ring_with_prongs(0.45)).to_dict()
    assert d["printable"] and d["thin_regions"]
    assert any("casting minimum 0.6 mm" in w for w in d["warnings"])


def test_profile_fit_and_the_three_pixel_floor(meshes: Path) -> None:
    counter = check_mesh(load_mesh(meshes / "io" / "trimesh_counter.unitsmm.STL"),
                         profile="phrozen-sonic-4k", thickness=False).to_dict()
    assert counter["fits_build_area"] is False
    assert any("does not fit phrozen-sonic-4k" in p for p in counter["problems"])
    ring = check_mesh(load_mesh(meshes / "jewelry" / "solitaire_ring.stl"), profile="phrozen-sonic-4k").to_dict()
    assert ring["fits_build_area"] is True and ring["profile"] == "phrozen-sonic-4k"
    # a 0.08 mm fin on a block: below 3 pixels of a 51.9 µm DLP (0.156 mm)
    fin = (m3d.Manifold.cube([4, 4, 2]) + m3d.Manifold.cube([3, 0.08, 3]).translate([0.5, 2, 1.9]))
    mesh = fin.to_mesh()
    part = trimesh.Trimesh(mesh.vert_properties[:, :3], mesh.tri_verts, process=False)
    d = check_mesh(part, profile="elegoo-mars-4-dlp").to_dict()
    assert any("needs 3 pixels" in p for p in d["problems"]), d["problems"]
    assert np.isclose(min(r["min_thickness_mm"] for r in d["thin_regions"]), 0.08, atol=0.01)


def _part(solid: m3d.Manifold) -> trimesh.Trimesh:
    mesh = solid.to_mesh()
    return trimesh.Trimesh(mesh.vert_properties[:, :3], mesh.tri_verts, process=False)


def test_edges_corners_and_lips_are_not_thin_walls() -> None:
    """Rays from faces at sharp edges and corners, and a 0.1 mm lip, are no walls below 3 pixels."""
    # a finely tessellated 2 mm cube and a star prism (sharp 90°-ish and acute corners)
    cube = check_mesh(_part(m3d.Manifold.cube([2, 2, 2]).refine(6)), profile="phrozen-sonic-4k").to_dict()
    assert cube["thin_regions"] == [] and cube["printable"], cube["problems"]
    assert cube["min_thickness_mm"] == pytest.approx(2.0, abs=0.01)
    # 0.1 mm nubs on a block's top (where the two halves of pixelverse_ring.stl do not quite
    # meet): thinner than 3 pixels, but bumps the printer rounds off, not walls that break
    lip = m3d.Manifold.cube([4, 4, 2])
    for x in (0.5, 1.5, 3.0):
        lip = lip + m3d.Manifold.cube([0.11, 0.1, 0.1]).translate([x, 2, 2])
    d = check_mesh(_part(lip), profile="phrozen-sonic-4k").to_dict()
    assert not any("needs 3 pixels" in p for p in d["problems"]), d["problems"]


def test_genuine_thin_walls_are_still_found(meshes: Path) -> None:
    # a 0.35 mm plate standing on a block: a casting problem for 18k, and only a warning
    # for the printer (0.35 mm is 10 pixels of a Sonic 4K)
    plate = _part(m3d.Manifold.cube([4, 4, 1]) + m3d.Manifold.cube([3, 0.35, 3]).translate([0.5, 2, 0.9]))
    d = check_mesh(plate, profile="phrozen-sonic-4k", alloy="18k-yellow").to_dict()
    assert any("0.35 mm" in p and "18k-yellow needs 0.6 mm" in p for p in d["problems"]), d["problems"]
    assert not any("needs 3 pixels" in p for p in d["problems"]), d["problems"]
    # the solitaire's prongs (0.66–0.84 mm) are found below a 0.9 mm minimum
    ring = check_mesh(load_mesh(meshes / "jewelry" / "solitaire_ring.stl"), min_wall_mm=0.9).to_dict()
    assert any(0.6 <= r["min_thickness_mm"] <= 0.85 for r in ring["thin_regions"]), ring["thin_regions"]
    # jjg_pendant.stl: a round pocket (a 50-gon inscribed in a 10 mm circle, z 1–5 mm)
    # touches the plate's edge at y = -10; the polygon's flat leaves a real wall of
    # 10 (1 - cos(π/50)) = 0.0197 mm that no printer forms
    pendant = check_mesh(load_mesh(meshes / "jewelry" / "jjg_pendant.stl"), profile="phrozen-sonic-4k").to_dict()
    sagitta = 10 * (1 - np.cos(np.pi / 50))
    assert pendant["min_thickness_mm"] == pytest.approx(sagitta, abs=0.002)
    assert any("needs 3 pixels" in p for p in pendant["problems"]), pendant["problems"]


def test_coplanar_overlaps_are_found_where_nothing_crosses(meshes: Path) -> None:
    """Two blocks pressed face to face (one slid 0.3 mm so no corner is shared) overlap in
    one plane without any edge passing through a face; so do parts of
    franout_fa_symbol.stl. Check names them as a warning; clean pieces have none."""
    a = trimesh.creation.box(extents=[1, 1, 1]).apply_translation([0.5, 0.5, 0.5])
    b = trimesh.creation.box(extents=[1, 1, 1]).apply_translation([1.5, 0.8, 0.5])
    pressed = check_mesh(trimesh.util.concatenate([a, b]), thickness=False).to_dict()
    assert pressed["self_intersecting_faces"] == 0
    assert pressed["coplanar_contact_faces"] >= 2  # the x = 1 faces of both blocks
    assert any("coplanar overlap" in w for w in pressed["warnings"])
    apart = check_mesh(trimesh.util.concatenate([a, b.copy().apply_translation([0.01, 0, 0])]), thickness=False)
    assert apart.to_dict()["coplanar_contact_faces"] == 0  # 10 µm apart is a gap, not a contact
    symbol = check_mesh(load_mesh(meshes / "jewelry/franout_fa_symbol.stl"), thickness=False).to_dict()
    assert symbol["coplanar_contact_faces"] > 0
    for clean in ("jewelry/solitaire_ring.stl", "jewelry/diara628_necklace.stl"):
        assert check_mesh(load_mesh(meshes / clean), thickness=False).to_dict()["coplanar_contact_faces"] == 0
