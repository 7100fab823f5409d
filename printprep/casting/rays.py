"""First-hit rays against a part for the casting stages, on :class:`printprep.mesh.raycast.RayScene`.

One :class:`PartRays` per mesh: the Embree scene is built once and asked by analysis,
gates, sprues, ring detection and support routes. :meth:`PartRays.in_frame` answers
rays given in another frame (the print frame: ``v_print = v @ R.T + offset``) on the
same scene, rotating the rays instead of the mesh: the casting is traced in its own
frame and its print-frame copy needs no second scene.

Embree traces in float32; each hit's distance is recomputed in float64 against the plane
of the face hit (as trimesh's intersector did) and rounded to 10 nm: Embree builds its
tree in parallel and may pick another face of an exact tie from run to run, and the
rounding keeps prepare() deterministic.
"""

from __future__ import annotations

import numpy as np

from printprep.mesh.raycast import RayScene

#: a ray this close to parallel to the plane of the face it hits (|cos| of the angle
#: between the ray and the face normal) keeps Embree's own distance
_GRAZING_COS = 1e-6


class PartRays:
    """First-hit ray queries against ``vertices[faces]`` (mm), optionally asked in
    another frame.

    vertices : (v, 3) float64, mm; faces : (f, 3) int64. ``rotation`` (3, 3) and
    ``offset`` (3,) mm map the scene's frame to the frame the rays are given in:
    ``p_rays = p_scene @ rotation.T + offset`` (identity and zero by default).
    """

    def __init__(
        self,
        vertices: np.ndarray,
        faces: np.ndarray,
        rotation: np.ndarray | None = None,
        offset: np.ndarray | None = None,
        scene: RayScene | None = None,
    ) -> None:
        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.faces = np.asarray(faces, dtype=np.int64)
        self.scene = scene if scene is not None else RayScene(self.vertices, self.faces)
        self.rotation = None if rotation is None else np.asarray(rotation, dtype=np.float64)
        self.offset = np.zeros(3) if offset is None else np.asarray(offset, dtype=np.float64)

    @classmethod
    def of(cls, mesh) -> PartRays:
        """The rays of a trimesh (or anything with ``vertices`` and ``faces``)."""
        return cls(np.asarray(mesh.vertices), np.asarray(mesh.faces))

    def in_frame(self, rotation: np.ndarray, offset: np.ndarray) -> PartRays:
        """The same scene asked in the frame ``p @ rotation.T + offset`` of this one's
        (rotation (3, 3), offset (3,) mm), without building anything."""
        rot = np.asarray(rotation, dtype=np.float64)
        off = np.asarray(offset, dtype=np.float64)
        if self.rotation is not None:
            # p_new = (p_scene @ R0.T + o0) @ R.T + o = p_scene @ (R @ R0).T + (o0 @ R.T + o)
            rot, off = rot @ self.rotation, self.offset @ rot.T + off
        return PartRays(self.vertices, self.faces, rot, off, scene=self.scene)

    def _to_scene(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        o = np.asarray(origins, dtype=np.float64)
        d = np.asarray(directions, dtype=np.float64)
        if self.rotation is not None:
            o = (o - self.offset) @ self.rotation
            d = d @ self.rotation
        return o, d

    def first_hit(
        self, origins: np.ndarray, directions: np.ndarray, max_dist: np.ndarray | float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The first face each ray hits and how far along the ray.

        origins : (n, 3) float64, mm; directions : (n, 3) float64 (any length: unitised);
        max_dist : (n,) or scalar mm, a ray that would hit only farther counts as a miss
        (Embree stops looking there: cheaper; a hit within a few float32 steps of the
        limit may count either way, so ask for a little more than needed)
        returns face (n,) int64 (-1 for a miss) and distance (n,) float64, mm, rounded
        to 10 nm (inf for a miss).
        """
        n = len(origins)
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        o, d = self._to_scene(origins, directions)
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
        limit = None if max_dist is None else np.broadcast_to(np.asarray(max_dist, dtype=np.float64), (n,))
        # Embree traces in float32; each hit's distance is measured again in float64 on the
        # hit face's plane (a grazing ray keeps Embree's), then rounded to 10 nm
        face, dist = self.scene.first_hit_exact(o, d, limit, grazing_cos=_GRAZING_COS)
        hit = face >= 0
        dist[hit] = np.round(np.maximum(dist[hit], 0.0), 5)
        return face, dist

    def distance_mm(
        self, origins: np.ndarray, directions: np.ndarray, max_dist: np.ndarray | float | None = None
    ) -> np.ndarray:
        """Distance along each ray to the first hit: (n,) float64, mm, inf when the ray
        escapes (or hits only beyond ``max_dist``, see :meth:`first_hit`).
        origins, directions : (n, 3) float64 (mm, unit vectors)."""
        return self.first_hit(origins, directions, max_dist)[1]

    def intersects_location(
        self, origins: np.ndarray, directions: np.ndarray, multiple_hits: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """trimesh's first-hit form: hit points (h, 3) float64 mm (in the rays' frame),
        the ray of each (h,) int64 and its face (h,) int64, for the rays that hit."""
        if multiple_hits:
            raise ValueError("PartRays answers the first hit only")
        o = np.asarray(origins, dtype=np.float64)
        d = np.asarray(directions, dtype=np.float64)
        face, dist = self.first_hit(o, d)
        ray = np.flatnonzero(face >= 0)
        unit = d[ray] / np.linalg.norm(d[ray], axis=1, keepdims=True)
        return o[ray] + unit * dist[ray, None], ray, face[ray]
