"""Speed of the mesh geometry queries (self-intersection, coplanar contacts, wall
thickness, the ray scene) on a big mesh, beside trimesh doing the same ray queries.

Input: the 1.35M-triangle band (../shared/meshes/bench/pave_band_336k.stl with each
triangle split in four, as bench/mesh_bench.py makes it), or any mesh given with --mesh.
Each row is one library call timed in this process, best of --repeat runs (wall s and
process CPU s: CPU above wall means both cores worked). The peer is trimesh's Embree ray
interface (``mesh.ray.intersects_first``, the embreex backend) casting the very same rays
(one per edge for crossings, one per face inward for thickness), with the ratio peer /
ours; our rows include building the rays and reading the hits, the peer rows only the
cast. Coplanar contacts and the grid search have no peer and print alone.

Compiled kernels (numba) are cached in __pycache__: the rows are with a warm cache (one
warm-up call each first). ``--cold`` times the first call of each query in a fresh process
with an empty cache (NUMBA_CACHE_DIR in a new folder), the first run after installing.
The load average is printed: figures on a busy machine mean little without it.

    .venv/bin/python bench/geometry_bench.py [--mesh FILE] [--repeat 3] [--cold]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BAND = ROOT.parent / "shared" / "meshes" / "bench" / "pave_band_336k.stl"


def _band_1m() -> tuple[np.ndarray, np.ndarray]:
    """The 336k band subdivided once (1.35M triangles), as arrays (mm)."""
    import trimesh

    from printprep.mesh.load import load_mesh

    loaded = load_mesh(BAND)
    v, f = trimesh.remesh.subdivide(loaded.vertices, loaded.faces)
    return np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64)


def _timed(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall and CPU seconds of ``repeat`` calls (after one warm-up) and the result."""
    out = fn()
    best_wall, best_cpu = np.inf, np.inf
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best_wall, best_cpu, out


def _row(name: str, wall: float, cpu: float, peer: float | None = None, note: str = "") -> None:
    ratio = f"{peer:8.3f} {peer / wall:6.2f}x" if peer is not None else " " * 16
    print(f"{name:<34} {wall:8.3f} {cpu:8.3f} {ratio}  {note}", flush=True)


def run(v: np.ndarray, f: np.ndarray, repeat: int) -> None:
    import trimesh

    from printprep.mesh import ray_kernels, raycast
    from printprep.mesh.coplanar import coplanar_contacts
    from printprep.mesh.grid import face_pairs
    from printprep.mesh.intersect import crossing_pairs
    from printprep.mesh.raycast import RayScene
    from printprep.mesh.thickness import face_thickness_mm
    from printprep.mesh.topology import edge_info

    print(f"mesh: {len(f)} triangles, {len(v)} vertices; cores {os.cpu_count()}; load {os.getloadavg()}")
    print(f"{'query':<34} {'wall s':>8} {'cpu s':>8} {'peer s':>8} {'ratio':>7}")
    info = edge_info(f, len(v))

    def fresh_scene() -> RayScene:
        raycast._last_scene = None
        return RayScene(v, f)

    w, c, scene = _timed(fresh_scene, repeat)
    _row("RayScene build", w, c)
    w, c, _ = _timed(lambda: RayScene(v, f), repeat)
    _row("RayScene same geometry (kept BVH)", w, c, note="CRC of both arrays")

    tm = trimesh.Trimesh(v, f, process=False, validate=False)
    peer_scene = tm.ray
    peer_scene.intersects_first(v[:1], np.array([[1.0, 0, 0]]))  # builds its BVH
    ev = info.edge_vertices
    o, d, t, ok = ray_kernels.edge_rays(v, np.ascontiguousarray(ev))
    pw, _, _ = _timed(lambda: peer_scene.intersects_first(o.astype(np.float64), d.astype(np.float64)), repeat)
    w, c, (a, _) = _timed(lambda: crossing_pairs(v, f, info, scene), repeat)
    _row("crossing_pairs (ray per edge)", w, c, pw, f"{len(a)} pairs; peer: same rays, unbounded")

    w, c, (a, _) = _timed(lambda: coplanar_contacts(v, f), repeat)
    _row("coplanar_contacts", w, c, note=f"{len(a)} pairs")

    fo, fd, _, _, _ = ray_kernels.face_rays(v, f, np.zeros(0, dtype=bool))
    pw, _, _ = _timed(lambda: peer_scene.intersects_first(fo.astype(np.float64), fd.astype(np.float64)), repeat)
    w, c, th = _timed(lambda: face_thickness_mm(v, f, scene), repeat)
    _row("face_thickness_mm", w, c, pw, f"min {np.min(th):.4f} mm; peer: same rays")

    w, c, res = _timed(lambda: face_pairs(v, f), repeat)
    _row("face_pairs (grid, all faces)", w, c, note=f"{len(res.crossing)} crossings, {len(res.contacts)} contacts (exact pairwise)")
    rng = np.random.default_rng(0)
    for share in (0.001, 0.01):
        ids = rng.choice(len(f), max(int(share * len(f)), 1), replace=False)
        # a repair step's faces are local: take a patch, the faces nearest a random one
        centre = v[f[ids[0]]].mean(axis=0)
        dist = np.linalg.norm(v[f[:, 0]] - centre, axis=1)
        patch = np.argpartition(dist, len(ids))[: len(ids)]
        w, c, (a, _) = _timed(lambda p=patch: crossing_pairs(v, f, only=p), repeat)
        _row(f"crossing_pairs only= {len(patch)} faces", w, c, note="a local patch, grid search")
        w, c, (a, _) = _timed(lambda p=ids: crossing_pairs(v, f, only=p), repeat)
        _row(f"crossing_pairs only= {len(ids)} faces", w, c, note="scattered over the mesh, grid search")


def cold() -> None:
    """First calls with an empty numba cache, each query in one fresh process."""
    code = (
        "import time, numpy as np; t0 = time.perf_counter();"
        "from printprep.mesh.load import load_mesh;"
        "from printprep.mesh.intersect import crossing_pairs; from printprep.mesh.coplanar import coplanar_contacts;"
        "from printprep.mesh.thickness import face_thickness_mm;"
        "from printprep.mesh.raycast import RayScene;"
        f"m = load_mesh({str(BAND)!r}); v, f = m.vertices, m.faces; t1 = time.perf_counter();"
        "s = RayScene(v, f); crossing_pairs(v, f, None, s); t2 = time.perf_counter();"
        "coplanar_contacts(v, f); t3 = time.perf_counter(); face_thickness_mm(v, f, s); t4 = time.perf_counter();"
        "crossing_pairs(v, f, only=np.arange(100)); t5 = time.perf_counter();"
        "print(f'cold (336k band, empty cache): import+load {t1-t0:.2f} s, crossing_pairs {t2-t1:.2f} s, '"
        "f'coplanar_contacts {t3-t2:.2f} s, face_thickness_mm {t4-t3:.2f} s, only= grid {t5-t4:.2f} s')"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh", type=Path, help="mesh file (default: the 336k band subdivided to 1.35M)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cold", action="store_true", help="also time first calls with an empty numba cache")
    args = ap.parse_args()
    if args.mesh:
        from printprep.mesh.load import load_mesh

        loaded = load_mesh(args.mesh)
        v, f = loaded.vertices, loaded.faces
    else:
        v, f = _band_1m()
    run(v, f, args.repeat)
    if args.cold:
        cold()
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
