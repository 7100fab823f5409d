"""``printprep warm-up`` compiles the kernels by running the real paths on a damaged band:
the band must really be damaged in the ways repair handles, and come out sound."""

from __future__ import annotations

import json
from pathlib import Path

from printprep.cli import main
from printprep.cli.warmup import damaged_band
from printprep.mesh import check_mesh, load_mesh, repair_mesh
from printprep.mesh.io_stl import write_stl_binary


def test_the_warm_up_band_takes_every_repair_step_and_comes_out_sound(tmp_path: Path) -> None:
    path = tmp_path / "band.stl"
    write_stl_binary(path, *damaged_band())
    loaded = load_mesh(path, units="mm")
    check = check_mesh(loaded)
    assert check.exit_code == 1
    assert check["boundary_edges"] > 0 and check["shells"] == 2
    assert not check["winding_consistent"]
    result = repair_mesh(loaded)
    counts = {s["step"]: s["count"] for s in result.steps}
    for step in ("remove duplicate faces", "flip faces to a consistent winding", "close holes",
                 "fuse overlapping or touching shells"):
        assert counts[step] > 0, (step, counts)
    assert result.exit_code == 0 and result.report["shells"] == 1


def test_warm_up_command_runs_every_stage(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["warm-up", "--json"]) == 0
    took = json.loads(capsys.readouterr().out)["seconds"]
    assert list(took) == ["load and check", "repair", "prepare", "write and slice"]


def test_fresh_drops_cached_kernels_and_nothing_else(tmp_path: Path) -> None:
    from printprep.cli.warmup import drop_cached_kernels

    cache = tmp_path / "pkg" / "__pycache__"
    cache.mkdir(parents=True)
    for name in ("k.f-12.py311.nbi", "k.f-12.py311.1.nbc", "k.cpython-311.pyc"):
        (cache / name).write_bytes(b"x")
    (tmp_path / "pkg" / "k.py").write_text("x = 1\n")
    assert drop_cached_kernels([tmp_path]) == 2
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "k.cpython-311.pyc", "k.py"]
