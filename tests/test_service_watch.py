"""The watch folder of the real server: complete files only, files dropped while it was
stopped, profile subfolders, bad files to failed/ with a report; and a folder of
thousands of files through the Watcher itself."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from helpers.server import make_server

from printprep.service.config import load_settings
from printprep.service.store import Store
from printprep.service.watch import Watcher, ignored

RING = "jewelry/solitaire_ring.stl"


def _wait(cond, timeout_s: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _jobs(srv) -> list[dict]:
    with srv.client() as c:
        return c.get("/api/jobs", params={"limit": 500}).json()["jobs"]


def test_watch_folder_end_to_end(tmp_path: Path, meshes: Path) -> None:
    srv = make_server(tmp_path, {"workers": {"count": 1}, "printers": [],
                                 "pipeline": {"prepare": False},
                                 "watch": {"stable_s": 1.0, "poll_s": 0.2}})
    watch = srv.watch_dir
    # dropped while the service was down: taken at start
    watch.mkdir(parents=True)
    shutil.copy(meshes / RING, watch / "early.stl")
    (watch / "elegoo-mars-4-dlp").mkdir()
    shutil.copy(meshes / RING, watch / "elegoo-mars-4-dlp" / "mars.stl")
    for never in (".hidden.stl", "copying.stl.part", "x.tmp", "backup.stl~"):
        shutil.copy(meshes / RING, watch / never)
    srv.start()
    try:
        _wait(lambda: len(_jobs(srv)) == 2, 30, "the two early files")
        by_name = {j["name"]: j for j in _jobs(srv)}
        assert by_name["early"]["profile"] == "phrozen-sonic-4k"
        assert by_name["mars"]["profile"] == "elegoo-mars-4-dlp"
        assert all(j["source"] == "watch" for j in by_name.values())
        processed = sorted(p.name for p in (watch / "processed").iterdir())
        assert processed == sorted(f"{j['id']}--{j['name']}.stl" for j in by_name.values())
        for never in (".hidden.stl", "copying.stl.part", "x.tmp", "backup.stl~"):
            assert (watch / never).exists(), never

        # a slow writer: not taken while it grows, taken once it has been still
        data = (meshes / RING).read_bytes()
        slow = watch / "slow.stl"
        with open(slow, "wb") as fh:
            for i in range(0, len(data), len(data) // 8 + 1):
                fh.write(data[i : i + len(data) // 8 + 1])
                fh.flush()
                time.sleep(0.4)
                assert not any(j["name"] == "slow" for j in _jobs(srv)), "taken while growing"
        _wait(lambda: any(j["name"] == "slow" for j in _jobs(srv)), 20, "the slow file")
        slow_job = next(j for j in _jobs(srv) if j["name"] == "slow")
        stored = srv.data_dir / "jobs" / slow_job["id"] / "original.stl"
        assert stored.read_bytes() == data  # the whole file, not a prefix

        # renamed in from a temp name: taken once it has its final name
        tmp = watch / "renamed.stl.part"
        shutil.copy(meshes / RING, tmp)
        old = time.time() - 60
        os.utime(tmp, (old, old))
        time.sleep(0.6)
        assert not any(j["name"] == "renamed" for j in _jobs(srv))
        os.rename(tmp, watch / "renamed.stl")
        _wait(lambda: any(j["name"] == "renamed" for j in _jobs(srv)), 10, "the renamed file")

        # bad files: not a mesh -> failed/ with a report; unknown profile folder too
        (watch / "notes.stl").write_text("these are not triangles\n")
        (watch / "no-such-printer").mkdir()
        shutil.copy(meshes / RING, watch / "no-such-printer" / "lost.stl")
        failed = watch / "failed"
        _wait(lambda: len(list(failed.glob("*.txt"))) == 2, 20, "two failure reports")
        reports = {p.name: p.read_text() for p in failed.glob("*.txt")}
        notes = next(t for n, t in reports.items() if n.endswith("--notes.stl.txt"))
        assert "content is not a mesh format" in notes and "job:" in notes
        lost = next(t for n, t in reports.items() if n.endswith("--lost.stl.txt"))
        assert "'no-such-printer' is not a printer profile" in lost
        assert sorted(p.name for p in failed.iterdir() if p.suffix != ".txt") == sorted(
            n[:-4] for n in reports)
        notes_job = next(j for j in _jobs(srv) if j["name"] == "notes")
        assert notes_job["state"] == "failed"

        # a mesh file that fails later, in a worker: moved from processed/ to failed/
        shutil.copy(meshes / "io/manifold_Cray_right.obj", watch / "absurd.obj")
        _wait(lambda: any(j["name"] == "absurd" for j in _jobs(srv)), 20, "the absurd file")
        absurd = next(j for j in _jobs(srv) if j["name"] == "absurd")
        report = failed / f"{absurd['id']}--absurd.obj.txt"
        _wait(report.exists, 60, "the absurd file's failure report")
        assert "absurd coordinates" in report.read_text()
        assert (failed / f"{absurd['id']}--absurd.obj").is_file()
        assert not (watch / "processed" / f"{absurd['id']}--absurd.obj").exists()
    finally:
        srv.stop()


def test_thousands_of_files_are_taken_in_turns_once_each(tmp_path: Path) -> None:
    settings = load_settings(None, env={}, overrides={
        "server": {"data_dir": str(tmp_path / "data")},
        "watch": {"stable_s": 0.0, "max_per_scan": 400},
    })
    store = Store.from_settings(settings)
    watcher = Watcher(store, settings)
    watch = settings.watch_dir
    watch.mkdir(parents=True)
    tri = b"solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\n" \
          b"vertex 0 1 0\nendloop\nendfacet\nendsolid t\n"
    for i in range(1000):
        (watch / f"p{i:04d}.stl").write_bytes(tri)
    t0 = time.perf_counter()
    first = watcher.scan_once()
    first_scan_s = time.perf_counter() - t0
    assert len(first) == 400  # bounded per scan, oldest first
    total = len(first)
    while (batch := watcher.scan_once()):
        total += len(batch)
    assert total == 1000
    assert store.count_jobs() == 1000
    assert len(list((watch / "processed").iterdir())) == 1000
    assert [p for p in watch.iterdir() if p.is_file()] == []
    print(f"first scan of 1000 files: {first_scan_s:.2f}s for 400 jobs")
    store.close()


def test_ignored_names() -> None:
    for name in (".x.stl", "a.part", "a.PART", "a.tmp", "a.stl~", "a.crdownload", "r.txt"):
        assert ignored(name), name
    for name in ("ring.stl", "ring.3mf", "ring.obj"):
        assert not ignored(name), name
