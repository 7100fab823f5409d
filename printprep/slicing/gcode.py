"""Filament G-code through PrusaSlicer's command-line engine.

The filament profile and material become a PrusaSlicer ini file (bed, nozzle, layer
heights, temperatures, filament; then the profile's ``[slicer]`` table verbatim), the
parts are written as STL and ``prusa-slicer --export-gcode --load INI`` does the work.
Settings PrusaSlicer does not know are refused before it runs (it would silently ignore
them). Time, filament and layer figures are read from the comments PrusaSlicer writes.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from printprep.errors import SliceError, ToolMissingError
from printprep.profiles import FilamentPrinterProfile, MaterialProfile, load_material, load_profile

PRUSA_SLICER = "prusa-slicer"
TIMEOUT_S = 900


def find_prusa_slicer() -> str:
    """Path of the prusa-slicer program, or ToolMissingError saying how to install it."""
    path = shutil.which(PRUSA_SLICER)
    if path is None:
        raise ToolMissingError(
            "prusa-slicer is not installed; G-code for filament printers needs it "
            "(Debian/Ubuntu: apt-get install prusa-slicer)"
        )
    return path


@functools.cache
def known_fff_options(exe: str) -> frozenset[str]:
    """PrusaSlicer's FFF setting names (ini spelling), from ``--help-fff``."""
    out = subprocess.run([exe, "--help-fff"], capture_output=True, text=True, timeout=60)
    return frozenset(m.replace("-", "_") for m in re.findall(r"^ --([a-z0-9-]+)", out.stdout, re.M))


def fff_ini(
    profile: FilamentPrinterProfile, material: MaterialProfile, layer_height_mm: float
) -> dict[str, Any]:
    """The PrusaSlicer settings for a filament profile and material."""
    x, y, z = profile.bed_mm
    nozzle_t = material.nozzle_temp_c or profile.nozzle_temp_c
    bed_t = material.bed_temp_c if material.bed_temp_c is not None else profile.bed_temp_c
    values: dict[str, Any] = {
        "printer_technology": "FFF",
        "bed_shape": f"0x0,{x:g}x0,{x:g}x{y:g},0x{y:g}",
        "max_print_height": z,
        "nozzle_diameter": profile.nozzle_mm,
        "filament_diameter": profile.filament_diameter_mm,
        "layer_height": layer_height_mm,
        "first_layer_height": max(profile.first_layer_height_mm, layer_height_mm),
        "temperature": nozzle_t,
        "first_layer_temperature": max(profile.first_layer_nozzle_temp_c, nozzle_t),
        "bed_temperature": bed_t,
        "first_layer_bed_temperature": max(profile.first_layer_bed_temp_c, bed_t),
        "filament_density": material.density_g_cm3,
        "filament_cost": material.price_per_kg or 0,
    }
    values.update(profile.slicer)
    return values


def _ini_text(values: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "1" if v else "0"
        return str(v)

    return "".join(f"{k} = {fmt(v)}\n" for k, v in values.items())


def _duration_s(text: str) -> float:
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([dhms])", text):
        total += float(value) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit]
    return total


def _stats(gcode: Path) -> dict[str, float]:
    """Figures from PrusaSlicer's closing comments, plus the layer count."""
    layers = 0
    stats: dict[str, float] = {}
    with gcode.open("r", errors="replace") as fh:
        for line in fh:
            if line.startswith(";LAYER_CHANGE"):
                layers += 1
            elif line.startswith("; estimated printing time (normal mode)"):
                stats["print_time_s"] = _duration_s(line.split("=", 1)[1])
            elif line.startswith("; filament used [cm3]"):
                stats["filament_ml"] = float(line.split("=", 1)[1].split(",")[0])
            elif line.startswith("; filament used [g]"):
                stats["filament_g"] = float(line.split("=", 1)[1].split(",")[0])
            elif line.startswith("; filament cost"):
                stats["cost"] = float(line.split("=", 1)[1].split(",")[0])
    stats["layer_count"] = layers
    return stats


def slice_gcode(
    mesh: trimesh.Trimesh | Sequence[trimesh.Trimesh],
    profile: str | Path | FilamentPrinterProfile,
    out_path: str | Path,
    *,
    material: str | Path | MaterialProfile | None = None,
    layer_height_mm: float | None = None,
    **_ignored: Any,
):
    """Slice one or more parts (mm) for a filament printer into ``out_path`` G-code.

    Raises ToolMissingError when prusa-slicer is missing, SliceError when a part does not
    fit the bed, the profile's slicer settings are unknown to PrusaSlicer, or it fails.
    """
    from printprep.slicing.resin import SliceResult, resolve_layer_height

    prof = load_profile(profile)
    if not isinstance(prof, FilamentPrinterProfile):
        raise SliceError(f"profile {prof.name!r} is a {prof.kind} printer: use slice_to_archive")
    mat = load_material(material if material is not None else prof.default_material)
    if mat.kind != "filament":
        raise SliceError(
            f"material {mat.name!r} is a {mat.kind} material; profile {prof.name!r} prints filament"
        )
    lh = resolve_layer_height(prof, layer_height_mm)
    meshes = [mesh] if isinstance(mesh, trimesh.Trimesh) else list(mesh)
    if not meshes:
        raise SliceError("nothing to slice: no parts given")
    for i, m in enumerate(meshes):
        ext = m.extents
        if ext[0] > prof.bed_mm[0] or ext[1] > prof.bed_mm[1] or ext[2] > prof.bed_mm[2]:
            raise SliceError(
                f"part {i} ({ext[0]:.1f} x {ext[1]:.1f} x {ext[2]:.1f} mm) does not fit the "
                f"{prof.bed_mm[0]:g} x {prof.bed_mm[1]:g} x {prof.bed_mm[2]:g} mm volume of {prof.name!r}"
            )
    exe = find_prusa_slicer()
    unknown = sorted(set(prof.slicer) - known_fff_options(exe))
    if unknown:
        raise SliceError(
            f"key 'slicer.{unknown[0]}': not a PrusaSlicer setting", where=prof.source or prof.name
        )
    out = Path(out_path)
    if not out.parent.is_dir():
        raise SliceError("output folder does not exist", where=str(out.parent))
    with tempfile.TemporaryDirectory(prefix="printprep-gcode-") as tmp:
        tmpdir = Path(tmp)
        ini = tmpdir / "printprep.ini"
        ini.write_text(_ini_text(fff_ini(prof, mat, lh)))
        stls = []
        for i, m in enumerate(meshes):
            stl = tmpdir / f"part{i}.stl"
            m.export(stl)
            stls.append(str(stl))
        part = tmpdir / "out.gcode"
        cx, cy = prof.bed_mm[0] / 2, prof.bed_mm[1] / 2
        cmd = [exe, "--export-gcode", "--load", str(ini), "--center", f"{cx:g},{cy:g}",
               "--loglevel", "1", "-o", str(part), *stls]  # fmt: skip
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise SliceError(f"prusa-slicer took longer than {TIMEOUT_S} s") from exc
        if run.returncode != 0 or not part.is_file():
            tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-5:])
            raise SliceError(f"prusa-slicer failed (exit {run.returncode}): {tail}")
        shutil.move(part, out)
    st = _stats(out)
    ml = st.get("filament_ml", 0.0)
    return SliceResult(
        path=out,
        format="gcode",
        layer_count=int(st["layer_count"]),
        layer_height_mm=lh,
        print_time_s=st.get("print_time_s", 0.0),
        resin_ml=ml,
        cost=st.get("cost", mat.cost(ml)),
        currency=mat.currency,
        profile=prof.name,
        material=mat.name,
        extra={"filament_g": st.get("filament_g", float(np.round(ml * mat.density_g_cm3, 3)))},
    )
