"""NanoDLP-style PNG zip ("plate"): ``1.png``, ``2.png``, ... plus JSON metadata.

``plate.json`` and ``profile.json`` carry the keys NanoDLP reads when a plate is
imported (layer count, layer thickness in µm, cure times, resolution); ``printprep.json``
holds the full metadata our reader uses (the same values as an SL1's two ini files).
Thumbnails go to ``thumbnail/``. Written to ``<path>.part`` and renamed when complete.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from printprep.slicing.formats.zipwriter import ZipArchiveWriter

META_NAME = "printprep.json"


class PngZipWriter(ZipArchiveWriter):
    """Streams layers into a PNG zip; same interface as :class:`SL1Writer`."""

    def add_layer(self, png: bytes) -> None:
        self.count += 1
        self.zip.writestr(f"{self.count}.png", png, zipfile.ZIP_DEFLATED, 1)

    def finish(
        self,
        config: Mapping[str, Any],
        printer_ini: Mapping[str, Any],
        thumbnails: Mapping[tuple[int, int], bytes],
    ) -> Path:
        for (w, h), png in thumbnails.items():
            self.zip.writestr(f"thumbnail/thumbnail{w}x{h}.png", png)
        lh_um = float(config["layerHeight"]) * 1000.0
        plate = {
            "LayersCount": self.count,
            "UsedMaterialML": config["usedMaterial"],
            "PrintTimeS": config["printTime"],
        }
        profile = {
            "Title": config["printerProfile"],
            "Depth": round(lh_um, 3),
            "CureTime": config["expTime"],
            "SupportCureTime": config["expTimeFirst"],
            "SupportLayerNumber": printer_ini.get("bottom_layers", 0),
            "XPixels": printer_ini["display_pixels_x"],
            "YPixels": printer_ini["display_pixels_y"],
            "XRes": round(
                1000.0 * float(printer_ini["display_width"]) / int(printer_ini["display_pixels_x"]),
                4,
            ),
            "YRes": round(
                1000.0
                * float(printer_ini["display_height"])
                / int(printer_ini["display_pixels_y"]),
                4,
            ),
        }
        meta = {"config": dict(config), "printer": dict(printer_ini)}
        for name, obj in (("plate.json", plate), ("profile.json", profile), (META_NAME, meta)):
            self.zip.writestr(name, json.dumps(obj, indent=1, default=str), zipfile.ZIP_DEFLATED)
        return self._commit()
