"""The compiled topology and welding kernels against plain numpy / scipy readings of what
they compute, on the shared meshes and damaged copies of them; and repair's final report
(built from what repair already knew) against a fresh check of the repaired mesh."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from printprep.mesh import check_mesh, load_mesh, repair_mesh
from printprep.mesh.crossings import matching_faces
from printprep.mesh.topology import (
    components,
    edge_info,
    face_components,
    inconsistent_edges,
    orient_and_patches,
    orient_faces,
)
from printprep.mesh.weld import unique_rows, weld_near, weld_soup

#: small shared meshes with non-manifold edges, several shells, holes and flips
MESHES = [
    "broken/manifold_openscad-nonmanifold-crash.obj",
    "broken/trimesh_multibody.stl",
    "broken/admesh_block_fill-holes-bad.stl",
    "broken/admesh_conveyor_normal-directions-bad.stl",
    "jewelry/diara628_necklace.stl",
]


def _arrays(meshes, name):
    loaded = load_mesh(meshes / name, units="mm")
    return loaded.vertices, loaded.faces


def _flip_some(faces, share, seed):
    """A copy of ``faces`` with about ``share`` of them (random, ``seed``) wound the other
    way, and the (m,) bool mask of those."""
    flip = np.random.default_rng(seed).random(len(faces)) < share
    out = faces.copy()
    out[flip] = out[flip][:, ::-1]
    return out, flip


@pytest.mark.parametrize("name", MESHES)
def test_edge_table_is_the_stable_sort_by_edge(meshes, name):
    vertices, faces = _arrays(meshes, name)
    info = edge_info(faces, len(vertices))
    src = faces.reshape(-1)
    dst = faces[:, [1, 2, 0]].reshape(-1)
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    order = np.argsort(lo * len(vertices) + hi, kind="stable")
    assert np.array_equal(info.he_sorted, order)
    keys = (lo * len(vertices) + hi)[order]
    start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    assert np.array_equal(info.edge_start, start)
    assert np.array_equal(info.edge_count, np.diff(np.r_[start, len(keys)]))
    assert np.array_equal(info.edge_vertices, np.stack([lo[order[start]], hi[order[start]]], 1))
    assert np.array_equal(info.src, src)
    # faces that use a vertex twice: counted by the table's pass, as numpy finds them
    for f in (faces, np.concatenate([faces, [[0, 0, 1]], faces[:3]]), np.concatenate([faces, [[2, 1, 2]]])):
        want = bool(((f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 2] == f[:, 0])).any())
        assert edge_info(f, len(vertices)).repeats_vertex() is want


@pytest.mark.parametrize("name", MESHES)
@pytest.mark.parametrize("through", [True, False])
def test_face_components_match_scipy(meshes, name, through):
    vertices, faces = _arrays(meshes, name)
    info = edge_info(faces, len(vertices))
    a, b = info.chained_pairs() if through else info.manifold_pairs()
    m = len(faces)
    n_ref, ref = connected_components(coo_matrix((np.ones(len(a)), (a // 3, b // 3)), shape=(m, m)), directed=False)
    n, labels = face_components(info, m, through_non_manifold=through)
    assert n == n_ref
    assert np.array_equal(labels, ref)  # same numbering: by each component's smallest face


def test_components_of_random_graphs_match_scipy():
    rng = np.random.default_rng(3)
    for n, p in ((1, 0), (50, 10), (5000, 4000), (20000, 30000)):
        u, v = rng.integers(0, n, p), rng.integers(0, n, p)
        n_ref, ref = connected_components(coo_matrix((np.ones(p), (u, v)), shape=(n, n)), directed=False)
        count, labels = components(n, u, v)
        assert count == n_ref and np.array_equal(labels, ref)


@pytest.mark.parametrize("name", ["jewelry/diara628_necklace.stl", "jewelry/solitaire_ring.stl"])
def test_orientation_undoes_random_flips(meshes, name):
    vertices, faces = _arrays(meshes, name)
    assert inconsistent_edges(edge_info(faces, len(vertices))) == 0  # a consistent original
    bad, flipped = _flip_some(faces, 0.2, 7)
    info = edge_info(bad, len(vertices))
    assert inconsistent_edges(info) > 0
    flip, n_bad = orient_faces(info, len(bad))
    assert n_bad == 0
    fixed = bad.copy()
    fixed[flip] = fixed[flip][:, ::-1]
    assert inconsistent_edges(edge_info(fixed, len(vertices))) == 0
    # the smallest face of each shell keeps its winding
    n, labels = face_components(info, len(bad), through_non_manifold=False)
    first = np.full(n, len(bad))
    np.minimum.at(first, labels, np.arange(len(bad)))
    assert not flip[first].any()
    # each shell is either restored or entirely reversed
    same = np.all(fixed == faces, axis=1)
    for s in range(n):
        assert same[labels == s].all() or not same[labels == s].any()


def test_moebius_strip_is_non_orientable_and_left_alone():
    k = 24
    t = np.linspace(0, 2 * np.pi, k, endpoint=False)
    ring = np.stack([np.cos(t), np.sin(t), np.zeros(k)], 1) * 10
    twist = np.stack([np.cos(t / 2) * np.cos(t), np.cos(t / 2) * np.sin(t), np.sin(t / 2)], 1)
    vertices = np.concatenate([ring - twist, ring + twist])  # inner 0..k-1, outer k..2k-1
    i = np.arange(k)
    j = (i + 1) % k
    # the last quad joins inner to outer: the half twist
    a, b = i, np.where(j == 0, k + 0, j)
    c, d = np.where(j == 0, 0, k + j), k + i
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    info = edge_info(faces, len(vertices))
    flip, n_bad = orient_faces(info, len(faces))
    assert n_bad == 1
    assert not flip.any()


def test_unique_rows_is_exact():
    rng = np.random.default_rng(5)
    pts = rng.integers(-20, 20, (50_000, 3)).astype(np.float64) * 0.5
    pts[:100] = -0.0  # -0.0 and +0.0 are one coordinate
    pts[100:200] = 0.0
    pts[300] = pts[301] + np.array([np.spacing(pts[301, 0]), 0.0, 0.0])  # one ulp apart: distinct
    for dtype in (np.float64, np.float32):
        p = pts.astype(dtype)
        uniq, inverse = unique_rows(p)
        assert np.array_equal(uniq[inverse], p + dtype(0.0))
        assert len(uniq) == len(np.unique(p + dtype(0.0), axis=0))
        assert len(np.unique(uniq, axis=0)) == len(uniq)
        # first occurrence order
        first = np.full(len(uniq), len(p))
        np.minimum.at(first, inverse, np.arange(len(p)))
        assert np.all(np.diff(first) > 0)


def test_weld_soup_of_a_real_stl_gives_back_its_faces(meshes):
    vertices, faces = _arrays(meshes, "jewelry/solitaire_ring.stl")
    tri = vertices[faces]
    v2, f2 = weld_soup(tri)
    assert np.array_equal(v2[f2], tri)
    assert len(v2) == len(np.unique(tri.reshape(-1, 3), axis=0))


def test_near_weld_pairs_match_a_kd_tree():
    rng = np.random.default_rng(11)
    vertices = rng.random((4000, 3)) * 5
    vertices[2000:] = vertices[:2000] + rng.normal(0, 0.004, (2000, 3))  # near twins
    faces = np.arange(3999).reshape(-1, 3)
    candidates = np.arange(len(vertices))
    tol = 0.01
    pairs = cKDTree(vertices).query_pairs(tol, output_type="ndarray")
    n_ref, _ = connected_components(coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(4000, 4000)), directed=False)
    _, _, merged = weld_near(vertices, faces, candidates, tol)
    assert merged == 4000 - n_ref


def test_matching_faces_finds_unchanged_faces(meshes):
    vertices, faces = _arrays(meshes, "jewelry/solitaire_ring.stl")
    rng = np.random.default_rng(2)
    perm = rng.permutation(len(faces))
    new_faces = faces[perm].copy()
    moved = np.zeros(len(new_faces), dtype=bool)
    moved[:10] = True
    new_vertices = np.concatenate([vertices, vertices[new_faces[:10, 0]] + 0.01])
    new_faces[:10, 0] = len(vertices) + np.arange(10)
    new_faces[10:15] = new_faces[10:15, ::-1]  # reversed winding: different order, a new face
    moved[10:15] = True
    match = matching_faces(vertices, faces, new_vertices, new_faces)
    assert np.array_equal(match < 0, moved)
    assert np.array_equal(match[~moved], perm[~moved])


#: meshes whose repair fuses shells or cuts a shell's own crossings: the final report
#: re-tests only changed faces, so it must equal a fresh check of the result
REPORTED = [
    "broken/trimesh_cycloidal.ply",
    "broken/manifold_self_intersectA.obj",
    "jewelry/franout_bracelet_fused.stl",
    "jewelry/diara628_necklace.stl",
]
KEYS = [
    "watertight", "winding_consistent", "shells", "bodies", "inverted_shells", "cavities",
    "volume_mm3", "self_intersecting_faces", "non_manifold_edges", "boundary_edges",
    "debris_shells", "coplanar_contact_faces", "min_thickness_mm",
]


@pytest.mark.parametrize("name", REPORTED)
def test_repair_report_equals_a_fresh_check(meshes, name):
    result = repair_mesh(load_mesh(meshes / name))
    fresh = check_mesh(result.mesh).to_dict()
    ours = result.report.to_dict()
    assert {k: ours[k] for k in KEYS} == {k: fresh[k] for k in KEYS}
    assert ours["problems"] == fresh["problems"]


def _walk_loops_python(faces, info):
    """The plain-Python walk the compiled one replaced: a stack of leaving edges per vertex."""
    he = info.boundary
    f, k = he // 3, he % 3
    src, dst = faces[f, k].tolist(), faces[f, (k + 1) % 3].tolist()
    outgoing: dict[int, list[int]] = {}
    for i, s in enumerate(src):
        outgoing.setdefault(s, []).append(i)
    used = [False] * len(he)
    loops = []
    for start in range(len(he)):
        if used[start]:
            continue
        chain, i = [], start
        while i is not None and not used[i]:
            used[i] = True
            chain.append(src[i])
            nxt, i = outgoing.get(dst[i], []), None
            while nxt:
                cand = nxt.pop()
                if not used[cand]:
                    i = cand
                    break
        if len(chain) >= 3:
            loops.append((chain, int(f[start])))
    return loops


@pytest.mark.parametrize("name", [
    "broken/admesh_block_fill-holes-bad.stl", "broken/admesh_hourglass_fill-holes-bad.stl",
    "broken/pymeshfix_planar_mesh.ply",
])
def test_hole_loops_match_the_python_walk(meshes, name):
    from printprep.mesh.holes import boundary_loops

    vertices, faces = _arrays(meshes, name)
    info = edge_info(faces, len(vertices))
    ref = _walk_loops_python(faces, info)
    got = boundary_loops(faces, info)
    assert len(ref) > 0
    assert [(lp.vertices.tolist(), lp.face) for lp in got] == ref


@pytest.mark.parametrize("name", MESHES)
def test_fans_and_patches_match_scipy_components(meshes, name):
    from printprep.mesh.topology_kernels import fans_and_patches

    vertices, faces = _arrays(meshes, name)
    info = edge_info(faces, len(vertices))
    a, b = info.manifold_pairs()
    nxt_a, nxt_b = 3 * (a // 3) + (a % 3 + 1) % 3, 3 * (b // 3) + (b % 3 + 1) % 3
    same = info.src[a] == info.src[b]
    u = np.concatenate([a, nxt_a])
    v = np.concatenate([np.where(same, b, nxt_b), np.where(same, nxt_b, b)])
    m = len(faces)
    n_fan_ref, fan_ref = connected_components(coo_matrix((np.ones(len(u)), (u, v)), shape=(3 * m, 3 * m)), directed=False)
    n_patch_ref, patch_ref = connected_components(coo_matrix((np.ones(len(a)), (a // 3, b // 3)), shape=(m, m)), directed=False)
    n_fan, fan, n_patch, patch = fans_and_patches(info.he_sorted, info.edge_start, info.edge_count, info.src, m)
    assert (n_fan, n_patch) == (n_fan_ref, n_patch_ref)
    assert np.array_equal(fan, fan_ref) and np.array_equal(patch, patch_ref)
    # every fan holds corners of one vertex only
    assert np.all(faces.reshape(-1)[np.unique(fan, return_index=True)[1]][fan] == faces.reshape(-1))
    # counted only: the same numbers, no fan labels
    n_fan2, fan2, n_patch2, patch2 = fans_and_patches(info.he_sorted, info.edge_start, info.edge_count, info.src, m, False)
    assert (n_fan2, n_patch2, len(fan2)) == (n_fan_ref, n_patch_ref, 0)
    assert np.array_equal(patch2, patch_ref)
    # fans alone (the patches come from the winding's union-find, as numbered here)
    n_fan3, _, n_patch3, patch3 = fans_and_patches(info.he_sorted, info.edge_start, info.edge_count, info.src, m, False, False)
    assert (n_fan3, n_patch3, len(patch3)) == (n_fan_ref, 0, 0)
    for f in (faces, np.where(np.arange(m)[:, None] % 5 == 0, faces[:, ::-1], faces)):  # some faces flipped
        info_f = edge_info(f, len(vertices))
        assert np.array_equal(orient_and_patches(info_f, m)[2], patch_ref)


@pytest.mark.parametrize("name", MESHES)
def test_appended_faces_merge_into_the_fresh_edge_table(meshes, name):
    from printprep.mesh.topology import append_faces

    vertices, faces = _arrays(meshes, name)
    rng = np.random.default_rng(9)
    # the mesh's own faces again (edges shared three and four ways) and faces over new vertices
    extra = np.concatenate([faces[rng.integers(0, len(faces), 40)], rng.integers(0, len(vertices) + 20, (30, 3))])
    for cut in (len(faces) // 2, len(faces)):
        head = faces[:cut]
        full = np.concatenate([head, extra])
        merged = append_faces(edge_info(head, len(vertices) + 20), full, cut)
        fresh = edge_info(full, len(vertices) + 20)
        for field in ("he_sorted", "edge_start", "edge_count", "edge_vertices", "src"):
            assert np.array_equal(getattr(merged, field), getattr(fresh, field)), field
        assert "_repeats_vertex" in merged.__dict__  # carried over, not looked for again
        assert merged.repeats_vertex() == fresh.repeats_vertex()
    looped = np.concatenate([faces, [[0, 1, 0]]])  # an appended face that repeats a vertex
    assert append_faces(edge_info(faces, len(vertices)), looped, len(faces)).repeats_vertex()


@pytest.mark.parametrize("name", MESHES)
def test_duplicate_faces_found_with_the_grouping_as_by_sorting(meshes, name):
    from printprep.mesh.clean import drop_duplicates

    vertices, faces = _arrays(meshes, name)
    rng = np.random.default_rng(2)
    pick = rng.integers(0, len(faces), 5)
    variants = [
        faces,
        np.concatenate([faces, faces[pick]]),  # the same faces twice
        np.concatenate([faces, faces[pick][:, ::-1]]),  # twice, wound the other way
        np.concatenate([faces, [[0, 0, 1], [0, 1, 1]]]),  # collapsed faces over two vertices
    ]
    for f in variants:
        with_info = drop_duplicates(f, edge_info(f, len(vertices)))
        sorted_ = drop_duplicates(f)
        assert with_info[1] == sorted_[1]
        assert np.array_equal(with_info[0], sorted_[0])


@pytest.mark.parametrize("name", MESHES)
def test_flipped_grouping_is_the_fresh_grouping_of_the_flipped_faces(meshes, name):
    vertices, faces = _arrays(meshes, name)
    flipped_faces, flip = _flip_some(faces, 0.3, 6)
    info = edge_info(faces, len(vertices)).flipped(flipped_faces, flip)
    fresh = edge_info(flipped_faces, len(vertices))
    for field in ("he_sorted", "edge_start", "edge_count", "edge_vertices", "src"):
        assert np.array_equal(getattr(info, field), getattr(fresh, field)), field
    assert info.repeats_vertex() == fresh.repeats_vertex()


def test_faces_near_boxes_is_the_all_pairs_box_test(meshes):
    from printprep.mesh.holes_kernels import faces_near_boxes

    vertices, faces = _arrays(meshes, "jewelry/diara628_necklace.stl")
    rng = np.random.default_rng(8)
    tri = vertices[faces]
    flo, fhi = tri.min(1), tri.max(1)
    span = vertices.max(0) - vertices.min(0)
    for n_boxes, scale in ((1, 0.01), (40, 0.02), (40, 0.3), (3, 0.0)):
        centre = vertices[rng.integers(0, len(vertices), n_boxes)]
        half = rng.random((n_boxes, 3)) * span * scale
        lo, hi = centre - half, centre + half
        margin = rng.random(n_boxes) * 1e-3
        want = ((flo[:, None] <= hi + margin[:, None]) & (fhi[:, None] >= lo - margin[:, None])).all(-1).any(1)
        got = faces_near_boxes(vertices, faces, lo, hi, margin)  # every face: vertices placed once
        assert want.any() or scale == 0.0
        assert np.array_equal(got, want)
        few = faces[::7]  # a few faces of the mesh: each face placed on its own
        assert 2 * len(few) < len(vertices)
        assert np.array_equal(faces_near_boxes(vertices, few, lo, hi, margin), want[::7])


@pytest.mark.parametrize("name", MESHES)
def test_manifold_pairs_and_their_directions_are_numpys(meshes, name):
    from printprep.mesh.topology_kernels import manifold_pairs

    vertices, faces = _arrays(meshes, name)
    faces, _ = _flip_some(faces, 0.1, 12)
    info = edge_info(faces, len(vertices))
    s = info.edge_start[info.edge_count == 2]
    a_ref, b_ref = info.he_sorted[s], info.he_sorted[s + 1]
    a, b, same, shares_third = manifold_pairs(info.he_sorted, info.edge_start, info.edge_count, info.src)
    assert np.array_equal(a, a_ref) and np.array_equal(b, b_ref)
    assert np.array_equal(same, info.src[a_ref] == info.src[b_ref])
    third = lambda h: faces.reshape(-1)[3 * (h // 3) + (h % 3 + 2) % 3]  # noqa: E731
    assert shares_third == bool((third(a_ref) == third(b_ref)).any())
    # a triangle and its reverse (each edge shared by the two, the third vertex too) and a
    # tetrahedron (every edge's faces have different third vertices)
    for two, want in (([[0, 1, 2], [0, 2, 1]], True), ([[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]], False)):
        i2 = edge_info(np.array(two), 4)
        assert manifold_pairs(i2.he_sorted, i2.edge_start, i2.edge_count, i2.src)[3] is want
    assert same.any() or name.endswith("multibody.stl")



def test_coplanar_scan_refuses_only_pairs_that_cannot_touch():
    """Pairs of faces pressed together near the limits of a contact (tilted up to the
    opposed-normal limit, lifted up to the plane distance, slid across each other), each
    scanned as one bin: the scan's bounding-box refusal (coplanar_kernels.contact_gap_mm)
    keeps every pair the exact test accepts."""
    from printprep.mesh import coplanar_kernels as ck
    from printprep.mesh.intersect_kernels import COPLANAR_MM, coplanar_contact

    rng = np.random.default_rng(21)
    faces = np.array([[0, 1, 2], [3, 4, 5]], dtype=np.int64)
    none = np.zeros((0, 2), np.int64)
    n_contacts = 0
    for _ in range(300):
        size = 10 ** rng.uniform(-2, 0.5)  # 0.01 .. 3 mm faces
        a = rng.normal(size=(3, 3)) * size
        if rng.random() < 0.5:  # flat on an axis plane, as CAD faces often are: the boxes
            a[:, 2] = 0.0  # then lie apart along z by the lift
        normal = np.cross(a[1] - a[0], a[2] - a[0])
        normal /= np.linalg.norm(normal)
        axis = np.cross(normal, rng.normal(size=3))
        axis /= np.linalg.norm(axis)
        angle = rng.choice([0.0, rng.uniform(0, 0.81)]) * np.pi / 180  # up to the opposed-normal limit
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
        centre = a.mean(0)
        b = (a[::-1] - centre) @ rot.T + centre  # the same face reversed, tilted
        slide = (rng.random(3) - 0.5) * size
        b += normal * rng.uniform(-1, 1) * COPLANAR_MM + slide - (slide @ normal) * normal
        vertices = np.concatenate([a, b])
        nrm, nlen, sign, _ = ck.plane_keys(vertices, faces, np.zeros(3), 1.0)
        if sign[0] == sign[1]:
            continue  # not facing each other (the bins hold them apart)
        items = np.array([0, 1] if sign[0] < sign[1] else [1, 0], dtype=np.int64)  # negative side first
        want = coplanar_contact(vertices.reshape(2, 3, 3), faces, nrm, nlen, items[0], items[1])
        item_key = np.array([2, 3], dtype=np.int64)  # one bin, both orientations
        start = np.array([0, 2], dtype=np.int64)
        got = ck.scan_contacts(vertices, faces, nrm, nlen, sign, start, items, item_key, 0, 1, False, none, 0)
        assert got == int(want)
        n_contacts += got
    assert n_contacts > 50  # the cases reach the exact test's acceptance
