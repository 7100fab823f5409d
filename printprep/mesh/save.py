"""Write a mesh; the format follows the extension (binary STL by default)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from printprep.errors import MeshError
from printprep.mesh.io_stl import write_stl_binary

SAVE_FORMATS = ("stl", "3mf", "ply", "obj")


def save_mesh(mesh: Any, path: str | os.PathLike) -> Path:
    """Save ``mesh`` (mm) to ``path``: .stl (binary), .3mf (unit millimeter), .ply
    (binary) or .obj; a path without a known extension gets binary STL. Returns the path.

    mesh : a trimesh.Trimesh, or anything with ``vertices`` (n, 3) float, mm and ``faces``
    (m, 3) int (a LoadedMesh, a RepairResult): STL is written from the arrays without
    importing trimesh.
    """
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    if ext and ext not in SAVE_FORMATS:
        raise MeshError(
            f"cannot write format {path.suffix!r}; use one of " + ", ".join(f".{f}" for f in SAVE_FORMATS),
            where=str(path),
        )
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    try:
        if ext in ("stl", ""):
            write_stl_binary(path, vertices, faces)
        else:
            import trimesh  # noqa: PLC0415 - lazy: STL needs no trimesh

            plain = trimesh.Trimesh(vertices, faces, process=False, validate=False)
            if ext == "3mf":
                plain.units = "millimeters"
            data = plain.export(file_type=ext)
            path.write_bytes(data if isinstance(data, bytes) else data.encode())
    except OSError as exc:
        raise MeshError(f"cannot write: {exc.strerror or exc}", where=str(path)) from exc
    return path
