"""Service benchmark: 200 concurrent uploads, then API latency while the workers slice.

Runs the real ``printprep serve`` on a free 127.0.0.1 port with a temporary data folder:

1. the server starts with no workers; this process uploads N small meshes concurrently
   (``POST /api/jobs``): accepted count (target: all), uploads/s;
2. peer, idle: ``GET /api/jobs`` latency with N jobs stored and no worker running;
3. busy: ``printprep worker`` processes (one per core) start on the same database and
   folder; ``GET /api/jobs`` latency is measured again while they check, repair, prepare
   and slice, and finished jobs are counted: jobs/minute.

Prints p50/p99 of both runs and the ratio busy/idle. Target: p99 of ``GET /api/jobs``
under 100 ms while the workers slice.

    .venv/bin/python bench/service_bench.py [--uploads 200] [--window-s 60] [--workers N]
        [--postgres | --database-url URL]

The job store is a SQLite file in the temporary folder unless ``--postgres`` (a throwaway
PostgreSQL server on 127.0.0.1, as the test suite starts one) or ``--database-url`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from helpers.postgres import start_postgres, stop_postgres  # noqa: E402
from helpers.server import PRINTPREP, make_server  # noqa: E402

MESHES = Path(os.environ.get("PRINTPREP_SHARED", REPO.parent / "shared")) / "meshes"
PARTS = ("jewelry/solitaire_ring.stl",)


async def _upload_all(base_url: str, token: str, n: int, concurrency: int) -> tuple[int, float]:
    payloads = [(MESHES / PARTS[i % len(PARTS)]).read_bytes() for i in range(len(PARTS))]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=300, limits=limits,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        async def one(i: int) -> int:
            r = await client.post(
                "/api/jobs",
                files={"file": (f"part{i:03d}.stl", payloads[i % len(payloads)])},
                data={"profile": "phrozen-sonic-4k", "priority": str(i % 3)},
            )
            return r.status_code

        t0 = time.perf_counter()
        codes = await asyncio.gather(*(one(i) for i in range(n)))
        return sum(1 for c in codes if c == 201), time.perf_counter() - t0


def _latencies(client: httpx.Client, duration_s: float, min_count: int = 50) -> list[float]:
    out = []
    end = time.perf_counter() + duration_s
    while time.perf_counter() < end or len(out) < min_count:
        t0 = time.perf_counter()
        r = client.get("/api/jobs", params={"limit": 50})
        out.append((time.perf_counter() - t0) * 1000.0)
        r.raise_for_status()
        time.sleep(0.02)
    return out


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _finished(client: httpx.Client) -> int:
    jobs = client.get("/api/health").json()["jobs"]
    return sum(v for k, v in jobs.items() if k in ("queued", "failed", "needs_attention",
                                                   "done"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploads", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--window-s", type=float, default=120.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    store = ap.add_mutually_exclusive_group()
    store.add_argument("--postgres", action="store_true",
                       help="job store on a throwaway PostgreSQL server on 127.0.0.1")
    store.add_argument("--database-url", default="", help="job store at this database URL")
    args = ap.parse_args()
    pg = start_postgres() if args.postgres else None
    database_url = pg.url(pg.create_database()) if pg else args.database_url
    tmp = Path(tempfile.mkdtemp(prefix="printprep-bench-"))
    srv = make_server(tmp, {"server": {"database_url": database_url},
                            "workers": {"count": 0, "heartbeat_s": 2.0, "stale_after_s": 30.0,
                                        "nice": 10},
                            "watch": {"enabled": False}, "printers": []})
    print(f"job store: {'postgresql (' + database_url.split('@')[-1] + ')' if database_url else 'sqlite'}")
    srv.start()
    workers: list[subprocess.Popen] = []
    try:
        accepted, upload_s = asyncio.run(
            _upload_all(srv.base_url, srv.token, args.uploads, args.concurrency))
        with srv.client() as client:
            idle = _latencies(client, min(args.window_s, 10.0))
            before = _finished(client)
            worker_log = open(srv.data_dir / "workers.log", "ab")  # noqa: SIM115
            for _ in range(args.workers):
                workers.append(subprocess.Popen(
                    [*PRINTPREP, "worker", "--config", str(srv.config_path)], env=srv.env,
                    stdout=worker_log, stderr=subprocess.STDOUT))
            t0 = time.perf_counter()
            busy = _latencies(client, args.window_s)
            window_s = time.perf_counter() - t0
            after = _finished(client)
        per_min = (after - before) * 60.0 / window_s
        if after == before:
            print((srv.data_dir / "workers.log").read_text()[-3000:])
        print(f"service bench: {args.uploads} uploads at concurrency {args.concurrency}, "
              f"{args.workers} worker(s), {os.cpu_count()} core(s)")
        print(f"  accepted            {accepted}/{args.uploads}  "
              f"({accepted / upload_s:.1f} uploads/s, {upload_s:.1f} s)")
        print(f"  jobs/minute         {per_min:.1f}  ({after - before} finished the pipeline "
              f"in {window_s:.0f} s)")
        print(f"  GET /api/jobs idle  p50 {_pct(idle, 50):6.1f} ms  p99 {_pct(idle, 99):6.1f} ms"
              f"  (peer: same server, no worker; n={len(idle)})")
        print(f"  GET /api/jobs busy  p50 {_pct(busy, 50):6.1f} ms  p99 {_pct(busy, 99):6.1f} ms"
              f"  (workers slicing; n={len(busy)})")
        print(f"  ratio busy/idle     p50 {_pct(busy, 50) / _pct(idle, 50):.2f}x  "
              f"p99 {_pct(busy, 99) / _pct(idle, 99):.2f}x")
        print(f"  target p99 < 100 ms while slicing: "
              f"{'met' if _pct(busy, 99) < 100 else 'NOT met'}; all accepted: "
              f"{'yes' if accepted == args.uploads else 'NO'}")
        return 0 if accepted == args.uploads else 1
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=120)
            except subprocess.TimeoutExpired:
                w.kill()
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        if pg is not None:
            stop_postgres(pg)


if __name__ == "__main__":
    sys.exit(main())
