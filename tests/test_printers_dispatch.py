"""Dispatcher over a real SQLite job store and virtual printers printing real archives.

The archives are sliced once per session from a shared ring mesh (real SL1/PNG-zip
files); each job gets its own copy in its job folder, as the pipeline leaves it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import trimesh

from printprep.printers.registry import create_printer
from printprep.profiles import load_profile
from printprep.service.dispatch import Dispatcher
from printprep.service.dispatch.plates import PlateLedger
from printprep.service.store import Store
from printprep.slicing import slice_to_archive

PROFILE_A = "elegoo-mars-4-dlp"
PROFILE_B = "prusa-sl1s"


@pytest.fixture(scope="session")
def archives(meshes: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real sliced archive per profile (ring, 0.1 mm layers)."""
    out = tmp_path_factory.mktemp("archives")
    ring = trimesh.load(meshes / "jewelry" / "solitaire_ring.stl")
    result = {}
    for name in (PROFILE_A, PROFILE_B):
        prof = load_profile(name)
        suffix = ".sl1" if prof.archive_format == "sl1" else ".zip"
        r = slice_to_archive([ring], prof, out / f"ring-{name}{suffix}", layer_height_mm=0.1)
        result[name] = r.path
    return result


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path)
    yield s
    s.close()


def queue_job(store: Store, archives: dict[str, Path], profile: str, *, priority: int = 0,
              name: str = "ring") -> str:
    """A job as the pipeline leaves it: in ``queued`` with its archive in its folder."""
    job = store.create_job(name=name, source="api", profile=profile, priority=priority)
    folder = store.job_folder(job.id)
    folder.mkdir(parents=True, exist_ok=True)
    src = archives[profile]
    shutil.copy(src, folder / src.name)
    store.transition(job.id, "queued", "sliced", archive=src.name)
    return job.id


def virtual(name: str, profile: str, **kw: object):
    return create_printer({"name": name, "type": "virtual", "profile": profile,
                           "time_scale": 0.0005, **kw})


def wait_for(cond, timeout_s: float = 30.0, what: str = "condition") -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def states(store: Store, ids: list[str]) -> list[str]:
    return [store.get(i).state for i in ids]


def messages(store: Store, job_id: str) -> list[str]:
    return [e.message for e in store.events(job_id)]


def run(store: Store, printers: dict, **settings: object) -> Dispatcher:
    d = Dispatcher(store, printers, {"dispatch": {"poll_s": 0.05, **settings}})
    d.start()
    return d


def test_each_printer_gets_only_jobs_of_its_profile(store, archives):
    a = [queue_job(store, archives, PROFILE_A, name=f"a{i}") for i in range(3)]
    b = [queue_job(store, archives, PROFILE_B, name=f"b{i}") for i in range(2)]
    printers = {"mars": virtual("mars", PROFILE_A), "sl1s": virtual("sl1s", PROFILE_B)}
    d = run(store, printers)
    try:
        wait_for(lambda: states(store, a + b) == ["done"] * 5, what="all five jobs done")
    finally:
        d.stop()
    assert {store.get(i).printer for i in a} == {"mars"}
    assert {store.get(i).printer for i in b} == {"sl1s"}
    for i in a + b:
        log = messages(store, i)
        assert any(m.startswith("printed on") for m in log), log
        assert store.get(i).progress_pct == 100.0
    # one job per printer: the printers never ran two prints at once
    assert printers["mars"].prints_started == 3 and printers["sl1s"].prints_started == 2


def test_a_finished_print_holds_its_printer_until_the_plate_is_cleared(store, archives,
                                                                        tmp_path):
    """A real printer (auto_clear off) keeps the finished print on its plate: the next job
    waits, through a service restart, until someone clears it; clearing lets it print."""
    first = queue_job(store, archives, PROFILE_A, name="first")
    time.sleep(0.01)
    second = queue_job(store, archives, PROFILE_A, name="second")
    config = {"dispatch": {"poll_s": 0.05}, "data_dir": tmp_path}
    p = virtual("mars", PROFILE_A, auto_clear=False)
    assert p.auto_clear is False and virtual("v", PROFILE_A).auto_clear is True
    d = Dispatcher(store, {"mars": p}, config)
    d.start()
    try:
        wait_for(lambda: store.get(first).state == "done", what="first job done")
        time.sleep(0.4)  # several ticks: the printer must not take the second job
        assert store.get(second).state == "queued"
        st = d.status("mars")
        assert (st.state, st.job_id, st.progress_pct) == ("finished", first, 100.0)
    finally:
        d.stop()
    assert (tmp_path / "plates.json").is_file()
    assert any("once someone confirms the plate is cleared" in m for m in messages(store, first))
    p.clear()  # the stopped dispatcher no longer listens: the plate stays held on file
    assert PlateLedger(tmp_path / "plates.json").held("mars")["job_ids"] == [first]

    # The service restarts; the printer (a new connector) comes back idle, having
    # forgotten its print. The plate is still held.
    p = virtual("mars", PROFILE_A, auto_clear=False)
    d = Dispatcher(store, {"mars": p}, config)
    d.start()
    try:
        time.sleep(0.4)
        assert p.status().state == "idle"
        assert (d.status("mars").state, d.status("mars").job_id) == ("finished", first)
        assert store.get(second).state == "queued"
        p.clear()  # what the API, the CLI and the button call
        # shown at once, not at the next tick (which may already have sent the next job)
        assert d.status("mars").state in ("idle", "busy", "printing"), d.status("mars")
        wait_for(lambda: store.get(second).state == "done", what="second job done")
        assert d.status("mars").job_id == second, "held again by the second print"
    finally:
        d.stop()
    assert "plate of mars cleared; it takes the next job" in messages(store, first)
    started = next(e.at for e in store.events(second) if e.state == "printing")
    cleared = next(e.at for e in store.events(first) if "cleared" in e.message)
    assert started >= cleared


def test_a_plate_held_before_auto_clear_was_switched_on_is_cleared(store, archives, tmp_path):
    old = store.create_job(name="old", source="api", profile=PROFILE_A, state="done").id
    PlateLedger(tmp_path / "plates.json").hold("mars", [old])
    job = queue_job(store, archives, PROFILE_A)
    d = Dispatcher(store, {"mars": virtual("mars", PROFILE_A)},
                   {"dispatch": {"poll_s": 0.05}, "data_dir": tmp_path})
    d.start()
    try:
        wait_for(lambda: store.get(job).state == "done", what="done")
    finally:
        d.stop()
    assert PlateLedger(tmp_path / "plates.json").held("mars") is None
    assert "plate of mars cleared; it takes the next job" in messages(store, old)


def test_auto_clear_is_a_checked_per_printer_key():
    from printprep.errors import ConfigError
    from printprep.printers.registry import validate_printer_config

    base = {"name": "p", "profile": PROFILE_A}
    real = [{"type": "octoprint", "url": "http://127.0.0.1:5000", "api_key": "k"},
            {"type": "serial", "port": "/dev/ttyACM0"},
            {"type": "prusalink", "url": "http://127.0.0.1:8080", "api_key": "k"}]
    for cfg in real:
        assert validate_printer_config({**base, **cfg})["auto_clear"] is False, cfg["type"]
        assert validate_printer_config({**base, **cfg, "auto_clear": True})["auto_clear"] is True
    assert validate_printer_config({**base, "type": "virtual"})["auto_clear"] is True
    assert validate_printer_config({**base, "type": "folder", "path": "/tmp"})["auto_clear"]
    with pytest.raises(ConfigError, match=r"printer 'p'.*'auto_clear' must be bool"):
        validate_printer_config({**base, "type": "virtual", "auto_clear": "yes"})


def test_priority_then_age(store, archives):
    old = queue_job(store, archives, PROFILE_A, name="old")
    time.sleep(0.01)
    new = queue_job(store, archives, PROFILE_A, name="new")
    time.sleep(0.01)
    urgent = queue_job(store, archives, PROFILE_A, priority=5, name="urgent")
    d = run(store, {"mars": virtual("mars", PROFILE_A)})
    try:
        wait_for(lambda: states(store, [old, new, urgent]) == ["done"] * 3, what="three done")
    finally:
        d.stop()
    started = {i: next(e.at for e in store.events(i) if e.state == "printing")
               for i in (old, new, urgent)}
    assert started[urgent] < started[old] < started[new]


def test_failure_mid_print_fails_the_job_with_the_reason(store, archives):
    job = queue_job(store, archives, PROFILE_A)
    p = virtual("mars", PROFILE_A, fail_at_pct=40)
    d = run(store, {"mars": p})
    try:
        wait_for(lambda: store.get(job).state == "failed", what="job failed")
        assert p.status().state == "error"
        # the printer holds its error: a second job waits until someone clears it
        second = queue_job(store, archives, PROFILE_A)
        time.sleep(0.3)
        assert store.get(second).state == "queued"
        p.clear()
        wait_for(lambda: store.get(second).state in ("printing", "failed", "done"),
                 what="second job leaves the queue")
    finally:
        d.stop()
    j = store.get(job)
    assert "simulated failure at" in j.error and "mars" in j.error
    assert 40 <= j.progress_pct < 100
    assert any("simulated failure" in m for m in messages(store, job))


def test_printer_restarting_mid_print_puts_the_job_in_needs_attention(store, archives):
    job = queue_job(store, archives, PROFILE_A)
    p = virtual("mars", PROFILE_A, offline_at_pct=30, offline_s=0.3, reboot_on_reconnect=True)
    d = run(store, {"mars": p})
    try:
        wait_for(lambda: store.get(job).state == "needs_attention", what="needs_attention")
    finally:
        d.stop()
    log = messages(store, job)
    assert any("went offline at" in m for m in log), log
    assert any("a part may be on the plate" in m for m in log), log


def test_printer_back_from_an_outage_carries_on(store, archives):
    job = queue_job(store, archives, PROFILE_A)
    p = virtual("mars", PROFILE_A, offline_at_pct=30, offline_s=0.3)
    d = run(store, {"mars": p})
    try:
        wait_for(lambda: store.get(job).state == "done", what="done after the outage")
    finally:
        d.stop()
    log = messages(store, job)
    assert any("went offline" in m for m in log) and any("is back" in m for m in log), log


def test_job_lost_before_printing_goes_to_another_printer(store, archives):
    job = queue_job(store, archives, PROFILE_A)
    flaky = virtual("flaky", PROFILE_A, offline_at_pct=0, offline_s=0.2,
                    reboot_on_reconnect=True)
    d = run(store, {"flaky": flaky})
    try:
        wait_for(lambda: any("queued again" in m for m in messages(store, job)),
                 what="requeue")
    finally:
        d.stop()
    # with a good printer beside it, the requeued job is printed
    good = virtual("good", PROFILE_A)
    d = run(store, {"good": good})
    try:
        wait_for(lambda: store.get(job).state == "done", what="done on the good printer")
    finally:
        d.stop()
    assert store.get(job).printer == "good"


def test_offline_longer_than_the_grace_needs_attention(store, archives):
    job = queue_job(store, archives, PROFILE_A)
    p = virtual("mars", PROFILE_A, offline_at_pct=20, offline_s=30)
    d = run(store, {"mars": p}, offline_grace_s=0.5)
    try:
        wait_for(lambda: store.get(job).state == "needs_attention", what="needs_attention")
        assert p.status().state == "offline"
    finally:
        d.stop()
    assert any("stayed offline" in m for m in messages(store, job))


def test_cancelling_a_printing_job_stops_the_printer(store, archives):
    job = queue_job(store, archives, PROFILE_A)
    p = create_printer({"name": "mars", "type": "virtual", "profile": PROFILE_A,
                        "time_scale": 0.01})
    d = run(store, {"mars": p})
    try:
        wait_for(lambda: p.status().state == "printing", what="printing")
        store.transition(job, "cancelled", "cancelled by test", expect="printing")
        wait_for(lambda: p.status().state == "idle", what="printer idle")
    finally:
        d.stop()
    assert store.get(job).state == "cancelled"
    assert any("cancelling the print on mars" in m for m in messages(store, job))


def test_restart_of_the_service_picks_up_printing_jobs(store, archives):
    started = queue_job(store, archives, PROFILE_A, name="started")
    unstarted = queue_job(store, archives, PROFILE_A, name="unstarted")
    # as a crashed service leaves them: printing on printers that no longer have them
    store.transition(started, "printing", "sending", expect="queued", printer="mars")
    store.set_progress(started, 35.0)
    store.transition(unstarted, "printing", "sending", expect="queued", printer="gone")
    d = run(store, {"mars": virtual("mars", PROFILE_A)})
    try:
        wait_for(lambda: store.get(started).state == "needs_attention", what="needs_attention")
        wait_for(lambda: store.get(unstarted).state in ("queued", "printing", "done"),
                 what="unstarted requeued")
    finally:
        d.stop()
    assert any("not configured" in m for m in messages(store, unstarted))


def test_missing_archive_fails_the_job(store, archives):
    job = queue_job(store, archives, PROFILE_A)
    (store.job_folder(job) / archives[PROFILE_A].name).unlink()
    d = run(store, {"mars": virtual("mars", PROFILE_A)})
    try:
        wait_for(lambda: store.get(job).state == "failed", what="failed")
    finally:
        d.stop()
    assert any("no sliced file" in m for m in messages(store, job))


def test_status_changes_are_published(store, archives):
    job = queue_job(store, archives, PROFILE_A)
    d = Dispatcher(store, {"mars": virtual("mars", PROFILE_A)}, {"dispatch": {"poll_s": 0.05}})
    q = d.events.subscribe()
    d.start()
    try:
        wait_for(lambda: store.get(job).state == "done", what="done")
    finally:
        d.stop()
    seen = []
    while not q.empty():
        seen.append(q.get_nowait())
    printer_states = [data["state"] for kind, data in seen if kind == "printer"]
    assert "printing" in printer_states
    assert ("job", "done") in {(k, data.get("state")) for k, data in seen}


def test_batching_puts_jobs_of_one_material_on_one_plate(store, archives, meshes):
    from printprep.slicing import read_archive

    ring = meshes / "jewelry" / "solitaire_ring.stl"
    ids = []
    for i in range(3):
        job_id = queue_job(store, archives, PROFILE_A, name=f"ring{i}")
        shutil.copy(ring, store.job_folder(job_id) / "ring.print.stl")  # as prepare leaves it
        ids.append(job_id)
    p = virtual("mars", PROFILE_A)
    d = run(store, {"mars": p}, batching=True)
    try:
        wait_for(lambda: states(store, ids) == ["done"] * 3, timeout_s=60, what="plate done")
    finally:
        d.stop()
    assert p.prints_started == 1  # one plate, one print
    plate_events = [e for i in ids for e in store.events(i) if e.data and "plate" in e.data]
    assert len(plate_events) == 3
    plate_name = plate_events[0].data["plate"]
    assert {e.data["plate"] for e in plate_events} == {plate_name}
    placements = {tuple(e.data["placement_mm"]) for e in plate_events}
    assert len(placements) == 3  # three different spots
    # the plate holds three rings: at the same layers, three times the exposed pixels
    plate = read_archive(store.job_folder(ids[0]) / plate_name)
    single = read_archive(archives[PROFILE_A])
    assert plate.layer_count == single.layer_count
    sample = range(5, single.layer_count, max(1, single.layer_count // 12))
    lit_plate = sum(int(plate.layer(i).sum()) for i in sample)
    lit_single = sum(int(single.layer(i).sum()) for i in sample)
    assert 2.9 * lit_single < lit_plate < 3.1 * lit_single
