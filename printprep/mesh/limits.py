"""Units and intake limits: plain constants, cheap to import (the CLI builds its options
from them without loading trimesh)."""

from __future__ import annotations

from dataclasses import dataclass

#: Unit name -> mm per unit. "mm", "inch", "m", "cm" can be asked for; 3MF may also say
#: "um" or "ft".
UNIT_SCALE: dict[str, float] = {"mm": 1.0, "inch": 25.4, "m": 1000.0, "cm": 10.0, "um": 0.001, "ft": 304.8}
USER_UNITS = ("mm", "inch", "m", "cm")
FORMATS = ("stl", "obj", "ply", "3mf")
#: Plausible size of a piece of jewelry, mm (largest extent): a ring is 5–40 mm, a bangle
#: up to 120 mm.
PLAUSIBLE_MM = (5.0, 120.0)
#: Coordinates beyond this (mm) are absurd: nothing printable is a kilometre wide.
ABSURD_MM = 1.0e6


@dataclass(frozen=True)
class LoadLimits:
    """Refuse files over these limits before spending memory on them."""

    max_bytes: int = 1 << 30  # 1 GB
    max_triangles: int = 20_000_000
