"""Serial host throughput: stream a 50,000-command jewelry G-code file to the firmware
simulator at 115200 baud and compare with the link's ceiling and a one-line-at-a-time host.

The G-code is a real print (a bracelet from ../shared/meshes sliced by prusa-slicer for
the castable-filament profile, its first ``--lines`` commands). The simulator
(tests/firmware_sim.py) runs in its own process, as real firmware runs on its own chip,
and lets bytes arrive at the link's pace (baud / 10 bytes per second) into a 128-byte
receive buffer; it takes ``--exec-ms`` (default 1.5 ms, a setting of this bench) to take
each command before answering ``ok``, as firmware needs time to parse and plan a move. The ceiling is that pace divided by the mean encoded line length
(``N<n> <command>*<checksum>\\n``).

Runs:
  windowed        printprep's host: several lines in flight within the receive buffer
  windowed + 1 %  the same with 1 % of the lines corrupted on the wire (checksum errors)
  ping-pong       peer: one line in flight at a time (how simple hosts stream)

Each run checks the firmware's record: lost or duplicated commands are counted.

    .venv/bin/python bench/serial_bench.py [--lines 50000] [--baud 115200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from printprep.printers.serial.lines import encode  # noqa: E402
from printprep.printers.serial.printer import SerialPrinter, read_gcode  # noqa: E402

SIM_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from firmware_sim import FirmwareSim
sim = FirmwareSim(Path(sys.argv[2]), **json.loads(sys.argv[3])).start()
print(sim.port, flush=True)
sys.stdin.readline()
Path(sys.argv[2], "executed.json").write_text(json.dumps(
    {"executed": sim.executed, "corrupted": sim.corrupted, "overflow": sim.overflow_bytes,
     "errors": sim.errors_sent}))
sim.stop()
"""


def bench_gcode(lines: int, work: Path) -> Path:
    """The first ``lines`` commands of a sliced bracelet, as a G-code file."""
    import trimesh

    from printprep.slicing import slice_gcode

    mesh_path = REPO.parent / "shared" / "meshes" / "jewelry" / "franout_bracelet_fused.stl"
    full = slice_gcode([trimesh.load(mesh_path)], "prusa-mk4-castable",
                       work / "bracelet.gcode").path
    kept, n = [], 0
    with open(full) as fh:
        for line in fh:
            kept.append(line.rstrip("\n"))
            if line.split(";", 1)[0].strip():
                n += 1
                if n >= lines:
                    break
    if n < lines:
        raise SystemExit(f"the sliced bracelet has only {n} commands (< {lines})")
    out = work / f"bracelet-{lines}.gcode"
    out.write_text("\n".join(kept) + "\n")
    return out


def run(path: Path, baud: int, sim_kw: dict, host_kw: dict, work: Path) -> dict:
    simdir = Path(tempfile.mkdtemp(dir=work))
    proc = subprocess.Popen(
        [sys.executable, "-c", SIM_SCRIPT, str(REPO / "tests"), str(simdir),
         json.dumps({"baudrate": baud, **sim_kw})],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        port = proc.stdout.readline().strip()
        p = SerialPrinter("bench", "prusa-mk4-castable", port=port, baudrate=baud,
                          timeout_s=5.0, busy_timeout_s=3.0, long_timeout_s=5.0, **host_kw)
        p.connect()
        p.send(path, {"job_id": "bench"})
        t0 = time.perf_counter()
        p.start()
        while p.status().state == "printing":
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        state = p.status().state
        resends = p.lq.resends
        p.close()
    finally:
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
    record = json.loads((simdir / "executed.json").read_text())
    want = read_gcode(path) + ["M400"]
    got = record["executed"]
    lost = max(0, len(want) - len(got))
    dup = max(0, len(got) - len(want))
    mismatch = sum(1 for a, b in zip(got, want, strict=False) if a != b)
    return {"state": state, "elapsed_s": elapsed, "lines": len(want) - 1,
            "lines_per_s": (len(want) - 1) / elapsed, "lost": lost, "duplicated": dup,
            "out_of_order": mismatch, "corrupted": record["corrupted"],
            "overflow_bytes": record["overflow"], "resends": resends}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=50_000)
    ap.add_argument("--baud", type=int, default=115_200)
    ap.add_argument("--exec-ms", type=float, default=1.5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="serial-bench-") as tmp:
        work = Path(tmp)
        path = bench_gcode(args.lines, work)
        commands = read_gcode(path)
        mean_bytes = sum(len(encode(i + 1, c)) for i, c in enumerate(commands)) / len(commands)
        ceiling = args.baud / 10.0 / mean_bytes
        print(f"serial_bench: {len(commands)} commands of a sliced bracelet, "
              f"mean {mean_bytes:.1f} bytes per encoded line, {args.baud} baud, "
              f"firmware takes {args.exec_ms:g} ms per command")
        print(f"  link ceiling                     {ceiling:8.1f} lines/s")
        runs = [
            ("windowed (printprep)", {}, {}),
            ("windowed + 1 % corruption", {"corrupt_rate": 0.01, "seed": 7}, {}),
            ("ping-pong peer (1 in flight)", {}, {"max_inflight": 1}),
        ]
        results = {}
        for label, sim_kw, host_kw in runs:
            r = run(path, args.baud, {"exec_s": args.exec_ms / 1000, **sim_kw}, host_kw, work)
            results[label] = r
            print(f"  {label:<32} {r['lines_per_s']:8.1f} lines/s "
                  f"{100 * r['lines_per_s'] / ceiling:5.1f} % of ceiling  "
                  f"{r['elapsed_s']:6.1f} s  {r['state']}  lost {r['lost']} "
                  f"duplicated {r['duplicated']} out-of-order {r['out_of_order']}  "
                  f"corrupted {r['corrupted']} resends {r['resends']} "
                  f"overflow {r['overflow_bytes']} B", flush=True)
        w = results["windowed (printprep)"]["lines_per_s"]
        pp = results["ping-pong peer (1 in flight)"]["lines_per_s"]
        print(f"  windowed / ping-pong ratio       {w / pp:8.2f}x")
        bad = [k for k, r in results.items()
               if r["lost"] or r["duplicated"] or r["out_of_order"] or r["state"] != "finished"]
        if bad:
            print(f"serial_bench: FAILED exactness in {', '.join(bad)}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
