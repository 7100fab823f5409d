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
from llvmlite.binding import ffi
print(json.dumps({"linalg": "scipy.linalg" in sys.modules, "blas": am._HAVE_BLAS,
                  "probe_restored": am.ensure_blas is nl.ensure_blas,
                  "lock_events": [a.__module__ for a, _ in ffi.lib._lock._cblist]}))
"""


def test_check_and_repair_do_not_import_scipy_linalg(meshes):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(meshes / "broken/admesh_block_fill-holes-bad.stl")],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    # and numba's LLVM-lock timing events were unhooked (kernels still load and run)
    assert facts == {"linalg": False, "blas": True, "probe_restored": True, "lock_events": []}


# -- glibc's allocator set for the batch commands (printprep.cli.memory) -------------------
MALLOC_PROBE = """
import sys
import numpy as np
import printprep.cli as cli
from printprep.cli import main, memory
sys.argv = ["printprep", *sys.argv[1:]]


def report(code):
    block = np.ones(2 << 20)  # 16 MiB: under the 32 MiB mmap threshold, over glibc's default
    lo, hi = memory.heap_range() or (0, 0)
    print(code, memory.applied, lo <= block.ctypes.data < hi, flush=True)


end_process = cli._exit_now  # the mesh commands end the process there: report first
cli._exit_now = lambda code: (report(code), end_process(code))
report(main())
"""


def _probe(*args: str, **env: str) -> list[str]:
    """Run ``printprep ARGS`` as its own process (main() of the process's arguments) and
    report (exit code, settings applied, a fresh 16 MiB block in the heap)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "PRINTPREP_MALLOC")}
    res = subprocess.run([sys.executable, "-c", MALLOC_PROBE, *args], capture_output=True, text=True,
                         timeout=120, env={**clean, **env})
    assert res.stdout.count("\n") == 1, res.stdout + res.stderr
    return res.stdout.split()


def test_batch_command_runs_with_the_allocator_settings(tmp_path):
    missing = str(tmp_path / "missing.stl")
    # blocks under 32 MiB come from the heap (and stay there when freed)
    assert _probe("check", missing) == ["2", "True", "True"]
    assert _probe("repair", missing, "-o", str(tmp_path / "o.stl")) == ["2", "True", "True"]
    # glibc's defaults: the 16 MiB block is an mmap of its own
    assert _probe("check", missing, PRINTPREP_MALLOC="off") == ["2", "False", "False"]
    assert _probe("check", missing, GLIBC_TUNABLES="glibc.malloc.check=0") == ["2", "False", "False"]


def test_service_commands_keep_glibcs_defaults():
    # a client command of the service area: nothing listens on port 9 of 127.0.0.1
    out = _probe("jobs", "--server", "http://127.0.0.1:9", "--token", "t")
    assert out == ["2", "False", "False"]
