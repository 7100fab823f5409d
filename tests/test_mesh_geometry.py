"""Geometry queries of printprep.mesh: self-intersection (rays and the grid search),
coplanar contacts, wall thickness and the ray scene.

Hand-built cases have their answer by construction; the shared meshes are checked against
what they are known to be (manifold_self_intersectA crosses itself, the clean jewelry does
not, franout_fa_symbol has parts pressed face to face) and against a brute-force numpy
reading of the same tests over every pair of faces.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from printprep.mesh import raycast
from printprep.mesh.coplanar import coplanar_contacts
from printprep.mesh.grid import face_pairs
from printprep.mesh.intersect import (
    COPLANAR_MM,
    MIN_OVERLAP_MM,
    OPPOSED_COS,
    crossing_pairs,
    self_intersecting_faces,
)
from printprep.mesh.load import load_mesh
from printprep.mesh.raycast import RayScene
from printprep.mesh.thickness import face_thickness_mm


def _arrays(path) -> tuple[np.ndarray, np.ndarray]:
    mesh = load_mesh(path).mesh
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def _pairs(a: np.ndarray, b: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(a.tolist(), b.tolist(), strict=True))


def _both_ways(v: np.ndarray, f: np.ndarray) -> tuple[set, set]:
    """Crossing pairs by the ray search and by the grid search (every face as the subset)."""
    rays = _pairs(*crossing_pairs(v, f))
    grid = _pairs(*crossing_pairs(v, f, only=np.ones(len(f), dtype=bool)))
    return rays, grid


# a flat triangle in z = 0 (face 0) and others placed against it
FLAT = [[-2.0, -2.0, 0.0], [3.0, -2.0, 0.0], [-2.0, 3.0, 0.0]]


def test_two_crossing_triangles_are_found_both_ways():
    v = np.array(FLAT + [[0.0, 0.0, -1.0], [0.5, 0.0, 1.0], [0.0, 0.5, 1.0]])
    f = np.array([[0, 1, 2], [3, 4, 5]])
    rays, grid = _both_ways(v, f)
    # edges 3-4 and 3-5 of face 1 pass through face 0
    assert rays == grid == {(1, 0)}
    assert self_intersecting_faces(v, f).tolist() == [0, 1]


def test_touching_at_a_vertex_is_not_a_crossing():
    # face 1 shares vertex 0 with face 0 and stands up from it
    v = np.array(FLAT + [[-2.0, -1.0, 1.0], [-1.0, -2.0, 1.0]])
    f = np.array([[0, 1, 2], [0, 3, 4]])
    assert _both_ways(v, f) == (set(), set())
    # a corner resting on the face's interior (its own vertex, same place) is contact, not crossing
    v2 = np.array(FLAT + [[0.0, 0.0, 0.0], [0.5, 0.0, 1.0], [0.0, 0.5, 1.0]])
    assert _both_ways(v2, np.array([[0, 1, 2], [3, 4, 5]])) == (set(), set())


def test_edge_neighbours_never_cross():
    v = np.array(FLAT + [[0.0, 0.0, -1.0]])
    f = np.array([[0, 1, 2], [1, 0, 3]])
    assert _both_ways(v, f) == (set(), set())


def test_a_fold_through_a_shared_vertex_is_found():
    # face 1 shares vertex 0 with face 0; its opposite edge (3-4) passes through face 0
    v = np.array([[0.0, 0.0, 0.0], [2.0, -1.0, 0.0], [2.0, 1.0, 0.0], [1.5, 0.0, 1.0], [1.5, 0.0, -1.0]])
    f = np.array([[0, 1, 2], [0, 3, 4]])
    rays, grid = _both_ways(v, f)
    assert rays == grid == {(1, 0)}


def test_one_edge_through_two_faces_the_grid_finds_both():
    # two parallel sheets (faces 0 and 1) and a needle (face 2) whose edge pierces both;
    # a ray per edge stops at the first face, the pairwise search sees every pair
    v = np.array(FLAT + [[p[0], p[1], 1.0] for p in FLAT] + [[0.0, 0.0, -1.0], [0.0, 0.0, 2.0], [0.2, 0.2, 2.0]])
    f = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    rays, grid = _both_ways(v, f)
    assert grid == {(2, 0), (2, 1)}
    assert rays and rays <= grid


def test_coplanar_overlap_is_a_contact_not_a_crossing():
    # face 1 lies on face 0, reversed (the two touch face to face); face 2 lies on it the
    # same way round (a duplicate, not a contact)
    v = np.array(FLAT + [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.1, 0.1, 0.0], [1.1, 0.1, 0.0], [0.1, 1.1, 0.0]])
    f = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    a, b = coplanar_contacts(v, f)
    assert {tuple(sorted(p)) for p in _pairs(a, b)} == {(0, 1), (1, 2)}
    assert _both_ways(v, f) == (set(), set())
    grid = face_pairs(v, f).contacts
    assert {tuple(sorted(p)) for p in grid.tolist()} == {(0, 1), (1, 2)}
    # lifted 0.01 mm off the plane: apart, not pressed together
    v[3:6, 2] += 10 * COPLANAR_MM
    assert len(coplanar_contacts(v, f)[0]) == 0


def test_self_intersecting_mesh_is_caught_and_clean_meshes_are_not(meshes):
    v, f = _arrays(meshes / "broken" / "manifold_self_intersectA.obj")
    rays, grid = _both_ways(v, f)
    assert len(rays) > 100
    assert rays <= grid  # a ray stops at its first hit; every pair it finds is a real one
    for name in ("jewelry/solitaire_ring.stl", "jewelry/franout_bracelet_fused.stl", "broken/trimesh_unit_cube.STL"):
        v, f = _arrays(meshes / name)
        assert _both_ways(v, f) == (set(), set()), name


@pytest.mark.parametrize("size", [1, 40, 3000])
def test_only_subset_agrees_with_the_full_search(meshes, size):
    v, f = _arrays(meshes / "broken" / "manifold_self_intersectA.obj")
    full = face_pairs(v, f, coplanar=False).crossing
    rng = np.random.default_rng(size)
    crossing_faces = np.unique(full)
    # half the subset from faces known to cross, half anywhere
    ids = np.unique(np.concatenate([rng.choice(crossing_faces, size // 2 + 1), rng.choice(len(f), size // 2)]))
    mask = np.zeros(len(f), dtype=bool)
    mask[ids] = True
    expected = {p for p in map(tuple, full.tolist()) if mask[p[0]] or mask[p[1]]}
    got = _pairs(*crossing_pairs(v, f, only=ids))
    assert got == expected and expected
    assert _pairs(*crossing_pairs(v, f, only=mask)) == expected
    sif = self_intersecting_faces(v, f, only=ids)
    assert set(sif.tolist()) == {x for p in expected for x in p}


def test_only_names_faces_of_the_mesh():
    v = np.array(FLAT + [[0.0, 0.0, -1.0]])
    f = np.array([[0, 1, 2], [1, 0, 3]])
    with pytest.raises(ValueError, match="names face 5; the mesh has 2 faces"):
        crossing_pairs(v, f, only=[5])
    with pytest.raises(ValueError, match="mask has shape"):
        coplanar_contacts(v, f, only=np.ones(3, dtype=bool))
    assert len(crossing_pairs(v, f, only=np.zeros(0, dtype=np.int64))[0]) == 0
    assert len(coplanar_contacts(v, f, only=[])[0]) == 0


def _brute_contacts(v: np.ndarray, f: np.ndarray) -> set[tuple[int, int]]:
    """Every pair of faces through the contact tests, in numpy (no binning)."""
    tri = v[f]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    u = n / np.linalg.norm(n, axis=1)[:, None]
    i, j = np.triu_indices(len(f), 1)
    keep = np.einsum("ij,ij->i", u[i], u[j]) < OPPOSED_COS
    i, j = i[keep], j[keep]
    keep = ~(f[i][:, :, None] == f[j][:, None, :]).any(axis=(1, 2))
    i, j = i[keep], j[keep]
    out = set()
    centroid = tri.mean(axis=1)
    for a, b in zip(i.tolist(), j.tolist(), strict=True):  # a few thousand opposed pairs
        dist = abs(np.dot(centroid[b] - tri[a, 0], u[a]))
        dist2 = abs(np.dot(centroid[a] - tri[b, 0], u[b]))
        if min(dist, dist2) >= COPLANAR_MM:
            continue
        helper = np.array([1.0, 0, 0]) if abs(u[a, 0]) < 0.9 else np.array([0, 1.0, 0])
        ax = np.cross(u[a], helper)
        ax /= np.linalg.norm(ax)
        ay = np.cross(u[a], ax)
        pa = np.stack([tri[a] @ ax, tri[a] @ ay], 1)
        pb = np.stack([tri[b] @ ax, tri[b] @ ay], 1)
        depth = np.inf
        for t in (pa, pb):
            for k in range(3):
                e = t[(k + 1) % 3] - t[k]
                axis = np.array([-e[1], e[0]]) / np.hypot(*e)
                sa, sb = pa @ axis, pb @ axis
                depth = min(depth, sa.max() - sb.min(), sb.max() - sa.min())
        if depth > MIN_OVERLAP_MM:
            out.add((a, b))
    return out


def test_coplanar_contacts_of_the_symbol_match_a_brute_force_search(meshes):
    v, f = _arrays(meshes / "jewelry" / "franout_fa_symbol.stl")
    a, b = coplanar_contacts(v, f)
    found = {tuple(sorted(p)) for p in _pairs(a, b)}
    brute = _brute_contacts(v, f)
    assert len(found) >= 8
    assert found <= brute
    # the subset search keeps exactly the pairs that touch the subset
    ids = np.unique(a[::2])
    mask = np.zeros(len(f), dtype=bool)
    mask[ids] = True
    sub = {tuple(sorted(p)) for p in _pairs(*coplanar_contacts(v, f, only=ids))}
    assert sub == {p for p in found if mask[p[0]] or mask[p[1]]}


def test_clean_meshes_have_no_coplanar_contacts(meshes):
    for name in ("jewelry/solitaire_ring.stl", "jewelry/franout_bracelet_fused.stl"):
        v, f = _arrays(meshes / name)
        assert len(coplanar_contacts(v, f)[0]) == 0, name


def test_wall_thickness_of_a_plate_and_an_inverted_plate():
    plate = trimesh.creation.box(extents=(10.0, 8.0, 0.5))
    v, f = np.asarray(plate.vertices, dtype=np.float64), np.asarray(plate.faces, dtype=np.int64)
    th = face_thickness_mm(v, f, RayScene(v, f))
    normal_z = np.abs(plate.face_normals[:, 2]) > 0.99
    assert np.allclose(th[normal_z], 0.5, atol=1e-6)
    # the long sides see the far side 8 mm or 10 mm away
    assert np.all(th[~normal_z] > 7.9)
    # inside out: the normals point into the material, flip says so
    inv = f[:, ::-1].copy()
    th_inv = face_thickness_mm(v, inv, RayScene(v, inv), flip=np.ones(len(f), dtype=bool))
    assert np.allclose(th_inv[normal_z], 0.5, atol=1e-6)
    # without the flip the rays leave the part: nothing found
    assert np.all(np.isinf(face_thickness_mm(v, inv, RayScene(v, inv))))


def test_ray_scene_face_ids_and_distances(meshes):
    v, f = _arrays(meshes / "jewelry" / "solitaire_ring.stl")
    scene = RayScene(v, f)
    rng = np.random.default_rng(3)
    centre = 0.5 * (v.min(axis=0) + v.max(axis=0))
    d = rng.normal(size=(500, 3))
    d /= np.linalg.norm(d, axis=1)[:, None]
    origins = np.repeat(centre[None], 500, axis=0) + rng.normal(scale=2.0, size=(500, 3))
    face, dist = scene.first_hit(origins, d)
    assert np.array_equal(scene.first_hit_faces(origins, d), face)
    hit = face >= 0
    assert hit.any()
    # each hit point lies on the plane of the face hit
    tri = v[f[face[hit]]]
    point = origins[hit] + d[hit] * dist[hit, None]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1)[:, None]
    assert np.abs(np.einsum("ij,ij->i", point - tri[:, 0], n)).max() < 1e-3
    short = scene.first_hit_faces(origins, d, np.where(hit, dist * 0.5, 1.0))
    assert np.all(short[hit] == -1)


def test_ray_scene_reuses_the_bvh_of_the_same_geometry(meshes, monkeypatch):
    monkeypatch.setattr(raycast, "CACHE_MIN_FACES", 0)
    v, f = _arrays(meshes / "jewelry" / "solitaire_ring.stl")
    first = RayScene(v, f)
    assert RayScene(v.copy(), f.copy())._scene is first._scene
    moved = v.copy()
    moved[0, 0] += 0.01
    assert RayScene(moved, f)._scene is not first._scene
    raycast.clear_scene_cache()
    assert RayScene(moved, f)._scene is not first._scene


def test_crossing_pairs_found_before_a_rewind_serve_the_split(meshes):
    """repair may search the crossings on a thread before the inverted shells are turned
    and the unused vertices dropped: the pairs depend on the faces' corners and order
    only, so split_own_crossings given them cuts exactly as when it searches itself."""
    from printprep.mesh.crossings import split_own_crossings  # noqa: PLC0415
    from printprep.mesh.topology import edge_info, face_components  # noqa: PLC0415
    from printprep.mesh.weld import compact  # noqa: PLC0415

    v, f = _arrays(meshes / "broken" / "manifold_self_intersectA.obj")
    v = np.concatenate([v, v[:5] + 100.0])  # unused vertices, dropped later
    info = edge_info(f, len(v))
    scene = RayScene(v, f)
    early = crossing_pairs(v, f, info, scene)
    assert len(early[0]) > 0
    flip = np.arange(len(f)) % 3 == 0
    rewound = f.copy()
    rewound[flip] = rewound[flip][:, ::-1]
    v2, f2 = compact(v, rewound)
    info2 = edge_info(f2, len(v2))
    _, patch = face_components(info2, len(f2))
    patch = patch.astype(np.int64)
    own = split_own_crossings(v2, f2, patch, 1e-6, info2, scene)
    given = split_own_crossings(v2, f2, patch, 1e-6, info2, scene, pairs=early)
    assert own[3] > 0  # faces were cut
    for a, b in zip(own[:5], given[:5], strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(np.unique(np.concatenate([own[5].owner, own[5].hit])),
                          np.unique(np.concatenate([given[5].owner, given[5].hit])))
