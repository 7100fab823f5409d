"""The compiled cut (slicing/cut.py, cut_kernels.py) against manifold3d's own slice."""

from __future__ import annotations

import manifold3d
import numpy as np
import trimesh

from printprep.casting.solids import to_manifold
from printprep.slicing.cut import cut_layers, mesh_arrays
from printprep.slicing.cut_kernels import layer_faces


def _area(rings: list[np.ndarray]) -> float:
    """Signed area (mm²) of rings: outer rings count positive, holes negative."""
    return float(sum(0.5 * np.sum(r[:, 0] * np.roll(r[:, 1], -1) - np.roll(r[:, 0], -1) * r[:, 1]) for r in rings))


def test_layer_faces_are_the_faces_each_plane_crosses(meshes) -> None:
    solid = to_manifold(trimesh.load(meshes / "jewelry" / "solitaire_ring.stl"))
    verts, faces = mesh_arrays(solid)
    zs = np.linspace(verts[:, 2].min() - 0.5, verts[:, 2].max() + 0.5, 57)
    want = np.arange(len(zs)) % 3 != 1
    start, ids = layer_faces(verts, faces, zs, want)
    fz = verts[faces, 2]
    for i, z in enumerate(zs):
        expect = np.flatnonzero((fz.min(axis=1) < z) & (fz.max(axis=1) >= z)) if want[i] else np.zeros(0, int)
        assert np.array_equal(ids[start[i] : start[i + 1]], expect), i


def test_rings_are_manifolds_rings(meshes) -> None:
    """On a real ring and a block with a through hole: the same ring count, the same signed area (holes clockwise), closed
    chains whose points lie on manifold3d's rings (up to the 1e-8 mm it rounds to)."""
    ring = to_manifold(trimesh.load(meshes / "jewelry" / "solitaire_ring.stl"))
    block = manifold3d.Manifold.cube((6.0, 5.0, 4.0)) - manifold3d.Manifold.cube((2.0, 2.0, 10.0)).translate((2.0, 1.5, -1.0))
    cases = [
        (ring, np.linspace(*np.asarray(ring.bounding_box())[[2, 5]], 83)[1:-1]),
        (block, np.array([0.5, 1.0, 2.0, 3.25])),
    ]
    checked = 0
    for solid, zs in cases:
        ours = cut_layers(solid, zs)
        for z, mine in zip(zs, ours, strict=True):
            ref = solid.slice(float(z)).to_polygons()
            assert len(mine) == len(ref), z
            assert abs(_area(mine) - _area(ref)) <= 1e-8 * max(1.0, abs(_area(ref))), z
            refpts = np.concatenate(ref)
            for r in mine:
                d = np.abs(r[:, None, :] - refpts[None, :, :]).max(axis=2).min(axis=1)
                # manifold3d rounds its cross-sections (its polygon clipper) to ~1e-8 mm
                assert d.max() < 1e-8
                checked += len(r)
    assert checked > 1000
    hole = cut_layers(block, np.array([2.0]))[0]
    assert sorted(round(_area([r]), 9) for r in hole) == [-4.0, 30.0]


def test_thumbnail_face_areas_are_numpys(meshes) -> None:
    """The thumbnails' triangle areas, in chunks and in one compiled pass (a big mesh),
    equal numpy's cross-product areas."""
    from printprep.slicing.thumbnail import _face_areas

    mesh = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    v, f = np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int64)
    ref = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    np.testing.assert_allclose(_face_areas(v, f), ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_face_areas(v, f, chunk=1000), ref, rtol=1e-12, atol=1e-15)
    assert len(f) > 1000 and ref.sum() > 100.0


def test_the_same_section_gives_the_same_arrays(meshes) -> None:
    """Rings start at their lowest (x, then y) vertex and a layer's rings are sorted by
    it: the ring cut from a copy whose vertices and triangles are listed in another order
    gives identical arrays (what lets a re-planned support solid compare equal layer by
    layer without sorting)."""
    mesh = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    v, f = np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int64)
    rng = np.random.default_rng(3)
    perm = rng.permutation(len(v))
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(v))
    f2 = inv[f][rng.permutation(len(f))]
    f2 = np.roll(f2, 1, axis=1)  # each triangle starts at another corner, same winding
    zs = np.linspace(v[:, 2].min() + 0.01, v[:, 2].max() - 0.01, 41)
    a = cut_layers(None, zs, arrays=(v, f))
    b = cut_layers(None, zs, arrays=(v[perm], f2))
    assert sum(len(x) for x in a) > 40
    for x, y in zip(a, b, strict=True):
        assert len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x, y, strict=True))
        for r in x:
            assert np.lexsort((r[:, 1], r[:, 0]))[0] == 0  # starts at its lowest vertex
        starts = np.array([r[0] for r in x]).reshape(-1, 2)
        assert np.all(np.diff(starts[:, 0]) >= 0)


def test_cutting_a_few_layers_at_a_time_gives_the_same_rings(meshes) -> None:
    """LayerCutter (the archive's chunks) gives each layer the rings cut_layers gives
    when all layers are cut at once."""
    from printprep.slicing.cut import LayerCutter

    solid = to_manifold(trimesh.load(meshes / "jewelry" / "solitaire_ring.stl"))
    lo, hi = np.asarray(solid.bounding_box()).reshape(2, 3)[:, 2]
    zs = np.linspace(lo + 0.01, hi - 0.01, 50)
    whole = cut_layers(solid, zs)
    cutter = LayerCutter(solid, zs)
    idx = np.arange(len(zs))
    got: list = [None] * len(zs)
    for s in range(0, len(zs), 7):
        part = cutter.rings((idx >= s) & (idx < s + 7))
        for i in range(len(zs)):
            if s <= i < s + 7:
                got[i] = part[i]
            else:
                assert part[i] == []
    assert sum(len(r) for r in whole) > 50
    for a, b in zip(whole, got, strict=True):
        assert len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
