"""Slicing speed and memory: printprep against PrusaSlicer's own --export-sla.

Slices ../shared/meshes/bench/pave_band_336k.stl and a subdivided copy of it (each
triangle split in four: 1,345,536 triangles) for the phrozen-sonic-4k profile at 25 µm
layers, then runs ``prusa-slicer --export-sla`` with the same display settings (the
prusaslicer.ini printprep writes, supports and pad off, part centred), each in its own
process. Prints wall times, the ratio and each process's peak memory (ru_maxrss), then
times one 16K frame stack (elegoo-saturn-4-ultra-16k).

    .venv/bin/python bench/slice_bench.py [--skip-16k] [--peer-16k]
    .venv/bin/python bench/slice_bench.py --stages   # in-process stage figures only

``--stages`` times the three layer stages of the 1.35M copy at the phrozen-sonic-4k
display and its 50 um layers (the prepared prints' layers), each against the way it was
done before, in one process, side by side: cutting (manifold3d's ``slice`` per layer vs
the compiled cut), rasterizing (the numpy rasterizer vs the compiled one, the same
bits) and PNG encoding (zlib over the lit rows vs deflating straight from the runs);
the machine's load average is printed beside every figure.

Our run is timed twice: "core" (layers + archive, as PrusaSlicer's CLI does: no layer
checks, no thumbnails) and "full" (the default: also layer checks and thumbnails).
Wall times include starting the program and loading the STL in both (printprep loads
with ``printprep.mesh.load_mesh``, as ``printprep slice`` does).
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

REPO = Path(__file__).resolve().parent.parent
MESHES = Path(os.environ.get("PRINTPREP_SHARED", REPO.parent / "shared")) / "meshes"
BENCH_MESH = MESHES / "bench" / "pave_band_336k.stl"
LAYER_MM = 0.025


def run_measured(cmd: list[str]) -> tuple[float, float, str]:
    """Run cmd; return (wall s, peak RSS MB of that process, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024.0, out


def child(args: argparse.Namespace) -> None:
    """In a fresh process: load the STL (printprep's loader, as the CLI does) and slice
    it; print timings as JSON."""
    from printprep.mesh import load_mesh
    from printprep.slicing import slice_to_archive

    t0 = time.perf_counter()
    mesh = load_mesh(args.mesh).mesh
    t1 = time.perf_counter()
    full = args.mode == "full"
    res = slice_to_archive(
        [mesh], args.profile, args.out, layer_height_mm=LAYER_MM, check=full, thumbnails=full
    )
    t2 = time.perf_counter()
    print(
        json.dumps(
            {
                "load_s": t1 - t0,
                "slice_s": t2 - t1,
                "layers": res.layer_count,
                "faces": len(mesh.faces),
            }
        )
    )


def stages() -> None:
    """In-process stage figures (see the module docstring): ours and the peer per stage."""
    import numpy as np
    import trimesh

    from printprep.casting.solids import to_manifold
    from printprep.profiles import load_profile
    from printprep.slicing.cut import cut_layers, mesh_arrays
    from printprep.slicing.layers import layer_heights
    from printprep.slicing.meshcheck import RingRaster
    from printprep.slicing.png import encode_band, encode_runs
    from printprep.slicing.raster import DisplayTransform, rasterize_runs_numpy

    band = trimesh.load(BENCH_MESH)
    v, f = trimesh.remesh.subdivide(band.vertices, band.faces)
    solid = to_manifold(trimesh.Trimesh(v, f, process=False))
    prof = load_profile("phrozen-sonic-4k")
    lo, hi = np.asarray(solid.bounding_box(), float).reshape(2, 3)
    zs = layer_heights(hi[2] - lo[2], prof.layer_height_mm) + lo[2]
    tr = DisplayTransform.for_profile(prof)
    raster = RingRaster(tr, np.array([prof.display_mm[0] / 2, prof.display_mm[1] / 2, -lo[2]]))
    cut_layers(solid, zs[:2])  # load the cached kernels before timing
    raster.runs(solid.slice(float(zs[len(zs) // 2])).to_polygons())
    print(f"\n== stages: {solid.num_tri()} triangles, {len(zs)} layers of {prof.layer_height_mm} mm, "
          f"{tr.image_px[0]}x{tr.image_px[1]} px")  # fmt: skip

    def timed(fn):
        t = time.perf_counter()
        out = fn()
        return time.perf_counter() - t, out

    def line(stage: str, ours: float, peer: float, peer_name: str) -> None:
        print(f"{stage:10} printprep {ours:6.3f} s | {peer_name} {peer:6.3f} s | ratio {ours / peer:.2f} "
              f"| load {os.getloadavg()[0]:.1f}")  # fmt: skip

    t_peer, rings_m = timed(lambda: [solid.slice(float(z)).to_polygons() for z in zs])
    t_ours, rings = timed(lambda: cut_layers(solid, zs, arrays=mesh_arrays(solid)))
    line("cut", t_ours, t_peer, "manifold3d slice")
    t_peer, _ = timed(lambda: [rasterize_runs_numpy(raster.rings_px(r), tr.image_px) for r in rings])
    t_ours, runs = timed(lambda: [raster.runs(r) for r in rings])
    line("raster", t_ours, t_peer, "numpy raster")
    dense = [r.band() for r in runs]
    t_peer, a = timed(lambda: [encode_band(tr.image_px, b.row0, b.col0, b.pixels) for b in dense])
    t_ours, b = timed(lambda: [encode_runs(tr.image_px, r.row0, r.col0, r.shape, r.grey, r.lengths) for r in runs])
    line("png", t_ours, t_peer, "zlib rows")
    print(f"png size: {sum(map(len, b)) / len(b) / 1024:.1f} kB a layer (zlib rows {sum(map(len, a)) / len(a) / 1024:.1f} kB)")
    del rings_m


def make_big(out: Path) -> None:
    """The 1M-class mesh: every triangle of the pave band split in four."""
    import trimesh

    band = trimesh.load(BENCH_MESH)
    v, f = trimesh.remesh.subdivide(band.vertices, band.faces)
    trimesh.Trimesh(v, f, process=False).export(out)


def prusa_ini(profile: str, path: Path) -> None:
    from printprep.profiles import load_material, load_profile
    from printprep.slicing.formats.sl1 import ini_text, prusaslicer_ini

    prof = load_profile(profile)
    mat = load_material(prof.default_material)
    path.write_text(
        ini_text(prusaslicer_ini(prof, mat, LAYER_MM, prof.exposure_s, prof.bottom_exposure_s))
    )


def bench_one(label: str, stl: Path, profile: str, tmp: Path, peer: bool) -> None:
    from printprep.profiles import load_profile  # light: tomllib + dataclasses

    prof = load_profile(profile)
    print(
        f"\n== {label}: {profile} ({prof.display_px[0]}x{prof.display_px[1]} px), {LAYER_MM * 1000:g} um layers"
    )
    me = [sys.executable, __file__, "--child", "--mesh", str(stl), "--profile", profile]
    results = {}
    for mode in ("core", "full"):
        out = tmp / f"ours-{mode}.sl1"
        wall, rss, text = run_measured([*me, "--mode", mode, "--out", str(out)])
        info = json.loads(text.strip().splitlines()[-1])
        results[mode] = wall
        size_mb = out.stat().st_size / 2**20
        print(f"printprep {mode:4}: {wall:6.2f} s wall (load {info['load_s']:.2f} s, slice {info['slice_s']:.2f} s), "
              f"{info['layers']} layers, {info['faces']} triangles, peak {rss:.0f} MB, archive {size_mb:.1f} MB")  # fmt: skip
    if not peer:
        return
    exe = shutil.which("prusa-slicer")
    if exe is None:
        print("prusa-slicer not installed: no peer figures")
        return
    ini = tmp / f"{profile}.ini"
    subprocess.run(
        [sys.executable, __file__, "--make-ini", "--profile", profile, "--out", str(ini)],
        check=True,
    )
    w, h = prof.display_mm
    out = tmp / "prusa.sl1"
    cmd = [exe, "--export-sla", "--load", str(ini), "--no-supports-enable", "--no-pad-enable",
           "--center", f"{w / 2},{h / 2}", "-o", str(out), str(stl)]  # fmt: skip
    wall, rss, _ = run_measured(cmd)
    print(
        f"prusa-slicer  : {wall:6.2f} s wall, peak {rss:.0f} MB, archive {out.stat().st_size / 2**20:.1f} MB"
    )
    for mode in ("core", "full"):
        print(f"ratio printprep {mode} / prusa-slicer = {results[mode] / wall:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mesh", help=argparse.SUPPRESS)
    ap.add_argument("--profile", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--make-big", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--make-ini", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--skip-16k", action="store_true", help="skip the 16K frame stack")
    ap.add_argument(
        "--peer-16k", action="store_true", help="also run prusa-slicer on the 16K stack (slow)"
    )
    ap.add_argument("--only-16k", action="store_true", help="run only the 16K frame stack")
    ap.add_argument("--skip-336k", action="store_true", help="skip the 336k-triangle mesh at 4K")
    ap.add_argument("--stages", action="store_true", help="only the in-process stage figures")
    args = ap.parse_args()
    if args.stages:
        stages()
        return
    if args.child:
        child(args)
        return
    if args.make_big:
        make_big(Path(args.out))
        return
    if args.make_ini:
        prusa_ini(args.profile, Path(args.out))
        return
    # this process stays lean (no numpy/trimesh): a child's peak RSS (ru_maxrss) starts
    # from its parent's at fork time, so a heavy parent would inflate every figure
    print(
        f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="slice-bench-") as tmpname:
        tmp = Path(tmpname)
        if not args.only_16k:
            big = tmp / "pave_band_1m.stl"
            subprocess.run([sys.executable, __file__, "--make-big", "--out", str(big)], check=True)
            if not args.skip_336k:
                bench_one("pave_band_336k", BENCH_MESH, "phrozen-sonic-4k", tmp, peer=True)
            bench_one(
                "pave_band subdivided (1,345,536 triangles)",
                big,
                "phrozen-sonic-4k",
                tmp,
                peer=True,
            )
        if not args.skip_16k:
            bench_one(
                "pave_band_336k, 16K frames",
                BENCH_MESH,
                "elegoo-saturn-4-ultra-16k",
                tmp,
                peer=args.peer_16k,
            )


if __name__ == "__main__":
    main()
