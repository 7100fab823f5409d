"""The watch folder: files dropped into ``watch/`` (default profile) or
``watch/<profile-name>/`` become jobs.

A file is taken once it is complete: its size and mtime have not changed for
``stable_s`` (a file renamed in from a temporary name is old at once and taken on the
next scan). Dotfiles and ``.part``, ``.tmp``, ``.crdownload``, ``.swp`` and ``~`` files
are never taken. Files that arrived while the service was down are old, so the first
scan takes them. Each taken file becomes a job (source ``watch``) and moves to
``processed/<job-id>--<name>``; one that cannot become a good job (not a mesh, unknown
profile folder, a pipeline failure later) lands in ``failed/`` with ``<name>.txt``
beside it saying why. Scans use ``os.scandir`` and take at most ``max_per_scan`` files
each (oldest first), so a folder of thousands is worked through without stalling.

Crash safety: the job is stored (file copied, then the row written) before the watched
file moves; each job remembers ``watch:<path>:<size>:<mtime>``, so a file whose job
exists already is only moved, never taken twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from printprep.errors import PrintprepError
from printprep.service.config import Settings
from printprep.service.intake import check_profile_name, intake_path, known_profiles
from printprep.service.store import Job, Store

log = logging.getLogger("printprep.watch")

PROCESSED = "processed"
FAILED = "failed"
RESERVED = (PROCESSED, FAILED)
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".swp", ".txt")


def ignored(name: str) -> bool:
    """True for names the watch folder never takes (temp, hidden, reports)."""
    low = name.lower()
    return name.startswith(".") or name.endswith("~") or low.endswith(IGNORED_SUFFIXES)


@dataclass(frozen=True)
class _Seen:
    size: int
    mtime_ns: int


def _write_report(path: Path, lines: list[str]) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _move(src: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / name
    os.replace(src, dst)
    return dst


def report_failed_watch_job(settings: Settings, job: Job) -> None:
    """A watch job failed in the pipeline: move its file from processed/ to failed/ and
    write the reason beside it."""
    watch = settings.watch_dir
    name = f"{job.id}--{job.options.get('original_filename', job.original)}"
    src = watch / PROCESSED / name
    try:
        if not src.exists():
            return  # not filed yet: the watcher files it, sees the failure and calls again
        dst = _move(src, watch / FAILED, name)
        _write_report(
            dst.with_name(dst.name + ".txt"),
            [
                f"file: {job.options.get('original_filename', job.original)}",
                f"job: {job.id}",
                f"profile: {job.profile}",
                f"failed at: {datetime.now(UTC).isoformat()}",
                f"reason: {job.error}",
                "",
                "Fix the file and drop it into the watch folder again, or retry the job.",
            ],
        )
    except OSError as exc:
        log.warning("watch: cannot report failed job %s: %s", job.id, exc)


class Watcher:
    """Polls the watch folder in a thread of the server process."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.root = settings.watch_dir
        self._seen: dict[Path, _Seen] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        for sub in ("", PROCESSED, FAILED):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name="watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        log.info("watching %s", self.root)
        while not self._stop.is_set():
            try:
                self.scan_once()
            except Exception:  # keep watching whatever one scan hit
                log.exception("watch: scan failed")
            self._stop.wait(self.settings.watch.poll_s)

    def _candidates(self) -> list[tuple[Path, str | None, os.stat_result]]:
        """(path, profile folder or None, stat) of every file that may be taken."""
        out = []
        with os.scandir(self.root) as top:
            for entry in top:
                if ignored(entry.name):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.name in RESERVED:
                        continue
                    with os.scandir(entry.path) as sub:
                        for f in sub:
                            if not ignored(f.name) and f.is_file(follow_symlinks=False):
                                out.append((Path(f.path), entry.name, f.stat()))
                elif entry.is_file(follow_symlinks=False):
                    out.append((Path(entry.path), None, entry.stat()))
        return out

    def scan_once(self) -> list[Job]:
        """Take every complete file (at most ``max_per_scan``); return the jobs made."""
        now_ns = time.time_ns()
        stable_ns = int(self.settings.watch.stable_s * 1e9)
        ready = []
        current: dict[Path, _Seen] = {}
        for path, profile_dir, st in self._candidates():
            seen = _Seen(st.st_size, st.st_mtime_ns)
            current[path] = seen
            before = self._seen.get(path)
            if before is not None and before != seen:
                continue  # still growing
            if now_ns - st.st_mtime_ns < stable_ns:
                continue  # too recent to trust
            ready.append((st.st_mtime_ns, path, profile_dir, seen))
        self._seen = current
        ready.sort(key=lambda r: (r[0], str(r[1])))
        jobs = []
        for _, path, profile_dir, seen in ready[: self.settings.watch.max_per_scan]:
            if self._stop.is_set():
                break
            try:
                job = self.take(path, profile_dir, seen)
            except FileNotFoundError:
                continue  # moved away meanwhile
            except OSError as exc:
                log.warning("watch: %s: %s", path, exc)
                continue
            self._seen.pop(path, None)
            if job is not None:
                jobs.append(job)
        return jobs

    def take(self, path: Path, profile_dir: str | None, seen: _Seen) -> Job | None:
        """Turn one complete file into a job and move it out of the way."""
        rel = path.relative_to(self.root).as_posix()
        key = f"watch:{rel}:{seen.size}:{seen.mtime_ns}"
        profile = profile_dir or self.settings.server.default_profile
        existing = self.store.find_by_source_key(key)
        if existing is not None:  # taken before a crash, not yet moved
            self._file_away(path, existing)
            return None
        try:
            check_profile_name(profile)
        except PrintprepError as exc:
            known = known_profiles()
            reason = f"folder {profile_dir!r} is not a printer profile ({exc})" + (
                f"; known: {', '.join(known)}" if known else ""
            )
            dst = _move(path, self.root / FAILED, f"{_stamp()}--{path.name}")
            _write_report(dst.with_name(dst.name + ".txt"), [
                f"file: {rel}", f"failed at: {datetime.now(UTC).isoformat()}",
                f"reason: {reason}", "",
                "Move the file into watch/ (default profile) or watch/<profile-name>/.",
            ])
            log.warning("watch: %s: %s", rel, reason)
            return None
        job = intake_path(
            self.store, path, source="watch", profile=profile, submitter="watch folder",
            source_key=key,
        )
        log.info("watch: %s -> job %s (%s)", rel, job.id, job.state)
        self._file_away(path, job)
        return job

    def _file_away(self, path: Path, job: Job) -> None:
        name = f"{job.id}--{job.options.get('original_filename', path.name)}"
        if job.state == "failed":
            dst = _move(path, self.root / FAILED, name)
            _write_report(dst.with_name(dst.name + ".txt"), [
                f"file: {path.relative_to(self.root).as_posix()}",
                f"job: {job.id}",
                f"failed at: {datetime.now(UTC).isoformat()}",
                f"reason: {job.error}",
            ])
        else:
            _move(path, self.root / PROCESSED, name)
            latest = self.store.get(job.id)
            if latest.state == "failed":  # failed in a worker before it was filed
                report_failed_watch_job(self.settings, latest)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
