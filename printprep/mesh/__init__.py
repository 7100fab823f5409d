"""Mesh intake, the base stage: load, check, repair and measure jewelry meshes.

Everything here works in millimetres on ``trimesh.Trimesh`` objects and plain arrays:

- :func:`load_mesh` file -> :class:`LoadedMesh` (mesh in mm, units assumed and why)
- :func:`check_mesh` -> :class:`CheckReport` (never edits)
- :func:`repair_mesh` -> :class:`RepairResult` (a new mesh, the steps taken, its report)
- :func:`save_mesh` mesh -> file, format by extension
- :data:`ALLOYS`, :func:`metal_weight_g` casting metal weight
"""

from printprep.mesh.check import CheckReport, check_mesh
from printprep.mesh.load import LoadedMesh, LoadLimits, load_mesh
from printprep.mesh.measure import ALLOYS, metal_weight_g
from printprep.mesh.repair import RepairResult, repair_mesh
from printprep.mesh.save import save_mesh

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
