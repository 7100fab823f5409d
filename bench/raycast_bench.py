"""Speed and memory of the ray engine: Embree 4 called directly (printprep.mesh.embree)
beside embreex (the engine it replaces, same Embree library) on the 1.35M-triangle band.

Input: ../shared/meshes/bench/pave_band_336k.stl with each triangle split in four (as
bench/mesh_bench.py makes it), or any mesh given with --mesh (e.g. the damaged band that
``mesh_bench.py --keep DIR`` leaves). Each engine runs in its own child process (so the
peak memory is its own), the engines taking turns for --rounds rounds; a row is the best
of the rounds, wall and CPU seconds (CPU: every thread of the process, Embree's
and ours; on a busy machine the fairer figure):

- scene build: a fresh BVH of the mesh (the kept-scene cache cleared first);
- face rays: one inward ray per face, as the wall-thickness search casts (face ids only);
- edge rays: one ray along each edge, as the self-intersection search casts;
- thickness: :func:`face_thickness_mm` in full, and with ``exact_below_mm=0.6`` (capped);
- packets (ours only): the face rays traced 16 at a time by ``rtcIntersect16``;
- Morton order (ours only): the face rays traced in the Morton order of their origins
  (``coherent=True``, as the thickness search traces them; the thickness rows above use it);
- background build (ours only): the build started on its own thread while this thread
  works (a fixed numpy job of about the build's length, as repair's hole filling), then
  the first face ray: wall of the whole, against the same job and a build in turn;
- extended scene (ours only): the face rays on a scene built over 99 % of the faces and
  extended by the last 1 % (as repair extends its scene by the hole patches).

The load average (1 min) is printed beside the figures: on a busy machine they mean
little without it.

    .venv/bin/python bench/raycast_bench.py [--mesh FILE] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

ENGINES = ("embree", "embreex")


def _best(fn, repeat: int = 2) -> tuple[tuple[float, float], object]:
    """Best (wall, CPU) seconds of ``repeat`` calls and the last result (CPU: all
    threads of the process, the fairer figure on a busy machine)."""
    wall, cpu, out = np.inf, np.inf, None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return (wall, cpu), out


def child(engine: str, arrays: str) -> None:
    """Time one engine on the mesh saved in ``arrays`` (.npz); print one JSON line."""
    from printprep.mesh import ray_kernels, raycast
    from printprep.mesh.raycast import RayScene
    from printprep.mesh.thickness import face_thickness_mm
    from printprep.mesh.topology import edge_info

    data = np.load(arrays)
    v, f = data["v"], data["f"]
    fo, fd, _, _, _ = ray_kernels.face_rays(v, f, np.zeros(0, dtype=bool))
    ev = np.ascontiguousarray(edge_info(f, len(v)).edge_vertices, dtype=np.int64)
    eo, ed, et, _ = ray_kernels.edge_rays(v, ev)
    RayScene(v[:3], np.array([[0, 1, 2]]), engine=engine).first_hit_faces(fo[:10], fd[:10])  # load and compile

    def build() -> RayScene:
        raycast.clear_scene_cache()
        return RayScene(v, f, engine=engine)

    out = {"engine": engine, "faces": len(f), "edges": len(ev)}
    out["build_s"], scene = _best(build)
    out["face_rays_s"], hit = _best(lambda: scene.first_hit_faces(fo, fd))
    out["edge_rays_s"], _ = _best(lambda: scene.first_hit_faces(eo, ed, et))
    out["thickness_s"], th = _best(lambda: face_thickness_mm(v, f, scene))
    out["thickness_capped_s"], th_cap = _best(lambda: face_thickness_mm(v, f, scene, exact_below_mm=0.6))
    below = th < 0.6
    out["capped_same"] = bool(np.array_equal(th_cap[below], th[below]))
    if engine == "embree":
        out["packets_s"], hit16 = _best(lambda: scene._scene.intersect(fo, fd, distances=False, packets=True)[0])
        out["packets_same"] = bool(np.array_equal(hit, hit16))
        out["coherent_s"], hit_m = _best(lambda: scene.first_hit_faces(fo, fd, coherent=True))
        out["coherent_same"] = bool(np.array_equal(hit, hit_m))
        rng = np.random.default_rng(0)
        work = rng.random(2_000_000)

        def job() -> None:  # serial numpy work of about a build's length (~0.4 s)
            for _ in range(12):
                np.sort(work)

        def in_turn() -> None:
            raycast.clear_scene_cache()
            RayScene(v, f, engine=engine).first_hit_faces(fo[:1], fd[:1])
            job()

        def beside() -> None:
            s = RayScene(v, f, engine=engine, background=True)
            job()
            s.first_hit_faces(fo[:1], fd[:1])

        out["job_s"], _ = _best(job)
        out["build_in_turn_s"], _ = _best(in_turn)
        out["build_beside_s"], _ = _best(beside)
        n_base = len(f) - len(f) // 100
        base = RayScene(v, f[:n_base], engine=engine)
        out["extended_s"], hit_x = _best(lambda: base.extended(v, f, n_base).first_hit_faces(fo, fd))
        out["extended_same_faces"] = int(np.count_nonzero(hit_x == hit))
    out["hits_crc"] = int(np.bitwise_xor.reduce(hit * 2654435761 % 2**31))
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out), flush=True)


def _mesh(path: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    from printprep.mesh.load import load_mesh

    if path:
        loaded = load_mesh(path)
        return np.asarray(loaded.vertices, np.float64), np.asarray(loaded.faces, np.int64), Path(path).name
    from mesh_bench import BAND, subdivide

    loaded = load_mesh(BAND)
    v, f = subdivide(np.asarray(loaded.vertices, np.float64), np.asarray(loaded.faces, np.int64))
    return v, f, "pave_band_336k subdivided"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mesh", help="a mesh file instead of the subdivided band")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    v, f, name = _mesh(args.mesh)
    results: dict[str, list[dict]] = {e: [] for e in ENGINES}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        arrays = str(Path(tmp) / "mesh.npz")
        np.savez(arrays, v=v, f=f)
        for _ in range(args.rounds):
            for engine in ENGINES:
                loads.append(os.getloadavg()[0])
                run = subprocess.run([sys.executable, __file__, "--child", engine, arrays],
                                     capture_output=True, text=True, check=False)
                if run.returncode != 0:
                    print(f"{engine}: failed\n{run.stderr}", file=sys.stderr)
                    return 1
                results[engine].append(json.loads(run.stdout.strip().splitlines()[-1]))
    print(f"{name}: {len(f)} triangles; load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs; "
          f"best of {args.rounds} rounds, engines taking turns")
    rows = [("scene build", "build_s"), ("face rays (1 per face)", "face_rays_s"), ("edge rays (1 per edge)", "edge_rays_s"),
            ("thickness, full", "thickness_s"), ("thickness, exact_below 0.6", "thickness_capped_s"),
            ("face rays in packets of 16", "packets_s"), ("face rays in Morton order", "coherent_s"),
            ("numpy job alone", "job_s"), ("build, then the job", "build_in_turn_s"),
            ("build beside the job", "build_beside_s"), ("face rays, extended scene", "extended_s")]
    print(f"{'':<30}{'ours wall / CPU s':>19}{'embreex wall / CPU s':>22}{'ratio wall / CPU':>18}")

    def best(engine: str, key: str) -> tuple[float, float] | None:
        got = [r[key] for r in results[engine] if key in r]
        return (min(g[0] for g in got), min(g[1] for g in got)) if got else None

    def total(engine: str) -> tuple[float, float]:
        parts = [best(engine, k) for k in ("build_s", "face_rays_s", "edge_rays_s")]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    for label, key in [*rows, ("build + face + edge rays", None)]:
        ours = best("embree", key) if key else total("embree")
        peer = best("embreex", key) if key else total("embreex")
        if ours is None:
            continue
        text = f"{label:<30}{ours[0]:10.3f} / {ours[1]:5.3f}"
        if peer:
            text += f"{peer[0]:13.3f} / {peer[1]:5.3f}{peer[0] / ours[0]:9.2f}x / {peer[1] / ours[1]:.2f}x"
        print(text)
    print(f"{'peak memory of the process MB':<30}{max(r['peak_mb'] for r in results['embree']):9.0f}"
          f"{max(r['peak_mb'] for r in results['embreex']):11.0f}")
    same = len({r["hits_crc"] for rs in results.values() for r in rs}) == 1
    print(f"same face hits in both engines: {same}; capped thickness same below 0.6 mm: "
          f"{all(r['capped_same'] for rs in results.values() for r in rs)}; packets same: "
          f"{all(r['packets_same'] for r in results['embree'])}; Morton order same: "
          f"{all(r['coherent_same'] for r in results['embree'])}; extended scene: "
          f"{min(r['extended_same_faces'] for r in results['embree'])} of {results['embree'][0]['faces']} face rays "
          "hit the same face (the rest: ties at shared edges)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
