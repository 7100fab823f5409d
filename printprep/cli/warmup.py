"""``printprep warm-up``: compile and cache the numba kernels once, after installing.

The mesh, casting and slicing hot paths are numba kernels, compiled on their first call
and cached (in ``__pycache__`` next to their modules, or ``$NUMBA_CACHE_DIR``). The first
check, repair or prepare after installing or upgrading would otherwise pay for the
compilation (a minute or two). This command takes a small generated band, damages it
(a hole, flipped faces, an overlapping shell, duplicates), then checks, repairs, prepares
and slices it through the same library functions the CLI and the service call, so each
kernel is compiled once with the argument types those functions use.

numba checks a cached kernel against its own source file only: a kernel that calls one
from another module keeps the old code of that module after it changed. ``--fresh``
deletes every cached kernel of the package first (``make`` passes it whenever a module
that uses numba changed).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "warm-up",
        help="compile and cache the mesh, casting and slicing kernels (run once after installing)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument("--profile", default=None,
                   help="printer profile to prepare and slice for (default: the default profile)")
    p.add_argument("--fresh", action="store_true",
                   help="delete the cached kernels first (after the code changed)")
    p.add_argument("--json", action="store_true", help="print the time of each step as JSON")
    p.set_defaults(handler=_warm_up)


def damaged_band() -> tuple[np.ndarray, np.ndarray]:
    """A ring band (18 mm inside, 2 mm wide, 1.6 mm thick) with an overlapping box shell,
    a hole, 1 in 20 faces flipped and one face twice: (vertices (n, 3) float64 mm,
    faces (m, 3) int64)."""
    import trimesh

    band = trimesh.creation.annulus(r_min=9.0, r_max=10.6, height=2.0, sections=96)
    bump = trimesh.creation.box(extents=(3.0, 3.0, 1.5))
    bump.apply_translation((10.6, 0.0, 0.0))  # half inside the band: a shell to fuse
    vertices = np.concatenate([band.vertices, bump.vertices])
    faces = np.concatenate([band.faces, bump.faces + len(band.vertices)]).astype(np.int64)
    faces = faces[np.arange(len(faces)) != 7]  # a hole
    flip = np.arange(len(faces)) % 20 == 3
    faces[flip] = faces[flip][:, ::-1]
    return vertices, np.concatenate([faces, faces[:1]])


def drop_cached_kernels(roots: list[Path] | None = None) -> int:
    """Delete cached numba kernels (``*.nbi``, ``*.nbc``) under ``roots`` (default: the
    package's folders and ``$NUMBA_CACHE_DIR``); returns how many files went. Files this
    user may not delete (a read-only install, where numba caches elsewhere) are left."""
    import printprep

    if roots is None:
        roots = [Path(printprep.__file__).resolve().parent]
        if os.environ.get("NUMBA_CACHE_DIR"):
            roots.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    gone = 0
    for root in roots:
        for pattern in ("*.nbi", "*.nbc"):
            for f in root.rglob(pattern):
                try:
                    f.unlink(missing_ok=True)
                except OSError:  # a read-only install: numba does not use those either
                    continue
                gone += 1
    return gone


def warm_up(profile: Any = None) -> dict[str, float]:
    """Check, repair, prepare and slice the damaged band once; seconds per step."""
    from printprep.casting import PrepareOptions, prepare, write_prepared
    from printprep.mesh import check_mesh, load_mesh, repair_mesh, save_mesh
    from printprep.mesh.io_stl import write_stl_binary

    took: dict[str, float] = {}
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="printprep-warm-up-") as tmp:
        src = Path(tmp) / "band.stl"
        write_stl_binary(src, *damaged_band())

        def lap(step: str) -> None:
            nonlocal t
            now = time.perf_counter()
            took[step] = round(now - t, 2)
            t = now

        loaded = load_mesh(src, units="mm")
        check_mesh(loaded, profile=profile)
        lap("load and check")
        repaired = repair_mesh(loaded, profile=profile)
        save_mesh(repaired.mesh, Path(tmp) / "band.repaired.stl")
        lap("repair")
        prepared = prepare(repaired.mesh, profile, PrepareOptions(verify_rounds=1))
        lap("prepare")
        write_prepared(prepared, Path(tmp) / "out", "band", profile)
        lap("write and slice")
    return took


def _warm_up(args: argparse.Namespace) -> int:
    if args.fresh:
        drop_cached_kernels()
    took = warm_up(args.profile)
    if args.json:
        print(json.dumps({"seconds": took}))
    else:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in took.items())
        print(f"kernels compiled and cached: {steps}")
    return 0
