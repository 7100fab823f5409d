"""Material profiles: castable resins and filaments, from TOML
(``profiles/materials/<name>.toml``)."""

from __future__ import annotations

from dataclasses import dataclass
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
    str_,
    validate,
)


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


_MATERIAL_REQUIRED: dict[str, Check] = {
    "kind": str_(("resin", "filament")),
    "display_name": str_(),
    "density_g_cm3": num(0.5, 3.0),
}
_MATERIAL_OPTIONAL: dict[str, Check] = {
    "name": str_(),
    "castable": bool_,
    "currency": str_(),
    "price_per_l": num(0.0, 100000.0),
    "price_per_kg": num(0.0, 100000.0),
    "exposure_s": num(0.05, 600.0),
    "bottom_exposure_s": num(0.05, 600.0),
    "nozzle_temp_c": num(100.0, 350.0),
    "bed_temp_c": num(0.0, 130.0),
    "burnout": str_(),
}


def _parse_material(raw: dict[str, Any], path: Path) -> MaterialProfile:
    v = validate(raw, path, _MATERIAL_REQUIRED, _MATERIAL_OPTIONAL)
    if v["kind"] == "resin" and "price_per_kg" in v:
        raise err(path, "price_per_kg", "resins are priced per litre: use price_per_l")
    if v["kind"] == "filament" and "price_per_l" in v:
        raise err(path, "price_per_l", "filaments are priced per kg: use price_per_kg")
    v.setdefault("castable", False)
    return MaterialProfile(**v, source=str(path))


def load_material(name_or_path: str | Path | MaterialProfile) -> MaterialProfile:
    """Load a material profile by name (``profiles/materials/<name>.toml``) or path."""
    if isinstance(name_or_path, MaterialProfile):
        return name_or_path
    path = resolve(name_or_path, "materials", "material")
    return _parse_material(read_toml(path), path)


def list_materials() -> list[MaterialProfile]:
    """Every material profile in ``profiles/materials``, sorted by name."""
    folder = profiles_dir() / "materials"
    return [load_material(p) for p in sorted(folder.glob("*.toml"))]
