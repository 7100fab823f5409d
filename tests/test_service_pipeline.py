"""The pipeline package and the printers' clear route, with real inputs.

- ``run_job`` in this process on a real SQLite store and real meshes: a sound part ends
  ``queued`` with its report in the store and in ``report.json`` (one and the same), the
  work folder gone; a watch job that fails files its upload under ``failed/`` with the
  stored reason (the job the failing transition returned, not a second read); thin
  walls with an alloy wait for a person with ``report.json`` in the job's folder, and
  go on once approved.
- :func:`~printprep.service.pipeline.attention.question` on real check reports.
- ``POST /api/printers/{name}/clear`` on a real ``printprep serve``: the job's history
  says who cleared the plate (the caller's token name).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
import trimesh
from helpers.server import create_token, running_server

from printprep.mesh import check_mesh, load_mesh
from printprep.service.config import load_settings
from printprep.service.intake import intake_stream
from printprep.service.pipeline import REPORT_NAME, run_job
from printprep.service.pipeline.attention import question
from printprep.service.pipeline.report import jsonable
from printprep.service.store import Store

PLATE_MM = 0.35  # thinner than any alloy's casting minimum (0.6 mm and up)
PROFILE = "phrozen-sonic-4k"


@pytest.fixture
def store(tmp_path: Path):
    cfg = tmp_path / "printprep.toml"
    cfg.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n'
        '[pipeline]\nprepare = false\n'
        '[watch]\nenabled = false\n'
    )
    settings = load_settings(cfg, env={})
    st = Store.from_settings(settings)
    try:
        yield st, settings
    finally:
        st.close()


def _stl(mesh: trimesh.Trimesh) -> bytes:
    return mesh.export(file_type="stl")


def _run(st: Store, settings, data: bytes, filename: str, **kw) -> str:
    job = intake_stream(st, io.BytesIO(data), filename=filename, source=kw.pop("source", "api"),
                        profile=PROFILE, **kw)
    claimed = st.claim_next("test-worker")
    assert claimed is not None and claimed.id == job.id
    run_job(st, settings, claimed)
    return job.id


def test_a_sound_part_is_queued_with_one_report(store) -> None:
    st, settings = store
    box = trimesh.creation.box(extents=(6.0, 5.0, 4.0))
    job_id = _run(st, settings, _stl(box), "block.stl")
    job = st.get(job_id)
    assert job.state == "queued", job.error
    assert job.archive and (job.folder / job.archive).is_file()
    on_disk = json.loads((job.folder / REPORT_NAME).read_text())
    assert on_disk == job.report  # the stored report and report.json are the same
    assert job.report["load"]["file"] == "block.stl"
    assert job.report["load"]["triangles"] == len(box.faces)
    assert job.report["check"]["printable"] is True
    assert set(job.report["timings_s"]) == {"checking", "repairing", "preparing", "slicing"}
    assert not list(job.folder.glob(".work-*"))
    messages = [e.message for e in st.events(job_id)]
    assert "mesh is sound: no repair needed" in messages
    assert any(m.startswith("sliced to ") for m in messages)


def test_a_worker_lets_the_kept_ray_scene_go_after_a_job(store, monkeypatch) -> None:
    """The check keeps its Embree scene for a repeat question on the same mesh; a
    long-lived worker's next job is another mesh, so the scene is released after each job."""
    from printprep.mesh import raycast
    from printprep.service.worker import Worker

    st, settings = store
    job = intake_stream(st, io.BytesIO(_stl(trimesh.creation.icosphere(subdivisions=3, radius=4.0))),
                        filename="bead.stl", source="api", profile=PROFILE)
    monkeypatch.setattr(raycast, "CACHE_MIN_FACES", 1)  # keep even this small mesh's scene
    box = trimesh.creation.box()
    raycast.RayScene(box.vertices, box.faces)
    assert raycast._last_scene is not None  # kept: the job's check would keep its own too
    worker = Worker(settings, st)
    assert worker.run_once() is True
    assert st.get(job.id).state == "queued", st.get(job.id).error
    assert raycast._last_scene is None
    assert worker.run_once() is False  # nothing left to claim


def test_a_failed_watch_job_is_filed_with_its_reason(store, tmp_path: Path) -> None:
    """The failed/ report carries the stored error: the job returned by the failing
    transition is the one filed."""
    st, _ = store
    cfg = tmp_path / "prepare.toml"  # the same data folder, preparation on
    cfg.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n[watch]\nenabled = false\n')
    settings = load_settings(cfg, env={})
    data = _stl(trimesh.creation.box(extents=(6.0, 5.0, 4.0)))
    job = intake_stream(st, io.BytesIO(data), filename="block.stl", source="watch",
                        profile=PROFILE, options={"prepare": {"no_such_option": 1}})
    processed = settings.watch_dir / "processed"
    processed.mkdir(parents=True, exist_ok=True)
    (processed / f"{job.id}--block.stl").write_bytes(data)
    run_job(st, settings, st.claim_next("test-worker"))
    failed = st.get(job.id)
    assert failed.state == "failed"
    assert failed.error == (
        f"preparing: job {job.id}: unknown preparation option(s) no_such_option")
    txt = settings.watch_dir / "failed" / f"{job.id}--block.stl.txt"
    assert txt.is_file(), sorted(settings.watch_dir.rglob("*"))
    assert f"reason: {failed.error}" in txt.read_text()
    assert not (processed / f"{job.id}--block.stl").exists()
    assert failed.report["error"] == failed.error


def test_thin_walls_wait_for_a_person_then_go_on_when_approved(store, tmp_path: Path) -> None:
    from printprep.service import jobs as job_actions

    st, settings = store
    plate = trimesh.creation.box(extents=(12.0, 8.0, PLATE_MM))
    job_id = _run(st, settings, _stl(plate), "plate.stl", alloy="18k-yellow")
    held = st.get(job_id)
    assert held.state == "needs_attention"
    assert held.error.startswith("walls below the casting minimum for 18k-yellow")
    assert held.error.endswith("Approve to print it anyway, or reject it.")
    assert held.claimed_by is None and held.archive is None
    assert held.report["attention"] and held.report["check"]["thin_regions"]
    # report.json is in the job's folder for the person deciding, and no work folder
    assert json.loads((held.folder / REPORT_NAME).read_text()) == held.report
    assert not list(held.folder.glob(".work-*"))

    job_actions.approve(st, job_id, by="anna", reason="thin on purpose")
    run_job(st, settings, st.claim_next("test-worker"))
    after = st.get(job_id)
    assert after.state == "queued", after.error
    assert "approved earlier: going on past the open questions" in [
        e.message for e in st.events(job_id)]
    assert "attention" not in after.report


def test_the_questions_a_check_report_asks(tmp_path: Path, meshes: Path) -> None:
    plate = tmp_path / "plate.stl"
    trimesh.creation.box(extents=(12.0, 8.0, PLATE_MM)).export(plate)
    loaded = load_mesh(plate)

    gold = question(jsonable(check_mesh(loaded, alloy="18k-yellow")), "18k-yellow")
    assert gold.ask and "casting minimum for 18k-yellow" in gold.ask
    assert f"{PLATE_MM:.2f} mm" in gold.ask and gold.note is None
    assert gold.message().endswith("Approve to print it anyway, or reject it.")

    plain = question(jsonable(check_mesh(loaded)), None)
    assert plain.ask is None
    assert plain.note and "no alloy was named" in plain.note and plain.thin_regions

    sound = question(jsonable(check_mesh(trimesh.creation.box(extents=(6.0, 6.0, 6.0)))),
                     "sterling")
    assert (sound.ask, sound.note) == (None, None)

    # an open mesh (a face removed) is not sound: a person decides
    box = trimesh.creation.box(extents=(6.0, 6.0, 6.0))
    open_box = trimesh.Trimesh(box.vertices, box.faces[1:], process=False)
    holed = question(jsonable(check_mesh(open_box)), None)
    assert holed.ask == "the mesh could not be made sound automatically"


def _block_job(srv) -> str:  # type: ignore[no-untyped-def]
    """Upload a 6 x 5 x 4 mm block for the server's one printer; its job id."""
    box = trimesh.creation.box(extents=(6.0, 5.0, 4.0))
    with srv.client() as c:
        r = c.post("/api/jobs", files={"file": ("block.stl", _stl(box))},
                   data={"profile": PROFILE})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_clearing_a_plate_says_who_cleared_it(tmp_path: Path) -> None:
    printer = {"name": "hand-1", "type": "virtual", "profile": PROFILE,
               "time_scale": 0.0005, "auto_clear": False}
    with running_server(tmp_path, {"printers": [printer], "watch": {"enabled": False},
                                   "pipeline": {"prepare": False}}) as srv:
        job_id = _block_job(srv)
        done = srv.wait_for(job_id, ("done", "failed", "needs_attention"), 120)
        assert done["state"] == "done", done["error"]

        anna = create_token(srv.config_path, srv.env, "anna")
        headers = {"Authorization": f"Bearer {anna}"}
        url = f"{srv.base_url}/api/printers/hand-1"
        assert httpx.get(url, headers=headers, timeout=30).json()["state"] == "finished"
        assert httpx.post(f"{url}/clear", timeout=30).status_code == 401
        r = httpx.post(f"{url}/clear", headers=headers, timeout=30)
        assert r.status_code == 200 and r.json()["state"] == "idle", r.text

        with srv.client() as c:
            events = c.get(f"/api/jobs/{job_id}").json()["events"]
        said = [e for e in events if e["message"].startswith("plate of hand-1 cleared")]
        assert [e["message"] for e in said] == [
            "plate of hand-1 cleared by anna; it takes the next job"], events
        assert said[0]["data"] == {"cleared_by": "anna"}

        # nothing on the plate: clearing again writes no job event
        assert httpx.post(f"{url}/clear", headers=headers, timeout=30).status_code == 200
        with srv.client() as c:
            again = c.get(f"/api/jobs/{job_id}").json()["events"]
            assert len([e for e in again if e["message"].startswith("plate of")]) == 1
            assert c.post("/api/printers/nope/clear").status_code == 404


def test_pausing_and_resuming_a_print_says_who_did_it(tmp_path: Path) -> None:
    printer = {"name": "slow-1", "type": "virtual", "profile": PROFILE, "time_scale": 0.05}
    with running_server(tmp_path, {"printers": [printer], "watch": {"enabled": False},
                                   "pipeline": {"prepare": False}}) as srv:
        job_id = _block_job(srv)
        printing = srv.wait_for(job_id, ("printing", "done", "failed", "needs_attention"), 120)
        assert printing["state"] == "printing", printing

        bob = create_token(srv.config_path, srv.env, "bob")
        headers = {"Authorization": f"Bearer {bob}"}
        url = f"{srv.base_url}/api/printers/slow-1"
        assert httpx.post(f"{url}/pause", timeout=30).status_code == 401
        r = httpx.post(f"{url}/pause", headers=headers, timeout=30)
        assert r.status_code == 200 and r.json()["state"] == "paused", r.text
        r = httpx.post(f"{url}/resume", headers=headers, timeout=30)
        assert r.status_code == 200 and r.json()["state"] == "printing", r.text

        with srv.client() as c:
            events = c.get(f"/api/jobs/{job_id}").json()["events"]
            said = [e for e in events if e["message"].startswith("print ")]
            assert [e["message"] for e in said] == [
                "print paused on slow-1 by bob", "print resumed on slow-1 by bob"], events
            assert said[0]["data"] == {"paused_by": "bob"}
            assert c.post(f"/api/jobs/{job_id}/cancel").status_code == 200
