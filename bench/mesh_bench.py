"""Speed and memory of ``printprep check`` and ``printprep repair`` beside admesh.

Inputs: ../shared/meshes/bench/pave_band_336k.stl, its "1m" and "4m" subdivisions (each
triangle split in four at its edge midpoints: same shape, same volume; 1.35M and 5.4M
triangles) and a damaged copy of the 1m mesh (holes + 1 % flipped faces). Each command
runs as its own process under /usr/bin/time, so the figures are whole-process wall time,
CPU time and peak resident memory, for printprep and for admesh on the same file side by
side, with the ratios, our exit code and the load average when the row finished (the
figures mean little on a busy machine without it).

Beside each whole-process row, the same work runs once more in a child process that times
its own phases: "start+imp s" (interpreter start-up and importing printprep's mesh modules
with numba, measured from the process's creation), and "work s",
the in-process time of load + check/repair + write with interpreter start and imports
excluded (split as load/op/write in the last column, with the part of op spent inside the
ray engine, RayScene builds and queries, in brackets). Both figures are printed; a target
met only in-process is not met whole-process.

Compiled kernels (numba) are cached in __pycache__: every figure is with a warm cache (a
warm-up run on the 336k band precedes the rows). ``--cold`` adds one row timed with an
empty cache (NUMBA_CACHE_DIR in a fresh folder), the first run after installing.

Targets (issue 2): check of 1M triangles within 2x admesh; repair of the damaged 1M mesh
under 3 s; peak memory under 1.5 GB at 1M, growing linearly.

``--repeat N`` runs each whole-process command (ours and admesh's, taking turns) N times
and prints the fastest run of each: the machine's speed drifts over minutes, and the
fastest of a few runs is the figure least touched by it (every run's wall time is listed
under the row).

    .venv/bin/python bench/mesh_bench.py [--sizes 336k,1m,4m] [--ops check,repair,repair-nothick] [--keep DIR] [--cold] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PRINTPREP_SHARED", REPO.parent / "shared"))
BAND = SHARED / "meshes" / "bench" / "pave_band_336k.stl"
sys.path.insert(0, str(REPO))


def subdivide(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split every triangle into four at its edge midpoints (shared midpoints welded)."""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    uniq, inverse = np.unique(edges, axis=0, return_inverse=True)
    mid = len(vertices) + inverse.reshape(-1, 3)
    v = np.concatenate([vertices, vertices[uniq].mean(axis=1)])
    a, b, c = faces.T
    ab, bc, ca = mid.T
    f = np.concatenate([np.stack(x, 1) for x in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return v, f


def damage(vertices: np.ndarray, faces: np.ndarray, seed: int = 1) -> np.ndarray:
    """Punch 40 holes (each grown four rings of neighbours around a random face, about
    50-100 faces) and flip 1 % of the remaining faces."""
    from scipy.sparse import coo_matrix

    from printprep.mesh.topology import edge_info

    rng = np.random.default_rng(seed)
    m = len(faces)
    a, b = edge_info(faces, len(vertices)).manifold_pairs()
    adj = coo_matrix((np.ones(2 * len(a)), (np.r_[a // 3, b // 3], np.r_[b // 3, a // 3])), shape=(m, m)).tocsr()
    gone = np.zeros(m, dtype=bool)
    gone[rng.integers(m, size=40)] = True
    for _ in range(4):  # four rings around every seed at once
        gone |= (adj @ gone.astype(np.float64)) > 0
    out = faces[~gone].copy()
    flip = rng.random(len(out)) < 0.01
    out[flip] = out[flip][:, ::-1]
    return out


def timed(cmd: list[str]) -> tuple[float, float, float, int]:
    """Run ``cmd``; returns (wall s, CPU s (user + system, all threads), peak RSS MB,
    exit code). CPU time is the fairer figure on a shared, busy machine."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if Path(gnu_time).exists():
        with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
            t0 = time.perf_counter()
            res = subprocess.run([gnu_time, "-f", "%e %U %S %M", "-o", tf.name, *cmd], capture_output=True)
            wall = time.perf_counter() - t0
            fields = Path(tf.name).read_text().split()[-4:]
            return wall, float(fields[1]) + float(fields[2]), int(fields[3]) / 1024.0, res.returncode
    import psutil  # fallback: poll the process

    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.01)
    return time.perf_counter() - t0, float("nan"), peak / 2**20, proc.returncode


def child(op: str, src: str, out: str) -> int:
    """Time the phases of one command in this process; prints one JSON line (seconds)."""
    import psutil

    from printprep.mesh import check_mesh, load_mesh, raycast, repair_mesh, save_mesh

    # from the process's start: interpreter start-up and every import
    started_s = time.time() - psutil.Process().create_time()
    ray_s = [0.0, 0]  # time inside the ray engine (scene builds and queries), call depth

    def timed_method(name: str) -> None:
        method = getattr(raycast.RayScene, name)

        def run(*a, **k):
            t = time.perf_counter()
            ray_s[1] += 1
            try:
                return method(*a, **k)
            finally:
                ray_s[1] -= 1
                if ray_s[1] == 0:  # the outermost call only (queries call each other)
                    ray_s[0] += time.perf_counter() - t

        setattr(raycast.RayScene, name, run)

    for name in ("__init__", "first_hit", "first_hit_faces", "first_hit_exact"):
        if hasattr(raycast.RayScene, name):
            timed_method(name)
    t1 = time.perf_counter()
    loaded = load_mesh(src, units="mm")
    t2 = time.perf_counter()
    if op == "check":
        check_mesh(loaded).to_dict()
        t3 = t4 = time.perf_counter()
    else:
        result = repair_mesh(loaded, thickness=op != "repair-nothick")
        result.to_dict()
        t3 = time.perf_counter()
        save_mesh(result, out)
        t4 = time.perf_counter()
    print(json.dumps({"import_s": started_s, "load_s": t2 - t1, "op_s": t3 - t2, "write_s": t4 - t3, "ray_s": ray_s[0]}))
    return 0


def in_process(op: str, src: Path, out: Path, env: dict | None = None) -> dict:
    """Run :func:`child` in a fresh process; returns its phase times (s)."""
    res = subprocess.run(
        [sys.executable, __file__, "--child", op, str(src), str(out)], capture_output=True, text=True, env=env,
    )
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode or not lines:
        raise SystemExit(f"child run failed: {res.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        return child(*sys.argv[2:5])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="336k,1m,4m")
    ap.add_argument("--ops", default="check,repair,repair-nothick",
                    help="commands to time: check, repair, and repair-nothick (repair --no-thickness)")
    ap.add_argument("--keep", type=Path, help="keep the generated meshes in this folder")
    ap.add_argument("--cold", action="store_true", help="also time one repair with an empty numba cache")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run each whole-process command N times (ours and admesh's taking turns); print the fastest")
    args = ap.parse_args()
    admesh = shutil.which("admesh")
    work = args.keep or Path(tempfile.mkdtemp(prefix="mesh_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    from printprep.mesh import load_mesh
    from printprep.mesh.io_stl import write_stl_binary

    base = load_mesh(BAND, units="mm")
    v, f = base.vertices, base.faces
    files: list[tuple[str, Path]] = []
    sizes = args.sizes.split(",")
    if "336k" in sizes:
        files.append(("336k", BAND))
    v1, f1 = subdivide(v, f)
    if "1m" in sizes:
        p = work / "band_1m.stl"
        write_stl_binary(p, v1, f1)
        files.append(("1m", p))
        p = work / "band_1m_damaged.stl"
        write_stl_binary(p, v1, damage(v1, f1))
        files.append(("1m damaged", p))
    if "4m" in sizes:
        v4, f4 = subdivide(v1, f1)
        p = work / "band_4m.stl"
        write_stl_binary(p, v4, f4)
        files.append(("4m", p))
        del v4, f4
    printprep = [sys.executable, "-m", "printprep"]
    ops = args.ops.split(",")
    in_process("repair", BAND, work / "warmup.stl")  # compiles (or loads) every kernel
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; numba cache warm")
    print(f"{'file':<12}{'triangles':>10}  {'op':<15}{'wall s':>8}{'cpu s':>8}{'MB':>7}"
          f"{'admesh wall':>12}{'cpu s':>7}{'MB':>6}{'wall ratio':>11}{'cpu ratio':>10}  exit  load"
          f"{'start+imp s':>12}{'work s':>8}  load/op/write s  (op: ray engine s)")
    for label, path in files:
        n_tri = (path.stat().st_size - 84) // 50
        out = work / f"out_{label.replace(' ', '_')}.stl"
        peer_check = [admesh, str(path)] if admesh else None
        peer_repair = [admesh, str(path), "-b", str(work / "admesh_out.stl")] if admesh else None
        repair = [*printprep, "repair", str(path), "-o", str(out), "--json", "--units", "mm"]
        commands = {
            "check": ([*printprep, "check", str(path), "--json", "--units", "mm"], peer_check),
            "repair": (repair, peer_repair),
            "repair-nothick": ([*repair, "--no-thickness"], peer_repair),
        }
        for op in ops:
            ours, peer = commands[op]
            runs, peer_runs = [], []
            for _ in range(max(args.repeat, 1)):
                runs.append(timed(ours))
                if peer:
                    peer_runs.append(timed(peer))
            wall, cpu, mb, code = min(runs)
            head = f"{label:<12}{n_tri:>10}  {op:<15}{wall:>8.2f}{cpu:>8.2f}{mb:>7.0f}"
            if peer:
                pwall, pcpu, pmb, _ = min(peer_runs)
                head += (f"{pwall:>12.2f}{pcpu:>7.2f}{pmb:>6.0f}{wall / pwall:>11.1f}{cpu / max(pcpu, 1e-3):>10.1f}"
                         f"  {code:>4}  {os.getloadavg()[0]:.1f}")
            else:
                head += f"{'n/a':>12}{'':>34}  {code:>4}  {os.getloadavg()[0]:.1f}"
            t = in_process(op, path, out)
            work_s = t["load_s"] + t["op_s"] + t["write_s"]
            print(f"{head}{t['import_s']:>12.2f}{work_s:>8.2f}  {t['load_s']:.2f}/{t['op_s']:.2f}/{t['write_s']:.2f}"
                  f"  ({t['ray_s']:.2f})")
            if len(runs) > 1:
                print(f"{'':<12}every run, wall s: ours {' '.join(f'{r[0]:.2f}' for r in runs)}"
                      + (f"; admesh {' '.join(f'{r[0]:.2f}' for r in peer_runs)}" if peer_runs else ""))
            sys.stdout.flush()
    if args.cold and files:
        label, path = files[-1] if len(files) == 1 else files[min(1, len(files) - 1)]
        with tempfile.TemporaryDirectory(prefix="numba_cold_") as cache:
            t = in_process("repair", path, work / "cold.stl", env={**os.environ, "NUMBA_CACHE_DIR": cache})
        work_s = t["load_s"] + t["op_s"] + t["write_s"]
        print(f"cold numba cache, repair {label}: start+imports {t['import_s']:.2f} s, work {work_s:.2f} s "
              f"(load/op/write {t['load_s']:.2f}/{t['op_s']:.2f}/{t['write_s']:.2f}; compiling included)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
