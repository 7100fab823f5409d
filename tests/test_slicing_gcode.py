"""Filament G-code through the real prusa-slicer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trimesh
from conftest import require_tool

from printprep.errors import SliceError, ToolMissingError
from printprep.profiles import load_profile, profiles_dir
from printprep.slicing import slice_for_profile, slice_gcode


def test_ring_gcode_follows_the_profile(tmp_path: Path, meshes: Path) -> None:
    require_tool("prusa-slicer")
    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    prof = load_profile("prusa-mk4-castable")
    result = slice_gcode(ring, prof, tmp_path / "ring.gcode", layer_height_mm=0.15)
    text = result.path.read_text()
    assert result.format == "gcode"
    layers = text.count(";LAYER_CHANGE")
    assert result.layer_count == layers
    # first layer 0.2, then 0.15 mm layers to the top
    assert layers == pytest.approx(1 + (ring.extents[2] - 0.2) / 0.15, abs=1.5)
    assert re.search(r"^M109 S220", text, re.M)  # first-layer nozzle temperature
    assert re.search(r"^M104 S215", text, re.M)  # then the normal one
    assert "; fill_density = 30%" in text and "; nozzle_diameter = 0.4" in text
    assert result.print_time_s > 60
    # infill is 30 %, but a ring this small is mostly perimeters and solid layers
    assert 0.3 * ring.volume / 1000.0 < result.resin_ml < 1.5 * ring.volume / 1000.0
    # slice_for_profile sends filament profiles here
    res2 = slice_for_profile([ring], prof, tmp_path, "again")
    assert res2.path == tmp_path / "again.gcode" and res2.layer_count > 0


def test_missing_prusa_slicer_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no programs on it
    with pytest.raises(ToolMissingError, match="prusa-slicer is not installed"):
        slice_gcode(trimesh.creation.box((5, 5, 5)), "prusa-mk4-castable", tmp_path / "x.gcode")


def test_unknown_slicer_setting_and_oversize_part(tmp_path: Path) -> None:
    require_tool("prusa-slicer")
    text = (profiles_dir() / "printers" / "prusa-mk4-castable.toml").read_text()
    bad = tmp_path / "typo.toml"
    bad.write_text(text.replace("perimeters = 3", "perimeterz = 3"))
    with pytest.raises(SliceError, match="slicer.perimeterz.*not a PrusaSlicer setting"):
        slice_gcode(trimesh.creation.box((5, 5, 5)), str(bad), tmp_path / "x.gcode")
    with pytest.raises(SliceError, match="does not fit"):
        slice_gcode(trimesh.creation.box((300, 5, 5)), "prusa-mk4-castable", tmp_path / "x.gcode")
    assert not (tmp_path / "x.gcode").exists()
