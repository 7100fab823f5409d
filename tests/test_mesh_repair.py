"""``repair_mesh`` over every shared mesh, and over damaged copies of the clean jewelry
(holes of many sizes, flipped and inverted shells, duplicates, degenerate faces, debris,
overlapping shells, unmerged vertices, inch scale): the clean volume must come back
within 0.5 % with the right number of bodies."""

from __future__ import annotations

from pathlib import Path

import manifold3d as m3d
import numpy as np
import pytest
import trimesh

from printprep.mesh import check_mesh, load_mesh, repair_mesh, save_mesh
from printprep.mesh.intersect import self_intersecting_faces
from printprep.mesh.raycast import RayScene
from printprep.mesh.topology import edge_info, face_components, winding_numbers

SOUND = {"exit": 0, "watertight": True}

#: Expected outcome of repair per shared mesh. exit 0: the output is a sound solid
#: (watertight, consistent, outward, positive volume, no self-intersections); 1: some
#: defect remains and the report says which. "volume_of": the repaired volume must match
#: that of another file's repair (admesh's own "-good" result) within 0.5 %.
REPAIR_EXPECT: dict[str, dict] = {
    "jewelry/franout_bracelet_11shells.stl": {**SOUND, "bodies": 11, "volume_mm3": 3473.8},
    "jewelry/franout_bracelet_fused.stl": {**SOUND, "bodies": 1, "volume_mm3": 3585.2},
    "jewelry/franout_fa_symbol.stl": {**SOUND, "bodies": 1, "non_manifold_edges": 0},
    "jewelry/diara628_necklace.stl": {**SOUND, "bodies": 10},
    "jewelry/jjg_pendant.stl": {**SOUND, "bodies": 1},
    "jewelry/jjg_pendant2.stl": {**SOUND, "bodies": 1},
    "jewelry/jmarsik_twisted_ring.stl": {**SOUND, "bodies": 1},
    "jewelry/pixelverse_ring.stl": {**SOUND, "bodies": 1},
    "jewelry/solitaire_ring.stl": {**SOUND, "bodies": 1, "volume_mm3": 289.0},
    "broken/trimesh_capsule.obj": {**SOUND, "bodies": 1, "degenerate_faces": 0},
    "broken/trimesh_cycloidal.ply": {**SOUND, "bodies": 1},  # the gears overlap: one body
    "broken/trimesh_featuretype.3MF": {**SOUND, "bodies": 1},
    "broken/trimesh_featuretype.STL": {**SOUND, "bodies": 1},
    "broken/trimesh_torus.STL": {**SOUND, "bodies": 1},
    "broken/trimesh_unit_cube.STL": {**SOUND, "bodies": 1},
    "broken/trimesh_multibody.stl": {**SOUND, "bodies": 2, "inverted_shells": 0},
    "broken/trimesh_shared.STL": {**SOUND, "non_manifold_edges": 0},
    "broken/trimesh_suzanne.ply": {**SOUND, "bodies": 1},
    "broken/trimesh_teapot.stl": {**SOUND},  # the lid sits apart from the pot: two bodies
    "broken/trimesh_wallhole.obj": {**SOUND, "bodies": 1},
    # open sheets and soup are reported, never faked into solids
    "broken/pymeshfix_planar_mesh.ply": {"exit": 1, "watertight": False, "problem": "cannot be made solid"},
    "broken/trimesh_soup.stl": {"exit": 1, "watertight": False, "problem": "cannot be made solid"},
    # a shell through itself is cut where it crosses, re-closed and unioned: one sound
    # body whose volume counts the doubly covered region once (the change is reported)
    "broken/manifold_self_intersectA.obj": {**SOUND, "bodies": 1, "problem": "the repair changed the volume by -"},
    "broken/manifold_self_intersectB.obj": {**SOUND, "bodies": 1, "problem": "the repair changed the volume by -"},
    # known weak: crossings that survive are reported (exit 1), the result is closed
    "broken/trimesh_bunny.ply": {"units": "m", "watertight": True, "non_manifold_edges": 0},
    "broken/trimesh_chair_model.obj": {"watertight": True, "non_manifold_edges": 0},
    "broken/manifold_openscad-nonmanifold-crash.obj": {"watertight": True, "non_manifold_edges": 0},
    "broken/manifold_Offset1.obj": {"watertight": True, "non_manifold_edges": 0},
    "io/numpystl_CubeInvalidUnicode.stl": {**SOUND, "bodies": 1},
    "io/numpystl_StarWithEmptyHeader.stl": {**SOUND, "bodies": 1},
    "io/numpystl_bwb.stl": {**SOUND, "bodies": 1},
    "io/numpystl_rear_case.stl": {"watertight": True, "bodies": 1},
    "io/trimesh_counter.unitsmm.STL": {**SOUND},
}
for _part, _kinds in {
    "block": ("exact", "nearby", "fill-holes", "normal-directions", "remove-unconnected"),
    "conveyor": ("fill-holes", "nearby", "normal-directions", "remove-unconnected"),
    "hourglass": ("fill-holes", "nearby", "normal-directions", "remove-unconnected"),
}.items():
    for _kind in _kinds:
        REPAIR_EXPECT[f"broken/admesh_{_part}_{_kind}-bad.stl"] = {
            **SOUND, "volume_of": f"broken/admesh_{_part}_{_kind}-good.stl",
            # the stray facet far away would make the hourglass look inch-sized: say metres
            **({"units": "m"} if (_part, _kind) == ("hourglass", "remove-unconnected") else {}),
        }


@pytest.mark.parametrize("name", sorted(REPAIR_EXPECT))
def test_repair_outcome(meshes: Path, name: str, tmp_path: Path) -> None:
    expect = dict(REPAIR_EXPECT[name])
    units = expect.pop("units", None)
    loaded = load_mesh(meshes / name, units=units)
    result = repair_mesh(loaded, thickness=False)
    d = result.to_dict()
    exit_code = expect.pop("exit", None)
    if exit_code is not None:
        assert result.exit_code == exit_code, d["problems"]
    if "problem" in expect:
        sentence = expect.pop("problem")
        assert any(sentence in p for p in d["problems"]), d["problems"]
    if expect.pop("fewer_crossings", False):
        before = check_mesh(loaded, thickness=False).to_dict()["self_intersecting_faces"]
        assert d["self_intersecting_faces"] < before
    if "volume_of" in expect:
        good = repair_mesh(load_mesh(meshes / expect.pop("volume_of"), units=units), thickness=False)
        assert d["volume_mm3"] == pytest.approx(good.report.to_dict()["volume_mm3"], rel=0.005)
    for key, want in expect.items():
        if isinstance(want, float):
            assert d[key] == pytest.approx(want, rel=0.005), key
        else:
            assert d[key] == want, (key, d["problems"])
    # every step is listed with a count, and the written file reads back the same
    assert all(set(s) == {"step", "count"} for s in d["steps"])
    out = save_mesh(result.mesh, tmp_path / "out.stl")
    again = load_mesh(out, units="mm").mesh
    assert again.volume == pytest.approx(result.mesh.volume, rel=1e-4, abs=1e-6)


def test_self_crossing_repair_counts_the_doubled_region_once(meshes: Path) -> None:
    """manifold_self_intersectA folds through itself, so a region lies inside the surface
    twice (generalised winding number 2) and the signed volume counts it twice. The
    repaired solid must hold the volume of the region inside at all: the signed volume
    less the doubled region, which is measured here independently by sampling winding
    numbers in the box around the crossing faces (the rest of the part is unchanged)."""
    loaded = load_mesh(meshes / "broken/manifold_self_intersectA.obj")
    v, f = np.asarray(loaded.mesh.vertices), np.asarray(loaded.mesh.faces)
    crossing = self_intersecting_faces(v, f, edge_info(f, len(v)), RayScene(v, f))
    assert len(crossing) > 100
    pts = v[f[crossing]].reshape(-1, 3)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    box_mm3 = float(np.prod(hi - lo))
    samples = lo + np.random.default_rng(7).random((400, 3)) * (hi - lo)
    share = float((np.round(winding_numbers(samples, v, f)) >= 2).mean())
    doubled_mm3 = share * box_mm3
    error_mm3 = 4 * np.sqrt(share * (1 - share) / len(samples)) * box_mm3
    assert doubled_mm3 > 10 * error_mm3 / 4  # the doubled region is real, not noise
    result = repair_mesh(loaded, thickness=False)
    assert result.exit_code == 0, result.to_dict()["problems"]
    signed_mm3 = float(loaded.mesh.volume)
    assert result.report.data["volume_mm3"] == pytest.approx(signed_mm3 - doubled_mm3, abs=error_mm3 + 0.5)


# --- damaged copies of clean jewelry -------------------------------------------------


def _clean(meshes: Path, name: str) -> trimesh.Trimesh:
    return load_mesh(meshes / "jewelry" / name, units="mm").mesh


def _bodies(mesh: trimesh.Trimesh) -> int:
    info = edge_info(np.asarray(mesh.faces), len(mesh.vertices))
    return face_components(info, len(mesh.faces))[0]


def _punch_holes(mesh: trimesh.Trimesh, sizes: list[int], seed: int) -> trimesh.Trimesh:
    """Remove patches of about ``size`` faces around random faces (grown ring by ring)."""
    rng = np.random.default_rng(seed)
    faces = np.asarray(mesh.faces)
    adjacency = mesh.face_adjacency
    gone = np.zeros(len(faces), dtype=bool)
    for size in sizes:
        patch = np.zeros(len(faces), dtype=bool)
        patch[rng.integers(len(faces))] = True
        while patch.sum() < size:
            grow = patch[adjacency[:, 0]] | patch[adjacency[:, 1]]
            patch[adjacency[grow].reshape(-1)] = True
        gone |= patch
    return trimesh.Trimesh(mesh.vertices, faces[~gone], process=False)


def _flip(mesh: trimesh.Trimesh, fraction: float, seed: int) -> trimesh.Trimesh:
    faces = np.asarray(mesh.faces).copy()
    pick = np.random.default_rng(seed).random(len(faces)) < fraction
    faces[pick] = faces[pick][:, ::-1]
    return trimesh.Trimesh(mesh.vertices, faces, process=False)


def _soup(mesh: trimesh.Trimesh, jitter_mm: float, seed: int) -> trimesh.Trimesh:
    """Every face with its own vertices (unmerged), nudged by up to ``jitter_mm``."""
    tri = mesh.triangles.copy()
    rng = np.random.default_rng(seed)
    tri += rng.uniform(-jitter_mm, jitter_mm, tri.shape) * (rng.random(tri.shape[:2]) < 0.3)[..., None]
    return trimesh.Trimesh(tri.reshape(-1, 3), np.arange(len(tri) * 3).reshape(-1, 3), process=False)


def _concat(*meshes: trimesh.Trimesh) -> trimesh.Trimesh:
    return trimesh.util.concatenate(list(meshes))


def _tiny_debris(at: np.ndarray, n: int) -> list[trimesh.Trimesh]:
    """Tetrahedra of 0.01 mm edges (far below three printer voxels) and loose triangles."""
    tet = trimesh.creation.box(extents=[0.01, 0.01, 0.01])
    out = [tet.copy().apply_translation(at + [i * 0.5, 0, 0]) for i in range(n)]
    out.append(trimesh.Trimesh([[0, 0, 0], [0.05, 0, 0], [0, 0.05, 0]] + at, [[0, 1, 2]], process=False))
    return out


DAMAGES = {
    # holes of 1–20 faces (up to 8 on the necklace, whose links have only 108 faces each)
    "holes of many sizes": lambda m: _punch_holes(m, [1, 3, 8, 20] if len(m.faces) > 2000 else [1, 3, 8], seed=1),
    "flipped faces": lambda m: _flip(m, 0.05, seed=2),
    "inverted": lambda m: _flip(m, 1.0, seed=3),
    "duplicates": lambda m: trimesh.Trimesh(m.vertices, np.concatenate([m.faces, m.faces[::17]]), process=False),
    "degenerate faces": lambda m: trimesh.Trimesh(
        m.vertices, np.concatenate([m.faces, np.stack([m.faces[::23, 0], m.faces[::23, 0], m.faces[::23, 1]], 1)]),
        process=False),
    "debris": lambda m: _concat(m, *_tiny_debris(m.bounds[1] + 3.0, 4)),
    "unmerged vertices": lambda m: _soup(m, 1e-4, seed=4),
    "everything at once": lambda m: _flip(_punch_holes(_concat(m, *_tiny_debris(m.bounds[1] + 3.0, 2)), [3], seed=5), 0.03, seed=6),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize(("name", "bodies"), [("solitaire_ring.stl", 1), ("franout_bracelet_11shells.stl", 11), ("diara628_necklace.stl", 10)])
def test_repair_restores_damaged_copies(meshes: Path, name: str, bodies: int, damage: str) -> None:
    clean = _clean(meshes, name)
    broken = DAMAGES[damage](clean.copy())
    result = repair_mesh(broken, thickness=False)
    d = result.to_dict()
    assert result.exit_code == 0, d["problems"]
    assert d["bodies"] == bodies == _bodies(result.mesh)
    assert d["volume_mm3"] == pytest.approx(clean.volume, rel=0.005)
    assert d["steps"], d


def test_inch_scale_is_applied(meshes: Path, tmp_path: Path) -> None:
    clean = _clean(meshes, "solitaire_ring.stl")
    inch = trimesh.Trimesh(clean.vertices / 25.4, clean.faces, process=False)
    path = save_mesh(_flip(inch, 0.05, seed=7), tmp_path / "ring_in.stl")
    result = repair_mesh(load_mesh(path))
    d = result.to_dict()
    assert d["units"] == "inch" and d["scale"] == 25.4
    assert any(s["step"].startswith("scale inch to mm") for s in d["steps"])
    assert d["volume_mm3"] == pytest.approx(289.0, rel=0.005)


def test_prongs_survive_repair(meshes: Path) -> None:
    """The solitaire's 0.66–0.84 mm prongs keep their thickness through a repair."""
    clean = _clean(meshes, "solitaire_ring.stl")
    before = check_mesh(clean).to_dict()
    result = repair_mesh(_punch_holes(_flip(clean, 0.05, seed=8), [3, 10], seed=9))
    after = result.to_dict()
    assert result.exit_code == 0
    assert after["min_thickness_mm"] == pytest.approx(before["min_thickness_mm"], abs=0.02)
    assert after["volume_mm3"] == pytest.approx(before["volume_mm3"], rel=0.005)
    assert after["bodies"] == 1


def _solid(man: m3d.Manifold) -> trimesh.Trimesh:
    mesh = man.to_mesh()
    return trimesh.Trimesh(mesh.vert_properties[:, :3], mesh.tri_verts, process=False)


def test_overlapping_shells_fuse_and_disjoint_ones_stay_apart() -> None:
    a = m3d.Manifold.cylinder(3.0, 4.0, 4.0, 64)
    b = m3d.Manifold.cube([3.0, 3.0, 3.0]).translate([2.0, -1.5, 1.0])  # overlaps a
    far = m3d.Manifold.sphere(1.5, 48).translate([20.0, 0, 0])  # disjoint
    mesh = _concat(_solid(a), _solid(b), _solid(far))
    result = repair_mesh(mesh, thickness=False)
    d = result.to_dict()
    expected = (a + b).volume() + far.volume()
    assert result.exit_code == 0, d["problems"]
    assert d["bodies"] == 2
    assert d["volume_mm3"] == pytest.approx(expected, rel=0.005)
    assert any(s["step"].startswith("fuse") and s["count"] == 2 for s in d["steps"])


def test_interlocked_links_stay_separate_bodies() -> None:
    """Two chain links threaded through each other never touch: two bodies."""
    link = m3d.Manifold.revolve(m3d.CrossSection.circle(0.6, 24).translate([3.0, 0]), 48)
    other = link.rotate([90, 0, 0]).translate([3.0, 0, 0])
    mesh = _concat(_solid(link), _solid(other))
    d = repair_mesh(mesh, thickness=False).to_dict()
    assert d["bodies"] == 2 and d["self_intersecting_faces"] == 0
    assert d["volume_mm3"] == pytest.approx(2 * link.volume(), rel=1e-4)


def test_a_cavity_stays_a_cavity() -> None:
    outer = _solid(m3d.Manifold.cube([10, 10, 10], True))
    inner = _solid(m3d.Manifold.cube([4, 4, 4], True))
    hollow = _concat(outer, trimesh.Trimesh(inner.vertices, inner.faces[:, ::-1], process=False))
    result = repair_mesh(_flip(hollow, 1.0, seed=10), thickness=False)  # all inside out
    d = result.to_dict()
    assert result.exit_code == 0, d["problems"]
    assert d["volume_mm3"] == pytest.approx(1000 - 64, rel=1e-6)
    assert d["cavities"] == 1 and d["inverted_shells"] == 0


def test_volume_change_over_half_a_percent_is_reported() -> None:
    """A shell crossing itself loses its double-counted overlap: the report says so."""
    a = _solid(m3d.Manifold.cube([4, 4, 4]))
    b = _solid(m3d.Manifold.cube([4, 4, 4]).translate([2, 2, 2]))
    result = repair_mesh(_concat(a, b), thickness=False)
    d = result.to_dict()
    assert d["volume_mm3"] == pytest.approx(64 + 64 - 8, rel=1e-6)
    assert any("changed the volume" in p for p in d["problems"]), d["problems"]


def test_zero_area_sliver_is_collapsed_and_the_solid_stays_closed(meshes: Path) -> None:
    """A boolean leaves slivers along its cut lines: a vertex 0.1 nm from a corner on an
    edge, with a zero-area face closing the gap. Repair collapses the tiny edge; the ring
    comes back watertight, without degenerate faces and with its volume."""
    ring = _clean(meshes, "solitaire_ring.stl")
    v, f = np.asarray(ring.vertices), np.asarray(ring.faces)
    a, b, c = (int(x) for x in f[0])
    other = np.flatnonzero(((f == a) | (f == b)).sum(axis=1) == 2)
    assert len(other) == 2  # face 0 and the face across edge ab
    m = len(v)
    near_a = v[a] + 1e-7 * (v[b] - v[a]) / np.linalg.norm(v[b] - v[a])
    split = np.array([[a, m, c], [m, b, c], [b, m, a]])  # the last one has zero area
    broken = trimesh.Trimesh(np.vstack([v, near_a]), np.vstack([f[1:], split]), process=False)
    before = check_mesh(broken, thickness=False).to_dict()
    assert before["watertight"] and before["degenerate_faces"] == 1
    result = repair_mesh(broken, thickness=False)
    d = result.to_dict()
    assert result.exit_code == 0, d["problems"]
    assert d["degenerate_faces"] == 0 and d["watertight"] and d["triangles"] == len(f)
    assert {"step": "collapse zero-area slivers", "count": 2} in d["steps"]
    assert d["volume_mm3"] == pytest.approx(ring.volume, rel=1e-6)
