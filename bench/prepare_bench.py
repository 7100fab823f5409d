"""Casting preparation: speed, memory, and supports against PrusaSlicer's own.

    .venv/bin/python bench/prepare_bench.py speed     # pave band 336k and a 1.35M copy
    .venv/bin/python bench/prepare_bench.py compare   # test jewelry vs prusa-slicer supports
    .venv/bin/python bench/prepare_bench.py           # both

speed: wall time per stage of prepare() (analyse, sprues, orient, supports incl. the
layer-check rounds) and of write_prepared() (STLs, slicing, preview), after loading the
STL as the CLI does (printprep.mesh.load_mesh), prepare()'s CPU time (all threads: it
moves less than wall time when others load the machine), peak memory (max RSS of a
fresh process per mesh); then the whole ``printprep prepare`` process end to end under
/usr/bin/time (interpreter start-up and imports included: the figure the target is
about). The peer is ``prusa-slicer --export-sla --supports-enable`` on the same mesh and
display, run side by side, with the ratio.

Each run prints the machine's load average before and after: the figures are wall times
on a shared machine.

compare: every piece of the Proof (rings, pendants, bracelet, necklace) is prepared by
printprep; the same oriented casting mesh (part + sprues) goes to prusa-slicer with its
default SLA supports and pad. Both archives get the same layer check
(printprep.slicing.check_layers): unsupported islands, overhang reach (mm² of pixels
farther than 3 mm from the layer below), and the support volume (resin used minus the
casting). Detail touched: PrusaSlicer's CLI does not export its tip positions, so both
archives are measured the same way from their pixels: support pixels are lit pixels
that are not the casting's own (the casting sliced alone, aligned, grown 2 px); a
detail face (printprep's analysis, facing down) is touched when support pixels lie
within 0.3 mm of it in one of the two layers below it.
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
PROOF = sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[1] == "compare" else [
    "solitaire_ring", "pixelverse_ring", "jmarsik_twisted_ring", "jjg_pendant",
    "jjg_pendant2", "franout_bracelet_fused", "diara628_necklace",
]  # fmt: skip


def _maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def one(path: str, out_dir: str) -> None:
    """Child process: prepare + write one mesh, print JSON figures."""
    from printprep.casting import prepare, write_prepared
    from printprep.mesh import load_mesh

    t0 = time.perf_counter()
    mesh = load_mesh(path)  # as `printprep prepare` loads it
    t_load = time.perf_counter() - t0
    t, c = time.perf_counter(), time.process_time()
    prepared = prepare(mesh, PROFILE)
    t_prep, c_prep = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    write_prepared(prepared, out_dir, Path(path).stem, PROFILE)
    t_write = time.perf_counter() - t
    layers = prepared.report["slice"].get("layers", {})
    print(json.dumps({
        "faces": len(mesh.faces), "load_s": t_load, "prepare_s": t_prep, "prepare_cpu_s": c_prep, "write_s": t_write,
        "stages_s": prepared.report["timings_s"], "peak_mb": _maxrss_mb(),
        "islands": len(layers.get("islands", [])), "supports": prepared.report["supports"]["count"],
        "verify": prepared.report["verify_rounds"],
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


def _raster(mesh: trimesh.Trimesh, prof, placement=None):
    """Layers (bool images) of ``mesh`` sliced alone at ``placement``: (zs, iterator)."""
    from printprep.slicing.layers import iter_layer_rings, layer_heights, place_parts
    from printprep.slicing.raster import rasterize

    placed = place_parts([mesh], prof, None if placement is None else [placement])
    zs = layer_heights(placed.height_mm, prof.layer_height_mm)
    w, h = placed.transform.image_px

    def gen():
        for rings in iter_layer_rings(placed, zs):
            band = rasterize(rings, (w, h))
            img = np.zeros((h, w), dtype=bool)
            bh, bw = band.pixels.shape
            img[band.row0 : band.row0 + bh, band.col0 : band.col0 + bw] = band.pixels >= 128
            yield img

    return zs, gen()


def detail_touched(archive: Path, cast: trimesh.Trimesh, detail: np.ndarray, prof,
                   placement, z_offset_layers: int | None) -> int:
    """Down-facing detail faces of ``cast`` with support pixels within 0.3 mm below them.

    cast : the casting standing on z = 0 as sliced alone; placement : its bbox centre on
    the display in the archive (machine mm); z_offset_layers : where its layer 0 is in
    the archive (None: found by the best overlap of one layer).
    """
    import cv2

    from printprep.slicing import read_archive

    lh = prof.layer_height_mm
    pc, pr = prof.pitch_mm
    zs, layers = _raster(cast, prof, placement)
    part = list(layers)
    n = cast.face_normals
    sel = detail & (n[:, 2] < -0.3)
    c = cast.triangles_center[sel]
    lo, hi = cast.bounds
    mx = c[:, 0] - (lo[0] + hi[0]) / 2 + placement[0]
    my = c[:, 1] - (lo[1] + hi[1]) / 2 + placement[1]
    col = (mx / pc).astype(int)
    row = ((prof.display_mm[1] - my) / pr).astype(int)
    k = np.floor(c[:, 2] / lh).astype(int)
    grow = np.ones((5, 5), np.uint8)
    r_px = max(1, int(round(0.3 / pc)))
    touched = np.zeros(len(c), dtype=bool)
    with read_archive(archive) as a:
        if z_offset_layers is None:
            mid = len(part) // 2
            best, z_offset_layers = -1.0, 0
            for off in range(0, min(a.layer_count - mid, 400)):
                img = a.layer(mid + off) >= 128
                iou = (img & part[mid]).sum() / max((img | part[mid]).sum(), 1)
                if iou > best:
                    best, z_offset_layers = iou, off
        for layer in sorted(set(k.tolist())):
            for below in (layer - 1, layer - 2):
                if below < 0 or below + z_offset_layers >= a.layer_count:
                    continue
                own = cv2.dilate(part[below].astype(np.uint8), grow) > 0 if below < len(part) else 0
                sup = (a.layer(below + z_offset_layers) >= 128) & ~own
                if not sup.any():
                    continue
                near = cv2.dilate(sup.astype(np.uint8), np.ones((2 * r_px + 1,) * 2, np.uint8)) > 0
                idx = np.nonzero(k == layer)[0]
                rr = np.clip(row[idx], 0, near.shape[0] - 1)
                cc = np.clip(col[idx], 0, near.shape[1] - 1)
                touched[idx] |= near[rr, cc]
    return int(touched.sum())


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
            print(f"{'':22s} prepare CPU {r['prepare_cpu_s']:.2f} s (all threads; less load-dependent than wall time)")
            print(f"{'':22s} islands left {r['islands']}, verify rounds (islands, layers checked): "
                  f"{[(v['islands'], v.get('layers_checked')) for v in r['verify']]}", flush=True)  # fmt: skip
            wall, cpu, mb, code = _whole_process(path, tmp / f"{path.stem}.cli")
            print(f"{'':22s} whole process `printprep prepare` (start-up, imports, load, prepare, write): "
                  f"{wall:.2f} s wall, {cpu:.2f} s CPU, {mb:.0f} MB, exit {code}; ratio to PrusaSlicer "
                  f"{wall / pw:.2f}", flush=True)  # fmt: skip


def _whole_process(stl: Path, out: Path) -> tuple[float, float, float, int]:
    """``printprep prepare STL --profile PROFILE -o OUT`` under /usr/bin/time: wall s, CPU s
    (user + system, all threads), peak MB, exit code (1 when the layer check or the support
    planner reported a problem; the files are written either way)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        cmd = ["/usr/bin/time", "-o", tf.name, "-f", "%e %U %S %M",
               sys.executable, "-m", "printprep", "prepare", str(stl), "--profile", PROFILE, "-o", str(out)]  # fmt: skip
        code = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO).returncode
        wall, user, system, kb = tf.read().split()[-4:]
    return float(wall), float(user) + float(system), float(kb) / 1024.0, code


def compare() -> None:
    from printprep.casting import prepare, write_prepared
    from printprep.profiles import load_profile
    from printprep.slicing import check_layers, read_archive

    print(f"{'piece':24s} {'islands':>8s} {'ps isl':>7s} {'reach mm2':>9s} {'ps reach':>9s} "
          f"{'tips':>5s} {'on det':>6s} {'on hard':>7s} {'det hit':>7s} {'ps det hit':>10s} {'sup mm3':>8s} {'ps sup mm3':>10s} {'s':>6s} {'ps s':>6s}")  # fmt: skip
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
            prof = load_profile(PROFILE)
            w, h = prof.display_mm
            # ours: the casting sits in the print where prepare put it
            plo, phi = p.print_mesh.bounds
            clo, chi = p.casting_mesh.bounds
            if "placement_mm" in p.report["slice"]:  # the print frame's origin on the display centre
                ours_xy = (w / 2 + (clo[0] + chi[0]) / 2, h / 2 + (clo[1] + chi[1]) / 2)
            else:  # the print's box centre on the display centre
                ours_xy = (w / 2 + (clo[0] + chi[0]) / 2 - (plo[0] + phi[0]) / 2,
                           h / 2 + (clo[1] + chi[1]) / 2 - (plo[1] + phi[1]) / 2)  # fmt: skip
            ours_det = detail_touched(tmp / f"{name}.sl1", cast, p.casting_detail, prof, ours_xy,
                                      int(round((clo[2] - plo[2]) / prof.layer_height_mm)))  # fmt: skip
            try:
                ps_det = detail_touched(ps_path, cast, p.casting_detail, prof, (w / 2, h / 2), None)
            except Exception as exc:  # noqa: BLE001
                print(f"{name}: detail measure on prusa-slicer's archive failed: {exc}")
                ps_det = -1
            s = p.report["supports"]
            print(f"{name:24s} {len(lay['islands']):8d} {ps_isl:7d} {lay['overhang_reach_area_mm2']:9.2f} {ps_reach:9.2f} "
                  f"{s['count']:5d} {s['on_detail']:6d} {s.get('on_hard_core', -1):7d} {ours_det:7d} {ps_det:10d} {ours_sup:8.1f} {ps_sup:10.1f} {ours_s:6.1f} {ps_s:6.1f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    import os

    if sys.argv[1:2] != ["one"]:
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        one(sys.argv[2], sys.argv[3])
    else:
        what = sys.argv[1] if len(sys.argv) > 1 else "both"
        if what in ("speed", "both"):
            speed()
        if what in ("compare", "both"):
            compare()
    if sys.argv[1:2] != ["one"]:
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
