"""Pipeline worker processes: claim a job atomically, run it, keep the claim alive.

A worker is a separate process (``printprep worker``, or started by ``serve``: one per
core by default). Its loop: take back jobs of dead workers, claim the next ``received``
job (the store's conditional UPDATE makes the claim atomic across processes and hosts),
run :func:`printprep.service.pipeline.run_job` while a thread refreshes the claim's
heartbeat, repeat.

A worker that dies (SIGKILL, OOM, power) leaves a claim that stops being refreshed; any
worker or the server takes it back after ``stale_after_s`` (at once when the dead
worker was on the same host: its process is gone), and the job runs again from the
start, at most ``max_attempts`` times, then fails with the reason. Stage outputs are
written under temporary names and renamed, so a half-written artifact never counts.

SIGTERM (and SIGINT) drain: the worker finishes its current job, then exits.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

import psutil

from printprep.service.config import Settings
from printprep.service.store import Store

log = logging.getLogger("printprep.worker")

_HOST = socket.gethostname()


def worker_id(pid: int | None = None) -> str:
    """``host:pid:start`` of a process: unique even when the OS reuses the pid."""
    pid = pid or os.getpid()
    try:
        started = int(psutil.Process(pid).create_time())
    except psutil.Error:
        started = 0
    return f"{_HOST}:{pid}:{started}"


def is_dead(claimed_by: str) -> bool:
    """True if ``claimed_by`` names a process on this host that no longer runs.

    Workers on other hosts are judged by their heartbeat only (False here).
    """
    try:
        host, pid_text, started_text = claimed_by.rsplit(":", 2)
        pid, started = int(pid_text), int(started_text)
    except ValueError:
        return False
    if host != _HOST:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        return int(proc.create_time()) != started
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def reclaim_dead(store: Store, settings: Settings) -> list[str]:
    """Take back the jobs of dead workers (stale heartbeat or gone from this host)."""
    handled = store.reclaim_stale(
        stale_after_s=settings.workers.stale_after_s,
        max_attempts=settings.workers.max_attempts,
        is_dead=is_dead,
    )
    if handled:
        log.info("took back %d job(s) of dead workers: %s", len(handled), ", ".join(handled))
    return handled


class _Heartbeat(threading.Thread):
    """Refreshes one job's claim every ``heartbeat_s``; notes when the claim is lost."""

    def __init__(self, store: Store, job_id: str, wid: str, period_s: float) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.store, self.job_id, self.wid, self.period_s = store, job_id, wid, period_s
        self.done = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.period_s):
            try:
                if not self.store.heartbeat(self.job_id, self.wid):
                    self.lost.set()
                    return
            except Exception as exc:  # database busy/unreachable: try again next period
                log.warning("heartbeat for job %s: %s", self.job_id, exc)


class Worker:
    """One worker's loop (runs in its own process; see :func:`run_worker`)."""

    def __init__(self, settings: Settings, store: Store, *, parent_pid: int | None = None):
        self.settings = settings
        self.store = store
        self.id = worker_id()
        self.parent_pid = parent_pid
        self.stopping = threading.Event()
        self.busy_job: str | None = None

    def request_stop(self, *_: Any) -> None:
        if not self.stopping.is_set():
            log.info("worker %s: draining (finishing job %s)", self.id, self.busy_job or "-")
        self.stopping.set()

    def _parent_gone(self) -> bool:
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def run_once(self) -> bool:
        """Claim and run one job; False when there was none."""
        from printprep.service.pipeline import run_job

        job = self.store.claim_next(self.id)
        if job is None:
            return False
        self.busy_job = job.id
        beat = _Heartbeat(self.store, job.id, self.id, self.settings.workers.heartbeat_s)
        beat.start()
        try:
            run_job(self.store, self.settings, job, lost=beat.lost)
        finally:
            beat.done.set()
            beat.join()
            self.busy_job = None
            # the ray engine keeps the last big BVH for a repeat question on the same mesh;
            # the next job is another mesh, so a long-lived worker lets it go (~0.5 GB at 1M)
            from printprep.mesh.raycast import clear_scene_cache

            clear_scene_cache()
        return True

    def loop(self) -> None:
        log.info("worker %s ready (data %s)", self.id, self.settings.data_dir)
        next_reclaim = 0.0
        while not self.stopping.is_set():
            if self._parent_gone():
                log.warning("worker %s: serve process is gone; exiting", self.id)
                return
            now = time.monotonic()
            try:
                if now >= next_reclaim:
                    reclaim_dead(self.store, self.settings)
                    next_reclaim = now + max(self.settings.workers.heartbeat_s, 1.0)
                if self.run_once():
                    continue
            except Exception:  # a database hiccup must not end the worker
                log.exception("worker %s: loop error", self.id)
            self.stopping.wait(self.settings.workers.poll_s)
        log.info("worker %s stopped", self.id)


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent (serve) dies, as if killed with it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def run_worker(settings: Settings, *, parent_pid: int | None = None) -> None:
    """Body of a worker process: signals, niceness, store, loop."""
    if parent_pid is not None:
        _die_with_parent()
        if os.getppid() != parent_pid:  # parent died before prctl took effect
            return
    logging.basicConfig(
        level=getattr(logging, settings.server.log_level.upper(), logging.INFO)
        if settings.server.log_level != "trace"
        else logging.DEBUG,
        format=f"%(asctime)s worker[{os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
    if settings.workers.nice:
        try:
            os.nice(settings.workers.nice)
        except OSError:
            pass
    store = Store.from_settings(settings)
    worker = Worker(settings, store, parent_pid=parent_pid)
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    try:
        worker.loop()
    finally:
        store.close()


class WorkerPool:
    """The worker processes ``serve`` runs; a supervisor thread replaces any that die."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.count = settings.worker_count
        self._ctx = multiprocessing.get_context("spawn")
        self._procs: list[Any] = []
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()

    def _spawn(self) -> Any:
        proc = self._ctx.Process(
            target=run_worker,
            args=(self.settings,),
            kwargs={"parent_pid": os.getpid()},
            name="printprep-worker",
            daemon=False,
        )
        proc.start()
        return proc

    def start(self) -> None:
        if self.count <= 0:
            return
        with self._lock:
            self._procs = [self._spawn() for _ in range(self.count)]
        self._supervisor = threading.Thread(target=self._supervise, name="workers", daemon=True)
        self._supervisor.start()

    def _supervise(self) -> None:
        while not self._stopping.wait(1.0):
            with self._lock:
                for i, proc in enumerate(self._procs):
                    if not proc.is_alive() and not self._stopping.is_set():
                        log.warning(
                            "worker pid %s exited with %s; starting another", proc.pid,
                            proc.exitcode,
                        )
                        self._procs[i] = self._spawn()

    def alive(self) -> int:
        with self._lock:
            return sum(1 for p in self._procs if p.is_alive())

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs if p.is_alive()]

    def stop(self, drain_timeout_s: float) -> None:
        """SIGTERM every worker, wait up to ``drain_timeout_s`` for them, then SIGKILL."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + drain_timeout_s
        for proc in procs:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        for proc in procs:
            if proc.is_alive():
                log.warning("worker pid %s did not drain in %gs; killing", proc.pid,
                            drain_timeout_s)
                proc.kill()
                proc.join(timeout=5)
