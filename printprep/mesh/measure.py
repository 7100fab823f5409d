"""Measures of a mesh that casting cares about: volume, area, metal weight.

Densities are Stuller's figures in g/cm³ (see ../shared/domain.md, section 1); the
casting minimum wall is the trade's rule of thumb for a natural-finish wall or a prong.
"""

from __future__ import annotations

import numpy as np

from printprep.errors import MeshError

#: Alloy name -> density, g/cm³ (Stuller).
ALLOYS: dict[str, float] = {
    "sterling": 10.40,
    "fine-silver": 10.53,
    "10k-yellow": 11.57,
    "14k-yellow": 13.07,
    "14k-white": 12.61,
    "14k-red": 13.26,
    "18k-yellow": 15.58,
    "18k-white": 14.64,
    "18k-red": 15.18,
    "22k-yellow": 17.8,
    "24k": 19.36,
    "platinum": 21.45,
    "pt950": 20.7,
    "palladium": 12.02,
    "pd950": 12.0,
    "brass": 8.40,
    "copper": 8.94,
    "bronze": 8.8,
}

#: Thinnest wall or prong that casts reliably, mm (rule of thumb: prong 0.6 mm, natural
#: finish wall 0.6 mm). Base metals flow worse and get 0.8 mm.
DEFAULT_MIN_WALL_MM = 0.6
ALLOY_MIN_WALL_MM: dict[str, float] = {
    name: (0.8 if name in ("brass", "copper", "bronze") else DEFAULT_MIN_WALL_MM)
    for name in ALLOYS
}


def alloy_key(alloy: str) -> str:
    """Normalise an alloy name ("18K Yellow", "18k_yellow" -> "18k-yellow").

    Raises MeshError naming the alloy and the known names when it is unknown.
    """
    key = alloy.strip().lower().replace("_", "-").replace(" ", "-")
    if key not in ALLOYS:
        known = ", ".join(ALLOYS)
        raise MeshError(f"unknown alloy {alloy!r}; known alloys: {known}", where="--alloy")
    return key


def metal_weight_g(volume_mm3: float, alloy: str) -> float:
    """Casting metal weight in grams of a pattern of ``volume_mm3`` (mm³) in ``alloy``.

    The weight of the piece only; sprues, tree and button come on top (a setting of the
    casting stage). 1 cm³ = 1000 mm³.
    """
    return float(volume_mm3) / 1000.0 * ALLOYS[alloy_key(alloy)]


def metal_weights_g(volume_mm3: float) -> dict[str, float]:
    """Weight in grams for every alloy in :data:`ALLOYS`, rounded to 0.01 g."""
    return {name: round(max(float(volume_mm3), 0.0) / 1000.0 * rho, 2) for name, rho in ALLOYS.items()}


def row_norm(x: np.ndarray) -> np.ndarray:
    """Euclidean length of each row of ``x`` (k, 3) float64: (k,) float64 (einsum, not a
    reduction over a short axis)."""
    return np.sqrt(np.einsum("ij,ij->i", x, x))


def _corner_columns(vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray | None = None) -> list[list[np.ndarray]]:
    """``cols[k][axis]``: coordinate ``axis`` of corner ``k`` of every face, (m,) float64.

    Nine 1-D gathers, much faster than three of (m, 3) rows; ``origin`` (3,) is
    subtracted first when given.
    """
    corners = [np.ascontiguousarray(faces[:, k]) for k in range(3)]
    if 4 * len(faces) < len(vertices):  # a few faces of a big mesh: gather their rows
        rows = [vertices[c] if origin is None else vertices[c] - origin for c in corners]
        return [[r[:, a] for a in range(3)] for r in rows]
    v = vertices if origin is None else vertices - origin
    axes = [np.ascontiguousarray(v[:, a]) for a in range(3)]
    return [[axes[a][corners[k]] for a in range(3)] for k in range(3)]


#: Below this many faces, per-face measures run in numpy (a patch of a hole).
SMALL_FACES = 256


def _f64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _i64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def triangle_cross(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Cross product of two edges of each triangle.

    vertices : (n, 3) float64, mm; faces : (m, 3) int. Returns (m, 3) float64, mm²
    (twice the area vector).
    """
    if len(faces) < SMALL_FACES:  # a hole patch: numpy, no call into compiled code
        tri = vertices[faces]
        return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    from printprep.mesh.measure_kernels import face_cross  # noqa: PLC0415 - lazy: ALLOYS alone needs no numba

    return face_cross(_f64(vertices), _i64(faces))


def face_areas_mm2(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area of each face, mm²: (m,) float64 (vertices (n, 3) float64 mm, faces (m, 3)
    int). Always through the compiled cross products, so the areas of a few faces equal
    those of the same faces measured within the whole mesh, bit for bit."""
    if len(faces) == 0:
        return np.zeros(0)
    from printprep.mesh.measure_kernels import face_cross  # noqa: PLC0415 - lazy, as above

    return 0.5 * row_norm(face_cross(_f64(vertices), _i64(faces)))


def bounds_mm(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo (3,), hi (3,)) float64: the corners of the bounding box of ``vertices`` (n, 3)
    float64, mm (n > 0); one compiled pass for big arrays (numpy's ``min(axis=0)`` on an
    (n, 3) array takes several)."""
    if len(vertices) < 4 * SMALL_FACES:
        return vertices.min(axis=0).astype(np.float64), vertices.max(axis=0).astype(np.float64)
    from printprep.mesh.intersect_kernels import bounds  # noqa: PLC0415 - lazy, as above

    return bounds(_f64(vertices))


def signed_volumes_mm3(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Signed volume contribution of each triangle (tetrahedron to a reference point).

    The reference point is the mean vertex, which keeps the sum exact in float64 for
    meshes far from the origin. Returns (m,) float64, mm³; their sum over a closed shell is
    its volume (positive when the shell faces outward).
    """
    from printprep.mesh.measure_kernels import signed_volumes  # noqa: PLC0415 - lazy, as above

    origin = vertices.mean(axis=0) if len(vertices) else np.zeros(3)
    return signed_volumes(_f64(vertices), _i64(faces), origin)
