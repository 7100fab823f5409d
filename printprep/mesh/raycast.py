"""Ray casting against a mesh with Embree (embreex): one BVH per mesh, many queries.

The BVH of the last big mesh is kept: a second :class:`RayScene` of the same vertices and
faces (compared by content, a CRC of both arrays) reuses it instead of building again.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:  # embreex has x86_64 wheels only
    from embreex import rtcore_scene
    from embreex.mesh_construction import TriangleMesh

    HAVE_EMBREE = True
except ImportError:  # pragma: no cover - exercised on other platforms
    HAVE_EMBREE = False


#: Ray batches of at least this many rays per thread are traced in parallel.
MIN_RAYS_PER_THREAD = 50_000
#: At most this many tracing threads.
MAX_THREADS = 8
#: Meshes of at least this many faces keep their BVH for the next scene of the same mesh.
CACHE_MIN_FACES = 50_000

_last_scene: tuple[tuple, object] | None = None  # (content key, embree scene)


def clear_scene_cache() -> None:
    """Let go of the kept BVH (a long-lived process done with a big mesh)."""
    global _last_scene  # noqa: PLW0603
    _last_scene = None


def _content_key(vertices: np.ndarray, faces: np.ndarray) -> tuple:
    """What identifies a geometry: shapes, dtypes and CRCs of both arrays' bytes."""
    v = np.ascontiguousarray(vertices)
    f = np.ascontiguousarray(faces)
    return (v.shape, v.dtype.str, f.shape, f.dtype.str, zlib.crc32(v), zlib.crc32(f))


def _run_threaded(n: int, run: Callable[[int, int], None]) -> None:
    """Call ``run(lo, hi)`` over slices of ``n`` rays, one slice per core for big batches
    (Embree traces without the GIL)."""
    n_threads = min(os.cpu_count() or 1, MAX_THREADS, max(1, n // MIN_RAYS_PER_THREAD))
    if n_threads > 1:
        bounds = np.linspace(0, n, n_threads + 1).astype(int)
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(run, bounds[:-1], bounds[1:]))
    else:
        run(0, n)


class RayScene:
    """First-hit ray queries against ``vertices[faces]`` (mm)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        global _last_scene  # noqa: PLW0603 - one kept BVH per process
        self.n_faces = len(faces)
        if HAVE_EMBREE:
            key = _content_key(vertices, faces) if len(faces) >= CACHE_MIN_FACES else None
            if key is not None and _last_scene is not None and _last_scene[0] == key:
                self._scene = _last_scene[1]
                return
            self._scene = rtcore_scene.EmbreeScene()
            if 2 * len(faces) < len(vertices):  # a few faces of a big mesh: their vertices only
                used, inverse = np.unique(faces, return_inverse=True)
                vertices, faces = vertices[used], inverse.reshape(faces.shape)
            # indexed, not a triangle soup: the BVH builds 2-3x faster
            TriangleMesh(self._scene, np.ascontiguousarray(vertices, dtype=np.float32), np.ascontiguousarray(faces, dtype=np.int32))
            # Embree builds the BVH at the first query: make it here, once, before any
            # threads share the scene
            self._scene.run(np.zeros((1, 3), np.float32), np.ones((1, 3), np.float32))
            if key is not None:
                _last_scene = (key, self._scene)
        else:
            import trimesh

            self._mesh = trimesh.Trimesh(vertices, faces, process=False, validate=False)

    def first_hit(self, origins: np.ndarray, directions: np.ndarray, max_dist: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cast rays; returns (face id (r,) int64, -1 for a miss; distance (r,) float64, mm).

        origins, directions : (r, 3) float (directions unit length); max_dist : (r,) mm.
        """
        if len(origins) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        if HAVE_EMBREE:
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
            face[face >= self.n_faces] = -1
            return face, dist
        loc, ray, tri = self._mesh.ray.intersects_location(origins, directions, multiple_hits=False)
        face = np.full(len(origins), -1, dtype=np.int64)
        dist = np.full(len(origins), np.inf)
        d = np.einsum("ij,ij->i", loc - origins[ray], directions[ray])
        face[ray], dist[ray] = tri, d
        if max_dist is not None:
            face[dist > max_dist] = -1
        return face, dist

    def first_hit_faces(self, origins: np.ndarray, directions: np.ndarray, max_dist: np.ndarray | None = None) -> np.ndarray:
        """Only the face each ray hits first: (r,) int64, -1 for a miss (no distances,
        normals or barycentrics are gathered: the cheapest query).

        origins, directions : (r, 3) float32 or float64 (directions unit length); max_dist :
        (r,) mm.
        """
        if not HAVE_EMBREE or len(origins) == 0:
            return self.first_hit(origins, directions, max_dist)[0]
        o = np.ascontiguousarray(origins, dtype=np.float32)
        d = np.ascontiguousarray(directions, dtype=np.float32)
        t = None if max_dist is None else np.ascontiguousarray(max_dist, dtype=np.float32)
        face = np.empty(len(o), dtype=np.int64)

        def run(lo: int, hi: int) -> None:
            face[lo:hi] = self._scene.run(o[lo:hi], d[lo:hi], dists=None if t is None else t[lo:hi])

        _run_threaded(len(o), run)
        face[face >= self.n_faces] = -1
        return face
