"""Printer and material profiles: TOML files -> frozen dataclasses, validated up front.

Profiles live in the repository's top-level ``profiles/`` folder (``printers/*.toml``,
``materials/*.toml``); the environment variable ``PRINTPREP_PROFILES_DIR`` points
elsewhere. A profile's name is its file stem. Every key is checked when the file is
loaded: unknown keys are refused (a typo must stop the job, not be ignored), types and
ranges are checked, and every error names the file and the key.

Resin display geometry follows PrusaSlicer's convention: ``display_px`` and
``display_mm`` are given as (width, height) of the display with the display in its
landscape reading (``display_pixels_x``/``display_width`` in prusaslicer.ini);
``orientation = "portrait"`` means the printer reads its layer images rotated by 90°
(tall images), exactly as PrusaSlicer's ``display_orientation``.

The package: :mod:`.printer` (printer profiles), :mod:`.material` (material profiles),
:mod:`.loading` (finding and reading the files, the key checks they share). Everything
is imported from ``printprep.profiles`` as before.
"""

from printprep.profiles.loading import profiles_dir
from printprep.profiles.material import MaterialProfile, list_materials, load_material
from printprep.profiles.printer import (
    DEFAULT_PROFILE,
    FilamentPrinterProfile,
    PrinterProfile,
    ResinPrinterProfile,
    list_profiles,
    load_profile,
)

__all__ = [
    "DEFAULT_PROFILE",
    "FilamentPrinterProfile",
    "MaterialProfile",
    "PrinterProfile",
    "ResinPrinterProfile",
    "list_materials",
    "list_profiles",
    "load_material",
    "load_profile",
    "profiles_dir",
]
