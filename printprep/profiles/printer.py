"""Printer profiles: resin (masked-LCD or DLP) and filament printers, from TOML.

``profiles/printers/<name>.toml``; ``kind = "resin"`` or ``"filament"`` picks the
dataclass and its keys. Resin display geometry follows PrusaSlicer's convention (see
:mod:`printprep.profiles`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from printprep.profiles.loading import (
    Check,
    bool_,
    err,
    num,
    profiles_dir,
    read_toml,
    resolve,
    slicer_table,
    str_,
    validate,
    vec,
)

DEFAULT_PROFILE = "phrozen-sonic-4k"


@dataclass(frozen=True)
class ResinPrinterProfile:
    """A masked-LCD (msla) or DLP resin printer.

    display_px : (2,) int, px   display pixels (x, y) in the landscape reading
    display_mm : (2,) float, mm display size (x, y) in the landscape reading
    Heights in mm, speeds in mm/s, times in s.
    """

    name: str
    model: str
    technology: str  # "msla" | "dlp"
    display_px: tuple[int, int]
    display_mm: tuple[float, float]
    orientation: str  # "landscape" | "portrait"
    mirror_x: bool
    mirror_y: bool
    build_height_mm: float
    layer_height_mm: float
    layer_height_range_mm: tuple[float, float]
    bottom_layers: int
    exposure_s: float
    bottom_exposure_s: float
    lift_height_mm: float
    lift_speed_mm_s: float
    retract_speed_mm_s: float
    bottom_lift_height_mm: float
    bottom_lift_speed_mm_s: float
    wait_before_exposure_s: float
    archive_format: str  # "sl1" | "pngzip"
    default_material: str
    fade_layers: int = 0
    archive_model: str = ""  # printerModel written to SL1 config.ini (e.g. "SL1S")
    source: str = ""  # the TOML file this came from
    kind: str = field(default="resin", init=False)

    @property
    def pitch_mm(self) -> tuple[float, float]:
        """Pixel pitch (x, y) in mm; differs per axis on non-square-pixel LCDs."""
        return (self.display_mm[0] / self.display_px[0], self.display_mm[1] / self.display_px[1])

    @property
    def image_px(self) -> tuple[int, int]:
        """Layer image size (width, height) in px as written to the archive."""
        w, h = self.display_px
        return (h, w) if self.orientation == "portrait" else (w, h)


@dataclass(frozen=True)
class FilamentPrinterProfile:
    """A filament (FFF) printer driven through PrusaSlicer's command-line engine.

    bed_mm : (3,) float, mm printable volume (x, y, z)
    slicer : PrusaSlicer config keys (its ini names) -> value, written to the ini file
    """

    name: str
    model: str
    bed_mm: tuple[float, float, float]
    nozzle_mm: float
    filament_diameter_mm: float
    layer_height_mm: float
    layer_height_range_mm: tuple[float, float]
    first_layer_height_mm: float
    nozzle_temp_c: float
    first_layer_nozzle_temp_c: float
    bed_temp_c: float
    first_layer_bed_temp_c: float
    default_material: str
    slicer: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    source: str = ""
    kind: str = field(default="filament", init=False)


PrinterProfile = ResinPrinterProfile | FilamentPrinterProfile


_RESIN_REQUIRED: dict[str, Check] = {
    "kind": str_(("resin",)),
    "model": str_(),
    "technology": str_(("msla", "dlp")),
    "display_px": vec(2, 16, 65536, integer=True),
    "display_mm": vec(2, 1.0, 1000.0),
    "orientation": str_(("landscape", "portrait")),
    "build_height_mm": num(1.0, 1000.0),
    "layer_height_mm": num(0.005, 0.3),
    "layer_height_range_mm": vec(2, 0.005, 0.3),
    "exposure_s": num(0.05, 600.0),
    "bottom_exposure_s": num(0.05, 600.0),
    "archive_format": str_(("sl1", "pngzip")),
    "default_material": str_(),
}
_RESIN_OPTIONAL: dict[str, Check] = {
    "name": str_(),
    "mirror_x": bool_,
    "mirror_y": bool_,
    "bottom_layers": num(0, 100, integer=True),
    "fade_layers": num(0, 100, integer=True),
    "lift_height_mm": num(0.0, 50.0),
    "lift_speed_mm_s": num(0.01, 100.0),
    "retract_speed_mm_s": num(0.01, 100.0),
    "bottom_lift_height_mm": num(0.0, 50.0),
    "bottom_lift_speed_mm_s": num(0.01, 100.0),
    "wait_before_exposure_s": num(0.0, 60.0),
    "archive_model": str_(),
}
_RESIN_DEFAULTS: dict[str, Any] = {
    "mirror_x": False,
    "mirror_y": False,
    "bottom_layers": 5,
    "fade_layers": 0,
    "lift_height_mm": 6.0,
    "lift_speed_mm_s": 1.0,
    "retract_speed_mm_s": 3.0,
    "bottom_lift_height_mm": 8.0,
    "bottom_lift_speed_mm_s": 0.5,
    "wait_before_exposure_s": 0.5,
}

_FILAMENT_REQUIRED: dict[str, Check] = {
    "kind": str_(("filament",)),
    "model": str_(),
    "bed_mm": vec(3, 10.0, 2000.0),
    "nozzle_mm": num(0.1, 2.0),
    "layer_height_mm": num(0.02, 1.0),
    "layer_height_range_mm": vec(2, 0.02, 1.0),
    "nozzle_temp_c": num(100.0, 350.0),
    "bed_temp_c": num(0.0, 130.0),
    "default_material": str_(),
}
_FILAMENT_OPTIONAL: dict[str, Check] = {
    "name": str_(),
    "filament_diameter_mm": num(1.0, 3.5),
    "first_layer_height_mm": num(0.02, 1.0),
    "first_layer_nozzle_temp_c": num(100.0, 350.0),
    "first_layer_bed_temp_c": num(0.0, 130.0),
    "slicer": slicer_table,
}


def _check_range(path: Path, lh: float, rng: tuple[float, float]) -> None:
    lo, hi = rng
    if lo > hi:
        raise err(path, "layer_height_range_mm", f"minimum {lo} is above maximum {hi}")
    if not lo <= lh <= hi:
        raise err(path, "layer_height_mm", f"{lh} is outside layer_height_range_mm {lo}..{hi}")


def _parse_printer(raw: dict[str, Any], path: Path) -> PrinterProfile:
    kind = raw.get("kind")
    if kind == "resin":
        v = validate(raw, path, _RESIN_REQUIRED, _RESIN_OPTIONAL)
        v = {**_RESIN_DEFAULTS, **v}
        _check_range(path, v["layer_height_mm"], v["layer_height_range_mm"])
        v.pop("kind")
        v.setdefault("archive_model", v["model"])
        return ResinPrinterProfile(**v, source=str(path))
    if kind == "filament":
        v = validate(raw, path, _FILAMENT_REQUIRED, _FILAMENT_OPTIONAL)
        _check_range(path, v["layer_height_mm"], v["layer_height_range_mm"])
        v.pop("kind")
        if v["layer_height_mm"] > 0.8 * v["nozzle_mm"]:
            raise err(
                path,
                "layer_height_mm",
                f"{v['layer_height_mm']} exceeds 80 % of nozzle_mm {v['nozzle_mm']}",
            )
        v.setdefault("filament_diameter_mm", 1.75)
        v.setdefault("first_layer_height_mm", v["layer_height_mm"])
        v.setdefault("first_layer_nozzle_temp_c", v["nozzle_temp_c"])
        v.setdefault("first_layer_bed_temp_c", v["bed_temp_c"])
        return FilamentPrinterProfile(**v, source=str(path))
    raise err(path, "kind", f"must be 'resin' or 'filament', got {kind!r}")


def load_profile(name_or_path: str | Path | PrinterProfile) -> PrinterProfile:
    """Load a printer profile by name (``profiles/printers/<name>.toml``) or path.

    A profile object passes through unchanged. Raises ProfileError naming the file and
    key for an unknown name, unreadable file, unknown key, wrong type or out-of-range value.
    """
    if isinstance(name_or_path, ResinPrinterProfile | FilamentPrinterProfile):
        return name_or_path
    path = resolve(name_or_path, "printers", "printer profile")
    return _parse_printer(read_toml(path), path)


def list_profiles() -> list[PrinterProfile]:
    """Every printer profile in ``profiles/printers``, sorted by name."""
    folder = profiles_dir() / "printers"
    return [load_profile(p) for p in sorted(folder.glob("*.toml"))]
