"""``printprep check`` / ``printprep repair`` as a user runs them: real processes, real
files, a real pseudo-terminal for the progress bar."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from printprep.mesh import check_mesh, load_mesh

PRINTPREP = [sys.executable, "-m", "printprep"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PRINTPREP, *args], capture_output=True, text=True, timeout=300)


def test_check_clean_ring_exits_0_with_text(meshes: Path) -> None:
    res = run("check", str(meshes / "jewelry" / "solitaire_ring.stl"))
    assert res.returncode == 0, res.stderr
    assert "printable as is" in res.stdout
    assert "18k-yellow" in res.stdout and "volume 289.0" in res.stdout
    assert res.stderr == ""


def test_check_json_has_the_issue_keys(meshes: Path) -> None:
    res = run("check", str(meshes / "jewelry" / "franout_bracelet_11shells.stl"), "--json", "--alloy", "18k-yellow")
    d = json.loads(res.stdout)
    for key in ("watertight", "winding_consistent", "shells", "volume_mm3", "units", "scale",
                "self_intersecting_faces", "non_manifold_edges", "boundary_edges", "metal_weight_g",
                "thin_regions", "problems"):
        assert key in d
    assert d["shells"] == 11 and d["alloy"] == "18k-yellow"
    assert any("10 of 11 parts are loose" in w for w in d["warnings"])
    assert res.returncode == (0 if not d["problems"] else 1)


def test_check_defects_exit_1(meshes: Path) -> None:
    res = run("check", str(meshes / "broken" / "manifold_self_intersectA.obj"), "--no-thickness")
    assert res.returncode == 1
    assert "self-intersection" in res.stdout and "NOT printable" in res.stdout


@pytest.mark.parametrize("cmd", ["check", "repair"])
def test_unreadable_input_exits_2_with_one_line_on_stderr(meshes: Path, tmp_path: Path, cmd: str) -> None:
    extra = ["-o", str(tmp_path / "out.stl")] if cmd == "repair" else []
    res = run(cmd, str(meshes / "io" / "manifold_Cray_right.obj"), *extra)
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("printprep: ")
    assert "manifold_Cray_right.obj" in lines[0] and "absurd" in lines[0]
    empty = tmp_path / "empty.stl"
    empty.write_bytes(b"")
    res = run(cmd, str(empty), *extra)
    assert res.returncode == 2 and "empty.stl: file is empty" in res.stderr


def test_bad_alloy_and_units_are_usage_errors(meshes: Path) -> None:
    ring = str(meshes / "jewelry" / "solitaire_ring.stl")
    res = run("check", ring, "--alloy", "unobtainium")
    assert res.returncode == 2 and "unknown alloy" in res.stderr
    res = run("repair", ring, "-o", "x.stl", "--units", "furlong")
    assert res.returncode == 2 and "invalid choice" in res.stderr


def test_help_on_both_commands() -> None:
    res = run("repair", "--help")
    assert res.returncode == 0 and "--json" in res.stdout and "-o OUT" in res.stdout


def test_repair_writes_a_sound_solid_in_each_format(meshes: Path, tmp_path: Path) -> None:
    src = str(meshes / "broken" / "trimesh_multibody.stl")
    for ext in ("stl", "3mf"):  # PLY and OBJ writing: test_mesh_load.py
        out = tmp_path / f"fixed.{ext}"
        res = run("repair", src, "-o", str(out), "--json", "--units", "mm")
        assert res.returncode == 0, res.stderr
        d = json.loads(res.stdout)
        assert d["watertight"] and d["inverted_shells"] == 0 and d["output"] == str(out)
        assert {"step", "count"} <= set(d["steps"][0])
        again = check_mesh(load_mesh(out, units="mm"), thickness=False)
        assert again.to_dict()["volume_mm3"] == pytest.approx(d["volume_mm3"], rel=1e-5)


def test_repair_of_an_open_sheet_exits_1_and_still_writes(meshes: Path, tmp_path: Path) -> None:
    out = tmp_path / "sheet.stl"
    res = run("repair", str(meshes / "broken" / "pymeshfix_planar_mesh.ply"), "-o", str(out))
    assert res.returncode == 1
    assert out.exists()
    assert "cannot be made solid" in res.stdout


def _pty_run(args: list[str], timeout_s: float = 120.0) -> tuple[int, str]:
    """Run printprep with stdout and stderr on a pseudo-terminal; returns (exit code, all output)."""
    return _pty_command([*PRINTPREP, *args], timeout_s)


def _pty_command(cmd: list[str], timeout_s: float = 120.0) -> tuple[int, str]:
    """Run ``cmd`` with stdout and stderr on a pseudo-terminal; returns (exit code, all output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=10), b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_and_never_with_json(meshes: Path, tmp_path: Path) -> None:
    # four copies of the 336k band side by side (1.35M triangles): the check takes well
    # over the bar's one-second delay however fast the machine; the bar shows the stage
    # under way even when no new stage starts after the delay
    from printprep.mesh.io_stl import write_stl_binary

    loaded = load_mesh(meshes / "bench" / "pave_band_336k.stl", units="mm")
    n = len(loaded.vertices)
    step_mm = 2.0 * float(np.ptp(loaded.vertices[:, 0]))
    vertices = np.concatenate([loaded.vertices + [k * step_mm, 0.0, 0.0] for k in range(4)])
    faces = np.concatenate([loaded.faces + k * n for k in range(4)])
    bands = tmp_path / "four_bands.stl"
    write_stl_binary(bands, vertices, faces)
    code, out = _pty_run(["check", str(bands), "--units", "mm"])
    assert code == 0
    assert "[#" in out and "\r" in out
    code, out = _pty_run(["check", str(bands), "--units", "mm", "--json"])
    assert code == 0
    assert "[#" not in out
    assert json.loads(out[out.index("{"):])["triangles"] == 4 * 336384


def _pty_python(code: str) -> str:
    """Run ``python -c code`` with stderr on a pseudo-terminal; returns all its output."""
    exit_code, out = _pty_command([sys.executable, "-c", code], 60.0)
    assert exit_code == 0, out
    return out


def test_progress_bar_shows_a_long_stage_and_nothing_for_quick_work() -> None:
    # one stage that starts at once and runs past the delay: the bar shows it without a
    # second step; work done within the delay draws nothing at all
    long_stage = _pty_python(
        "import time\nfrom printprep.cli.common import progress\n"
        "with progress(3) as bar:\n    bar.step('loading')\n    time.sleep(1.6)\n"
    ).replace("\r\n", "\n")
    quick = _pty_python(
        "from printprep.cli.common import progress\n"
        "with progress(3) as bar:\n    bar.step('loading')\n    bar.step('checking')\n"
    )
    assert "[########----------------] loading" in long_stage
    assert "[#" not in quick


# -- the parser of the command's area only ------------------------------------------------
def _parse_output(parser_of, argv: list[str]) -> tuple[object, str, str]:
    """(exit code or parsed namespace's command, stdout, stderr) of parsing ``argv`` with
    ``parser_of(argv)``; help and usage errors end in SystemExit."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ns = parser_of(argv).parse_args(argv)
            code: object = sorted((k, repr(v)) for k, v in vars(ns).items())
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def _every_command_argv() -> list[list[str]]:
    """``[command]`` and ``[command, action]`` for every command and sub-action the full
    parser knows."""
    import argparse

    from printprep.cli import build_parser

    def subactions(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                return dict(a.choices)
        return {}

    found = []
    for name, p in subactions(build_parser()).items():
        found.append([name])
        found += [[name, action] for action in subactions(p)]
    return found


def test_command_table_matches_what_the_areas_register() -> None:
    import argparse
    import importlib

    from printprep.cli import AREAS, COMMANDS

    registered = {}
    for area in AREAS:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"printprep.cli.{area}").register(sub)
        registered.update({name: area for name in sub.choices})
    assert registered == COMMANDS


def test_area_parser_helps_and_errs_exactly_as_the_full_parser() -> None:
    from printprep.cli import build_parser

    full = lambda argv: build_parser()  # noqa: E731
    lazy = lambda argv: build_parser(argv[0] if argv else None)  # noqa: E731
    cases = [["--help"], [], ["--version"], ["nosuch"], ["-x"], ["repair"], ["repair", "in.stl"],
             ["repair", "in.stl", "-o", "o.stl", "--units", "furlong"], ["check", "a.stl", "--bogus"],
             ["repair", "a.stl", "-o", "b.stl", "--version"], ["check", "a.stl", "--json", "--units", "inch"],
             ["slice", "--help"], ["jobs", "show"]]
    cases += [[*argv, "--help"] for argv in _every_command_argv()]
    assert len(cases) > 25
    for argv in cases:
        expected = _parse_output(full, argv)
        assert _parse_output(lazy, argv) == expected, argv
        assert expected[1] or expected[2] or "--help" not in argv, argv  # help was printed


def test_repair_help_builds_only_the_mesh_commands() -> None:
    code = ("import sys\nfrom printprep.cli import main\n"
            "try:\n    main(['repair', '--help'])\nexcept SystemExit:\n    pass\n"
            "from printprep.cli import AREAS\n"
            "print(sorted(m for m in sys.modules if m.startswith('printprep.profiles')\n"
            "             or m.removeprefix('printprep.cli.') in AREAS))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "['printprep.cli.mesh']"
    res = run("--help")
    assert res.returncode == 0 and all(c in res.stdout for c in ("repair", "prepare", "serve", "warm-up"))


def test_mesh_commands_end_the_process_at_once_and_others_exit_normally(meshes: Path, tmp_path: Path) -> None:
    # an atexit handler shows whether the interpreter finished normally: the mesh commands
    # skip it (os._exit after flushing), with complete output and the same exit codes
    code = ("import atexit, sys\natexit.register(lambda: print('ATEXIT', flush=True))\n"
            "from printprep.cli import main\nsys.exit(main())\n")

    def python(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)

    res = python("check", str(meshes / "jewelry" / "solitaire_ring.stl"), "--json", "--no-thickness")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["watertight"] is True and "ATEXIT" not in res.stdout
    out = tmp_path / "sheet.stl"
    res = python("repair", str(meshes / "broken" / "pymeshfix_planar_mesh.ply"), "-o", str(out))
    assert res.returncode == 1 and out.exists() and "cannot be made solid" in res.stdout
    assert "ATEXIT" not in res.stdout
    res = python("check", str(tmp_path / "missing.stl"))
    assert res.returncode == 2 and "missing.stl" in res.stderr and "ATEXIT" not in res.stdout
    res = python("jobs", "--server", "http://127.0.0.1:9", "--token", "t")  # another area
    assert res.returncode == 2 and "ATEXIT" in res.stdout


def test_a_closed_pipe_ends_check_quietly(meshes: Path) -> None:
    # the reader is gone before the JSON is written: exit 1, nothing on stderr
    proc = subprocess.Popen([*PRINTPREP, "check", str(meshes / "jewelry" / "solitaire_ring.stl"), "--json",
                             "--no-thickness"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and err == ""


def test_output_that_cannot_be_written_is_an_error(meshes: Path) -> None:
    # stdout on a full device: the JSON cannot be written, which is said, with exit 1
    with open("/dev/full", "w") as full:
        res = subprocess.run([*PRINTPREP, "check", str(meshes / "jewelry" / "solitaire_ring.stl"), "--json",
                              "--no-thickness"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert res.returncode == 1
    assert res.stderr.strip() == "printprep: cannot write the output: No space left on device"
