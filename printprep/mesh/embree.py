"""Embree 4 called directly (ctypes): the library that the embreex wheel bundles, a BVH
over our own arrays (shared buffers, no copy) and ray tracing by compiled loops.

embreex copies the vertices and faces into Embree one by one in a Python-level loop and
traces rays in a loop of its own; here the scene reads ``float32`` vertices and
``uint32`` faces in place (``rtcSetSharedGeometryBuffer``) and the rays are traced by
:mod:`printprep.mesh.embree_kernels`, on one thread per core.

:func:`load_library` finds ``libembree4`` inside the installed embreex distribution
(``embreex.libs/libembree4-<hash>.so.4``); it returns None when there is none (another
platform, an embreex built on Embree 2/3), and :mod:`printprep.mesh.raycast` then falls
back to embreex itself.
"""

from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np

from printprep.errors import MeshError

# enum values from embree4/rtcore_*.h
RTC_GEOMETRY_TYPE_TRIANGLE = 0
RTC_BUFFER_TYPE_INDEX = 0
RTC_BUFFER_TYPE_VERTEX = 1
RTC_FORMAT_UINT3 = 0x5003
RTC_FORMAT_FLOAT3 = 0x9003
RTC_BUILD_QUALITY_LOW = 0
RTC_BUILD_QUALITY_MEDIUM = 1
RTC_BUILD_QUALITY_HIGH = 2
RTC_SCENE_FLAG_NONE = 0
RTC_SCENE_FLAG_ROBUST = 1 << 2
RTC_ERROR_NONE = 0

#: Ray batches of at least this many rays per thread are traced on several threads.
MIN_RAYS_PER_THREAD = 4_000
#: Big batches are cut into this many slices per thread, so that a thread slowed by
#: other work on the machine leaves its share to the others.
CHUNKS_PER_THREAD = 4
#: At most this many tracing threads.
MAX_THREADS = 8


class RTCRay(ctypes.Structure):
    """One ray (embree4/rtcore_ray.h ``struct RTC_ALIGN(16) RTCRay``), 48 bytes."""

    _fields_ = [
        ("org_x", ctypes.c_float), ("org_y", ctypes.c_float), ("org_z", ctypes.c_float), ("tnear", ctypes.c_float),
        ("dir_x", ctypes.c_float), ("dir_y", ctypes.c_float), ("dir_z", ctypes.c_float), ("time", ctypes.c_float),
        ("tfar", ctypes.c_float), ("mask", ctypes.c_uint), ("id", ctypes.c_uint), ("flags", ctypes.c_uint),
    ]


class RTCHit(ctypes.Structure):
    """One hit (``struct RTC_ALIGN(16) RTCHit`` with RTC_MAX_INSTANCE_LEVEL_COUNT 1 and the
    instance-array field of Embree >= 4.3), 36 bytes of fields padded to 48."""

    _fields_ = [
        ("Ng_x", ctypes.c_float), ("Ng_y", ctypes.c_float), ("Ng_z", ctypes.c_float),
        ("u", ctypes.c_float), ("v", ctypes.c_float),
        ("primID", ctypes.c_uint), ("geomID", ctypes.c_uint), ("instID", ctypes.c_uint * 1),
        ("instPrimID", ctypes.c_uint * 1), ("_align", ctypes.c_uint * 3),
    ]


class RTCRayHit(ctypes.Structure):
    """``struct RTCRayHit``: ray then hit, 96 bytes (the layout the kernels write)."""

    _fields_ = [("ray", RTCRay), ("hit", RTCHit)]


def find_library() -> Path | None:
    """The ``libembree4`` shared library inside the installed embreex, or None."""
    try:
        dist = metadata.distribution("embreex")
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        name = f.name
        if name.startswith("libembree4") and ".so" in name and f.parent.name == "embreex.libs":
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    return None


class _Library:
    """The ctypes functions of one loaded libembree4, and one device for the process."""

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        vp, u32, sz = ctypes.c_void_p, ctypes.c_uint, ctypes.c_size_t
        protos = {
            "rtcNewDevice": (vp, [ctypes.c_char_p]),
            "rtcGetDeviceError": (ctypes.c_int, [vp]),
            "rtcNewScene": (vp, [vp]),
            "rtcSetSceneFlags": (None, [vp, ctypes.c_int]),
            "rtcSetSceneBuildQuality": (None, [vp, ctypes.c_int]),
            "rtcNewGeometry": (vp, [vp, ctypes.c_int]),
            "rtcSetGeometryBuildQuality": (None, [vp, ctypes.c_int]),
            "rtcSetSharedGeometryBuffer": (None, [vp, ctypes.c_int, u32, ctypes.c_int, vp, sz, sz, sz]),
            "rtcCommitGeometry": (None, [vp]),
            "rtcAttachGeometry": (u32, [vp, vp]),
            "rtcReleaseGeometry": (None, [vp]),
            "rtcCommitScene": (None, [vp]),
            "rtcReleaseScene": (None, [vp]),
            "rtcIntersect1": (None, [vp, vp, vp]),
        }
        for name, (res, args) in protos.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        self.lib = lib
        self.path = path
        self.intersect1 = ctypes.cast(lib.rtcIntersect1, vp).value
        self.intersect16 = ctypes.cast(lib.rtcIntersect16, vp).value
        self.device = lib.rtcNewDevice(None)
        if not self.device:
            raise MeshError("Embree could not create a device", where=str(path))

    def check(self, what: str) -> None:
        """Raise :class:`MeshError` when the device reports an error after ``what``."""
        code = self.lib.rtcGetDeviceError(self.device)
        if code != RTC_ERROR_NONE:
            raise MeshError(f"Embree error {code} while {what}", where=str(self.path))


_library: _Library | None = None
_library_tried = False
_lock = threading.Lock()


def load_library() -> _Library | None:
    """The process's Embree 4 (loaded once), or None when embreex bundles none."""
    global _library, _library_tried  # noqa: PLW0603 - one library and device per process
    with _lock:
        if not _library_tried:
            _library_tried = True
            path = find_library()
            if path is not None and os.environ.get("PRINTPREP_EMBREE", "") != "embreex":
                try:
                    _library = _Library(path)
                except (OSError, AttributeError, MeshError):
                    _library = None
        return _library


class EmbreeScene:
    """A committed Embree scene of one triangle mesh, reading our arrays in place.

    vertices : (n, 3) float, mm (kept as (n + 1, 3) float32: Embree may read 16 bytes from
    the last vertex on, so a row of padding follows); faces : (m, 3) int (kept as
    (m + 1, 3) uint32, padded the same way). The arrays live as long as
    the scene does. ``robust`` sets RTC_SCENE_FLAG_ROBUST (watertight ray/triangle tests:
    a ray through a shared edge or vertex hits one of its faces, never slips between);
    ``quality`` is an RTC_BUILD_QUALITY_*.

    background : return at once and build on a thread of its own (the float32 / uint32
    copies, the index check and the BVH: numpy's casts and Embree's build release the
    GIL). The caller must not change ``vertices`` or ``faces`` in place until the build
    is done; every query waits for it (:meth:`wait`), and an error of the build (bad
    indices, Embree's own) is raised by the first query.
    """

    def __init__(self, lib: _Library, vertices: np.ndarray, faces: np.ndarray, *,
                 robust: bool = True, quality: int = RTC_BUILD_QUALITY_MEDIUM, background: bool = False) -> None:
        self._lib = lib
        self._scene = None
        self._error: BaseException | None = None
        self._arrays: tuple[np.ndarray, np.ndarray] = (np.zeros((1, 3), np.float32), np.zeros((1, 3), np.uint32))
        self.n_faces = len(faces)
        self._building: threading.Thread | None = None
        self._source: tuple[np.ndarray, np.ndarray] | None = None  # the caller's arrays while building
        if background:
            self._source = (vertices, faces)
            self._building = threading.Thread(
                target=self._build_or_keep_error, args=(vertices, faces, robust, quality), name="embree-build", daemon=True,
            )
            self._building.start()
        else:
            self._build(vertices, faces, robust, quality)

    def _build_or_keep_error(self, vertices: np.ndarray, faces: np.ndarray, robust: bool, quality: int) -> None:
        try:
            self._build(vertices, faces, robust, quality)
        except BaseException as exc:  # noqa: BLE001 - raised again by the first query (MemoryError too)
            self._error = exc
        finally:
            self._source = None

    def _build(self, vertices: np.ndarray, faces: np.ndarray, robust: bool, quality: int) -> None:
        """Copy the arrays, make the scene and build its BVH (in the thread that calls)."""
        lib = self._lib
        n, m = len(vertices), len(faces)
        if m and (int(faces.min()) < 0 or int(faces.max()) >= n):  # Embree would read past the vertices
            raise MeshError(f"face indices outside 0..{n - 1}: cannot build a ray scene")
        v32 = np.zeros((n + 1, 3), dtype=np.float32)
        v32[:n] = vertices
        f32 = np.zeros((m + 1, 3), dtype=np.uint32)  # padded too: SSE loads of the last row
        f32[:m] = faces
        self._arrays = (v32, f32)
        L = lib.lib
        scene = L.rtcNewScene(lib.device)
        if not scene:
            lib.check("creating a scene")
        self._scene = scene
        L.rtcSetSceneFlags(scene, RTC_SCENE_FLAG_ROBUST if robust else RTC_SCENE_FLAG_NONE)
        L.rtcSetSceneBuildQuality(scene, quality)
        geom = L.rtcNewGeometry(lib.device, RTC_GEOMETRY_TYPE_TRIANGLE)
        L.rtcSetGeometryBuildQuality(geom, quality)
        L.rtcSetSharedGeometryBuffer(geom, RTC_BUFFER_TYPE_VERTEX, 0, RTC_FORMAT_FLOAT3, v32.ctypes.data, 0, 12, n)
        L.rtcSetSharedGeometryBuffer(geom, RTC_BUFFER_TYPE_INDEX, 0, RTC_FORMAT_UINT3, f32.ctypes.data, 0, 12, m)
        L.rtcCommitGeometry(geom)
        L.rtcAttachGeometry(scene, geom)
        L.rtcReleaseGeometry(geom)  # the scene holds it
        L.rtcCommitScene(scene)
        lib.check(f"building the ray scene of {m} faces")  # Embree keeps errors per thread

    def wait(self) -> None:
        """Wait for a background build; raise its error (:class:`MeshError`, or whatever
        else stopped it) if it failed."""
        building = self._building
        if building is not None:
            building.join()
            self._building = None
        if self._error is not None:
            raise self._error

    @property
    def built(self) -> bool:
        """Whether the BVH is ready (a background build has finished)."""
        return self._building is None or not self._building.is_alive()

    def face_corners(self, ids: np.ndarray) -> np.ndarray:
        """The float32 corners of faces ``ids`` (k,) int as the scene holds them: (k, 3, 3)
        float32, mm (read from the caller's arrays while a background build runs, which
        must not change meanwhile: no waiting)."""
        source = self._source
        if source is not None:
            return np.asarray(source[0][source[1][ids]], dtype=np.float32)
        self.wait()
        v32, f32 = self._arrays
        return v32[f32[ids].astype(np.int64)]

    def __del__(self) -> None:
        building = getattr(self, "_building", None)
        # the build thread holds the scene through its target until it ends, so the last
        # reference may drop in that very thread: it cannot join itself (and is done)
        if building is not None and building is not threading.current_thread():
            building.join()
        if getattr(self, "_scene", None):
            self._lib.lib.rtcReleaseScene(self._scene)
            self._scene = None

    def intersect(self, origins: np.ndarray, directions: np.ndarray, max_dist: np.ndarray | None = None, *,
                  distances: bool = True, tnear_mm: float = 0.0, packets: bool = False,
                  extra: EmbreeScene | None = None, extra_offset: int = 0,
                  coherent: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """First hits: (face (r,) int64, -1 for a miss; distance (r,) float64 mm, inf for a
        miss, or None when ``distances`` is False).

        origins, directions : (r, 3) float (directions unit length); max_dist : (r,) mm
        (tfar). ``packets`` traces 16 rays per call (rtcIntersect16). extra : a second
        scene traced after this one with each ray cut at its first hit here, so the nearer
        hit of the two wins; its faces are numbered from ``extra_offset`` on (not with
        ``packets``). coherent : trace the rays in the Morton order of their origins
        (:func:`embree_kernels.coherent_order`, ~20 ms per million rays): rays in no
        spatial order (one per face of a mesh whose faces came in any order) find the BVH
        nodes of their neighbours still in cache, about 14 % less CPU on the 1.35M band's
        face rays, sort included; the answers are the same. Sorted for a few rays too, so
        that the warm-up (a small band) compiles the sort.
        """
        from printprep.mesh import embree_kernels as ek  # noqa: PLC0415 - kernels load on first use

        self.wait()
        o = np.ascontiguousarray(origins, dtype=np.float32)
        d = np.ascontiguousarray(directions, dtype=np.float32)
        r = len(o)
        t = np.zeros(0, np.float32) if max_dist is None else np.ascontiguousarray(max_dist, dtype=np.float32)
        face = np.empty(r, dtype=np.int64)
        dist = np.empty(r if distances else 0, dtype=np.float64)
        scene = self._scene
        if extra is not None:
            if packets:
                raise ValueError("packets of 16 trace one scene only")
            extra.wait()
        scene2 = 0 if extra is None else extra._scene
        order = ek.coherent_order(o) if coherent and not packets else np.zeros(0, np.int64)

        def run(lo: int, hi: int) -> None:
            if packets:
                ek.trace16(self._lib.intersect16, scene, o, d, t, tnear_mm, lo, hi, face, dist)
            else:
                ek.trace1(self._lib.intersect1, scene, scene2, extra_offset, o, d, t, tnear_mm, order, lo, hi, face, dist)

        n_threads = min(os.cpu_count() or 1, MAX_THREADS, max(1, r // MIN_RAYS_PER_THREAD))
        if n_threads > 1:
            chunks = n_threads * (CHUNKS_PER_THREAD if r >= CHUNKS_PER_THREAD * MIN_RAYS_PER_THREAD else 1)
            bounds = np.linspace(0, r, chunks + 1).astype(np.int64)
            list(_pool().map(run, bounds[:-1], bounds[1:]))
        else:
            run(0, r)
        return face, (dist if distances else None)


_threads: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """The tracing threads, made once per process (a pool per call costs more than
    tracing a few thousand rays)."""
    global _threads  # noqa: PLW0603 - one pool per process
    with _lock:
        if _threads is None:
            _threads = ThreadPoolExecutor(min(os.cpu_count() or 1, MAX_THREADS), thread_name_prefix="embree-rays")
        return _threads
