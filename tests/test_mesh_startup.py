"""Start-up of the check and repair path: a fresh process that loads, checks and repairs
a binary STL never imports scipy.linalg (numba's BLAS probe imported all of it, ~0.5 s of
every process; printprep.mesh.numba_start answers the probe), and numba's array
implementations still know BLAS is there."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import json, sys
from printprep.mesh import check_mesh, load_mesh, repair_mesh
loaded = load_mesh(sys.argv[1])
check_mesh(loaded, thickness=False)
repair_mesh(loaded, thickness=False)
import numba.np.arraymath as am, numba.np.linalg as nl
print(json.dumps({"linalg": "scipy.linalg" in sys.modules, "blas": am._HAVE_BLAS,
                  "probe_restored": am.ensure_blas is nl.ensure_blas}))
"""


def test_check_and_repair_do_not_import_scipy_linalg(meshes):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(meshes / "broken/admesh_block_fill-holes-bad.stl")],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts == {"linalg": False, "blas": True, "probe_restored": True}


# -- glibc's allocator set for the batch commands (printprep.cli.memory) -------------------
MALLOC_PROBE = """
import os, sys
import numpy as np
from printprep.cli import main, memory
sys.argv = ["printprep", *sys.argv[1:]]
code = main()
block = np.ones(2 << 20)  # 16 MiB: under the 32 MiB mmap threshold, over glibc's default
lo = hi = 0
for line in open("/proc/self/maps"):
    if line.rstrip().endswith("[heap]"):
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
at = block.ctypes.data
start_env = open("/proc/self/environ", "rb").read().split(b"\\0")
# (glibc cuts the variable at its first ':' while it reads it)
first = ("GLIBC_TUNABLES=" + memory.TUNABLES.split(":")[0]).encode()
print(code, memory.applied, lo <= at < hi, first in start_env,
      "GLIBC_TUNABLES" in os.environ, memory.MARK in os.environ)
"""


def test_batch_command_runs_with_the_allocator_settings(tmp_path):
    from printprep.cli import memory

    clean = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "PRINTPREP_MALLOC")}
    # a big input file that is no STL (a sparse file: its header counts no triangles)
    big = tmp_path / "big.stl"
    with open(big, "wb") as fh:
        fh.truncate(memory.MIN_INPUT_BYTES)
    big = str(big)
    res = subprocess.run([sys.executable, "-c", MALLOC_PROBE, "check", big], capture_output=True,
                         text=True, timeout=120, env=clean)
    # re-executed with the settings: the 16 MiB block comes from the heap, the settings are
    # in the environment the process started with, and not in the one its children get
    assert res.stdout.split() == ["2", "True", "True", "True", "False", "False"], res.stdout + res.stderr
    assert res.stderr.count("big.stl") == 1  # the command ran once
    small = subprocess.run([sys.executable, "-c", MALLOC_PROBE, "check", big + ".small"],
                           capture_output=True, text=True, timeout=120, env=clean)
    assert small.stdout.split()[:4] == ["2", "False", "False", "False"], small.stdout + small.stderr
    off = subprocess.run([sys.executable, "-c", MALLOC_PROBE, "check", big], capture_output=True,
                         text=True, timeout=120, env={**clean, "PRINTPREP_MALLOC": "off"})
    assert off.stdout.split()[:4] == ["2", "False", "False", "False"], off.stdout + off.stderr


def test_service_commands_keep_glibcs_defaults(tmp_path):
    from printprep.cli import memory

    clean = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "PRINTPREP_MALLOC")}
    big = tmp_path / "big.stl"
    with open(big, "wb") as fh:
        fh.truncate(memory.MIN_INPUT_BYTES)
    # a client command of the service area with a big file: nothing listens on port 9
    res = subprocess.run([sys.executable, "-c", MALLOC_PROBE, "submit", str(big), "--profile", "prusa-sl1s",
                          "--server", "http://127.0.0.1:9", "--token", "t"],
                         capture_output=True, text=True, timeout=120, env=clean)
    out = res.stdout.split()
    assert out[0] == "2" and out[1:4] == ["False", "False", "False"], res.stdout + res.stderr
