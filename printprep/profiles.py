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
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from printprep.errors import ProfileError

DEFAULT_PROFILE = "phrozen-sonic-4k"

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


# --------------------------------------------------------------------------- dataclasses


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


@dataclass(frozen=True)
class MaterialProfile:
    """A castable resin or filament.

    density_g_cm3 : g/cm³ (= g/ml); price_per_l for resins, price_per_kg for filaments
    (both in ``currency``). Exposures (s), when given, override the printer's defaults.
    """

    name: str
    display_name: str
    kind: str  # "resin" | "filament"
    castable: bool
    density_g_cm3: float
    currency: str = "EUR"
    price_per_l: float | None = None
    price_per_kg: float | None = None
    exposure_s: float | None = None
    bottom_exposure_s: float | None = None
    nozzle_temp_c: float | None = None
    bed_temp_c: float | None = None
    burnout: str = ""
    source: str = ""

    def cost(self, volume_ml: float) -> float:
        """Material cost of ``volume_ml`` (ml = cm³) in ``currency``."""
        if self.price_per_l is not None:
            return volume_ml * self.price_per_l / 1000.0
        if self.price_per_kg is not None:
            return volume_ml * self.density_g_cm3 * self.price_per_kg / 1000.0
        return 0.0


# --------------------------------------------------------------------------- finding files


def profiles_dir() -> Path:
    """The profiles folder: $PRINTPREP_PROFILES_DIR, else ``<repo>/profiles``."""
    env = os.environ.get("PRINTPREP_PROFILES_DIR")
    if env:
        return Path(env)
    import printprep

    return Path(printprep.__file__).resolve().parent.parent / "profiles"


def _looks_like_path(name_or_path: str | Path) -> bool:
    if isinstance(name_or_path, Path):
        return True
    s = str(name_or_path)
    return s.endswith(".toml") or os.sep in s or "/" in s


def _resolve(name_or_path: str | Path, sub: str, what: str) -> Path:
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise ProfileError(f"{what} file not found", where=str(path))
        return path
    folder = profiles_dir() / sub
    path = folder / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.toml"))
        raise ProfileError(
            f"unknown {what} {name_or_path!r} (known: {', '.join(known) or 'none'}; "
            f"or give a path to a .toml file)",
            where=str(folder),
        )
    return path


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"not valid TOML: {exc}", where=str(path)) from exc
    except OSError as exc:
        raise ProfileError(f"cannot read: {exc.strerror}", where=str(path)) from exc


# --------------------------------------------------------------------------- validation

Check = Callable[[str, Any, Path], Any]


def _err(path: Path, key: str, problem: str) -> ProfileError:
    return ProfileError(f"key {key!r}: {problem}", where=str(path))


def _str(choices: tuple[str, ...] | None = None) -> Check:
    def check(key: str, v: Any, path: Path) -> str:
        if not isinstance(v, str) or not v.strip():
            raise _err(path, key, f"expected a non-empty string, got {v!r}")
        if choices and v not in choices:
            raise _err(path, key, f"must be one of {', '.join(choices)}, got {v!r}")
        return v

    return check


def _bool(key: str, v: Any, path: Path) -> bool:
    if not isinstance(v, bool):
        raise _err(path, key, f"expected true or false, got {v!r}")
    return v


def _num(lo: float, hi: float, *, integer: bool = False) -> Check:
    def check(key: str, v: Any, path: Path) -> float | int:
        ok_type = isinstance(v, int) if integer else isinstance(v, int | float)
        if isinstance(v, bool) or not ok_type:
            kind = "an integer" if integer else "a number"
            raise _err(path, key, f"expected {kind}, got {v!r}")
        if not lo <= v <= hi:
            raise _err(path, key, f"{v} is outside the allowed range {lo}..{hi}")
        return int(v) if integer else float(v)

    return check


def _vec(n: int, lo: float, hi: float, *, integer: bool = False) -> Check:
    item = _num(lo, hi, integer=integer)

    def check(key: str, v: Any, path: Path) -> tuple[Any, ...]:
        if not isinstance(v, list) or len(v) != n:
            raise _err(path, key, f"expected a list of {n} numbers, got {v!r}")
        return tuple(item(f"{key}[{i}]", x, path) for i, x in enumerate(v))

    return check


def _slicer_table(key: str, v: Any, path: Path) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _err(path, key, "expected a table of PrusaSlicer settings")
    for k, x in v.items():
        if not isinstance(x, str | int | float | bool):
            raise _err(path, f"{key}.{k}", f"expected a string, number or boolean, got {x!r}")
        if not k.replace("_", "").isalnum():
            raise _err(path, f"{key}.{k}", "not a PrusaSlicer setting name")
    return dict(v)


def _validate(
    raw: dict[str, Any], path: Path, required: dict[str, Check], optional: dict[str, Check]
) -> dict[str, Any]:
    unknown = sorted(set(raw) - set(required) - set(optional))
    if unknown:
        raise _err(
            path,
            unknown[0],
            "unknown key (allowed: " + ", ".join(sorted({**required, **optional})) + ")",
        )
    missing = [k for k in required if k not in raw]
    if missing:
        raise _err(path, missing[0], "required key is missing")
    out = {k: check(k, raw[k], path) for k, check in {**required, **optional}.items() if k in raw}
    name = out.get("name")
    if name is not None and path.suffix == ".toml" and name != path.stem and _in_profiles(path):
        raise _err(path, "name", f"must equal the file name {path.stem!r}, got {name!r}")
    out.setdefault("name", path.stem)
    return out


def _in_profiles(path: Path) -> bool:
    try:
        path.resolve().relative_to(profiles_dir().resolve())
        return True
    except ValueError:
        return False


_RESIN_REQUIRED: dict[str, Check] = {
    "kind": _str(("resin",)),
    "model": _str(),
    "technology": _str(("msla", "dlp")),
    "display_px": _vec(2, 16, 65536, integer=True),
    "display_mm": _vec(2, 1.0, 1000.0),
    "orientation": _str(("landscape", "portrait")),
    "build_height_mm": _num(1.0, 1000.0),
    "layer_height_mm": _num(0.005, 0.3),
    "layer_height_range_mm": _vec(2, 0.005, 0.3),
    "exposure_s": _num(0.05, 600.0),
    "bottom_exposure_s": _num(0.05, 600.0),
    "archive_format": _str(("sl1", "pngzip")),
    "default_material": _str(),
}
_RESIN_OPTIONAL: dict[str, Check] = {
    "name": _str(),
    "mirror_x": _bool,
    "mirror_y": _bool,
    "bottom_layers": _num(0, 100, integer=True),
    "fade_layers": _num(0, 100, integer=True),
    "lift_height_mm": _num(0.0, 50.0),
    "lift_speed_mm_s": _num(0.01, 100.0),
    "retract_speed_mm_s": _num(0.01, 100.0),
    "bottom_lift_height_mm": _num(0.0, 50.0),
    "bottom_lift_speed_mm_s": _num(0.01, 100.0),
    "wait_before_exposure_s": _num(0.0, 60.0),
    "archive_model": _str(),
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
    "kind": _str(("filament",)),
    "model": _str(),
    "bed_mm": _vec(3, 10.0, 2000.0),
    "nozzle_mm": _num(0.1, 2.0),
    "layer_height_mm": _num(0.02, 1.0),
    "layer_height_range_mm": _vec(2, 0.02, 1.0),
    "nozzle_temp_c": _num(100.0, 350.0),
    "bed_temp_c": _num(0.0, 130.0),
    "default_material": _str(),
}
_FILAMENT_OPTIONAL: dict[str, Check] = {
    "name": _str(),
    "filament_diameter_mm": _num(1.0, 3.5),
    "first_layer_height_mm": _num(0.02, 1.0),
    "first_layer_nozzle_temp_c": _num(100.0, 350.0),
    "first_layer_bed_temp_c": _num(0.0, 130.0),
    "slicer": _slicer_table,
}

_MATERIAL_REQUIRED: dict[str, Check] = {
    "kind": _str(("resin", "filament")),
    "display_name": _str(),
    "density_g_cm3": _num(0.5, 3.0),
}
_MATERIAL_OPTIONAL: dict[str, Check] = {
    "name": _str(),
    "castable": _bool,
    "currency": _str(),
    "price_per_l": _num(0.0, 100000.0),
    "price_per_kg": _num(0.0, 100000.0),
    "exposure_s": _num(0.05, 600.0),
    "bottom_exposure_s": _num(0.05, 600.0),
    "nozzle_temp_c": _num(100.0, 350.0),
    "bed_temp_c": _num(0.0, 130.0),
    "burnout": _str(),
}


def _check_range(path: Path, lh: float, rng: tuple[float, float]) -> None:
    lo, hi = rng
    if lo > hi:
        raise _err(path, "layer_height_range_mm", f"minimum {lo} is above maximum {hi}")
    if not lo <= lh <= hi:
        raise _err(path, "layer_height_mm", f"{lh} is outside layer_height_range_mm {lo}..{hi}")


def _parse_printer(raw: dict[str, Any], path: Path) -> PrinterProfile:
    kind = raw.get("kind")
    if kind == "resin":
        v = _validate(raw, path, _RESIN_REQUIRED, _RESIN_OPTIONAL)
        v = {**_RESIN_DEFAULTS, **v}
        _check_range(path, v["layer_height_mm"], v["layer_height_range_mm"])
        v.pop("kind")
        v.setdefault("archive_model", v["model"])
        return ResinPrinterProfile(**v, source=str(path))
    if kind == "filament":
        v = _validate(raw, path, _FILAMENT_REQUIRED, _FILAMENT_OPTIONAL)
        _check_range(path, v["layer_height_mm"], v["layer_height_range_mm"])
        v.pop("kind")
        if v["layer_height_mm"] > 0.8 * v["nozzle_mm"]:
            raise _err(
                path,
                "layer_height_mm",
                f"{v['layer_height_mm']} exceeds 80 % of nozzle_mm {v['nozzle_mm']}",
            )
        v.setdefault("filament_diameter_mm", 1.75)
        v.setdefault("first_layer_height_mm", v["layer_height_mm"])
        v.setdefault("first_layer_nozzle_temp_c", v["nozzle_temp_c"])
        v.setdefault("first_layer_bed_temp_c", v["bed_temp_c"])
        return FilamentPrinterProfile(**v, source=str(path))
    raise _err(path, "kind", f"must be 'resin' or 'filament', got {kind!r}")


def _parse_material(raw: dict[str, Any], path: Path) -> MaterialProfile:
    v = _validate(raw, path, _MATERIAL_REQUIRED, _MATERIAL_OPTIONAL)
    if v["kind"] == "resin" and "price_per_kg" in v:
        raise _err(path, "price_per_kg", "resins are priced per litre: use price_per_l")
    if v["kind"] == "filament" and "price_per_l" in v:
        raise _err(path, "price_per_l", "filaments are priced per kg: use price_per_kg")
    v.setdefault("castable", False)
    return MaterialProfile(**v, source=str(path))


# --------------------------------------------------------------------------- public API


def load_profile(name_or_path: str | Path | PrinterProfile) -> PrinterProfile:
    """Load a printer profile by name (``profiles/printers/<name>.toml``) or path.

    A profile object passes through unchanged. Raises ProfileError naming the file and
    key for an unknown name, unreadable file, unknown key, wrong type or out-of-range value.
    """
    if isinstance(name_or_path, ResinPrinterProfile | FilamentPrinterProfile):
        return name_or_path
    path = _resolve(name_or_path, "printers", "printer profile")
    return _parse_printer(_read_toml(path), path)


def list_profiles() -> list[PrinterProfile]:
    """Every printer profile in ``profiles/printers``, sorted by name."""
    folder = profiles_dir() / "printers"
    return [load_profile(p) for p in sorted(folder.glob("*.toml"))]


def load_material(name_or_path: str | Path | MaterialProfile) -> MaterialProfile:
    """Load a material profile by name (``profiles/materials/<name>.toml``) or path."""
    if isinstance(name_or_path, MaterialProfile):
        return name_or_path
    path = _resolve(name_or_path, "materials", "material")
    return _parse_material(_read_toml(path), path)


def list_materials() -> list[MaterialProfile]:
    """Every material profile in ``profiles/materials``, sorted by name."""
    folder = profiles_dir() / "materials"
    return [load_material(p) for p in sorted(folder.glob("*.toml"))]
