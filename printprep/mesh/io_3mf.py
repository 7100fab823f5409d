"""3MF reading: every build item with its transform, components resolved, ``unit`` honoured.

A 3MF file is a ZIP holding ``3D/3dmodel.model`` (XML). Objects hold either a mesh or
components (references to other objects with a transform); build items place objects.
Production-extension components that point into other model parts (``p:path``) are read
from those parts.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from lxml import etree

from printprep.errors import MeshError

CORE_NS = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
PROD_NS = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
#: 3MF ``unit`` attribute -> (our unit name, mm per file unit).
UNITS_3MF: dict[str, tuple[str, float]] = {
    "micron": ("um", 0.001),
    "millimeter": ("mm", 1.0),
    "centimeter": ("cm", 10.0),
    "inch": ("inch", 25.4),
    "foot": ("ft", 304.8),
    "meter": ("m", 1000.0),
}


def _transform(text: str | None, where: str) -> np.ndarray:
    """3MF ``transform`` (12 numbers, row-vector convention) -> (4, 4) float64 matrix."""
    if not text:
        return np.eye(4)
    try:
        vals = [float(v) for v in text.split()]
    except ValueError:
        vals = []
    if len(vals) != 12:
        raise MeshError(f"bad 3MF transform {text!r} (12 numbers expected)", where=where)
    m = np.eye(4)
    m[:3, :3] = np.array(vals[:9]).reshape(3, 3).T
    m[:3, 3] = vals[9:]
    return m


class _Model:
    """One parsed model part: its objects by id."""

    def __init__(self, root: etree._Element, where: str) -> None:
        self.where = where
        self.objects = {obj.get("id"): obj for obj in root.iter(f"{{{CORE_NS}}}object")}


def read_3mf(path: Path, max_triangles: int) -> tuple[list[np.ndarray], str, float]:
    """Read all build items of a 3MF file.

    Returns (triangle soups, unit name, mm per file unit); each soup is (m, 3, 3) float64
    in file units with the item and component transforms applied.
    """
    where = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise MeshError(f"not a 3MF file (not a readable ZIP: {exc})", where=where) from exc
    with zf:
        names = {n.lower().lstrip("/"): n for n in zf.namelist()}
        main = names.get("3d/3dmodel.model") or next(
            (n for k, n in names.items() if k.endswith(".model")), None
        )
        if main is None:
            raise MeshError("3MF file has no 3D model part (3D/3dmodel.model)", where=where)
        parts: dict[str, _Model] = {}

        def part(name: str) -> _Model:
            key = name.lower().lstrip("/")
            if key not in parts:
                if key not in names:
                    raise MeshError(f"3MF component points to missing part {name!r}", where=where)
                try:
                    root = etree.fromstring(zf.read(names[key]))
                except etree.XMLSyntaxError as exc:
                    raise MeshError(f"3MF model part {name!r} is not valid XML: {exc}", where=where) from exc
                parts[key] = _Model(root, f"{where}:{name}")
            return parts[key]

        root_model = part(main)
        root = etree.fromstring(zf.read(main))
        unit_attr = root.get("unit", "millimeter")
        if unit_attr not in UNITS_3MF:
            raise MeshError(f"unknown 3MF unit {unit_attr!r}", where=where)
        unit, scale = UNITS_3MF[unit_attr]
        soups: list[np.ndarray] = []
        count = [0]

        def emit(model: _Model, obj_id: str | None, matrix: np.ndarray, depth: int) -> None:
            if depth > 32:
                raise MeshError("3MF components nest deeper than 32 levels (a cycle?)", where=where)
            obj = model.objects.get(obj_id)
            if obj is None:
                raise MeshError(f"3MF build refers to missing object id {obj_id!r}", where=model.where)
            mesh = obj.find(f"{{{CORE_NS}}}mesh")
            if mesh is not None:
                soups.append(_mesh_soup(mesh, matrix, model.where, obj_id))
                count[0] += len(soups[-1])
                if count[0] > max_triangles:
                    raise MeshError(f"more than {max_triangles} triangles (the limit)", where=where)
                return
            for comp in obj.iter(f"{{{CORE_NS}}}component"):
                sub = comp.get(f"{{{PROD_NS}}}path")
                target = part(sub) if sub else model
                m = matrix @ _transform(comp.get("transform"), model.where)
                emit(target, comp.get("objectid"), m, depth + 1)

        build = root.find(f"{{{CORE_NS}}}build")
        items = [] if build is None else list(build.iter(f"{{{CORE_NS}}}item"))
        for item in items:
            sub = item.get(f"{{{PROD_NS}}}path")
            target = part(sub) if sub else root_model
            emit(target, item.get("objectid"), _transform(item.get("transform"), where), 0)
    return soups, unit, scale


def _mesh_soup(mesh: etree._Element, matrix: np.ndarray, where: str, obj_id: str | None) -> np.ndarray:
    verts_el = mesh.find(f"{{{CORE_NS}}}vertices")
    tris_el = mesh.find(f"{{{CORE_NS}}}triangles")
    if verts_el is None or tris_el is None:
        return np.zeros((0, 3, 3))
    try:
        xyz = np.array(
            [(v.get("x"), v.get("y"), v.get("z")) for v in verts_el], dtype=np.float64
        ).reshape(-1, 3)
        tri = np.array(
            [(t.get("v1"), t.get("v2"), t.get("v3")) for t in tris_el], dtype=np.int64
        ).reshape(-1, 3)
    except (TypeError, ValueError) as exc:
        raise MeshError(f"3MF object {obj_id}: bad vertex or triangle ({exc})", where=where) from exc
    if len(tri) and (tri.min() < 0 or tri.max() >= len(xyz)):
        raise MeshError(f"3MF object {obj_id}: triangle index out of range", where=where)
    xyz = xyz @ matrix[:3, :3].T + matrix[:3, 3]
    return xyz[tri]
