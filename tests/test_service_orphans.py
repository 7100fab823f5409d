"""Start-up removes job folders an interrupted upload left without a job, and only those."""

from __future__ import annotations

import os
import time
from pathlib import Path

from helpers.server import make_server

RING = "jewelry/solitaire_ring.stl"


def _age(path: Path, seconds: float) -> None:
    """Set ``path`` and everything in it ``seconds`` into the past."""
    t = time.time() - seconds
    for p in [*path.rglob("*"), path]:
        os.utime(p, (t, t))


def test_startup_removes_only_old_folders_without_job_or_file(tmp_path: Path,
                                                               meshes: Path) -> None:
    srv = make_server(tmp_path, {"workers": {"count": 0}, "printers": [],
                                 "watch": {"enabled": False}})
    srv.start()
    try:
        with srv.client() as c, open(meshes / RING, "rb") as fh:
            job = c.post("/api/jobs", files={"file": ("ring.stl", fh)},
                         data={"profile": "phrozen-sonic-4k"}).json()
    finally:
        srv.stop()
    jobs_dir = srv.data_dir / "jobs"
    real = jobs_dir / job["id"]
    # what an upload killed mid-way leaves: a folder with a partial .incoming, or nothing
    partial = jobs_dir / "0123456789abcdef0123456789abcdef"
    partial.mkdir()
    (partial / ".incoming").write_bytes(b"solid half an upl")
    empty = jobs_dir / "fedcba9876543210fedcba9876543210"
    empty.mkdir()
    young = jobs_dir / "00000000000000000000000000000001"  # may still be being written
    young.mkdir()
    (young / ".incoming").write_bytes(b"solid")
    stored = jobs_dir / "00000000000000000000000000000002"  # file stored, row never made
    stored.mkdir()
    (stored / "original.stl").write_bytes((meshes / RING).read_bytes())
    for folder in (partial, empty, stored, real):
        _age(folder, 120)
    _age(young, 10)

    srv.start()
    try:
        assert not partial.exists() and not empty.exists()
        assert young.is_dir() and (young / ".incoming").is_file()
        assert (stored / "original.stl").is_file()
        assert (real / "original.stl").read_bytes() == (meshes / RING).read_bytes()
        with srv.client() as c:
            assert c.get(f"/api/jobs/{job['id']}").json()["artifacts"] == ["original.stl"]
        log = srv.log()
        assert "interrupted before its job existed" in log
        assert "00000000000000000000000000000002 has files but no job" in log
    finally:
        srv.stop()
