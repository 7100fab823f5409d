"""The job store on both backends, a real SQLite file and a real (throwaway) PostgreSQL
server: transitions, claims across processes, reclaim of a dead worker's job, bounded
retries, lists and filters, the event log, tokens; and the intake helpers (names, content
sniffing)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers.server import free_port

from printprep.errors import PrintprepError
from printprep.service.intake import sanitize_filename, sniff_format
from printprep.service.store import JobNotFoundError, JobStateError, Store, tokens_table
from printprep.service.worker import is_dead, worker_id

pytest_plugins = ["helpers.postgres"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database on each backend: a SQLite file, or a database of its own on the
    session's throwaway PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    s = Store(database_url, tmp_path)
    yield s
    s.close()


def _job(store: Store, name: str = "ring", priority: int = 0):
    return store.create_job(name=name, source="api", profile="phrozen-sonic-4k",
                            priority=priority)


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path)
    _job(store)
    store.close()
    con = sqlite3.connect(tmp_path / "jobs.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_transition_checks_the_current_state_and_logs_an_event(store: Store) -> None:
    job = _job(store)
    moved = store.transition(job.id, "queued", "sliced", expect="received",
                             archive="ring.sl1", progress_pct=100)
    assert (moved.state, moved.archive, moved.progress_pct) == ("queued", "ring.sl1", 100)
    assert moved.archive_path == store.jobs_dir / job.id / "ring.sl1"
    with pytest.raises(JobStateError) as info:
        store.transition(job.id, "printing", "x", expect=("received", "checking"))
    assert info.value.state == "queued" and job.id in str(info.value)
    assert store.get(job.id).state == "queued"  # nothing changed
    assert [e.message for e in store.events(job.id)] == ["received from api", "sliced"]
    with pytest.raises(JobNotFoundError):
        store.transition("nope", "done", "x")
    with pytest.raises(Exception, match="cannot set job field"):
        store.transition(job.id, "done", "x", state="done")
    done = store.transition(job.id, "done", "printed", elapsed_s=12.5, data={"a": 1})
    assert done.state == "done"
    assert store.events(job.id)[-1].data == {"elapsed_s": 12.5, "a": 1}


def test_queued_jobs_are_ordered_by_priority_then_age(store: Store) -> None:
    ids = []
    for name, prio in (("a", 0), ("b", 5), ("c", 0), ("d", 5)):
        j = _job(store, name, prio)
        store.transition(j.id, "queued", "sliced")
        ids.append(j.id)
        time.sleep(0.01)
    assert [j.name for j in store.queued_jobs()] == ["b", "d", "a", "c"]
    assert store.queued_jobs(profile="other") == []
    assert [j.name for j in store.list_jobs(limit=2)] == ["d", "c"]
    assert [j.name for j in store.list_jobs(limit=2, offset=2)] == ["b", "a"]
    assert store.count_jobs("queued") == 4 and store.count_jobs("done") == 0


def _claimer(url: str, data_dir: str, out: multiprocessing.Queue) -> None:
    s = Store(url, data_dir)
    got = []
    while (job := s.claim_next(worker_id())) is not None:
        got.append(job.id)
    out.put(got)
    s.close()


def test_concurrent_workers_claim_each_job_exactly_once(store: Store, tmp_path: Path) -> None:
    ids = {_job(store, f"j{i}").id for i in range(40)}
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(store.database_url, str(tmp_path), out))
             for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    claimed = [j for r in results for j in r]
    assert sorted(claimed) == sorted(ids)  # every job once, none twice
    assert all(store.get(j).attempts == 1 for j in ids)


def _sleeper() -> None:
    time.sleep(60)


def test_a_dead_workers_job_is_taken_back_then_failed_after_max_attempts(store: Store) -> None:
    job = _job(store)
    ctx = multiprocessing.get_context("spawn")
    for attempt in (1, 2):
        proc = ctx.Process(target=_sleeper)
        proc.start()
        wid = worker_id(proc.pid)
        assert store.claim_next(wid).id == job.id
        assert store.heartbeat(job.id, wid)
        assert not is_dead(wid)
        assert store.reclaim_stale(stale_after_s=60, max_attempts=2, is_dead=is_dead) == []
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        assert is_dead(wid)
        assert store.reclaim_stale(stale_after_s=60, max_attempts=2, is_dead=is_dead) == [job.id]
        after = store.get(job.id)
        assert after.attempts == attempt
        assert after.claimed_by is None
    assert after.state == "failed"
    assert "gave up after 2 attempt(s)" in after.error
    assert "stopped while the job was checking" in after.error


def test_a_stale_heartbeat_from_another_host_is_taken_back(store: Store) -> None:
    job = _job(store)
    wid = "elsewhere:123:456"
    store.claim_next(wid)
    assert store.reclaim_stale(stale_after_s=30, max_attempts=3, is_dead=is_dead) == []
    store.update_fields(job.id, heartbeat_at=time.time() - 31)
    assert store.reclaim_stale(stale_after_s=30, max_attempts=3, is_dead=is_dead) == [job.id]
    assert store.get(job.id).state == "received"
    assert not store.heartbeat(job.id, wid)  # the old worker learns it lost the job
    assert store.claim_next("here:1:1").id == job.id
    with pytest.raises(JobStateError, match="no longer claimed by worker elsewhere:123:456"):
        store.transition(job.id, "repairing", "checked", expect="checking", owner=wid)
    assert store.transition(job.id, "repairing", "checked", expect="checking",
                            owner="here:1:1").state == "repairing"


def test_tokens_are_stored_hashed(store: Store, tmp_path: Path) -> None:
    token = store.create_token("bench")
    assert store.verify_token(token) and store.token_name(token) == "bench"
    assert not store.verify_token(token + "x") and not store.verify_token("")
    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(tokens_table))]
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0])
    assert token not in stored and token[3:] not in stored
    assert store.list_tokens()[0]["name"] == "bench" and "token_hash" not in store.list_tokens()[0]
    if store.backend == "sqlite":
        assert token.encode() not in (tmp_path / "jobs.db").read_bytes()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\ring.stl", "ring.stl"),
        ("/abs/path/ring.stl", "ring.stl"),
        (".hidden.stl", "hidden.stl"),
        ("..", "upload"),
        ("", "upload"),
        ("ri\x00ng\n.stl", "ri_ng.stl"),
        ("bague été.stl", "bague ete.stl"),
        ("戒指.stl", "upload.stl"),
    ],
)
def test_sanitize_filename_keeps_names_inside_the_job_folder(given: str, expected: str) -> None:
    assert sanitize_filename(given) == expected


def test_sniff_format_reads_content_not_extension(meshes: Path) -> None:
    for rel, fmt in (("jewelry/solitaire_ring.stl", "stl"), ("jewelry/jjg_pendant.stl", "stl"),
                     ("broken/manifold_self_intersectA.obj", "obj"),
                     ("broken/pymeshfix_planar_mesh.ply", "ply"),
                     ("broken/trimesh_featuretype.3MF", "3mf")):
        data = (meshes / rel).read_bytes()
        assert sniff_format(data[:4096], len(data)) == fmt, rel
    assert sniff_format(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, 108) is None
    assert sniff_format(b"hello world\n", 12) is None
    assert sniff_format(b"", 0) is None


def test_a_database_from_before_order_ref_gains_the_column(database_url: str,
                                                          tmp_path: Path) -> None:
    Store(database_url, tmp_path).close()
    engine = sa.create_engine(Store(database_url, tmp_path).engine.url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE jobs DROP COLUMN order_ref"))  # the old schema
        conn.execute(sa.text(
            "INSERT INTO jobs (id, name, source, profile, options, priority, state, "
            "progress_pct, attempts, created_at, updated_at) VALUES ('old1', 'ring', 'api', "
            "'phrozen-sonic-4k', '{}', 0, 'done', 100, 1, 1.0, 1.0)"))
    assert "order_ref" not in [c["name"] for c in sa.inspect(engine).get_columns("jobs")]
    engine.dispose()
    store = Store(database_url, tmp_path)
    try:
        assert store.get("old1").order_ref is None and store.get("old1").state == "done"
        job = store.create_job(name="new", source="api", profile="phrozen-sonic-4k",
                               order_ref="C-9")
        assert store.get(job.id).order_ref == "C-9"
    finally:
        store.close()


def test_lists_filter_by_state_profile_and_printer(store: Store) -> None:
    a = _job(store, "a")
    b = store.create_job(name="b", source="watch", profile="prusa-sl1s")
    c = _job(store, "c")
    store.transition(c.id, "queued", "sliced", printer="virtual-1", progress_pct=100.0)
    store.transition(a.id, "failed", "bad mesh", error="not a mesh")
    assert {j.name for j in store.list_jobs(state="received")} == {"b"}
    assert {j.name for j in store.list_jobs(state=["received", "failed"])} == {"a", "b"}
    assert [j.name for j in store.list_jobs(profile="prusa-sl1s")] == ["b"]
    assert [j.id for j in store.list_jobs(printer="virtual-1")] == [c.id]
    assert store.count_jobs(["queued", "failed"]) == 2
    assert store.count_jobs(profile="phrozen-sonic-4k") == 2
    assert store.count_by_state() == {"received": 1, "queued": 1, "failed": 1}
    assert store.list_jobs(limit=10, offset=3) == []
    assert store.get(b.id).source == "watch" and store.get(a.id).error == "not a mesh"
    assert store.find_by_source_key("nope") is None
    with pytest.raises(PrintprepError, match="unknown job state"):
        store.list_jobs(state="melting")


def test_json_fields_floats_and_long_text_round_trip_the_same(store: Store) -> None:
    job = store.create_job(name="r" * 200, source="cli", profile="phrozen-sonic-4k",
                           options={"units": "inch", "prepare": {"tilt_deg": 30.5}},
                           source_key="watch/" + "deep/" * 200 + "ring.stl:1:2")
    got = store.get(job.id)
    assert got.options == {"units": "inch", "prepare": {"tilt_deg": 30.5}}
    assert got.name == "r" * 200 and store.find_by_source_key(job.source_key).id == job.id
    store.transition(job.id, "queued", "sliced", report={"layers": 120, "ok": True},
                     progress_pct=99.5)
    got = store.get(job.id)
    assert got.report == {"layers": 120, "ok": True} and got.progress_pct == 99.5
    assert isinstance(got.created_at, float) and got.updated_at >= got.created_at
    with pytest.raises(PrintprepError, match="name is 201 characters long; at most 200"):
        store.create_job(name="r" * 201, source="cli", profile="phrozen-sonic-4k")
    with pytest.raises(PrintprepError, match=f"job {job.id}: archive is 300 characters"):
        store.transition(job.id, "done", "x", archive="a" * 300)
    assert store.get(job.id).state == "queued"


def test_event_ids_become_visible_in_order_under_concurrent_writers(store: Store) -> None:
    """A live feed that remembers the last id it saw misses no event, even while several
    threads log events at once (PostgreSQL numbers rows before they commit)."""
    jobs = [_job(store, f"j{i}").id for i in range(4)]
    per_writer = 40
    stop = threading.Event()
    seen: list[int] = []

    def writer(job_id: str) -> None:
        for i in range(per_writer):
            store.add_event(job_id, f"step {i}")

    def reader() -> None:
        after = 0
        while True:
            done = stop.is_set()
            batch = store.recent_events(after_id=after, limit=1000)
            seen.extend(e.id for e in batch)
            after = batch[-1].id if batch else after
            if done and not batch:
                return

    start_id = store.events(jobs[-1])[-1].id
    threads = [threading.Thread(target=writer, args=(j,)) for j in jobs]
    read = threading.Thread(target=reader)
    read.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    read.join(timeout=60)
    written = [e.id for j in jobs for e in store.events(j) if e.message.startswith("step")]
    assert len(written) == 4 * per_writer
    assert sorted(i for i in seen if i > start_id) == sorted(written)
    assert seen == sorted(seen)


def test_a_bad_database_url_names_the_key_and_the_problem(tmp_path: Path) -> None:
    for url, problem in (
        ("mysql://u@localhost/jobs", "unsupported database 'mysql'"),
        ("nonsense", "is not a database URL"),
        ("postgresql://u@127.0.0.1/", "names no database"),
        ("sqlite://", "needs a file"),
    ):
        with pytest.raises(PrintprepError, match=problem) as info:
            Store(url, tmp_path)
        assert "database_url" in str(info.value)
    port = free_port()  # nothing listens there
    url = f"postgresql://printprep:s3cret@127.0.0.1:{port}/jobs"
    with pytest.raises(PrintprepError, match="cannot connect to the database") as info:
        Store(url, tmp_path)
    text = str(info.value)
    assert "database_url" in text and f"127.0.0.1:{port}" in text and "s3cret" not in text


def test_several_processes_opening_a_new_database_at_once_all_succeed(database_url: str,
                                                                      tmp_path: Path) -> None:
    """serve and its workers start together and each creates the schema if missing."""
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []
    stores: list[Store] = []

    def open_store() -> None:
        barrier.wait()
        try:
            stores.append(Store(database_url, tmp_path))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert errors == []
        job = _job(stores[0])
        assert all(s.get(job.id).name == "ring" for s in stores)
    finally:
        for s in stores:
            s.close()
