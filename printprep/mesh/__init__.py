"""Mesh intake, the base stage: load, check, repair and measure jewelry meshes.

Everything here works in millimetres on ``trimesh.Trimesh`` objects and plain arrays:

- :func:`load_mesh` file -> :class:`LoadedMesh` (mesh in mm, units assumed and why)
- :func:`check_mesh` -> :class:`CheckReport` (never edits)
- :func:`repair_mesh` -> :class:`RepairResult` (a new mesh, the steps taken, its report)
- :func:`save_mesh` mesh -> file, format by extension
- :data:`ALLOYS`, :func:`metal_weight_g` casting metal weight

The names are resolved on first use (PEP 562), so ``import printprep.mesh.limits`` and
the CLI's ``--help`` do not pay for loading trimesh.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> module that defines it
_EXPORTS = {
    "ALLOYS": "printprep.mesh.measure",
    "metal_weight_g": "printprep.mesh.measure",
    "CheckReport": "printprep.mesh.check",
    "check_mesh": "printprep.mesh.check",
    "LoadedMesh": "printprep.mesh.load",
    "load_mesh": "printprep.mesh.load",
    "LoadLimits": "printprep.mesh.limits",
    "RepairResult": "printprep.mesh.repair",
    "repair_mesh": "printprep.mesh.repair",
    "save_mesh": "printprep.mesh.save",
}

__all__ = [
    "ALLOYS",
    "CheckReport",
    "LoadLimits",
    "LoadedMesh",
    "RepairResult",
    "check_mesh",
    "load_mesh",
    "metal_weight_g",
    "repair_mesh",
    "save_mesh",
]

if TYPE_CHECKING:  # pragma: no cover
    from printprep.mesh.check import CheckReport, check_mesh
    from printprep.mesh.limits import LoadLimits
    from printprep.mesh.load import LoadedMesh, load_mesh
    from printprep.mesh.measure import ALLOYS, metal_weight_g
    from printprep.mesh.repair import RepairResult, repair_mesh
    from printprep.mesh.save import save_mesh


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'printprep.mesh' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
