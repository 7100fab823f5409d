"""Ray casting against a mesh with Embree (embreex): one BVH per mesh, many queries."""

from __future__ import annotations

import os
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


class RayScene:
    """First-hit ray queries against ``vertices[faces]`` (mm)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        self.n_faces = len(faces)
        if HAVE_EMBREE:
            self._scene = rtcore_scene.EmbreeScene()
            if 2 * len(faces) < len(vertices):  # a few faces of a big mesh: their vertices only
                used, inverse = np.unique(faces, return_inverse=True)
                vertices, faces = vertices[used], inverse.reshape(faces.shape)
            # indexed, not a triangle soup: the BVH builds 2-3x faster
            TriangleMesh(self._scene, np.ascontiguousarray(vertices, dtype=np.float32), np.ascontiguousarray(faces, dtype=np.int32))
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

            n_threads = min(os.cpu_count() or 1, MAX_THREADS, max(1, len(o) // MIN_RAYS_PER_THREAD))
            if n_threads > 1:  # Embree traces without the GIL: one slice of rays per core
                bounds = np.linspace(0, len(o), n_threads + 1).astype(int)
                with ThreadPoolExecutor(n_threads) as pool:
                    list(pool.map(run, bounds[:-1], bounds[1:]))
            else:
                run(0, len(o))
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
