"""``printprep prepare`` as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import trimesh
from PIL import Image


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "printprep", *args], capture_output=True, text=True, timeout=600, cwd=cwd
    )


def test_prepare_writes_every_artifact(meshes, tmp_path):
    out = tmp_path / "out"
    res = run(
        "prepare", str(meshes / "jewelry" / "solitaire_ring.stl"), "--profile", "elegoo-mars-4-dlp",
        "--alloy", "18k-yellow", "--sprues", "1", "-o", str(out), "--json",
    )  # fmt: skip
    assert res.returncode in (0, 1), res.stderr
    report = json.loads(res.stdout)
    stem = "solitaire_ring"
    for suffix in ("casting.stl", "print.stl", "part.stl", "sprues.stl", "supports.stl", "report.json", "preview.png"):
        assert (out / f"{stem}.{suffix}").stat().st_size > 0, suffix
    archive = out / f"{stem}.{report['slice']['format'].replace('pngzip', 'zip')}"
    assert archive.is_file()
    assert report["alloy"] == "18k-yellow" and len(report["gates"]) == 1
    # the cast's weight from its own volume: 18k yellow 15.58 g/cm3, +20 % tree
    cast = trimesh.load(out / f"{stem}.casting.stl")
    assert cast.is_watertight
    expected_g = cast.volume / 1000.0 * 15.58 * 1.2
    assert abs(report["metal_weight_g"] - expected_g) / expected_g < 0.01
    assert report["print_time_s"] > 0 and report["supports"]["count"] > 0
    # exit code follows the layer check written in the report
    assert res.returncode == (1 if report["slice"]["layers"]["problems"] else 0)
    img = Image.open(out / f"{stem}.preview.png")
    assert img.size[0] == 2 * img.size[1]  # two views side by side
    colours = np.unique(np.asarray(img.convert("RGB")).reshape(-1, 3), axis=0)
    assert len(colours) > 50  # shaded, not blank


def test_no_supports_prints_the_casting_as_is(meshes, tmp_path):
    res = run(
        "prepare", str(meshes / "jewelry" / "jjg_pendant2.stl"), "--no-supports",
        "--profile", "elegoo-mars-4-dlp", "-o", str(tmp_path), "--json",
    )  # fmt: skip
    assert res.returncode in (0, 1), res.stderr
    report = json.loads(res.stdout)
    assert report["supports"]["count"] == 0
    printed = trimesh.load(tmp_path / "jjg_pendant2.print.stl")
    cast = trimesh.load(tmp_path / "jjg_pendant2.casting.stl")
    assert abs(printed.volume - cast.volume) < 1e-6 * cast.volume


def test_bad_inputs_exit_2_with_a_message(meshes, tmp_path):
    missing = run("prepare", str(tmp_path / "nope.stl"), "-o", str(tmp_path))
    assert missing.returncode == 2 and "nope.stl" in missing.stderr
    bad_profile = run("prepare", str(meshes / "jewelry" / "solitaire_ring.stl"), "--profile", "no-such-printer", "-o", str(tmp_path))
    assert bad_profile.returncode == 2 and "no-such-printer" in bad_profile.stderr
    bad_alloy = run("prepare", str(meshes / "jewelry" / "solitaire_ring.stl"), "--alloy", "unobtainium", "-o", str(tmp_path))
    assert bad_alloy.returncode == 2 and "unobtainium" in bad_alloy.stderr
    open_sheet = run("prepare", str(meshes / "broken" / "pymeshfix_planar_mesh.ply"), "-o", str(tmp_path))
    assert open_sheet.returncode == 2 and "pymeshfix_planar_mesh" in open_sheet.stderr
    assert not list(tmp_path.glob("*.print.stl"))
