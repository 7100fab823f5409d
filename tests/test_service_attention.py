"""needs_attention for thin walls follows the job's alloy (real server, real pipeline)."""

from __future__ import annotations

from pathlib import Path

import trimesh
from helpers.server import Server, running_server

RING = "jewelry/solitaire_ring.stl"
PLATE_MM = 0.35  # thinner than any alloy's casting minimum (0.6 mm and up)


def _submit(srv: Server, path: Path, **data: str) -> dict:
    with srv.client() as c, open(path, "rb") as fh:
        r = c.post("/api/jobs", files={"file": (path.name, fh)},
                   data={"profile": "phrozen-sonic-4k", **data})
    assert r.status_code == 201, r.text
    return r.json()


def test_thin_walls_stop_a_job_only_when_its_alloy_says_so(tmp_path: Path, meshes: Path) -> None:
    plate = tmp_path / "plate.stl"
    trimesh.creation.box(extents=(12.0, 8.0, PLATE_MM)).export(plate)
    printer = {"name": "v1", "type": "virtual", "profile": "phrozen-sonic-4k",
               "time_scale": 0.0005}
    with running_server(tmp_path, {"printers": [printer], "watch": {"enabled": False},
                                   "pipeline": {"prepare": False}}) as srv:
        gold = _submit(srv, plate, alloy="18k-yellow")
        plain = _submit(srv, plate)
        ring = _submit(srv, meshes / RING, alloy="18k-yellow")

        held = srv.wait_for(gold["id"], ("needs_attention", "done", "failed"), 90)
        assert held["state"] == "needs_attention", held["error"]
        assert f"{PLATE_MM:.2f} mm" in held["error"] and "18k-yellow" in held["error"]
        assert "casting minimum" in held["error"]
        assert held["report"]["attention"]
        assert held["archive"] is None

        # no alloy named: the thin plate is a warning in the log, and it prints
        done = srv.wait_for(plain["id"], ("done", "failed", "needs_attention"), 120)
        assert done["state"] == "done", done["error"]
        messages = [e["message"] for e in done["events"]]
        assert any("no alloy was named" in m and f"{PLATE_MM:.2f} mm" in m for m in messages)
        assert done["report"]["check"]["warnings"]

        # the solitaire ring has walls under 0.6 mm: with 18K it waits for a person too
        ring_held = srv.wait_for(ring["id"], ("needs_attention", "done", "failed"), 120)
        assert ring_held["state"] == "needs_attention", ring_held["error"]
        assert "18k-yellow" in ring_held["error"]

        with srv.client() as c:
            r = c.post(f"/api/jobs/{gold['id']}/approve", json={"reason": "thin on purpose"})
        assert r.status_code == 200, r.text
        after = srv.wait_for(gold["id"], ("done", "failed", "needs_attention"), 120)
        assert after["state"] == "done", after["error"]
        messages = [e["message"] for e in after["events"]]
        assert "approved earlier: going on past the open questions" in messages
        # the check of the first run stands: the mesh is not checked a second time
        assert "approved: the check and repair of the first run stand" in messages
        assert messages.count("mesh checked") == 1, messages
        assert after["report"]["check"] == held["report"]["check"]


def test_an_alloy_set_for_the_whole_service_applies_to_jobs_without_one(
        tmp_path: Path) -> None:
    plate = tmp_path / "plate.stl"
    trimesh.creation.box(extents=(12.0, 8.0, PLATE_MM)).export(plate)
    with running_server(tmp_path, {"printers": [], "watch": {"enabled": False},
                                   "pipeline": {"prepare": False, "alloy": "sterling"}}) as srv:
        job = _submit(srv, plate)
        held = srv.wait_for(job["id"], ("needs_attention", "queued", "failed"), 90)
        assert held["state"] == "needs_attention", held["error"]
        assert "sterling" in held["error"]
