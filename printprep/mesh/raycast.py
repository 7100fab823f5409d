"""Ray casting against a mesh with Embree: one BVH per mesh, many queries.

Three engines answer the same queries, the first available one by default:

- ``"embree"``: Embree 4 called directly (:mod:`printprep.mesh.embree`): the BVH reads
  our float32 / uint32 copies of the arrays in place and compiled loops trace the rays on
  one thread per core. The library is the one the embreex wheel bundles.
- ``"embreex"``: the embreex binding (copies the mesh in and traces in its own loop);
  used when embreex bundles no Embree 4 library.
- ``"trimesh"``: trimesh's pure-numpy intersector, where embreex has no wheel.

The BVH of the last big mesh is kept: a second :class:`RayScene` of the same vertices and
faces (compared by content, a CRC of both arrays) reuses it instead of building again.
``RayScene(..., background=True)`` builds on a thread of its own while the caller works
on, and :meth:`RayScene.extended` adds faces appended since to a scene without building
its BVH again (repair: the scene is built while the holes are closed, and the patches
join it).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from printprep.errors import MeshError
from printprep.mesh import embree

try:  # embreex has x86_64 wheels only
    import embreex  # noqa: F401 - only whether it is there; loaded on first use

    HAVE_EMBREE = True
except ImportError:  # pragma: no cover - exercised on other platforms
    HAVE_EMBREE = False

ENGINES = ("embree", "embreex", "trimesh")

#: Ray batches of at least this many rays per thread are traced in parallel (embreex).
MIN_RAYS_PER_THREAD = 50_000
#: At most this many tracing threads.
MAX_THREADS = 8
#: first_hit_exact keeps Embree's distance for rays this close to parallel to the face
#: (|cos| of the angle between the ray and the face normal).
GRAZING_COS = 1e-6
#: Meshes of at least this many faces keep their BVH for the next scene of the same mesh.
CACHE_MIN_FACES = 50_000

_last_scene: tuple[tuple, object] | None = None  # (content key, engine's scene)


def clear_scene_cache() -> None:
    """Let go of the kept BVH (a long-lived process done with a big mesh)."""
    global _last_scene  # noqa: PLW0603
    _last_scene = None


def default_engine() -> str:
    """The engine a :class:`RayScene` uses when not told: ``"embree"`` when the Embree 4
    library loads, else ``"embreex"`` when installed, else ``"trimesh"``."""
    if embree.load_library() is not None:
        return "embree"
    return "embreex" if HAVE_EMBREE else "trimesh"


def _content_key(vertices: np.ndarray, faces: np.ndarray) -> tuple:
    """What identifies a geometry: shapes, dtypes and CRCs of both arrays' bytes."""
    v = np.ascontiguousarray(vertices)
    f = np.ascontiguousarray(faces)
    return (v.shape, v.dtype.str, f.shape, f.dtype.str, zlib.crc32(v), zlib.crc32(f))


#: extended() compares about this many of the base faces with the scene's own copy.
SAME_FACES_SAMPLE = 1024


def _corner_sets(corners: np.ndarray) -> np.ndarray:
    """Each face's corners in an order that depends on their coordinates only (not on
    the winding): (k, 3, 3) float32 -> (k, 3, 3) uint32 bits, corners sorted by a hash."""
    bits = np.ascontiguousarray(corners, dtype=np.float32).view(np.uint32)
    wide = bits.astype(np.uint64)
    key = wide[..., 0] * np.uint64(0x9E3779B97F4A7C15) ^ wide[..., 1] * np.uint64(0xC2B2AE3D27D4EB4F) ^ wide[..., 2]
    return np.take_along_axis(bits, np.argsort(key, axis=1)[..., None], axis=1)


def _check_same_faces(scene: embree.EmbreeScene, vertices: np.ndarray, faces: np.ndarray, n_base: int) -> None:
    """Raise :class:`MeshError` unless a sample of ``faces[:n_base]`` has the corners that
    ``scene`` holds for the same face ids (as sets of float32 points: the winding and the
    vertex numbering may differ)."""
    if n_base == 0:
        return
    ids = np.unique(np.linspace(0, n_base - 1, min(n_base, SAME_FACES_SAMPLE)).astype(np.int64))
    now = _corner_sets(vertices[faces[ids]])
    held = _corner_sets(scene.face_corners(ids))
    differ = np.flatnonzero((now != held).any(axis=(1, 2)))
    if len(differ):
        raise MeshError(
            f"face {int(ids[differ[0]])} is not the face the ray scene was built on: cannot extend the scene "
            f"(the first {n_base} faces must keep their corners and order)"
        )


def _run_threaded(n: int, run: Callable[[int, int], None]) -> None:
    """Call ``run(lo, hi)`` over slices of ``n`` rays, one slice per core for big batches
    (embreex traces without the GIL)."""
    n_threads = min(os.cpu_count() or 1, MAX_THREADS, max(1, n // MIN_RAYS_PER_THREAD))
    if n_threads > 1:
        bounds = np.linspace(0, n, n_threads + 1).astype(int)
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(run, bounds[:-1], bounds[1:]))
    else:
        run(0, n)


def _embreex_scene(vertices: np.ndarray, faces: np.ndarray) -> object:
    """An embreex scene of the mesh, its BVH built."""
    from embreex import rtcore_scene  # noqa: PLC0415 - the fallback engine only
    from embreex.mesh_construction import TriangleMesh  # noqa: PLC0415

    scene = rtcore_scene.EmbreeScene()
    # indexed, not a triangle soup: the BVH builds 2-3x faster
    TriangleMesh(scene, np.ascontiguousarray(vertices, dtype=np.float32), np.ascontiguousarray(faces, dtype=np.int32))
    # Embree builds the BVH at the first query: make it here, once, before any threads
    # share the scene
    scene.run(np.zeros((1, 3), np.float32), np.ones((1, 3), np.float32))
    return scene


class RayScene:
    """First-hit ray queries against ``vertices[faces]`` (mm).

    vertices : (n, 3) float, mm; faces : (m, 3) int. engine : one of :data:`ENGINES`,
    default :func:`default_engine`. Rays start at their origin (tnear 0); a hit exactly
    on an edge or vertex shared by several faces reports one of them. background (the
    ``"embree"`` engine): return at once and build the BVH on a thread of its own
    (:class:`embree.EmbreeScene`); queries wait for it and raise its errors; the arrays
    must not change in place meanwhile. A background scene is not kept for reuse.
    """

    def __init__(
        self, vertices: np.ndarray, faces: np.ndarray, *, engine: str | None = None, background: bool = False,
    ) -> None:
        global _last_scene  # noqa: PLW0603 - one kept BVH per process
        self.n_faces = len(faces)
        self._mesh = (vertices, faces)  # for first_hit_exact
        self._extra: embree.EmbreeScene | None = None  # faces appended by extended()
        self._extra_offset = 0
        self.engine = engine or default_engine()
        if self.engine not in ENGINES:
            raise ValueError(f"unknown ray engine {self.engine!r}; one of {', '.join(ENGINES)}")
        if self.engine == "trimesh":
            import trimesh  # noqa: PLC0415 - only where embreex has no wheel

            self._scene = trimesh.Trimesh(vertices, faces, process=False, validate=False)
            return
        if background and self.engine == "embree":
            # neither looked up in nor kept as the last scene: the content key would cost
            # the caller the CRC of both arrays
            lib = embree.load_library()
            if lib is None:
                raise ValueError("the embree ray engine is not available (embreex bundles no Embree 4)")
            self._scene = embree.EmbreeScene(lib, vertices, faces, background=True)
            return
        key = None
        if len(faces) >= CACHE_MIN_FACES:
            key = (self.engine, *_content_key(vertices, faces))
            if _last_scene is not None and _last_scene[0] == key:
                self._scene = _last_scene[1]
                return
        if 2 * len(faces) < len(vertices):  # a few faces of a big mesh: their vertices only
            used, inverse = np.unique(faces, return_inverse=True)
            vertices, faces = vertices[used], inverse.reshape(faces.shape)
        if self.engine == "embree":
            lib = embree.load_library()
            if lib is None:
                raise ValueError("the embree ray engine is not available (embreex bundles no Embree 4)")
            self._scene = embree.EmbreeScene(lib, vertices, faces)
        else:
            self._scene = _embreex_scene(vertices, faces)
        if key is not None:
            _last_scene = (key, self._scene)

    def extended(self, vertices: np.ndarray, faces: np.ndarray, n_base: int) -> RayScene:
        """A scene of ``vertices[faces]`` that reuses this scene's BVH for the first
        ``n_base`` faces: those must be this scene's faces, in the same order, with the
        same corner coordinates (their winding and vertex numbering may have changed since:
        a BVH depends on neither); the faces after them get a small BVH of their own.

        vertices : (n, 3) float, mm; faces : (m, 3) int, m >= n_base. Every query of the
        new scene traces both BVHs, each ray cut at its first hit in the first, so the
        nearer hit wins: the same faces and distances as a scene built over all
        ``faces``, but where a ray meets two faces at exactly the same distance (an edge
        they share: which one a BVH reports depends on its traversal order) or grazes a
        face at the ray's very start. Build this scene on the faces wound as they will be
        traced: Embree's watertight test rounds a rewound face's distance differently in
        the last bit. ``first_hit_exact`` measures on ``vertices``/``faces`` as they are
        now. A background build of this scene carries on: the new scene's queries wait for
        it. Engines other than ``"embree"`` build a scene of all faces. A sample of the base
        faces is checked against the scene's own copy (:class:`MeshError` when they differ).
        About 10 % more CPU per ray than one BVH (the second trace).
        """
        if n_base != self.n_faces or len(faces) < n_base:
            raise MeshError(
                f"cannot extend a ray scene of {self.n_faces} faces by faces {n_base}..{len(faces)} of a mesh "
                f"of {len(faces)} faces: the first {n_base} must be the scene's own"
            )
        if self.engine != "embree" or self._extra is not None:
            return RayScene(vertices, faces, engine=self.engine)
        _check_same_faces(self._scene, vertices, faces, n_base)
        out = RayScene.__new__(RayScene)
        out.n_faces = len(faces)
        out._mesh = (vertices, faces)
        out.engine = self.engine
        out._scene = self._scene
        out._extra = None
        out._extra_offset = n_base
        if len(faces) > n_base:
            tail = faces[n_base:]
            used, inverse = np.unique(tail, return_inverse=True)
            out._extra = embree.EmbreeScene(embree.load_library(), vertices[used], inverse.reshape(tail.shape))
        return out

    def wait(self) -> RayScene:
        """Wait for a background build (raises its error); returns the scene."""
        if self.engine == "embree":
            self._scene.wait()
        return self

    def first_hit(self, origins: np.ndarray, directions: np.ndarray, max_dist: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cast rays; returns (face id (r,) int64, -1 for a miss; distance (r,) float64, mm,
        inf for a miss).

        origins, directions : (r, 3) float (directions unit length); max_dist : (r,) mm, a
        hit farther than that is a miss.
        """
        if len(origins) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        if self.engine == "embree":
            face, dist = self._scene.intersect(origins, directions, max_dist, extra=self._extra, extra_offset=self._extra_offset)
            return face, dist
        if self.engine == "embreex":
            o = np.ascontiguousarray(origins, dtype=np.float32)
            d = np.ascontiguousarray(directions, dtype=np.float32)
            t = None if max_dist is None else np.ascontiguousarray(max_dist, dtype=np.float32)
            face = np.empty(len(o), dtype=np.int64)
            dist = np.empty(len(o), dtype=np.float64)

            def run(lo: int, hi: int) -> None:
                res = self._scene.run(o[lo:hi], d[lo:hi], dists=None if t is None else t[lo:hi], query="INTERSECT", output=1)
                face[lo:hi] = res["primID"]
                dist[lo:hi] = res["tfar"]

            _run_threaded(len(o), run)
            miss = (face < 0) | (face >= self.n_faces)
            face[miss] = -1
            dist[miss] = np.inf
            return face, dist
        loc, ray, tri = self._scene.ray.intersects_location(origins, directions, multiple_hits=False)
        face = np.full(len(origins), -1, dtype=np.int64)
        dist = np.full(len(origins), np.inf)
        d = np.einsum("ij,ij->i", loc - origins[ray], directions[ray])
        face[ray], dist[ray] = tri, d
        if max_dist is not None:
            far = dist > max_dist
            face[far], dist[far] = -1, np.inf
        return face, dist

    def first_hit_exact(
        self, origins: np.ndarray, directions: np.ndarray, max_dist: np.ndarray | None = None, *,
        grazing_cos: float = GRAZING_COS,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`first_hit` with each hit's distance measured again in float64 to the
        plane of the face hit (Embree traces in float32), in compiled code: (face (r,)
        int64, -1 for a miss; distance (r,) float64 mm, inf for a miss).

        origins, directions : (r, 3) float64 (directions unit length). A ray within
        ``grazing_cos`` of the face's plane (|cos| of ray and normal) keeps Embree's
        distance. numpy reading in :func:`ray_kernels.plane_distances`.
        """
        from printprep.mesh import ray_kernels as rk  # noqa: PLC0415 - kernels load on first use

        o = np.ascontiguousarray(origins, dtype=np.float64)
        d = np.ascontiguousarray(directions, dtype=np.float64)
        face, dist = self.first_hit(o, d, max_dist)
        if len(face):
            v = np.ascontiguousarray(self._mesh[0], dtype=np.float64)
            f = np.ascontiguousarray(self._mesh[1], dtype=np.int64)
            rk.plane_distances(v, f, o, d, face, dist, grazing_cos)
        return face, dist

    def first_hit_faces(
        self, origins: np.ndarray, directions: np.ndarray, max_dist: np.ndarray | None = None, *, coherent: bool = False,
    ) -> np.ndarray:
        """Only the face each ray hits first: (r,) int64, -1 for a miss (no distances,
        normals or barycentrics are gathered: the cheapest query).

        origins, directions : (r, 3) float32 or float64 (directions unit length); max_dist :
        (r,) mm. coherent : trace big batches in the Morton order of the origins (same
        answers; less CPU for rays in no spatial order, e.g. one per face: see
        :meth:`embree.EmbreeScene.intersect`).
        """
        if len(origins) == 0:
            return np.zeros(0, np.int64)
        if self.engine == "embree":
            return self._scene.intersect(
                origins, directions, max_dist, distances=False, extra=self._extra, extra_offset=self._extra_offset,
                coherent=coherent,
            )[0]
        if self.engine != "embreex":
            return self.first_hit(origins, directions, max_dist)[0]
        o = np.ascontiguousarray(origins, dtype=np.float32)
        d = np.ascontiguousarray(directions, dtype=np.float32)
        t = None if max_dist is None else np.ascontiguousarray(max_dist, dtype=np.float32)
        face = np.empty(len(o), dtype=np.int64)

        def run(lo: int, hi: int) -> None:
            face[lo:hi] = self._scene.run(o[lo:hi], d[lo:hi], dists=None if t is None else t[lo:hi])

        _run_threaded(len(o), run)
        face[(face < 0) | (face >= self.n_faces)] = -1
        return face
