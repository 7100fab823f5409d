"""Casting preparation: thickness and detail analysis, sprues, orientation, supports, plate.

prepare(mesh, profile, options) -> Prepared        the whole stage (deterministic)
write_prepared(prepared, out_dir, stem, profile)   casting/print/part/sprues/supports STL,
                                                   archive, report JSON, preview PNG
plate_layout(parts, profile, gap_mm=...)           several prints on one plate
"""

from printprep.casting.analysis import DetailSettings, SurfaceAnalysis, analyse_surface
from printprep.casting.orient import Orientation, OrientSettings, choose_orientation
from printprep.casting.output import write_prepared
from printprep.casting.plate import plate_layout
from printprep.casting.prepare import Prepared, PrepareOptions, prepare
from printprep.casting.sprues import Gate, SprueSettings, gate_diameter_mm
from printprep.casting.supports import SupportPlan, SupportSettings

__all__ = [
    "DetailSettings",
    "Gate",
    "OrientSettings",
    "Orientation",
    "PrepareOptions",
    "Prepared",
    "SprueSettings",
    "SupportPlan",
    "SupportSettings",
    "SurfaceAnalysis",
    "analyse_surface",
    "choose_orientation",
    "gate_diameter_mm",
    "plate_layout",
    "prepare",
    "write_prepared",
]
