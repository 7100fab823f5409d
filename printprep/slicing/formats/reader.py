"""Read layer archives back: our SL1/SL1S and PNG zips (and PrusaSlicer's SL1 files).

``read_archive(path)`` checks the archive the way a printer would before a print (both
ini files, every key PrusaSlicer's importer needs, exactly numFast + numSlow layer files,
every layer PNG the display's size) and then gives layers one at a time, so reading a
2000-layer 16K archive holds one layer in memory.
"""

from __future__ import annotations

import configparser
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from printprep.errors import SliceError
from printprep.slicing.formats.pngzip import META_NAME
from printprep.slicing.png import decode_band, decode_gray
from printprep.slicing.raster import Band, DisplayTransform

#: prusaslicer.ini keys PrusaSlicer's SL1 importer needs.
REQUIRED_PRINTER_KEYS = (
    "display_pixels_x", "display_pixels_y", "display_width", "display_height",
    "display_mirror_x", "display_mirror_y", "display_orientation",
)  # fmt: skip
REQUIRED_CONFIG_KEYS = ("jobDir", "layerHeight", "numFast", "numSlow", "expTime", "expTimeFirst")


def _parse_ini(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string("[root]\n" + text)
    return dict(parser["root"])


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes")


@dataclass
class Archive:
    """An opened layer archive. Use as a context manager (or call :meth:`close`).

    meta : config values (config.ini, or printprep.json's "config")
    printer : printer settings (prusaslicer.ini, or printprep.json's "printer")
    image_px : (width, height) of every layer image, px
    """

    path: Path
    format: str  # "sl1" | "pngzip"
    meta: dict[str, Any]
    printer: dict[str, Any]
    layer_names: list[str]
    image_px: tuple[int, int]
    transform: DisplayTransform
    layer_height_mm: float
    _zip: zipfile.ZipFile = field(repr=False)

    @property
    def layer_count(self) -> int:
        return len(self.layer_names)

    @property
    def pitch_mm(self) -> tuple[float, float]:
        return self.transform.pitch_mm

    @property
    def thumbnails(self) -> dict[str, bytes]:
        """Thumbnail PNGs by file name."""
        return {n: self._zip.read(n) for n in self._zip.namelist() if n.startswith("thumbnail/")}

    def layer(self, index: int) -> np.ndarray:
        """Layer ``index`` as (height, width) uint8 grey (255 = exposed)."""
        if not 0 <= index < self.layer_count:
            raise SliceError(
                f"layer {index} out of range 0..{self.layer_count - 1}", where=str(self.path)
            )
        name = self.layer_names[index]
        raw = self._zip.read(name)
        img = decode_gray(raw)  # our own PNGs: one inflate, no copy
        if img is None:
            img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise SliceError(f"layer file {name} is not a readable PNG", where=str(self.path))
        if img.ndim == 3:
            img = cv2.cvtColor(
                img, cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
            )
        if img.dtype != np.uint8:
            raise SliceError(f"layer file {name} is not 8-bit", where=str(self.path))
        w, h = self.image_px
        if img.shape != (h, w):
            raise SliceError(
                f"layer file {name} is {img.shape[1]}x{img.shape[0]} px; the display is {w}x{h}",
                where=str(self.path),
            )
        return img

    def layer_band(self, index: int) -> Band:
        """Layer ``index`` as its lit band only: fast for printprep's own archives (only
        the band is inflated), a scan of the whole image for anyone else's."""
        if not 0 <= index < self.layer_count:
            raise SliceError(
                f"layer {index} out of range 0..{self.layer_count - 1}", where=str(self.path)
            )
        got = decode_band(self._zip.read(self.layer_names[index]))
        if got is not None:
            row0, col0, pixels = got
            w, h = self.image_px
            r, c = pixels.shape
            if row0 + r <= h and col0 + c <= w:
                return Band(row0, col0, pixels)
        return band_of(self.layer(index))

    def iter_layers(self) -> Iterator[np.ndarray]:
        for i in range(self.layer_count):
            yield self.layer(i)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def band_of(image: np.ndarray) -> Band:
    """The lit band of a full (h, w) uint8 layer image."""
    rows = np.flatnonzero(image.any(axis=1))
    if len(rows) == 0:
        return Band(0, 0, np.zeros((0, 0), np.uint8))
    cols = np.flatnonzero(image[rows[0] : rows[-1] + 1].any(axis=0))
    return Band(int(rows[0]), int(cols[0]), image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


def _transform(printer: dict[str, Any], where: str) -> DisplayTransform:
    try:
        px = (int(float(printer["display_pixels_x"])), int(float(printer["display_pixels_y"])))
        mm = (float(printer["display_width"]), float(printer["display_height"]))
    except (KeyError, ValueError) as exc:
        raise SliceError(f"bad display settings in printer settings: {exc}", where=where) from exc
    if min(px) <= 0 or min(mm) <= 0:
        raise SliceError("display size must be positive", where=where)
    orientation = str(printer["display_orientation"]).strip()
    if orientation not in ("landscape", "portrait"):
        raise SliceError(
            f"display_orientation {orientation!r} is not landscape/portrait", where=where
        )
    return DisplayTransform(
        pitch_mm=(mm[0] / px[0], mm[1] / px[1]),
        display_px=px,
        portrait=orientation == "portrait",
        mirror_x=_truthy(printer["display_mirror_x"]),
        mirror_y=_truthy(printer["display_mirror_y"]),
    )


def read_archive(path: str | Path) -> Archive:
    """Open an SL1/SL1S or PNG-zip archive and check its structure.

    Raises SliceError naming the file and what is wrong (missing ini file or key, wrong
    layer count, PNG size not matching the display is reported when that layer is read).
    """
    path = Path(path)
    where = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError as exc:
        raise SliceError("archive not found", where=where) from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise SliceError(f"not a readable ZIP archive ({exc})", where=where) from exc
    try:
        names = set(zf.namelist())
        if "config.ini" in names or "prusaslicer.ini" in names:
            return _open_sl1(path, zf, names)
        if META_NAME in names:
            return _open_pngzip(path, zf, names)
        raise SliceError("neither an SL1 archive (config.ini) nor a printprep PNG zip", where=where)
    except BaseException:
        zf.close()
        raise


def _open_sl1(path: Path, zf: zipfile.ZipFile, names: set[str]) -> Archive:
    where = str(path)
    for required in ("config.ini", "prusaslicer.ini"):
        if required not in names:
            raise SliceError(f"{required} is missing", where=where)
    config = _parse_ini(zf.read("config.ini").decode("utf-8", "replace"))
    printer = _parse_ini(zf.read("prusaslicer.ini").decode("utf-8", "replace"))
    for key in REQUIRED_CONFIG_KEYS:
        if key not in config:
            raise SliceError(f"config.ini lacks key {key!r}", where=where)
    for key in REQUIRED_PRINTER_KEYS:
        if key not in printer:
            raise SliceError(f"prusaslicer.ini lacks key {key!r}", where=where)
    job = config["jobDir"]
    pattern = re.compile(re.escape(job) + r"(\d{5})\.png$")
    layers = sorted(
        (n for n in names if pattern.fullmatch(n)), key=lambda n: int(pattern.fullmatch(n).group(1))
    )  # type: ignore[union-attr]
    expected = int(config["numFast"]) + int(config["numSlow"])
    if len(layers) != expected:
        raise SliceError(
            f"{len(layers)} layer files {job}NNNNN.png but numFast + numSlow = {expected}",
            where=where,
        )
    for i, n in enumerate(layers):
        if n != f"{job}{i:05d}.png":
            raise SliceError(f"layer file {job}{i:05d}.png is missing", where=where)
    tr = _transform(printer, where)
    return Archive(
        path, "sl1", config, printer, layers, tr.image_px, tr, float(config["layerHeight"]), zf
    )


def _open_pngzip(path: Path, zf: zipfile.ZipFile, names: set[str]) -> Archive:
    where = str(path)
    try:
        meta = json.loads(zf.read(META_NAME))
        config, printer = dict(meta["config"]), dict(meta["printer"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SliceError(
            f"{META_NAME} is not valid printprep metadata ({exc})", where=where
        ) from exc
    for key in REQUIRED_PRINTER_KEYS:
        if key not in printer:
            raise SliceError(f"{META_NAME} lacks printer key {key!r}", where=where)
    count = int(config.get("numFast", 0)) + int(config.get("numSlow", 0))
    layers = [f"{i}.png" for i in range(1, count + 1)]
    missing = [n for n in layers if n not in names]
    if missing:
        raise SliceError(
            f"layer file {missing[0]} is missing ({count} layers expected)", where=where
        )
    extra = [n for n in names if re.fullmatch(r"\d+\.png", n) and n not in set(layers)]
    if extra:
        raise SliceError(
            f"unexpected layer file {sorted(extra)[0]} beyond {count} layers", where=where
        )
    tr = _transform(printer, where)
    return Archive(
        path, "pngzip", config, printer, layers, tr.image_px, tr, float(config["layerHeight"]), zf
    )
