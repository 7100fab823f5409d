"""Casting preparation: speed, memory, and supports against PrusaSlicer's own.

    .venv/bin/python bench/prepare_bench.py speed     # pave band 336k and a 1.35M copy
    .venv/bin/python bench/prepare_bench.py compare   # test jewelry vs prusa-slicer supports
    .venv/bin/python bench/prepare_bench.py           # both

speed: wall time per stage of prepare() (analyse, sprues, orient, supports incl. the
layer-check rounds) and of write_prepared() (STLs, slicing, preview), peak memory (max
RSS of a fresh process per mesh); the peer is ``prusa-slicer --export-sla
--supports-enable`` on the same mesh and display, run side by side, with the ratio.

compare: every piece of the Proof (rings, pendants, bracelet, necklace) is prepared by
printprep; the same oriented casting mesh (part + sprues) goes to prusa-slicer with its
default SLA supports and pad. Both archives get the same layer check
(printprep.slicing.check_layers): unsupported islands, overhang reach (mm² of pixels
farther than 3 mm from the layer below), and the support volume (resin used minus the
casting). Tips on detail: printprep counts its own tips on detail faces; PrusaSlicer's
tip positions are not exported by its CLI, so for it the column counts detail faces
(printprep's analysis) facing down within 45° of vertical — where its generator puts
points — as an upper bound.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh

REPO = Path(__file__).resolve().parent.parent
MESHES = REPO.parent / "shared" / "meshes"
PROFILE = "phrozen-sonic-4k"
PROOF = [
    "solitaire_ring", "pixelverse_ring", "jmarsik_twisted_ring", "jjg_pendant",
    "jjg_pendant2", "franout_bracelet_fused", "diara628_necklace",
]  # fmt: skip


def _maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def one(path: str, out_dir: str) -> None:
    """Child process: prepare + write one mesh, print JSON figures."""
    from printprep.casting import prepare, write_prepared

    t0 = time.perf_counter()
    mesh = trimesh.load(path)
    t_load = time.perf_counter() - t0
    t = time.perf_counter()
    prepared = prepare(mesh, PROFILE)
    t_prep = time.perf_counter() - t
    t = time.perf_counter()
    write_prepared(prepared, out_dir, Path(path).stem, PROFILE)
    t_write = time.perf_counter() - t
    layers = prepared.report["slice"].get("layers", {})
    print(json.dumps({
        "faces": len(mesh.faces), "load_s": t_load, "prepare_s": t_prep, "write_s": t_write,
        "stages_s": prepared.report["timings_s"], "peak_mb": _maxrss_mb(),
        "islands": len(layers.get("islands", [])), "supports": prepared.report["supports"]["count"],
    }))  # fmt: skip


def prusa_sla(stl: Path, out: Path) -> tuple[float, float, Path]:
    """prusa-slicer --export-sla --supports-enable on ``stl`` for the bench profile.

    returns wall seconds, peak MB of the child, archive path."""
    from printprep.profiles import load_material, load_profile
    from printprep.slicing.formats.sl1 import ini_text, prusaslicer_ini

    prof = load_profile(PROFILE)
    mat = load_material(prof.default_material)
    ini = out.with_suffix(".ini")
    ini.write_text(ini_text(prusaslicer_ini(prof, mat, prof.layer_height_mm, prof.exposure_s, prof.bottom_exposure_s)))
    w, h = prof.display_mm
    code = (
        "import resource,subprocess,sys,time;t=time.perf_counter();"
        "subprocess.run(sys.argv[1:],check=True,capture_output=True,timeout=1800);"
        "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024)"
    )
    cmd = ["prusa-slicer", "--export-sla", "--load", str(ini), "--supports-enable", "--pad-enable",
           "--center", f"{w / 2},{h / 2}", "-o", str(out), str(stl)]  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True)
    wall, peak = (float(v) for v in res.stdout.split())
    return wall, peak, out


def speed() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        band = MESHES / "bench" / "pave_band_336k.stl"
        big = tmp / "pave_band_1m.stl"
        m = trimesh.load(band)
        v, f = trimesh.remesh.subdivide(m.vertices, m.faces)
        trimesh.Trimesh(v, f, process=False).export(big)
        print(f"{'mesh':22s} {'faces':>9s} {'analyse':>8s} {'sprues':>7s} {'orient':>7s} {'supports':>8s} "
              f"{'prepare':>8s} {'write':>7s} {'total':>7s} {'peak MB':>8s} | {'prusa s':>8s} {'prusa MB':>8s} {'ratio':>6s}")  # fmt: skip
        for path in (band, big):
            out = tmp / path.stem
            res = subprocess.run([sys.executable, __file__, "one", str(path), str(out)],
                                 capture_output=True, text=True, cwd=REPO)  # fmt: skip
            if res.returncode != 0:
                print(f"{path.name}: failed\n{res.stderr[-2000:]}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            st = r["stages_s"]
            total = r["load_s"] + r["prepare_s"] + r["write_s"]
            try:
                pw, pm, _ = prusa_sla(path, tmp / f"{path.stem}.prusa.sl1")
            except (subprocess.CalledProcessError, FileNotFoundError) as exc:
                pw, pm = float("nan"), float("nan")
                print(f"prusa-slicer failed: {exc}")
            print(f"{path.name:22s} {r['faces']:9d} {st['analyse']:8.2f} {st['sprues']:7.2f} {st['orient']:7.2f} "
                  f"{st['supports']:8.2f} {r['prepare_s']:8.2f} {r['write_s']:7.2f} {total:7.2f} {r['peak_mb']:8.0f} | "
                  f"{pw:8.2f} {pm:8.0f} {total / pw:6.2f}", flush=True)  # fmt: skip


def compare() -> None:
    from printprep.casting import prepare, write_prepared
    from printprep.slicing import check_layers, read_archive

    print(f"{'piece':24s} {'islands':>8s} {'ps isl':>7s} {'reach mm2':>9s} {'ps reach':>9s} "
          f"{'tips':>5s} {'on det':>6s} {'ps det<=':>8s} {'sup mm3':>8s} {'ps sup mm3':>10s} {'s':>6s} {'ps s':>6s}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in PROOF:
            mesh = trimesh.load(MESHES / "jewelry" / f"{name}.stl")
            t = time.perf_counter()
            p = prepare(mesh, PROFILE)
            write_prepared(p, tmp, name, PROFILE)
            ours_s = time.perf_counter() - t
            lay = p.report["slice"]["layers"]
            ours_sup = p.report["support_volume_mm3"]
            # the same oriented casting (part + sprues), standing on the plate
            cast = p.casting_mesh.copy()
            cast.apply_translation([0, 0, -cast.bounds[0, 2]])
            stl = tmp / f"{name}.oriented.stl"
            cast.export(stl)
            try:
                ps_s, _, ps_path = prusa_sla(stl, tmp / f"{name}.prusa.sl1")
                rep = check_layers(ps_path)
                with read_archive(ps_path) as a:
                    used_ml = float(a.meta.get("usedMaterial", "nan")) if hasattr(a, "meta") else float("nan")
                ps_sup = used_ml * 1000.0 - cast.volume
                ps_isl, ps_reach = len(rep.islands), rep.overhang_reach_area_mm2
            except Exception as exc:  # noqa: BLE001 - a bench reports and goes on
                print(f"{name}: prusa-slicer comparison failed: {exc}")
                ps_s = ps_sup = ps_reach = float("nan")
                ps_isl = -1
            n = p.casting_mesh.face_normals
            ps_det = int((p.casting_detail & (-n[:, 2] > np.cos(np.radians(45)))).sum())
            s = p.report["supports"]
            print(f"{name:24s} {len(lay['islands']):8d} {ps_isl:7d} {lay['overhang_reach_area_mm2']:9.2f} {ps_reach:9.2f} "
                  f"{s['count']:5d} {s['on_detail']:6d} {ps_det:8d} {ours_sup:8.1f} {ps_sup:10.1f} {ours_s:6.1f} {ps_s:6.1f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        one(sys.argv[2], sys.argv[3])
    else:
        what = sys.argv[1] if len(sys.argv) > 1 else "both"
        if what in ("speed", "both"):
            speed()
        if what in ("compare", "both"):
            compare()
