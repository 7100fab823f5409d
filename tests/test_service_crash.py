"""SIGKILL the real server while jobs are in different stages; after a restart every job
ends ``done`` with intact artifacts and nothing is lost or corrupted."""

from __future__ import annotations

import sqlite3
import time
import zipfile
from pathlib import Path

import httpx
from helpers.server import make_server

PIPELINE = ("checking", "repairing", "preparing", "slicing")
PARTS = ("jewelry/solitaire_ring.stl", "jewelry/jjg_pendant2.stl",
         "jewelry/jmarsik_twisted_ring.stl", "jewelry/solitaire_ring.stl")
PROFILE = "elegoo-mars-4-dlp"


def _states(srv) -> dict[str, str]:
    with srv.client() as c:
        return {j["id"]: j["state"] for j in c.get("/api/jobs", params={"limit": 100}).json()["jobs"]}


def test_sigkill_at_any_stage_loses_no_job(tmp_path: Path, meshes: Path) -> None:
    config = {
        "workers": {"count": 2, "max_attempts": 4},
        "watch": {"enabled": False},
        "pipeline": {"prepare": False},
        "printers": [{"name": "v1", "type": "virtual", "profile": PROFILE,
                      "time_scale": 0.0002}],
    }
    srv = make_server(tmp_path, config)
    srv.start()
    try:
        ids = []
        with srv.client() as c:
            for i, rel in enumerate(PARTS):
                with open(meshes / rel, "rb") as fh:
                    r = c.post("/api/jobs", files={"file": (f"part{i}.stl", fh)},
                               data={"profile": PROFILE, "priority": str(i % 2)})
                assert r.status_code == 201
                ids.append(r.json()["id"])
        # kill while some job is inside the pipeline and others are elsewhere (none printing:
        # a print cut mid-way rightly needs a person, see the dispatcher)
        deadline = time.monotonic() + 120
        seen: dict[str, str] = {}
        while time.monotonic() < deadline:
            seen = _states(srv)
            busy = [s for s in seen.values() if s in PIPELINE]
            if busy and len(set(seen.values())) >= 2 and "printing" not in seen.values():
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"never saw jobs in different stages: {seen}")
        srv.kill()
        killed_in = sorted(set(seen.values()))
        con = sqlite3.connect(srv.data_dir / "printprep.db")
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()

        srv.start()
        for job_id in ids:
            job = srv.wait_for(job_id, ("done", "failed", "needs_attention", "cancelled"), 240)
            assert job["state"] == "done", (killed_in, job["error"],
                                            [e["message"] for e in job["events"]])
        taken_back = 0
        with srv.client() as c:
            for job_id, rel in zip(ids, PARTS, strict=True):
                job = c.get(f"/api/jobs/{job_id}").json()
                folder = srv.data_dir / "jobs" / job_id
                assert (folder / "original.stl").read_bytes() == (meshes / rel).read_bytes()
                with zipfile.ZipFile(folder / job["archive"]) as zf:
                    assert zf.testzip() is None
                    assert any(n.endswith(".png") for n in zf.namelist())
                assert not list(folder.glob(".work-*")) and not list(folder.glob("*.part"))
                msgs = [e["message"] for e in job["events"]]
                taken_back += any("stopped while the job was" in m for m in msgs)
                assert msgs.count(f"printed on {job['printer']}") == 1
        assert taken_back >= 1, killed_in
    finally:
        srv.stop()


def test_a_worker_killed_mid_job_is_replaced_and_its_job_finishes(tmp_path: Path,
                                                                  meshes: Path) -> None:
    import os
    import signal

    from printprep.service.config import load_settings
    from printprep.service.store import Store

    srv = make_server(tmp_path, {"watch": {"enabled": False}, "printers": [],
                                 "pipeline": {"prepare": False}})
    srv.start()
    store = Store.from_settings(load_settings(srv.config_path, env=srv.env))
    try:
        with srv.client() as c, open(meshes / "jewelry/solitaire_ring.stl", "rb") as fh:
            job = c.post("/api/jobs", files={"file": ("ring.stl", fh)},
                         data={"profile": PROFILE}).json()
        srv.wait_for(job["id"], PIPELINE, 60)
        claimed_by = store.get(job["id"]).claimed_by
        pid = int(claimed_by.split(":")[1])
        os.kill(pid, signal.SIGKILL)  # the worker alone dies; the server lives on
        done = srv.wait_for(job["id"], ("queued", "failed"), 120)
        assert done["state"] == "queued", done["error"]
        messages = [e["message"] for e in done["events"]]
        assert any(f"worker {claimed_by} stopped while the job was" in m for m in messages)
        assert done["attempts"] == 2
        deadline = time.monotonic() + 30
        while httpx.get(f"{srv.base_url}/api/health").json()["workers"] != 1:
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(0.2)
    finally:
        store.close()
        srv.stop()
