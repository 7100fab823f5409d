"""SL1 / SL1S archive writer (PrusaSlicer's format, read by Prusa printers and UVtools).

A ZIP holding ``config.ini`` (the job: exposure, layer counts, true printTime in s and
usedMaterial in ml), ``prusaslicer.ini`` (the printer and material settings, with the
``display_*`` keys PrusaSlicer's importer needs), one 8-bit greyscale PNG per layer named
``<jobDir>00000.png`` ... and two thumbnails, ``thumbnail/thumbnail400x400.png`` and
``thumbnail/thumbnail800x480.png``. Every entry is deflated: a layer PNG's black runs
compress about six times again, for almost no time.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from printprep import __version__
from printprep.profiles import MaterialProfile, ResinPrinterProfile
from printprep.slicing.formats.zipwriter import ZipArchiveWriter

THUMBNAIL_SIZES = ((400, 400), (800, 480))

#: Keys of config.ini, in the order PrusaSlicer writes them.
CONFIG_KEYS = (
    "action", "expTime", "expTimeFirst", "expUserProfile", "fileCreationTimestamp",
    "hollow", "jobDir", "layerHeight", "materialName", "numFade", "numFast", "numSlow",
    "printProfile", "printTime", "printerModel", "printerProfile", "printerVariant",
    "prusaSlicerVersion", "usedMaterial",
)  # fmt: skip


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return f"{v:.6f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))
    return str(v)


def ini_text(values: Mapping[str, Any]) -> str:
    """``key = value`` lines, PrusaSlicer's ini syntax."""
    return "".join(f"{k} = {_fmt(v)}\n" for k, v in values.items())


def prusaslicer_ini(
    profile: ResinPrinterProfile,
    material: MaterialProfile,
    layer_height_mm: float,
    exposure_s: float,
    bottom_exposure_s: float,
) -> dict[str, Any]:
    """The prusaslicer.ini settings for a profile: what PrusaSlicer would slice with.

    Also used to drive ``prusa-slicer --export-sla --load`` with identical display
    settings (tests and the benchmark).
    """
    w, h = profile.display_mm
    return {
        "printer_technology": "SLA",
        "printer_model": profile.archive_model,
        "printer_settings_id": profile.name,
        "sla_material_settings_id": material.name,
        "bed_shape": f"0x0,{w:g}x0,{w:g}x{h:g},0x{h:g}",
        "display_width": w,
        "display_height": h,
        "display_pixels_x": profile.display_px[0],
        "display_pixels_y": profile.display_px[1],
        "display_orientation": profile.orientation,
        "display_mirror_x": profile.mirror_x,
        "display_mirror_y": profile.mirror_y,
        "max_print_height": profile.build_height_mm,
        "gamma_correction": 1,
        "absolute_correction": 0,
        "elefant_foot_compensation": 0,
        "layer_height": layer_height_mm,
        "initial_layer_height": layer_height_mm,
        "exposure_time": exposure_s,
        "initial_exposure_time": bottom_exposure_s,
        "faded_layers": profile.fade_layers,
        "material_density": material.density_g_cm3,
        "material_type": "Casting" if material.castable else "Tough",
        "bottle_volume": 1000,
        "bottle_cost": material.price_per_l or 0,
        "supports_enable": False,
        "pad_enable": False,
    }


class SL1Writer(ZipArchiveWriter):
    """Streams layers into an SL1 archive. Use as a context manager; call :meth:`finish`.

    Layers must be added in order. Nothing is left at ``path`` unless :meth:`finish`
    succeeded: the archive is written to ``<path>.part`` and renamed at the end.
    """

    layer_name_width = 5

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.job_dir = self.path.stem

    def add_layer(self, png: bytes) -> None:
        name = f"{self.job_dir}{self.count:0{self.layer_name_width}d}.png"
        # the PNGs' long black runs deflate again ~6x (PrusaSlicer's archives do the same)
        self.zip.writestr(zipfile.ZipInfo(name, _now_tuple()), png, zipfile.ZIP_DEFLATED, 1)
        self.count += 1

    def finish(
        self,
        config: Mapping[str, Any],
        printer_ini: Mapping[str, Any],
        thumbnails: Mapping[tuple[int, int], bytes],
    ) -> Path:
        """Write the ini files and thumbnails, close, and move the archive into place."""
        stamp = _now_tuple()
        for (w, h), png in thumbnails.items():
            self.zip.writestr(zipfile.ZipInfo(f"thumbnail/thumbnail{w}x{h}.png", stamp), png)
        for name, values in (("config.ini", config), ("prusaslicer.ini", printer_ini)):
            info = zipfile.ZipInfo(name, stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            self.zip.writestr(info, ini_text(values))
        return self._commit()


def config_ini(
    *,
    job_dir: str,
    profile: ResinPrinterProfile,
    material: MaterialProfile,
    layer_count: int,
    layer_height_mm: float,
    exposure_s: float,
    bottom_exposure_s: float,
    print_time_s: float,
    resin_ml: float,
) -> dict[str, Any]:
    """config.ini values (keys as in :data:`CONFIG_KEYS`)."""
    now = dt.datetime.now(dt.UTC)
    return {
        "action": "print",
        "expTime": exposure_s,
        "expTimeFirst": bottom_exposure_s,
        "expUserProfile": 0,
        "fileCreationTimestamp": now.strftime("%Y-%m-%d at %H:%M:%S UTC"),
        "hollow": 0,
        "jobDir": job_dir,
        "layerHeight": layer_height_mm,
        "materialName": material.display_name,
        "numFade": min(profile.fade_layers, layer_count),
        "numFast": layer_count,
        "numSlow": 0,
        "printProfile": f"{layer_height_mm:g}mm printprep",
        "printTime": round(print_time_s, 6),
        "printerModel": profile.archive_model,
        "printerProfile": profile.name,
        "printerVariant": "default",
        "prusaSlicerVersion": f"printprep-{__version__}",
        "usedMaterial": round(resin_ml, 6),
    }


def _now_tuple() -> tuple[int, int, int, int, int, int]:
    t = dt.datetime.now()
    return (max(t.year, 1980), t.month, t.day, t.hour, t.minute, t.second)
