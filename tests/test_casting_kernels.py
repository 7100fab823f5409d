"""Casting's compiled kernels and fast paths held against plain references: numpy
readings of the same sums, trimesh's own measures, a pure-numpy ray intersector,
scipy's components."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from printprep.casting import islands
from printprep.casting.facts import facts_of, measure
from printprep.casting.facts_kernels import face_geometry, most_down_face_of
from printprep.casting.islands import MinimaFinder, rigid_motion
from printprep.casting.islands_kernels import (
    corner_weighted_normals,
    minima_mask,
    vertex_neighbours,
)
from printprep.casting.poses import fibonacci_sphere, rotation_to_z
from printprep.casting.rays import PartRays


@pytest.fixture(scope="module")
def ring(meshes) -> trimesh.Trimesh:
    return trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")


@pytest.fixture(scope="module")
def pendant(meshes) -> trimesh.Trimesh:
    return trimesh.load(meshes / "jewelry" / "jjg_pendant.stl")


def test_face_geometry_matches_numpy(pendant):
    v, f = np.asarray(pendant.vertices), np.asarray(pendant.faces)
    normals, areas, centers = face_geometry(v, f)
    tri = v[f]
    c = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    ln = np.linalg.norm(c, axis=1)
    np.testing.assert_allclose(areas, ln / 2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(normals[ln > 0], c[ln > 0] / ln[ln > 0, None], atol=1e-12)
    np.testing.assert_allclose(centers, tri.mean(axis=1), atol=1e-12)


def test_mass_properties_match_trimesh(ring, pendant):
    for mesh in (ring, pendant):
        facts = measure(mesh.vertices, mesh.faces)
        assert facts.volume_mm3 == pytest.approx(mesh.volume, rel=1e-9)
        np.testing.assert_allclose(facts.center_mass, mesh.center_mass, atol=1e-9 * mesh.scale)
        np.testing.assert_allclose(facts.inertia, mesh.moment_inertia, atol=1e-9 * np.abs(mesh.moment_inertia).max())
        assert facts.scale_mm == pytest.approx(mesh.scale)


def test_facts_are_kept_per_mesh_and_renewed_for_a_new_one(ring):
    mesh = ring.copy()
    first = facts_of(mesh)
    assert facts_of(mesh) is first
    moved = trimesh.Trimesh(mesh.vertices + [1.0, 0, 0], mesh.faces, process=False)
    assert facts_of(moved) is not first
    np.testing.assert_allclose(facts_of(moved).centers, first.centers + [1.0, 0, 0])


def test_bodies_match_scipy_over_trimesh_adjacency(meshes):
    mesh = trimesh.load(meshes / "jewelry" / "diara628_necklace.stl")
    n = len(mesh.faces)
    a = mesh.face_adjacency
    _, ref = connected_components(coo_matrix((np.ones(len(a)), (a[:, 0], a[:, 1])), shape=(n, n)), directed=False)
    facts = measure(mesh.vertices, mesh.faces)
    assert facts.body_count > 1
    np.testing.assert_array_equal(facts.bodies, ref)
    assert {tuple(p) for p in np.sort(facts.adjacency, axis=1)} == {tuple(p) for p in np.sort(a, axis=1)}


def test_most_down_face_matches_a_sort(pendant):
    facts = facts_of(pendant)
    rng = np.random.default_rng(3)
    verts = np.unique(rng.integers(0, len(pendant.vertices), 500))
    got = most_down_face_of(facts.faces, np.ascontiguousarray(facts.normals[:, 2]), verts, len(facts.vertices))
    corners = facts.faces.ravel()
    hit = np.flatnonzero(np.isin(corners, verts))
    face, vert = hit // 3, corners[hit]
    order = np.lexsort((face, facts.normals[face, 2], vert))
    vert, face = vert[order], face[order]
    first = np.ones(len(vert), dtype=bool)
    first[1:] = vert[1:] != vert[:-1]
    ref = dict(zip(vert[first].tolist(), face[first].tolist(), strict=True))
    assert got.tolist() == [ref.get(int(v), -1) for v in verts]


def test_minima_mask_matches_the_edge_marking(pendant):
    v = np.ascontiguousarray(pendant.vertices, dtype=np.float64)
    f = np.ascontiguousarray(pendant.faces, dtype=np.int64)
    indptr, indices = vertex_neighbours(f, len(v))
    normals = corner_weighted_normals(v, indptr, indices)
    ups = fibonacci_sphere(12)
    mask = minima_mask(v, indptr, indices, normals, ups)
    a = f.ravel()
    b = f[:, [1, 2, 0]].ravel()
    in_face = np.zeros(len(v), dtype=bool)
    in_face[a] = True
    for j, up in enumerate(ups):
        h = v @ up
        lower = np.zeros(len(v), dtype=bool)
        a_high = (h[a] > h[b]) | ((h[a] == h[b]) & (a > b))
        lower[a[a_high]] = True
        lower[b[~a_high]] = True
        ref = ~lower & in_face & (normals @ up < 0)
        np.testing.assert_array_equal(mask[j], ref)
        assert ref.any()


def test_corner_weighted_normals_point_like_trimesh(pendant):
    v = np.ascontiguousarray(pendant.vertices, dtype=np.float64)
    f = np.ascontiguousarray(pendant.faces, dtype=np.int64)
    got = corner_weighted_normals(v, *vertex_neighbours(f, len(v)))
    got /= np.linalg.norm(got, axis=1, keepdims=True)
    ref = trimesh.Trimesh(v, f, process=False).vertex_normals
    np.testing.assert_allclose(got, ref, atol=1e-6)


def _reference_hits(mesh: trimesh.Trimesh, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    """First-hit distance by trimesh's pure-numpy intersector: (n,) float64, inf on a miss."""
    loc, ray, _ = trimesh.ray.ray_triangle.RayMeshIntersector(mesh).intersects_location(o, d, multiple_hits=True)
    dist = np.full(len(o), np.inf)
    np.minimum.at(dist, ray, np.einsum("ij,ij->i", loc - o[ray], d[ray]))
    return dist


def test_part_rays_match_a_numpy_intersector_in_both_frames(ring):
    facts = facts_of(ring)
    rng = np.random.default_rng(7)
    pick = rng.choice(len(ring.faces), 300, replace=False)
    # inward rays from just inside each picked face, and outward rays in random directions
    o = np.vstack([facts.centers[pick] - facts.normals[pick] * 1e-3, facts.centers[pick] + facts.normals[pick] * 1e-3])
    d = np.vstack([-facts.normals[pick], rng.normal(size=(300, 3))])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    rays = PartRays.of(ring)
    ref = _reference_hits(ring, o, d)
    got = rays.distance_mm(o, d)
    assert np.isfinite(ref[:300]).all() and not np.isfinite(ref[300:]).all()
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(ref))
    # Embree traces in float32: a ray through an edge may take the neighbour face, whose
    # plane is a hair off at the hit (0.1 um on a ring)
    np.testing.assert_allclose(got[np.isfinite(ref)], ref[np.isfinite(ref)], atol=1e-4)
    # the same rays asked in a rotated, shifted frame on the same scene
    rot = rotation_to_z(np.array([0.3, -0.5, 0.8]))
    off = np.array([5.0, -2.0, 7.5])
    moved = rays.in_frame(rot, off)
    assert moved.scene is rays.scene
    got_moved = moved.distance_mm(o @ rot.T + off, d @ rot.T)
    np.testing.assert_allclose(got_moved[np.isfinite(ref)], got[np.isfinite(ref)], atol=1e-4)
    loc, ray, tri = moved.intersects_location(o @ rot.T + off, d @ rot.T)
    np.testing.assert_array_equal(ray, np.flatnonzero(np.isfinite(got)))
    on_plane = np.einsum("ij,ij->i", (loc - off) @ rot - facts.vertices[facts.faces[tri, 0]], facts.normals[tri])
    assert np.abs(on_plane).max() < 1e-5


def test_rigid_motion_found_and_refused(ring):
    v = np.asarray(ring.vertices)
    rot = rotation_to_z(np.array([0.2, 0.9, -0.3]))
    off = np.array([1.0, 2.0, 3.0])
    found = rigid_motion(v, v @ rot.T + off)
    assert found is not None
    np.testing.assert_allclose(found[0], rot, atol=1e-9)
    np.testing.assert_allclose(found[1], off, atol=1e-9)
    assert rigid_motion(v, v * 1.01) is None


def test_moved_finder_gives_the_same_minima_as_a_fresh_one(pendant, monkeypatch):
    # the pendant is small: let it count as big for the reuse
    monkeypatch.setattr(MinimaFinder, "SLICE_MAX_FACES", 10)
    first = MinimaFinder.of(pendant)
    ups = fibonacci_sphere(8)
    first.minima_many(ups)
    rot = rotation_to_z(np.array([0.4, -0.2, 0.9]))
    off = np.array([0.0, 0.0, 4.0])
    moved_mesh = trimesh.Trimesh(pendant.vertices @ rot.T + off, pendant.faces, process=False)
    moved = MinimaFinder.of(moved_mesh)
    assert moved._nbrs is first._nbrs  # reused, not measured again
    monkeypatch.setattr(islands, "_last_finder", None)
    fresh = MinimaFinder.of(moved_mesh)
    assert fresh._nbrs is not first._nbrs  # measured again
    for a, b in zip(moved.minima_many(ups @ rot.T), fresh.minima_many(ups @ rot.T), strict=True):
        np.testing.assert_array_equal(a, b)


def _numpy_pose_terms(up, centers, normals, area, detail, hard, hull_vertices, cos_over, cos_hard, band):
    """score_poses' terms as the numpy code computed them before the kernel."""
    down_dot = -(normals @ up.T)
    over = down_dot > cos_over
    a_support = area @ over
    a_detail = (area * detail) @ over
    a_hard = (area * hard) @ (down_dot > cos_hard)
    hh = hull_vertices @ up.T
    height = hh.max(axis=0) - hh.min(axis=0)
    h = centers @ up.T
    h -= h.min(axis=0)
    proj = area[:, None] * np.clip(down_dot, 0.0, None)
    bins = (h / band).astype(np.int64)
    nb = int(bins.max()) + 1
    flat = (bins + nb * np.arange(len(up))[None, :]).ravel()
    peel = np.bincount(flat, weights=proj.ravel(), minlength=nb * len(up)).reshape(len(up), nb).max(axis=1)
    return np.column_stack([a_support, a_detail, a_hard, height, peel])


def test_pose_terms_match_the_numpy_reading(pendant):
    from printprep.casting.pose_kernels import pose_terms

    facts = facts_of(pendant)
    rng = np.random.default_rng(5)
    detail = (rng.random(len(facts.areas)) < 0.3).astype(float)
    hard = (rng.random(len(facts.areas)) < 0.1).astype(float)
    ups = fibonacci_sphere(40)
    hull = np.asarray(pendant.convex_hull.vertices)
    args = (facts.centers, facts.normals, facts.areas, detail, hard, hull, np.cos(np.radians(35.0)), np.cos(np.radians(45.0)), 0.5)
    got = pose_terms(ups, *args)
    ref = _numpy_pose_terms(ups, *args)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)
    assert (ref[:, 0] > 0).sum() > 10 and (ref[:, 2] > 0).sum() > 10


def test_moved_finder_of_a_small_mesh_moves_its_solid(ring, monkeypatch):
    monkeypatch.setattr(islands, "_last_finder", None)
    first = MinimaFinder.of(ring)
    assert first.solid is not None  # small: the exact cross-section test
    rot = rotation_to_z(np.array([0.1, 0.7, 0.7]))
    off = np.array([3.0, -1.0, 6.0])
    moved_mesh = trimesh.Trimesh(ring.vertices @ rot.T + off, ring.faces, process=False)
    moved = MinimaFinder.of(moved_mesh)
    monkeypatch.setattr(islands, "_last_finder", None)
    fresh = MinimaFinder.of(moved_mesh)
    assert moved.solid is not None and moved.solid is not fresh.solid
    assert moved.solid.volume() == pytest.approx(fresh.solid.volume(), rel=1e-6)
    up = np.array([0.0, 0.0, 1.0])
    mins = fresh.minima(up)
    np.testing.assert_array_equal(moved.minima(up), mins)
    np.testing.assert_array_equal(moved.shallow(up, mins, 0.05), fresh.shallow(up, mins, 0.05))


def test_analysis_kernels_match_numpy(ring):
    from scipy.spatial import cKDTree

    from printprep.casting.analysis_kernels import depth_below_planes, weighted_moments

    hull = ring.convex_hull
    facts = facts_of(ring)
    pts = facts.centers
    d = np.einsum("ij,ij->i", hull.face_normals, hull.triangles[:, 0])
    ref = (d[None] - pts @ hull.face_normals.T).min(axis=1)
    got = depth_below_planes(pts, np.ascontiguousarray(hull.face_normals), d)
    np.testing.assert_allclose(got, ref, atol=1e-12)
    assert (ref > 0.5).any() and (np.abs(ref) < 1e-6).any()  # inner faces deep, outer ones on the hull

    query, points, w = pts[::7], pts, facts.areas
    sdm = cKDTree(query).sparse_distance_matrix(cKDTree(points), 1.5, output_type="ndarray")
    i, j = sdm["i"].astype(np.int64), sdm["j"].astype(np.int64)
    wsum, first, second = weighted_moments(i, j, np.ascontiguousarray(query), points, w, len(query))
    dd = points[j] - query[i]
    ww = w[j]
    np.testing.assert_array_equal(wsum, np.bincount(i, weights=ww, minlength=len(query)))
    for a in range(3):
        np.testing.assert_array_equal(first[:, a], np.bincount(i, weights=ww * dd[:, a], minlength=len(query)))
        for b in range(3):
            np.testing.assert_allclose(
                second[:, a, b], np.bincount(i, weights=ww * dd[:, a] * dd[:, b], minlength=len(query)), rtol=1e-12, atol=1e-15
            )
