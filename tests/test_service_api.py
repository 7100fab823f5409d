"""The REST API of the real server (``printprep serve`` on a free 127.0.0.1 port)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from helpers.server import Server, running_server

RING = "jewelry/solitaire_ring.stl"


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    """A server with no workers and a small upload limit: jobs stay where the API puts them."""
    tmp = tmp_path_factory.mktemp("api")
    with running_server(tmp, {"workers": {"count": 0}, "server": {"upload_limit_mb": 0.5},
                              "watch": {"enabled": False}, "printers": []}) as srv:
        yield srv


def _submit(srv: Server, path: Path, *, filename: str | None = None, **data: str) -> httpx.Response:
    with srv.client() as c, open(path, "rb") as fh:
        return c.post("/api/jobs", files={"file": (filename or path.name, fh)},
                      data={"profile": "phrozen-sonic-4k", **data})


def test_health_needs_no_token_and_everything_else_does(idle_server: Server) -> None:
    r = httpx.get(f"{idle_server.base_url}/api/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    for method, path in (("GET", "/api/jobs"), ("POST", "/api/jobs"), ("GET", "/api/profiles"),
                         ("GET", "/api/jobs/x"), ("POST", "/api/jobs/x/cancel")):
        r = httpx.request(method, f"{idle_server.base_url}{path}")
        assert r.status_code == 401, (method, path)
        r = httpx.request(method, f"{idle_server.base_url}{path}",
                          headers={"Authorization": "Bearer pp_not-a-token"})
        assert r.status_code == 401, (method, path)
    # the web page's cookie works like the header
    r = httpx.get(f"{idle_server.base_url}/api/jobs",
                  cookies={"printprep_token": idle_server.token})
    assert r.status_code == 200
    assert httpx.get(f"{idle_server.base_url}/docs").status_code == 200
    assert "/api/jobs" in httpx.get(f"{idle_server.base_url}/openapi.json").json()["paths"]


def test_submit_stores_the_original_untouched_and_lists_it(idle_server: Server,
                                                           meshes: Path) -> None:
    r = _submit(idle_server, meshes / RING, priority="3", alloy="sterling", notes="for Ana")
    assert r.status_code == 201, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/jobs/{job['id']}"
    assert (job["state"], job["priority"], job["alloy"], job["source"]) == (
        "received", 3, "sterling", "upload")
    assert job["name"] == "solitaire_ring" and job["submitter"] == "test"
    with idle_server.client() as c:
        got = c.get(f"/api/jobs/{job['id']}/files/original.stl")
        assert got.status_code == 200
        assert got.content == (meshes / RING).read_bytes()
        listed = c.get("/api/jobs", params={"state": "received"}).json()
        assert job["id"] in [j["id"] for j in listed["jobs"]]
        assert c.get("/api/jobs", params={"state": "bogus"}).status_code == 422
        page = c.get("/api/jobs", params={"limit": 1, "offset": 0}).json()
        assert len(page["jobs"]) == 1 and page["total"] >= 1
        detail = c.get(f"/api/jobs/{job['id']}").json()
        assert detail["events"][0]["message"] == "received from upload by test"
        assert detail["artifacts"] == ["original.stl"]
        assert c.get("/api/jobs/doesnotexist").status_code == 404
        assert c.get(f"/api/jobs/{job['id']}/files/nothing.sl1").status_code == 404


def test_bad_profile_alloy_or_options_is_a_422_naming_it(idle_server: Server,
                                                        meshes: Path) -> None:
    for options, needle in (('{"unit": "inch"}', "unknown key(s) unit"),
                            ('{"units": "furlong"}', "units must be one of"),
                            ("[1]", "must be a JSON object"), ("{", "not valid JSON")):
        r = _submit(idle_server, meshes / RING, options=options)
        assert r.status_code == 422 and needle in r.text, (options, r.text)
    r = _submit(idle_server, meshes / RING, options='{"units": "inch"}', source="api")
    assert r.status_code == 201
    assert r.json()["options"]["units"] == "inch" and r.json()["source"] == "api"
    r = _submit(idle_server, meshes / RING, profile="no-such-printer")
    assert r.status_code == 422 and "no-such-printer" in r.text
    r = _submit(idle_server, meshes / RING, alloy="unobtainium")
    assert r.status_code == 422 and "unobtainium" in r.text


def test_path_traversal_names_are_neutralized(idle_server: Server, meshes: Path) -> None:
    r = _submit(idle_server, meshes / RING, filename="../../../../tmp/evil.stl")
    assert r.status_code == 201
    job = r.json()
    assert job["options"]["original_filename"] == "evil.stl"
    assert job["name"] == "evil"
    folder = idle_server.data_dir / "jobs" / job["id"]
    assert sorted(p.name for p in folder.iterdir()) == ["original.stl"]
    with idle_server.client() as c:
        for bad in ("..%2F..%2Fprintprep.db", "%2E%2E", ".incoming"):
            r = c.get(f"/api/jobs/{job['id']}/files/{bad}")
            assert r.status_code == 404, bad


def test_oversize_upload_is_413_and_leaves_nothing(idle_server: Server, tmp_path: Path) -> None:
    big = tmp_path / "big.stl"
    big.write_bytes(b"solid big\n" + b" " * (1024 * 1024))
    before = set((idle_server.data_dir / "jobs").iterdir())
    r = _submit(idle_server, big)
    assert r.status_code == 413 and "upload limit" in r.text
    # a chunked upload (no Content-Length) is counted as it streams
    def chunks():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.stl\"\r\n\r\n"
        for _ in range(12):
            yield b"x" * 100_000
        yield b"\r\n--b--\r\n"

    with idle_server.client() as c:
        r = c.post("/api/jobs", content=chunks(),
                   headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413
    assert set((idle_server.data_dir / "jobs").iterdir()) == before


def test_unreadable_content_is_a_failed_job_with_the_reason(idle_server: Server,
                                                           tmp_path: Path) -> None:
    junk = tmp_path / "ring.stl"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    r = _submit(idle_server, junk)
    assert r.status_code == 201
    job = r.json()
    assert job["state"] == "failed"
    assert "ring.stl: content is not a mesh format" in job["error"]
    empty = tmp_path / "empty.stl"
    empty.write_bytes(b"")
    job = _submit(idle_server, empty).json()
    assert job["state"] == "failed" and "empty" in job["error"]



def test_cancel_and_retry(idle_server: Server, meshes: Path) -> None:
    job = _submit(idle_server, meshes / RING).json()
    with idle_server.client() as c:
        r = c.post(f"/api/jobs/{job['id']}/cancel")
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        r = c.post(f"/api/jobs/{job['id']}/cancel")
        assert r.status_code == 409 and r.json()["state"] == "cancelled"
        r = c.post(f"/api/jobs/{job['id']}/retry")
        assert r.status_code == 200 and r.json()["state"] == "received"
        assert r.json()["attempts"] == 0
        r = c.post(f"/api/jobs/{job['id']}/retry")
        assert r.status_code == 409
        msgs = [e["message"] for e in c.get(f"/api/jobs/{job['id']}").json()["events"]]
        assert msgs[1:] == ["cancelled by test", "retry requested by test"]
        assert c.post("/api/jobs/nope/cancel").status_code == 404
        assert c.post(f"/api/jobs/{job['id']}/approve").status_code == 409


def test_profiles_lists_the_shipped_printers(idle_server: Server) -> None:
    with idle_server.client() as c:
        body = c.get("/api/profiles").json()
    names = [p["name"] for p in body["profiles"]]
    assert "phrozen-sonic-4k" in names and body["default"] == "phrozen-sonic-4k"


def test_pipeline_outcomes_failed_needs_attention_approve_reject(tmp_path: Path,
                                                                 meshes: Path) -> None:
    with running_server(tmp_path, {"printers": [], "watch": {"enabled": False},
                                   "pipeline": {"prepare": False}}) as srv:
        ring = _submit(srv, meshes / RING, priority="10").json()
        srv.wait_for(ring["id"], ("checking", "repairing", "preparing", "slicing"), 60)
        with srv.client() as c:
            assert c.post(f"/api/jobs/{ring['id']}/cancel").json()["state"] == "cancelled"
        absurd = _submit(srv, meshes / "io/manifold_Cray_right.obj").json()
        whole = (meshes / RING).read_bytes()  # binary STL: its triangle count is in the header
        (tmp_path / "cut.stl").write_bytes(whole[: len(whole) // 3])
        cut = _submit(srv, tmp_path / "cut.stl").json()
        inverted = _submit(srv, meshes / "broken/trimesh_multibody.stl").json()
        sheet1 = _submit(srv, meshes / "broken/pymeshfix_planar_mesh.ply").json()
        sheet2 = _submit(srv, meshes / "broken/pymeshfix_planar_mesh.ply").json()
        short = srv.wait_for(cut["id"], ("failed", "needs_attention", "queued"), 60)
        assert short["state"] == "failed"
        assert "cut.stl" in short["error"] and "truncated" in short["error"], short["error"]
        failed = srv.wait_for(absurd["id"], ("failed",), 60)
        assert failed["error"].startswith("checking: ")
        print("absurd ->", failed["error"])
        # a defect repair can fix (one body inside out): repaired, sliced, queued
        repaired = srv.wait_for(inverted["id"], ("queued", "failed", "needs_attention"), 90)
        assert repaired["state"] == "queued", repaired["error"]
        assert "trimesh_multibody.repaired.stl" in repaired["artifacts"]
        assert repaired["report"]["check"]["printable"] is False
        assert repaired["report"]["repair"]["steps"]
        assert repaired["report"]["repair"]["result"]["watertight"] is True
        for sheet in (sheet1, sheet2):
            attention = srv.wait_for(sheet["id"], ("needs_attention",), 90)
            assert "Approve to print it anyway" in attention["error"]
            assert attention["report"]["attention"]
        with srv.client() as c:
            r = c.post(f"/api/jobs/{sheet1['id']}/reject", json={"reason": "open sheet"})
            assert r.json()["state"] == "failed"
            assert r.json()["error"] == "rejected by test: open sheet"
            r = c.post(f"/api/jobs/{sheet2['id']}/approve")
            assert r.status_code == 200 and r.json()["state"] == "received"
        # approved: it goes past the question (on to slicing, whatever slicing makes of it)
        after = srv.wait_for(sheet2["id"], ("queued", "failed", "printing", "done"), 120)
        messages = [e["message"] for e in after["events"]]
        print("approved ->", after["state"], after["error"], messages)
        # the cancelled ring: its worker stopped at its next step and published nothing
        with srv.client() as c:
            ring = c.get(f"/api/jobs/{ring['id']}").json()
        assert ring["state"] == "cancelled" and ring["archive"] is None
        assert not any(e["message"].startswith("sliced to") for e in ring["events"])
        assert "approved earlier: going on past the open questions" in messages
        # it goes on from the first run's repaired copy: no second check or repair
        assert "approved: the check and repair of the first run stand" in messages
        assert messages.count("mesh checked") == 1, messages
        assert after["report"]["repair"] == attention["report"]["repair"]



def test_a_ring_goes_all_the_way_to_done_on_the_virtual_printer(tmp_path: Path,
                                                                meshes: Path) -> None:
    printer = {"name": "bench-1", "type": "virtual", "profile": "phrozen-sonic-4k",
               "time_scale": 0.0005}
    with running_server(tmp_path, {"printers": [printer], "watch": {"enabled": False}}) as srv:
        job = _submit(srv, meshes / RING).json()
        done = srv.wait_for(job["id"], ("done", "failed", "needs_attention", "cancelled"), 240)
        assert done["state"] == "done", done["error"]
        assert done["printer"] == "bench-1" and done["progress_pct"] == 100
        states = [e["state"] for e in done["events"]]
        for stage in ("received", "checking", "repairing", "preparing", "slicing", "queued",
                      "printing", "done"):
            assert stage in states, stage
        assert done["archive"] in done["artifacts"] and "report.json" in done["artifacts"]
        with srv.client() as c:
            archive = c.get(f"/api/jobs/{job['id']}/files/{done['archive']}")
            report = c.get(f"/api/jobs/{job['id']}/files/report.json").json()
        assert archive.status_code == 200 and archive.content[:2] == b"PK"
        assert report["archive"] == done["archive"] and report["check"]["watertight"]
        assert done["report"]["load"]["triangles"] > 0


def test_approving_a_print_that_was_cut_short_queues_it_again(idle_server: Server,
                                                              meshes: Path) -> None:
    from printprep.service.config import load_settings
    from printprep.service.store import Store

    job = _submit(idle_server, meshes / RING).json()
    # the dispatcher's way there: printed part-way, then the printer lost the job
    store = Store.from_settings(load_settings(idle_server.config_path, env=idle_server.env))
    try:
        folder = idle_server.data_dir / "jobs" / job["id"]
        (folder / "ring.sl1").write_bytes(b"PK\x05\x06" + bytes(18))
        store.transition(job["id"], "queued", "sliced", archive="ring.sl1")
        store.transition(job["id"], "printing", "sending", printer="v1")
        store.transition(job["id"], "needs_attention", "printer lost the job at 40 %",
                         progress_pct=40.0)
    finally:
        store.close()
    with idle_server.client() as c:
        r = c.post(f"/api/jobs/{job['id']}/approve", json={"reason": "plate is clear"})
    assert r.status_code == 200
    body = r.json()
    assert (body["state"], body["printer"], body["progress_pct"]) == ("queued", None, 0.0)
    assert body["events"][-1]["message"] == (
        "approved by test: plate is clear; queued to print again")


def test_order_ref_is_kept_and_jobs_filter_by_profile_and_printer(idle_server: Server,
                                                                   meshes: Path) -> None:
    from printprep.service.config import load_settings
    from printprep.service.store import Store

    tagged = _submit(idle_server, meshes / RING, order_ref="  A-1042/7 ").json()
    assert tagged["order_ref"] == "A-1042/7"
    # notes are the jeweler's own words: nothing is parsed out of them
    noted = _submit(idle_server, meshes / RING, notes="Order: B-77\nsize 54").json()
    assert noted["order_ref"] is None and noted["notes"] == "Order: B-77\nsize 54"
    plain = _submit(idle_server, meshes / RING, notes="no order here").json()
    assert plain["order_ref"] is None
    assert _submit(idle_server, meshes / RING, order_ref="x" * 201).status_code == 422
    mini = _submit(idle_server, meshes / RING, profile="phrozen-sonic-mini-8k").json()

    store = Store.from_settings(load_settings(idle_server.config_path, env=idle_server.env))
    try:  # the dispatcher's way of giving a job a printer
        folder = idle_server.data_dir / "jobs" / mini["id"]
        (folder / "m.sl1").write_bytes(b"PK\x05\x06" + bytes(18))
        store.transition(mini["id"], "queued", "sliced", archive="m.sl1")
        store.transition(mini["id"], "printing", "sending", printer="mini-a")
    finally:
        store.close()

    with idle_server.client() as c:
        assert c.get(f"/api/jobs/{tagged['id']}").json()["order_ref"] == "A-1042/7"
        listed = c.get("/api/jobs", params={"limit": 500}).json()["jobs"]
        assert {j["id"]: j["order_ref"] for j in listed}[noted["id"]] is None

        by_profile = c.get("/api/jobs", params={"profile": "phrozen-sonic-mini-8k"}).json()
        assert [j["id"] for j in by_profile["jobs"]] == [mini["id"]]
        assert by_profile["total"] == 1
        sonic = c.get("/api/jobs", params={"profile": "phrozen-sonic-4k", "limit": 500}).json()
        ids = {j["id"] for j in sonic["jobs"]}
        assert {tagged["id"], noted["id"], plain["id"]} <= ids and mini["id"] not in ids
        assert sonic["total"] == len(sonic["jobs"])

        by_printer = c.get("/api/jobs", params={"printer": "mini-a"}).json()
        assert [j["id"] for j in by_printer["jobs"]] == [mini["id"]]
        both = c.get("/api/jobs", params={"printer": "mini-a", "state": "queued"}).json()
        assert both["jobs"] == [] and both["total"] == 0
        none = c.get("/api/jobs", params={"printer": "nobody"}).json()
        assert none["jobs"] == [] and none["total"] == 0
