"""The direct Embree 4 ray engine (printprep.mesh.embree + embree_kernels) against a
brute-force float64 ray/triangle reference on real shared meshes, against embreex (the
fallback engine), and its record layouts, lifetime, empty inputs and thread safety."""

from __future__ import annotations

import ctypes
import gc
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import require

from printprep.mesh import embree, load_mesh, raycast
from printprep.mesh import embree_kernels as ek
from printprep.mesh import ray_kernels as rk
from printprep.mesh.raycast import RayScene
from printprep.mesh.thickness import face_thickness_mm
from printprep.mesh.topology import edge_info


def _arrays(path) -> tuple[np.ndarray, np.ndarray]:
    mesh = load_mesh(path).mesh
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


@pytest.fixture(scope="module")
def lib():
    found = embree.load_library()
    require(found is not None, "embreex bundles no libembree4 here (x86_64 wheel of embreex >= 4 needed)")
    return found


def _random_rays(v: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rays from points around the mesh's box in random directions: (n, 3) float64 each."""
    rng = np.random.default_rng(seed)
    lo, hi = v.min(axis=0), v.max(axis=0)
    o = lo + (hi - lo) * rng.uniform(-0.2, 1.2, size=(n, 3))
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1)[:, None]
    return o, d


def _brute_force(v: np.ndarray, f: np.ndarray, o: np.ndarray, d: np.ndarray, pad: float):
    """Every ray against every triangle (Moller-Trumbore in float64): the nearest hit's
    face and distance, the next-nearest distance (another face), and whether the ray
    passes within ``pad`` (barycentric) of any triangle's edge at a hit."""
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    e1, e2 = b - a, c - a
    face = np.full(len(o), -1)
    best = np.full(len(o), np.inf)
    second = np.full(len(o), np.inf)
    near_edge = np.zeros(len(o), dtype=bool)
    for i in range(0, len(o), 64):
        oo, dd = o[i:i + 64, None, :], d[i:i + 64, None, :]
        p = np.cross(dd, e2[None])
        det = np.einsum("rfk,fk->rf", p, e1)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / det
            s = oo - a[None]
            u = np.einsum("rfk,rfk->rf", s, p) * inv
            q = np.cross(s, e1[None])
            w = np.einsum("rfk,rk->rf", q, dd[:, 0]) * inv
            t = np.einsum("rfk,fk->rf", q, e2) * inv
        ok = np.abs(det) > 1e-14
        u, w, t = (np.where(ok, x, -1.0) for x in (u, w, t))
        inside = (u >= 0) & (w >= 0) & (u + w <= 1) & (t > 0)
        loose = (u >= -pad) & (w >= -pad) & (u + w <= 1 + pad) & (t > 0)
        tight = (u >= pad) & (w >= pad) & (u + w <= 1 - pad)
        near_edge[i:i + 64] = (loose & ~tight).any(axis=1)
        tt = np.where(inside, t, np.inf)
        order = np.argsort(tt, axis=1)[:, :2]
        rows = np.arange(len(tt))
        face[i:i + 64] = np.where(np.isfinite(tt[rows, order[:, 0]]), order[:, 0], -1)
        best[i:i + 64] = tt[rows, order[:, 0]]
        second[i:i + 64] = tt[rows, order[:, 1]]
    return face, best, second, near_edge


@pytest.mark.parametrize(("name", "engine"), [
    ("jewelry/solitaire_ring.stl", "embree"), ("jewelry/franout_fa_symbol.stl", "embree"),
    ("jewelry/franout_fa_symbol.stl", "embreex"), ("jewelry/franout_fa_symbol.stl", "trimesh"),
])
def test_hits_distances_misses_and_max_dist_against_brute_force(meshes, lib, name, engine):
    v, f = _arrays(meshes / name)
    o, d = _random_rays(v, 400, seed=7)
    # some rays from inside the part too: along the inward normals of faces
    fo, fd, _, _, _ = rk.face_rays(v, f, np.zeros(0, dtype=bool))
    pick = np.linspace(0, len(f) - 1, 200).astype(int)
    o = np.concatenate([o, fo[pick].astype(np.float64)])
    d = np.concatenate([d, fd[pick].astype(np.float64)])
    scene = RayScene(v, f, engine=engine)
    face, dist = scene.first_hit(o, d)
    ref_face, ref_t, ref_second, near_edge = _brute_force(v, f, o, d, pad=1e-4)
    scale = float(np.abs(v).max())
    # one face, well inside it, and no other close behind
    hit = ~near_edge & (ref_face >= 0) & (ref_second - np.where(ref_face >= 0, ref_t, 0.0) > 1e-3 * scale)
    miss = ~near_edge & (ref_face < 0)
    assert hit.sum() > 200 and miss.sum() > 50, (hit.sum(), miss.sum())
    assert np.array_equal(face[hit], ref_face[hit])
    assert np.allclose(dist[hit], ref_t[hit], rtol=1e-5, atol=1e-5 * scale)
    assert np.all(face[miss] == -1) and np.all(np.isinf(dist[miss]))
    # max_dist: short of the hit is a miss, past it the same hit
    assert np.all(scene.first_hit_faces(o[hit], d[hit], ref_t[hit] * 0.5) == -1)
    long_face, long_dist = scene.first_hit(o[hit], d[hit], ref_t[hit] * 1.01 + 1e-4)
    assert np.array_equal(long_face, ref_face[hit])
    assert np.allclose(long_dist, ref_t[hit], rtol=1e-5, atol=1e-5 * scale)
    assert np.array_equal(scene.first_hit_faces(o, d), face)


@pytest.mark.parametrize("name", ["jewelry/pixelverse_ring.stl", "broken/manifold_self_intersectA.obj"])
def test_direct_engine_answers_as_embreex_does(meshes, lib, name):
    pytest.importorskip("embreex")
    v, f = _arrays(meshes / name)
    ours = RayScene(v, f, engine="embree")
    theirs = RayScene(v, f, engine="embreex")
    # the two ray sets the mesh checks cast: one per face inward, one along each edge
    fo, fd, _, _, _ = rk.face_rays(v, f, np.zeros(0, dtype=bool))
    assert np.array_equal(ours.first_hit_faces(fo, fd), theirs.first_hit_faces(fo, fd))
    ev = np.ascontiguousarray(edge_info(f, len(v)).edge_vertices, dtype=np.int64)
    eo, ed, et, _ = rk.edge_rays(v, ev)
    assert np.array_equal(ours.first_hit_faces(eo, ed, et), theirs.first_hit_faces(eo, ed, et))
    o, d = _random_rays(v, 2000, seed=11)
    fa, da = ours.first_hit(o, d)
    fb, db = theirs.first_hit(o, d)
    assert np.array_equal(fa, fb)
    assert np.array_equal(da, db)  # the same float32 tfar; inf for the misses of both
    assert np.array_equal(face_thickness_mm(v, f, ours), face_thickness_mm(v, f, theirs))


def test_packets_of_16_answer_as_single_rays(meshes, lib):
    v, f = _arrays(meshes / "jewelry" / "solitaire_ring.stl")
    scene = embree.EmbreeScene(lib, v, f)
    o, d = _random_rays(v, 1001, seed=5)  # not a multiple of 16: the last packet is masked
    t = np.where(np.arange(1001) % 3 == 0, 2.0, np.inf)
    single = scene.intersect(o, d, t)
    packets = scene.intersect(o, d, t, packets=True)
    assert np.array_equal(single[0], packets[0])
    assert np.array_equal(single[1], packets[1])


def test_record_layouts_match_embree4_headers(lib):
    # embree4/rtcore_ray.h: RTCRay is 12 four-byte fields aligned to 16; RTCHit 7 fields
    # + instID[1] (+ instPrimID[1] with instance arrays, Embree >= 4.3) aligned to 16
    assert ctypes.sizeof(embree.RTCRay) == 48
    assert ctypes.sizeof(embree.RTCHit) == 48
    assert ctypes.sizeof(embree.RTCRayHit) == 96
    assert ek.RAYHIT_WORDS * 4 >= ctypes.sizeof(embree.RTCRayHit)
    assert embree.RTCRayHit.hit.offset == ek.HIT_WORD * 4
    assert embree.RTCHit.primID.offset == 5 * 4 and embree.RTCHit.geomID.offset == 6 * 4
    assert embree.RTCRay.tfar.offset == 8 * 4 and embree.RTCRay.mask.offset == 9 * 4
    # RTCRayHit16: 12 ray fields then 9 hit fields, each float[16] / unsigned[16]
    assert ek.RAYHIT16_WORDS == (12 + 9) * 16 and ek.HIT16_WORD == 12 * 16
    # the real library fills the ctypes record where the kernels read it
    tri_v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    scene = embree.EmbreeScene(lib, tri_v, np.array([[0, 1, 2]]))
    rh = embree.RTCRayHit()
    rh.ray.org_x, rh.ray.org_y, rh.ray.org_z = 0.25, 0.25, 2.0
    rh.ray.dir_z, rh.ray.tfar, rh.ray.mask = -1.0, 10.0, 0xFFFFFFFF
    rh.hit.geomID = rh.hit.primID = 0xFFFFFFFF
    lib.lib.rtcIntersect1(scene._scene, ctypes.byref(rh), None)
    assert (rh.hit.geomID, rh.hit.primID) == (0, 0)
    assert rh.ray.tfar == pytest.approx(2.0)
    assert rh.hit.Ng_z != 0.0


def test_empty_inputs(lib):
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    scene = RayScene(v, np.array([[0, 1, 2]]), engine="embree")
    face, dist = scene.first_hit(np.zeros((0, 3)), np.zeros((0, 3)))
    assert face.shape == (0,) and dist.shape == (0,) and face.dtype == np.int64
    assert scene.first_hit_faces(np.zeros((0, 3)), np.zeros((0, 3))).shape == (0,)
    # a scene of no faces: every ray misses
    nothing = RayScene(v, np.zeros((0, 3), dtype=np.int64), engine="embree")
    face, dist = nothing.first_hit(np.zeros((3, 3)), np.tile([0.0, 0, 1], (3, 1)))
    assert np.all(face == -1) and np.all(np.isinf(dist))


def test_scene_keeps_its_arrays_and_scenes_do_not_leak(meshes, lib):
    v, f = _arrays(meshes / "jewelry" / "solitaire_ring.stl")
    o, d = _random_rays(v, 300, seed=3)
    expect = RayScene(v, f, engine="embree").first_hit(o, d)
    scene = RayScene(v.copy() + 0.0, f.copy(), engine="embree")  # temporaries: only the scene holds them
    gc.collect()
    junk = [np.full((len(v) + 1, 3), 1e3, dtype=np.float32) for _ in range(20)]  # reuse freed memory
    got = scene.first_hit(o, d)
    assert np.array_equal(got[0], expect[0]) and np.array_equal(got[1], expect[1])
    del junk

    def rss_mb() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    for _ in range(20):  # reach a steady state of the allocators first
        embree.EmbreeScene(lib, v, f).intersect(o, d)
    gc.collect()
    before = rss_mb()
    for _ in range(300):
        embree.EmbreeScene(lib, v, f).intersect(o, d)
    gc.collect()
    # each scene holds ~0.5 MB of BVH and arrays: 300 kept would be well over 100 MB
    assert rss_mb() - before < 40


def test_a_background_scene_dropped_while_it_builds_is_released_by_its_build_thread(meshes, lib, monkeypatch):
    # the build thread holds the scene until it ends, so the last reference can drop in
    # that thread: releasing must not try to join the thread from itself, and must release
    v, f = _arrays(meshes / "jewelry" / "solitaire_ring.stl")
    released = []
    release = lib.lib.rtcReleaseScene
    monkeypatch.setattr(lib.lib, "rtcReleaseScene", lambda handle: (released.append(handle), release(handle))[1])
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(u.exc_value))
    for _ in range(10):
        scene = embree.EmbreeScene(lib, v, f, background=True)
        thread = scene._building
        del scene  # the build thread now holds the only reference
        thread.join()
        gc.collect()
    assert unraisable == []
    assert len(released) >= 10  # every dropped scene released (others may go meanwhile)


def test_concurrent_queries_on_one_scene(meshes, lib):
    v, f = _arrays(meshes / "jewelry" / "pixelverse_ring.stl")
    scene = RayScene(v, f, engine="embree")
    batches = [_random_rays(v, 30_000, seed=s) for s in range(6)]
    serial = [scene.first_hit(o, d) for o, d in batches]
    with ThreadPoolExecutor(6) as pool:
        parallel = list(pool.map(lambda b: scene.first_hit(*b), batches))
    for (fa, da), (fb, db) in zip(serial, parallel, strict=True):
        assert np.array_equal(fa, fb) and np.array_equal(da, db)


def test_same_input_same_hits_and_kept_scene(meshes, lib, monkeypatch):
    monkeypatch.setattr(raycast, "CACHE_MIN_FACES", 0)
    raycast.clear_scene_cache()
    v, f = _arrays(meshes / "jewelry" / "pixelverse_ring.stl")
    o, d = _random_rays(v, 5000, seed=2)
    first = RayScene(v, f, engine="embree")
    a = first.first_hit(o, d)
    assert RayScene(v.copy(), f.copy(), engine="embree")._scene is first._scene
    raycast.clear_scene_cache()
    again = RayScene(v, f, engine="embree")
    assert again._scene is not first._scene
    b = again.first_hit(o, d)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    raycast.clear_scene_cache()


def test_fallback_when_the_library_is_not_used():
    pytest.importorskip("embreex")
    code = "from printprep.mesh import raycast; print(raycast.default_engine())"
    env = dict(os.environ, PRINTPREP_EMBREE="embreex")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "embreex"
    with pytest.raises(ValueError, match="unknown ray engine"):
        RayScene(np.zeros((3, 3)), np.array([[0, 1, 2]]), engine="optix")


@pytest.mark.parametrize("name", ["bench/pave_band_336k.stl", "jewelry/solitaire_ring.stl"])
def test_capped_thickness_rays_give_the_same_walls_below_the_limit_and_minimum(meshes, name, monkeypatch):
    from printprep.mesh import thickness

    monkeypatch.setattr(thickness, "CAP_MIN_FACES", 0)  # the small ring caps too
    v, f = _arrays(meshes / name)
    scene = RayScene(v, f)
    full = face_thickness_mm(v, f, scene)
    true_min = full[np.isfinite(full)].min()
    for limit in (0.6, 0.3, 0.01):  # above, near and far below the thinnest wall
        capped = face_thickness_mm(v, f, scene, exact_below_mm=limit)
        below = full < limit
        assert np.array_equal(capped[below], full[below])
        assert np.array_equal(capped < limit, below)
        found = np.isfinite(capped)
        assert np.array_equal(capped[found], full[found])  # a capped value is never another
        assert capped[found].min() == true_min
    assert np.isinf(capped).sum() > np.isinf(full).sum()  # and the cap did stop rays


def test_first_hit_exact_measures_each_hit_in_float64(meshes):
    v, f = _arrays(meshes / "jewelry" / "solitaire_ring.stl")
    o, d = _random_rays(v, 3000, seed=9)
    scene = RayScene(v, f)
    face, t32 = scene.first_hit(o, d)
    face_x, dist = scene.first_hit_exact(o, d)
    assert np.array_equal(face, face_x)
    hit = face >= 0
    assert np.all(np.isinf(dist[~hit]))
    # numpy reading: the distance to the plane of the face hit
    tri = v[f[face[hit]]]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    den = np.einsum("ij,ij->i", d[hit], n)
    num = np.einsum("ij,ij->i", tri[:, 0] - o[hit], n)
    grazing = np.abs(den) <= raycast.GRAZING_COS * np.linalg.norm(n, axis=1)
    expect = np.where(grazing, t32[hit], num / np.where(grazing, 1.0, den))
    assert np.allclose(dist[hit], expect, rtol=1e-12, atol=1e-12)
    assert np.allclose(dist[hit], t32[hit], rtol=1e-5, atol=1e-4)  # float32 agreed already
    # a ray in the plane of a lone triangle: if Embree reports it, its own distance stays
    tri_v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    flat = RayScene(tri_v, np.array([[0, 1, 2]]))
    g, t = flat.first_hit_exact(np.array([[-1.0, 0.25, 0.0]]), np.array([[1.0, 0.0, 0.0]]))
    assert g[0] == -1 or np.isfinite(t[0])


def test_faces_outside_the_vertices_are_refused(lib):
    from printprep.errors import MeshError

    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    for bad in ([[0, 1, 3]], [[0, -1, 2]]):
        with pytest.raises(MeshError, match="face indices outside 0..2"):
            embree.EmbreeScene(lib, v, np.array(bad))


@pytest.mark.parametrize(("name", "alloy"), [
    ("bench/pave_band_336k.stl", None), ("jewelry/solitaire_ring.stl", "18k-yellow"),
    ("jewelry/franout_bracelet_11shells.stl", None),
])
def test_check_report_is_the_same_with_capped_thickness_rays(meshes, monkeypatch, name, alloy):
    """check.py passes exact_below_mm=<its thin-wall limit>: its report equals the one of
    full thickness rays (no cap)."""
    from printprep.mesh import check, check_mesh, thickness
    from printprep.mesh.measure import ALLOY_MIN_WALL_MM, DEFAULT_MIN_WALL_MM

    loaded = load_mesh(meshes / name)
    limit = ALLOY_MIN_WALL_MM[alloy] if alloy else DEFAULT_MIN_WALL_MM
    caps = []

    def uncapped(*args, **kw):
        caps.append(kw.pop("exact_below_mm", None))
        return thickness.face_thickness_mm(*args, **kw)

    with monkeypatch.context() as m:
        m.setattr(check, "face_thickness_mm", uncapped)
        full = check_mesh(loaded, alloy=alloy).to_dict()
    assert caps == [limit]  # check asks for its thin-wall limit
    monkeypatch.setattr(thickness, "CAP_MIN_FACES", 0)  # cap even these small meshes
    raycast.clear_scene_cache()
    assert check_mesh(loaded, alloy=alloy).to_dict() == full


def _damaged_then_filled(meshes, name: str, seed: int):
    """A shared mesh with holes punched (faces around random seeds removed) and 2 % of its
    faces flipped, taken through the repair's own steps: split_fans and orient (the
    scene's faces: renumbered vertices, some faces rewound) then fill_holes (patches
    appended, vertices appended). Returns (vertices, faces) before and after fill_holes."""
    from printprep.mesh import clean  # noqa: PLC0415

    v, f = _arrays(meshes / name)
    rng = np.random.default_rng(seed)
    centre = v[f].mean(axis=1)
    gone = np.zeros(len(f), dtype=bool)
    for at, radius in zip(rng.integers(len(f), size=6), [0.05, 0.1, 0.2, 0.3, 0.5, 0.8], strict=True):
        gone |= np.linalg.norm(centre - centre[at], axis=1) < radius
    f = f[~gone].copy()
    flip = rng.random(len(f)) < 0.02
    f[flip] = f[flip][:, ::-1]
    v, f, patch, _, _ = clean.split_fans(v, f)
    f, flipped, _ = clean.orient(f, patch, edge_info(f, len(v)))
    assert flipped.any()
    v2, f2, _, n_closed, _ = clean.fill_holes(v, f, patch)
    assert n_closed >= 4 and len(f2) > len(f)  # real holes, really filled
    return v, f, v2, f2


def _same_or_tied(scene: RayScene, o, d, t, face, face_full, dist, dist_full, ends=None) -> None:
    """The same first hits as the scene of all faces, but where the choice belongs to the
    BVH, not to the faces: a ray that meets two faces at exactly the same distance (an
    edge or vertex they share: which one is reported depends on the traversal order,
    and each is hit at that distance alone), and, for edge rays (``ends`` (r, 2) the
    edge's vertices), a graze of a face at the edge's own end (a face sharing a vertex
    with the edge, which the crossing search discards; Embree reports such grazes or not
    depending on how the BVH clips the face). At most 0.2 % of the rays differ at all."""
    faces = scene._mesh[1]
    other = np.flatnonzero((face != face_full) | (dist != dist_full))
    assert len(other) <= max(5, len(face) // 500)
    for i in other.tolist():
        if ends is not None and all(g < 0 or np.isin(faces[g], ends[i]).any() for g in (face[i], face_full[i])):
            continue  # a graze at the edge's own end
        assert dist[i] == dist_full[i] and face[i] >= 0 and face_full[i] >= 0, i
        for g in (face[i], face_full[i]):  # a tie: each face alone is hit at that distance
            alone = RayScene(scene._mesh[0], faces[[g]], engine="embree")
            cap = None if t is None else t[i:i + 1]
            assert alone.first_hit(o[i:i + 1], d[i:i + 1], cap)[1][0] == dist[i], i


@pytest.mark.parametrize(("name", "seed"), [("jewelry/solitaire_ring.stl", 1), ("jewelry/pixelverse_ring.stl", 2)])
def test_background_scene_extended_by_filled_holes_answers_as_a_scene_of_all_faces(meshes, lib, name, seed):
    """The BVH built in the background over the damaged faces, extended by the patches
    that fill the holes (while some base faces were rewound and the vertices renumbered),
    gives the first hits of a scene built over all the repaired faces: faces and float32
    distances, for face rays, edge rays, capped rays and rays from outside; and so the
    same thickness, crossings and exact distances."""
    from printprep.mesh.intersect import crossing_pairs  # noqa: PLC0415

    v, f, v2, f2 = _damaged_then_filled(meshes, name, seed)
    raycast.clear_scene_cache()
    background = RayScene(v, f, engine="embree", background=True)  # as repair starts it before fill_holes
    scene = background.extended(v2, f2, len(f))
    assert scene.n_faces == len(f2) and background.n_faces == len(f)
    raycast.clear_scene_cache()
    full = RayScene(v2, f2, engine="embree")
    fo, fd, _, _, _ = rk.face_rays(v2, f2, np.zeros(0, dtype=bool))
    ev = np.ascontiguousarray(edge_info(f2, len(v2)).edge_vertices, dtype=np.int64)
    eo, ed, et, _ = rk.edge_rays(v2, ev)
    o, d = _random_rays(v2, 20_000, seed=seed)
    cap = np.full(len(fo), 0.4, dtype=np.float32)
    patch_hits = 0
    tied = np.zeros(len(f2), dtype=bool)  # faces whose face ray meets two faces at once
    for args, ends in [((fo, fd), None), ((eo, ed, et), ev), ((fo, fd, cap), None), ((o, d), None)]:
        face, dist = scene.first_hit(*args)
        face_full, dist_full = full.first_hit(*args)
        _same_or_tied(scene, *args[:2], args[2] if len(args) > 2 else None, face, face_full, dist, dist_full, ends)
        assert np.array_equal(scene.first_hit_faces(*args), face)
        patch_hits += int(np.count_nonzero(face >= len(f)))
        if len(face) == len(f2):
            tied |= face != face_full
    assert patch_hits > 50  # the appended faces answer too
    exact = scene.first_hit_exact(o, d)
    exact_full = full.first_hit_exact(o, d)
    tie = exact[0] != exact_full[0]  # the ties above: the same point on two faces' planes
    assert np.array_equal(exact[1][~tie], exact_full[1][~tie])
    assert np.allclose(exact[1][tie], exact_full[1][tie], rtol=1e-6)
    # walls: the same everywhere but at the tied faces (the far face chosen differs there)
    for cap_mm in (None, 0.6):
        th = face_thickness_mm(v2, f2, scene, exact_below_mm=cap_mm)
        th_full = face_thickness_mm(v2, f2, full, exact_below_mm=cap_mm)
        assert np.array_equal(th[~tied], th_full[~tied])
    info = edge_info(f2, len(v2))
    for a, b in zip(crossing_pairs(v2, f2, info, scene), crossing_pairs(v2, f2, info, full), strict=True):
        assert np.array_equal(a, b)
    # the background scene itself still answers for the faces it was built on
    face, dist = background.first_hit(o, d)
    raycast.clear_scene_cache()
    alone = RayScene(v, f, engine="embree").first_hit(o, d)
    assert np.array_equal(face, alone[0]) and np.array_equal(dist, alone[1])


def test_extended_scene_refuses_faces_it_was_not_built_on(meshes, lib):
    v, f = _arrays(meshes / "jewelry" / "solitaire_ring.stl")
    scene = RayScene(v, f, engine="embree", background=True)
    with pytest.raises(raycast.MeshError, match="not the face the ray scene was built on"):
        scene.extended(v, np.roll(f, 1, axis=0), len(f))  # faces reordered
    with pytest.raises(raycast.MeshError, match="not the face the ray scene was built on"):
        scene.extended(v + 0.01, f, len(f))  # vertices moved
    with pytest.raises(raycast.MeshError, match=f"a ray scene of {len(f)} faces"):
        scene.extended(v, f, len(f) - 1)  # a count that is not the scene's
    same = scene.extended(v, f[:, ::-1].copy(), len(f))  # rewound: the same faces
    assert same.first_hit_faces(*_random_rays(v, 100, seed=1)).shape == (100,)


def test_background_build_errors_surface_at_the_first_query(lib):
    v = np.zeros((3, 3))
    scene = RayScene(v, np.array([[0, 1, 5]]), engine="embree", background=True)  # returns at once
    with pytest.raises(raycast.MeshError, match="face indices outside 0..2"):
        scene.first_hit(np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]]))
    with pytest.raises(raycast.MeshError, match="face indices outside 0..2"):
        scene.wait()


def _morton_reference(points: np.ndarray) -> np.ndarray:
    """numpy reading of embree_kernels.coherent_order: the stable argsort of each point's
    15-bit Morton code in a 32³ grid over the points' bounds (bits one at a time)."""
    p = points.astype(np.float64)
    lo, hi = p.min(axis=0), p.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    q = np.clip(((p - lo) * np.where(hi > lo, 31.0 / span, 0.0)).astype(np.int64), 0, 31)
    code = np.zeros(len(p), dtype=np.int64)
    for bit in range(5):
        for axis in range(3):
            code |= ((q[:, axis] >> bit) & 1) << (3 * bit + axis)
    return np.argsort(code, kind="stable")


def test_coherent_order_is_the_morton_sort_and_changes_no_answer(meshes, lib):
    v, f = _arrays(meshes / "jewelry" / "pixelverse_ring.stl")
    fo, fd, _, _, _ = rk.face_rays(v, f, np.zeros(0, dtype=bool))
    flat = fo.copy()
    flat[:, 1] = 0.5  # one axis without extent
    for points in (fo, flat, fo[:1]):
        assert np.array_equal(ek.coherent_order(points), _morton_reference(points))
    assert ek.coherent_order(np.zeros((0, 3), np.float32)).shape == (0,)
    scene = RayScene(v, f, engine="embree")
    o, d = _random_rays(v, 30_000, seed=5)
    for args in [(fo, fd), (fo, fd, np.full(len(fo), 0.5)), (o, d)]:
        plain = scene.first_hit_faces(*args)
        assert np.array_equal(scene.first_hit_faces(*args, coherent=True), plain)
        face, dist = scene._scene.intersect(*args, coherent=True)
        assert np.array_equal(face, plain) and np.array_equal(dist, scene.first_hit(*args)[1])


def test_thickness_started_on_a_thread_is_the_thickness(meshes, lib):
    from printprep.mesh import thickness  # noqa: PLC0415

    v, f = _arrays(meshes / "jewelry" / "solitaire_ring.stl")
    rk.face_rays(v[:3], f[:1], np.zeros(0, dtype=bool))  # a parallel kernel has run: a layer is chosen
    require(thickness._concurrent_kernels_ok(), "numba's threading layer is workqueue (no tbb or omp)")
    flip = np.zeros(len(f), dtype=bool)
    flip[::7] = True
    for scene in (RayScene(v, f, engine="embree"), RayScene(v, f, engine="embree", background=True)):
        for cap in (None, 0.6):
            future = thickness.start_face_thickness(v, f, scene, flip, exact_below_mm=cap)
            assert np.array_equal(future.result(), face_thickness_mm(v, f, scene, flip, exact_below_mm=cap))
    bad = RayScene(v, f[:, [0, 1, 1]] + len(v), engine="embree", background=True)  # indices past the vertices
    with pytest.raises(raycast.MeshError, match="face indices outside"):
        thickness.start_face_thickness(v, f, bad).result()


def test_background_build_gives_the_same_bvh_answers(meshes, lib):
    """Determinism: a scene built on its own thread while this one works answers every
    ray exactly as one built in the foreground (ties included: the same BVH)."""
    v, f = _arrays(meshes / "jewelry" / "pixelverse_ring.stl")
    fo, fd, _, _, _ = rk.face_rays(v, f, np.zeros(0, dtype=bool))
    ev = np.ascontiguousarray(edge_info(f, len(v)).edge_vertices, dtype=np.int64)
    eo, ed, et, _ = rk.edge_rays(v, ev)
    o, d = _random_rays(v, 20_000, seed=7)
    raycast.clear_scene_cache()
    background = RayScene(v, f, engine="embree", background=True)
    np.sort(np.random.default_rng(0).random(200_000))  # work meanwhile
    raycast.clear_scene_cache()
    foreground = RayScene(v, f, engine="embree")
    for args in [(fo, fd), (eo, ed, et), (o, d)]:
        a, b = background.first_hit(*args), foreground.first_hit(*args)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
