"""Wall thickness by ray casting: from each face straight into the material.

A ray leaves each face's centroid along the inward normal; the distance to the first face
that faces back (its normal opposes the ray's face) is the local wall thickness. Hits on
faces at a steep angle are sharp edges and corners, not walls, and are ignored.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from printprep.mesh.measure import row_norm, triangle_cross
from printprep.mesh.raycast import RayScene
from printprep.mesh.topology import EdgeInfo, components

#: The far wall must face back within this cosine (about 30° off anti-parallel;
#: a wedge sharper than 30° is thin, a blunter one is an edge).
OPPOSING_COS = -0.85
#: Thin regions smaller than this area are specks of tessellation, mm².
MIN_REGION_AREA_MM2 = 1e-3
#: At most this many regions are listed (largest first).
MAX_REGIONS = 20
#: With ``exact_below_mm``, meshes of at least this many faces cap their rays (smaller
#: ones trace in full: the sample would cost more than the cap saves).
CAP_MIN_FACES = 20_000
#: The cap's sample: every this many-th face, and at least this many faces.
CAP_SAMPLE_STRIDE = 64
CAP_SAMPLE_MIN = 2_000
#: The ray segment reaches this far past the cap (relative, and mm): Embree's float32.
CAP_MARGIN = 1e-3
CAP_MARGIN_MM = 1e-4


@dataclass
class ThinRegion:
    """A face-connected patch of wall thinner than ``limit_mm``."""

    min_thickness_mm: float
    area_mm2: float
    faces: int
    center_mm: tuple[float, float, float]
    limit_mm: float
    reason: str
    face_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)

    def to_dict(self) -> dict:
        return {
            "min_thickness_mm": round(self.min_thickness_mm, 3),
            "area_mm2": round(self.area_mm2, 3),
            "faces": self.faces,
            "center_mm": [round(c, 2) for c in self.center_mm],
            "limit_mm": self.limit_mm,
            "reason": self.reason,
        }


def face_thickness_mm(
    vertices: np.ndarray, faces: np.ndarray, scene: RayScene, flip: np.ndarray | None = None,
    cross: np.ndarray | None = None, *, exact_below_mm: float | None = None,
) -> np.ndarray:
    """Local wall thickness at each face, mm: (m,) float64, ``inf`` where none is found.

    vertices : (n, 3) float64, mm; faces : (m, 3) int64; scene : a :class:`RayScene` of
    these faces. flip : (m,) bool faces whose normal points inward (inverted shells),
    optional. cross : accepted for callers that have the face cross products; the kernel
    computes the normals in the same pass as the rays. One ray per face (Embree, face ids
    only); the rays are built and the hits read by compiled kernels
    (:mod:`printprep.mesh.ray_kernels`), the distance measured in float64. (Building,
    tracing and measuring each face in one compiled pass was tried: it saves the (m, 3)
    ray arrays but costs ~20 % more CPU, the far face's vertices being out of cache after
    each trace.)

    exact_below_mm : for callers that only need the walls thinner than a limit and the
    thinnest wall: every value below ``exact_below_mm`` and the minimum over all faces are
    exactly what the full search gives, other faces may read ``inf``. The rays stop at
    the larger of the limit and the thinnest wall a sample of the faces finds
    (:func:`_cap_mm`) instead of crossing the whole part (about 35 % less tracing on a
    ring with thin walls).
    """
    from printprep.mesh import ray_kernels as rk  # noqa: PLC0415 - kernels load on first use

    del cross
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    m = len(faces)
    flip_arr = np.zeros(0, dtype=bool) if flip is None else np.ascontiguousarray(flip, dtype=bool)
    o, d, inward, offset, ok = rk.face_rays(vertices, faces, flip_arr)

    def measure(ids: np.ndarray | None, tfar_mm: float) -> np.ndarray:
        if ids is None:
            t = None if np.isinf(tfar_mm) else np.full(m, tfar_mm, dtype=np.float32)
            hit = scene.first_hit_faces(o, d, t, coherent=True)  # faces come in any order
        else:
            hit = np.full(m, -1, dtype=np.int64)
            hit[ids] = scene.first_hit_faces(o[ids], d[ids])
        return rk.thickness_from_hits(vertices, faces, inward, offset, ok, hit, OPPOSING_COS)

    tfar_mm = np.inf
    if exact_below_mm is not None and m >= CAP_MIN_FACES:
        cap = _cap_mm(measure, m, exact_below_mm)
        if np.isfinite(cap):
            # Embree's t runs from the ray's start (offset inside the face) in float32:
            # the margin keeps every wall under ``cap`` inside the segment
            tfar_mm = cap * (1.0 + CAP_MARGIN) + CAP_MARGIN_MM
    return measure(None, tfar_mm)


_threads: ThreadPoolExecutor | None = None
_threads_lock = threading.Lock()


def start_face_thickness(
    vertices: np.ndarray, faces: np.ndarray, scene: RayScene, flip: np.ndarray | None = None, *,
    exact_below_mm: float | None = None,
) -> Future:
    """:func:`face_thickness_mm` started on a thread of its own; returns at once with a
    ``Future`` whose ``result()`` is the (m,) float64 array (mm) or raises its error.

    Arguments as for :func:`face_thickness_mm`; the arrays must not change until the
    result is in. The work releases the GIL (compiled kernels, Embree), so the caller's
    own numpy and compiled work runs meanwhile: the rays use both cores when the caller
    leaves one idle. A scene still building in the background is waited for on that
    thread. Where numba's threading layer is ``workqueue`` (it cannot run parallel
    kernels from two threads at once), or before any parallel kernel has chosen a layer,
    the work is done here and the Future comes back finished.
    """
    global _threads  # noqa: PLW0603 - one thread for the process
    if not _concurrent_kernels_ok():
        done: Future = Future()
        try:
            done.set_result(face_thickness_mm(vertices, faces, scene, flip, exact_below_mm=exact_below_mm))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the Future
            done.set_exception(exc)
        return done
    with _threads_lock:
        if _threads is None:
            _threads = ThreadPoolExecutor(1, thread_name_prefix="thickness")
    return _threads.submit(face_thickness_mm, vertices, faces, scene, flip, exact_below_mm=exact_below_mm)


def _concurrent_kernels_ok() -> bool:
    """Whether numba's threading layer runs parallel kernels from two threads at once
    (tbb and omp do, workqueue does not; unknown until a parallel kernel has run)."""
    import numba  # noqa: PLC0415 - loaded by the kernels already

    try:
        return numba.threading_layer() in ("tbb", "omp")
    except ValueError:  # no parallel kernel has run yet: no layer chosen
        return False


def _cap_mm(measure, m: int, exact_below_mm: float) -> float:
    """How far the thickness rays must reach, mm: the larger of ``exact_below_mm`` and the
    thinnest wall among every :data:`CAP_SAMPLE_STRIDE`-th face (inf when the sample finds
    none). The true thinnest wall is no thicker than the sample's, so rays capped here
    still find it; and a ray's first hit within the cap is its first hit without one.

    measure : ``measure(ids, tfar_mm) -> (m,) float64`` of :func:`face_thickness_mm`.
    """
    stride = max(1, min(CAP_SAMPLE_STRIDE, m // CAP_SAMPLE_MIN))
    sample = np.arange(0, m, stride, dtype=np.int64)
    th = measure(sample, np.inf)[sample]
    return max(float(exact_below_mm), float(th.min()) if len(th) else np.inf)


def thin_regions(
    vertices: np.ndarray, faces: np.ndarray, thickness_mm: np.ndarray, info: EdgeInfo,
    limit_mm: float, reason: str, min_area_mm2: float = MIN_REGION_AREA_MM2, max_regions: int | None = MAX_REGIONS,
) -> list[ThinRegion]:
    """Group faces thinner than ``limit_mm`` into connected regions, largest first.

    Regions smaller than ``min_area_mm2`` are dropped; at most ``max_regions`` are kept
    (None: all). Each region carries its face ids, (k,) int64.
    """
    thin = thickness_mm < limit_mm
    if not thin.any():
        return []
    ids = np.flatnonzero(thin)
    # regions: the thin faces joined across edges, numbered among the thin faces only
    # (each labelled by its smallest member, as over all faces)
    a, b = info.chained_pairs()
    fa, fb = a // 3, b // 3
    both = thin[fa] & thin[fb]
    rank = np.cumsum(thin) - 1  # face id -> its place among the thin faces
    _, lab = components(len(ids), rank[fa[both]], rank[fb[both]])
    del fa, fb, rank
    uniq, inv = np.unique(lab, return_inverse=True)
    tri = faces[ids]
    area = 0.5 * row_norm(triangle_cross(vertices, tri))
    region_area = np.bincount(inv, weights=area, minlength=len(uniq))
    region_faces = np.bincount(inv, minlength=len(uniq))
    centers = (vertices[tri[:, 0]] + vertices[tri[:, 1]] + vertices[tri[:, 2]]) / 3.0  # = the corners' mean
    csum = np.stack([np.bincount(inv, weights=centers[:, k] * area, minlength=len(uniq)) for k in range(3)], 1)
    members = np.argsort(inv, kind="stable")
    starts = np.concatenate([[0], np.cumsum(region_faces)])
    rmin = np.minimum.reduceat(thickness_mm[ids][members], starts[:-1])
    order = np.argsort(-region_area)
    order = order[region_area[order] >= min_area_mm2][:max_regions]
    out = []
    for r in order:  # a handful of regions, not triangles
        c = csum[r] / max(region_area[r], 1e-300)
        out.append(ThinRegion(
            float(rmin[r]), float(region_area[r]), int(region_faces[r]), (float(c[0]), float(c[1]), float(c[2])),
            limit_mm, reason, ids[members[starts[r]:starts[r + 1]]],
        ))
    return out
