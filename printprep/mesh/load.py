"""Mesh files -> one trimesh in millimetres, with the units it assumed and why.

Formats: STL (binary and ASCII), OBJ, PLY, 3MF (all build items, transforms, ``unit``).
Every failure is a :class:`~printprep.errors.MeshError` naming the file and the problem
(the CLI turns it into exit code 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from printprep.errors import MeshError
from printprep.mesh.io_stl import read_stl_raw
from printprep.mesh.limits import (  # noqa: F401  (re-exported)
    ABSURD_MM,
    FORMATS,
    PLAUSIBLE_MM,
    UNIT_SCALE,
    USER_UNITS,
    LoadLimits,
)
from printprep.mesh.measure import bounds_mm
from printprep.mesh.weld import TINY_RATIO, weld_soup


class LoadedMesh:
    """A loaded mesh and what loading assumed.

    vertices : (n, 3) float64, mm (exactly welded; nothing else changed).
    faces : (m, 3) int64 vertex ids.
    mesh : the same as a trimesh.Trimesh, built on first use (checking and repairing work
        on the arrays and never import trimesh; slicing, casting and the service use it).
    units : the file's units ("mm", "inch", "m", "cm"; 3MF may say "um" or "ft").
    scale : mm per file unit that was applied.
    units_detected : True when the units were guessed from the size, False when told
        (``units=`` argument or a 3MF ``unit`` attribute).
    welded : True when every vertex is used and no two are identical (as load_mesh
        leaves them); False when unknown.

    ``LoadedMesh(mesh, units, scale, units_detected, path, format, units_note)`` wraps a
    trimesh (or anything with ``vertices`` and ``faces``); ``LoadedMesh(None, ...,
    vertices=v, faces=f)`` wraps arrays.
    """

    def __init__(
        self, mesh: Any = None, units: str = "mm", scale: float = 1.0, units_detected: bool = False,
        path: Path | None = None, format: str = "mesh", units_note: str = "", extra: dict | None = None,
        *, vertices: np.ndarray | None = None, faces: np.ndarray | None = None,
    ) -> None:
        if mesh is not None:
            vertices, faces = mesh.vertices, mesh.faces
        if vertices is None or faces is None:
            raise TypeError("LoadedMesh needs a mesh or vertices and faces")
        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.faces = np.asarray(faces, dtype=np.int64)
        self._mesh = mesh
        self.units = units
        self.scale = scale
        self.units_detected = units_detected
        self.path = path
        self.format = format
        self.units_note = units_note
        self.extra = extra if extra is not None else {}
        #: True when the vertices are known to be exactly welded and all used (load_mesh
        #: made them so): repair then skips its own exact weld.
        self.welded = False

    @property
    def mesh(self) -> Any:
        """trimesh.Trimesh of :attr:`vertices` and :attr:`faces` (mm), built once."""
        if self._mesh is None:
            self._mesh = trimesh_of(self.vertices, self.faces)
        return self._mesh

    @mesh.setter
    def mesh(self, value: Any) -> None:
        self._mesh = value
        self.welded = False
        self.vertices = np.asarray(value.vertices, dtype=np.float64)
        self.faces = np.asarray(value.faces, dtype=np.int64)

    def __repr__(self) -> str:
        return (
            f"LoadedMesh({len(self.faces)} triangles, {len(self.vertices)} vertices, units={self.units!r}, "
            f"scale={self.scale!r}, path={str(self.path) if self.path else None!r})"
        )


def trimesh_of(vertices: np.ndarray, faces: np.ndarray) -> Any:
    """A trimesh.Trimesh over ``vertices`` (n, 3) float64, mm and ``faces`` (m, 3) int64,
    as they are (no merging, no validation). Imports trimesh (about 1.5 s) on first use."""
    import trimesh  # noqa: PLC0415 - lazy: the check and repair path runs on arrays

    return trimesh.Trimesh(vertices=vertices, faces=faces, process=False, validate=False)


def detect_units(extent: float) -> tuple[str, str]:
    """Guess the units of a unitless file from its largest extent (file units).

    Tries mm, then inch, then metre, and takes the first that makes the piece a plausible
    jewelry size (:data:`PLAUSIBLE_MM`); keeps mm when none does. Returns (units, note).
    """
    lo, hi = PLAUSIBLE_MM
    for unit in ("mm", "inch", "m"):
        size_mm = extent * UNIT_SCALE[unit]
        if lo <= size_mm <= hi:
            if unit == "mm":
                return "mm", f"largest extent {extent:.4g} is a plausible size in mm"
            return unit, (
                f"largest extent {extent:.4g} is implausible in mm; as {unit} it is "
                f"{size_mm:.4g} mm, so the file was taken as {unit}"
            )
    return "mm", f"largest extent {extent:.4g} fits no unit's jewelry size; assumed mm"


def _format_of(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise MeshError(
            f"unknown mesh format {path.suffix or '(no extension)'!r}; known: "
            + ", ".join(f".{f}" for f in FORMATS),
            where=str(path),
        )
    return ext


def _read_trimesh(path: Path, fmt: str) -> np.ndarray:
    """OBJ / PLY through trimesh, without its merging. Returns (m, 3, 3) float64."""
    import trimesh  # noqa: PLC0415 - only these formats need trimesh's readers

    try:
        loaded = trimesh.load(str(path), file_type=fmt, process=False, force="mesh")
    except Exception as exc:  # trimesh raises many types for bad files
        raise MeshError(f"cannot read {fmt.upper()} file: {exc}", where=str(path)) from exc
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise MeshError("file holds no triangles", where=str(path))
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int64)
    return vertices[faces]


def load_mesh(path: str | os.PathLike, *, units: str | None = None, limits: LoadLimits | None = None) -> LoadedMesh:
    """Load a mesh file into millimetres.

    ``units`` forces the file's units ("mm", "inch", "m", "cm"); without it STL/OBJ/PLY
    units are guessed from the size (see :func:`detect_units`) and 3MF uses its ``unit``
    attribute. Raises MeshError (file + problem) for unreadable, empty, truncated, absurd
    or over-limit input.
    """
    path = Path(path)
    limits = limits or LoadLimits()
    if units is not None and units not in USER_UNITS:
        raise MeshError(f"unknown units {units!r}; use one of {', '.join(USER_UNITS)}", where="--units")
    fmt = _format_of(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MeshError(f"cannot open: {exc.strerror or exc}", where=str(path)) from exc
    if not path.is_file():
        raise MeshError("not a file", where=str(path))
    if size > limits.max_bytes:
        raise MeshError(f"file is {size} bytes, over the limit of {limits.max_bytes} bytes", where=str(path))
    if size == 0:
        raise MeshError("file is empty", where=str(path))
    file_units: str | None = None
    file_scale = 1.0
    if fmt == "stl":
        raw = read_stl_raw(path, size, limits.max_triangles)
        if not isinstance(raw, np.ndarray):  # binary: read, checked and welded in one pass
            vertices, faces = _weld_binary_stl(path, *raw)
            return _finish(path, fmt, vertices, faces, units, None, 1.0)
        tri = raw
    elif fmt == "3mf":
        from printprep.mesh.io_3mf import read_3mf  # noqa: PLC0415 - lxml (15 ms) only for 3MF

        soups, file_units, file_scale = read_3mf(path, limits.max_triangles)
        tri = np.concatenate(soups) if soups else np.zeros((0, 3, 3))
    else:
        tri = _read_trimesh(path, fmt)
    if len(tri) == 0:
        raise MeshError("file holds zero triangles", where=str(path))
    if len(tri) > limits.max_triangles:
        raise MeshError(f"{len(tri)} triangles exceed the limit of {limits.max_triangles}", where=str(path))
    if not np.isfinite(tri).all():
        raise MeshError("coordinates include NaN or infinity", where=str(path))
    raw_max = float(np.abs(tri).max())
    if raw_max * max(file_scale, 1.0) > ABSURD_MM:
        raise MeshError(
            f"absurd coordinates (up to {raw_max:.3g}); nothing printable is that large",
            where=str(path),
        )
    vertices, faces = weld_soup(tri)
    del tri
    return _finish(path, fmt, vertices, faces, units, file_units, file_scale)


def _weld_binary_stl(path: Path, records: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (n, 3) float64 (file units) and faces (m, 3) int64 of a binary STL's
    ``records`` (50 count,) uint8, exactly welded (:func:`stl_kernels.weld_records`), with
    the same checks and the same result as :func:`weld_soup` of its triangles."""
    from printprep.mesh.stl_kernels import weld_records  # noqa: PLC0415 - kernels load on first use

    if count == 0:
        raise MeshError("file holds zero triangles", where=str(path))
    status, raw_max, bits, faces = weld_records(records, count, TINY_RATIO)
    if status:
        raise MeshError("coordinates include NaN or infinity", where=str(path))
    if raw_max > ABSURD_MM:
        raise MeshError(
            f"absurd coordinates (up to {raw_max:.3g}); nothing printable is that large",
            where=str(path),
        )
    return bits.view(np.float32).astype(np.float64), faces


def _finish(
    path: Path, fmt: str, vertices: np.ndarray, faces: np.ndarray, units: str | None,
    file_units: str | None, file_scale: float,
) -> LoadedMesh:
    """The units (given, from the file or guessed), the scale applied and the last
    coordinate check of welded ``vertices`` (n, 3) float64 (file units)."""
    lo, hi = bounds_mm(vertices)
    extent = float((hi - lo).max())
    if units is not None:
        unit, detected, note = units, False, f"units given as {units}"
    elif file_units is not None:
        unit, detected, note = file_units, False, f"3MF unit attribute says {file_units}"
    else:
        unit, note = detect_units(extent)
        detected = True
    scale = file_scale if (units is None and file_units is not None) else UNIT_SCALE[unit]
    if fmt == "3mf" and units is not None:
        scale = UNIT_SCALE[unit]
    if scale != 1.0:
        vertices = vertices * scale
    if float(np.maximum(np.abs(lo), np.abs(hi)).max()) * scale > ABSURD_MM:
        raise MeshError(f"absurd coordinates after scaling to mm (×{scale})", where=str(path))
    loaded = LoadedMesh(
        None, units=unit, scale=float(scale), units_detected=detected, path=path,
        format=fmt, units_note=note, vertices=vertices, faces=faces,
    )
    loaded.welded = True
    return loaded
