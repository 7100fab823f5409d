"""numba kernels of a part's per-face measures and mass integrals (:mod:`printprep.casting.facts`)."""

from __future__ import annotations

import numba
import numpy as np

#: the mass integrals are summed in this many fixed chunks, then the chunks in order:
#: the same sum whatever the number of threads (prepare() stays deterministic)
MASS_CHUNKS = 64


@numba.njit(cache=True, nogil=True, parallel=True)
def face_geometry(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit normal, area and centroid of every face in one pass.

    vertices : (v, 3) float64, mm; faces : (f, 3) int64
    returns normals (f, 3) float64 unit (zero for a degenerate face), areas (f,) float64
    mm², centers (f, 3) float64 mm.

    In numpy: ``tri = vertices[faces]; c = cross(tri[:, 1] - tri[:, 0], tri[:, 2] -
    tri[:, 0]); area = norm(c) / 2; normals = c / norm(c)`` (0 where norm(c) is 0);
    ``centers = tri.mean(axis=1)`` — without the (f, 3, 3) temporary.
    """
    n = faces.shape[0]
    normals = np.zeros((n, 3))
    areas = np.empty(n)
    centers = np.empty((n, 3))
    for f in numba.prange(n):
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        ax, ay, az = vertices[i0, 0], vertices[i0, 1], vertices[i0, 2]
        bx, by, bz = vertices[i1, 0], vertices[i1, 1], vertices[i1, 2]
        cx, cy, cz = vertices[i2, 0], vertices[i2, 1], vertices[i2, 2]
        ux, uy, uz = bx - ax, by - ay, bz - az
        wx, wy, wz = cx - ax, cy - ay, cz - az
        nx = uy * wz - uz * wy
        ny = uz * wx - ux * wz
        nz = ux * wy - uy * wx
        ln = np.sqrt(nx * nx + ny * ny + nz * nz)
        areas[f] = 0.5 * ln
        if ln > 0.0:
            normals[f, 0] = nx / ln
            normals[f, 1] = ny / ln
            normals[f, 2] = nz / ln
        centers[f, 0] = (ax + bx + cx) / 3.0
        centers[f, 1] = (ay + by + cy) / 3.0
        centers[f, 2] = (az + bz + cz) / 3.0
    return normals, areas, centers


@numba.njit(cache=True, nogil=True, parallel=True)
def mass_integrals(vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Volume integrals of the solid bounded by the faces, about ``origin``.

    vertices : (v, 3) float64, mm; faces : (f, 3) int64 (outward winding); origin : (3,)
    float64 mm (a point near the part keeps the sums well conditioned)
    returns (10,) float64: ∫1, ∫x, ∫y, ∫z, ∫xx, ∫yy, ∫zz, ∫xy, ∫yz, ∫xz over the volume
    (mm³ … mm⁵), with x = p - origin.

    In numpy, per face the signed tetrahedron (origin, a, b, c): ``v = a·(b×c) / 6``,
    ``∫x = v (a + b + c) / 4``, ``∫x_i x_j = v / 20 (a_i a_j + b_i b_j + c_i c_j + s_i
    s_j)`` with ``s = a + b + c``; summed over faces (here in MASS_CHUNKS fixed chunks).
    """
    n = faces.shape[0]
    part = np.zeros((MASS_CHUNKS, 10))
    step = (n + MASS_CHUNKS - 1) // MASS_CHUNKS
    for k in numba.prange(MASS_CHUNKS):
        acc = np.zeros(10)
        for f in range(k * step, min(n, (k + 1) * step)):
            a = vertices[faces[f, 0]] - origin
            b = vertices[faces[f, 1]] - origin
            c = vertices[faces[f, 2]] - origin
            v = (a[0] * (b[1] * c[2] - b[2] * c[1]) + a[1] * (b[2] * c[0] - b[0] * c[2]) + a[2] * (b[0] * c[1] - b[1] * c[0])) / 6.0
            s = a + b + c
            acc[0] += v
            acc[1] += v * s[0] / 4.0
            acc[2] += v * s[1] / 4.0
            acc[3] += v * s[2] / 4.0
            w = v / 20.0
            acc[4] += w * (a[0] * a[0] + b[0] * b[0] + c[0] * c[0] + s[0] * s[0])
            acc[5] += w * (a[1] * a[1] + b[1] * b[1] + c[1] * c[1] + s[1] * s[1])
            acc[6] += w * (a[2] * a[2] + b[2] * b[2] + c[2] * c[2] + s[2] * s[2])
            acc[7] += w * (a[0] * a[1] + b[0] * b[1] + c[0] * c[1] + s[0] * s[1])
            acc[8] += w * (a[1] * a[2] + b[1] * b[2] + c[1] * c[2] + s[1] * s[2])
            acc[9] += w * (a[0] * a[2] + b[0] * b[2] + c[0] * c[2] + s[0] * s[2])
        part[k] = acc
    out = np.zeros(10)
    for k in range(MASS_CHUNKS):
        out += part[k]
    return out


@numba.njit(cache=True, nogil=True)
def most_down_face_of(faces: np.ndarray, normal_z: np.ndarray, vertices: np.ndarray, n_vertices: int) -> np.ndarray:
    """The face with the lowest normal z round each of ``vertices`` (ties to the lowest
    face index), -1 for a vertex in no face.

    faces : (f, 3) int64; normal_z : (f,) float64; vertices : (m,) int64 (distinct);
    returns (m,) int64.

    In numpy: the corners ``hit = isin(faces.ravel(), vertices)``, sorted by (vertex,
    normal z, face), the first of each vertex.
    """
    slot = np.full(n_vertices, -1, dtype=np.int64)
    for k in range(vertices.shape[0]):
        slot[vertices[k]] = k
    out = np.full(vertices.shape[0], -1, dtype=np.int64)
    for f in range(faces.shape[0]):
        for c in range(3):
            k = slot[faces[f, c]]
            if k < 0:
                continue
            g = out[k]
            if g < 0 or normal_z[f] < normal_z[g]:
                out[k] = f
    return out
