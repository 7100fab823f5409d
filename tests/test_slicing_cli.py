"""``printprep slice``, ``layers`` and ``profiles`` on the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, require_tool

from printprep.cli import main
from printprep.slicing import read_archive


def test_profiles_lists_everything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    for name in (
        "prusa-sl1s",
        "phrozen-sonic-4k",
        "elegoo-saturn-4-ultra-16k",
        "prusa-mk4-castable",
        "bluecast-x10",
    ):
        assert name in out
    assert main(["profiles", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    saturn = next(p for p in data["profiles"] if p["name"] == "elegoo-saturn-4-ultra-16k")
    assert saturn["pitch_mm"] == pytest.approx([0.014, 0.019], abs=1e-4)


def test_slice_then_layers(
    tmp_path: Path, meshes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pendant.sl1"
    mesh = str(meshes / "jewelry" / "jjg_pendant2.stl")
    rc = main(
        [
            "slice",
            mesh,
            "--profile",
            "prusa-sl1s",
            "-o",
            str(out),
            "--layer-height",
            "0.1",
            "--json",
        ]
    )
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layer_count"] > 0 and data["format"] == "sl1" and out.is_file()
    with read_archive(out) as a:
        assert a.layer_count == data["layer_count"]
        assert a.image_px == (1620, 2560)  # the SL1S reads portrait images
    rc = main(["layers", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == (0 if report["ok"] else 1)
    assert report["layer_count"] == data["layer_count"]


def test_slice_repairs_broken_input_and_says_so(
    tmp_path: Path, meshes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import trimesh

    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    holed = trimesh.Trimesh(ring.vertices, ring.faces[3:], process=False)  # a copy with a hole
    src = tmp_path / "holed.stl"
    holed.export(src)
    assert not holed.is_watertight
    out = tmp_path / "fixed.zip"
    rc = main(
        ["slice", str(src), "-p", "elegoo-mars-4-dlp", "-o", str(out), "--layer-height", "0.1"]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "repaired before slicing" in captured.err
    with read_archive(out) as a:
        assert a.layer_count == round(ring.extents[2] / 0.1)
    assert (
        main(
            [
                "slice",
                str(src),
                "-p",
                "elegoo-mars-4-dlp",
                "-o",
                str(tmp_path / "n.zip"),
                "--no-repair",
            ]
        )
        == 2
    )
    assert "not a closed" in capsys.readouterr().err


def test_bad_usage_exits_2(
    tmp_path: Path, meshes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ring = str(meshes / "jewelry" / "pixelverse_ring.stl")
    assert main(["slice", ring, "-p", "no-such-printer", "-o", str(tmp_path / "x.sl1")]) == 2
    assert "unknown printer profile 'no-such-printer'" in capsys.readouterr().err
    assert main(["slice", str(tmp_path / "none.stl"), "-o", str(tmp_path / "x.sl1")]) == 2
    assert main(["layers", str(tmp_path / "none.sl1")]) == 2
    assert "archive not found" in capsys.readouterr().err
    assert main(["slice", ring, "-o", str(tmp_path / "x.sl1"), "--at", "1,2", "--at", "3,4"]) == 2
    assert "--at given 2 times for 1 parts" in capsys.readouterr().err
    assert (
        main(
            [
                "slice",
                ring,
                "-p",
                "prusa-mk4-castable",
                "-o",
                str(tmp_path / "x.gcode"),
                "--format",
                "sl1",
            ]
        )
        == 2
    )
    assert list(tmp_path.iterdir()) == []


def test_gcode_from_the_installed_command(tmp_path: Path, meshes: Path) -> None:
    require_tool("prusa-slicer")
    exe = shutil.which("printprep") or str(Path(sys.executable).parent / "printprep")
    out = tmp_path / "ring.gcode"
    run = subprocess.run(
        [exe, "slice", str(meshes / "jewelry" / "solitaire_ring.stl"), "-p", "prusa-mk4-castable", "-o", str(out), "--layer-height", "0.25"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout and "filament" in run.stdout
    assert ";LAYER_CHANGE" in out.read_text()
