"""Start-up of the check and repair path: a fresh process that loads, checks and repairs
a binary STL never imports scipy.linalg (numba's BLAS probe imported all of it, ~0.5 s of
every process; printprep.mesh.numba_start answers the probe), and numba's array
implementations still know BLAS is there."""

from __future__ import annotations

import json
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
