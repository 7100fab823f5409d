"""Folder printer (type ``folder``): write the archive into a directory and call it printed.

For printers fed by USB stick or network share: the file is written under a temporary
name (``.<name>.part``) and renamed once complete, so a printer or person looking at the
folder never sees half a file; free space is checked first (``min_free_mb`` must remain).
A name already in the folder is never overwritten (``ring-2.sl1``, ``ring-3.sl1`` ...).
The job is done once the file is written: there is no status beyond that, so ``start()``
reports ``finished`` at once. The printer is ``offline`` while the folder is missing (the
stick is not plugged in).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from printprep.printers.base import FREE_STATES, BasePrinter

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file name without path separators or odd characters (``ring 1/a.sl1`` -> ``ring_1_a.sl1``)."""
    cleaned = _SAFE.sub("_", name).strip("._") or "job"
    return cleaned[:120]


class FolderPrinter(BasePrinter):
    """Drops each job's file into ``path``."""

    kind = "folder"
    #: A folder has no plate: the job is done once its file is written; the printer that
    #: later reads the stick or share is cleared at its own screen.
    auto_clear = True

    def __init__(self, name: str, profile: str, *, path: str, min_free_mb: float = 50.0,
                 poll_s: float = 1.0) -> None:
        super().__init__(name, profile)
        self.path = Path(path).expanduser()
        self.min_free_mb = min_free_mb
        self.poll_s = poll_s
        self._pending: tuple[Path, str | None] | None = None
        self.last_written: Path | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> FolderPrinter:
        return cls(cfg["name"], cfg["profile"], path=cfg["path"],
                   min_free_mb=cfg["min_free_mb"], poll_s=cfg["poll_s"])

    def _reachable(self) -> str | None:
        """None when the folder can take files, else why not."""
        if not self.path.is_dir():
            return f"folder {self.path} does not exist (is the stick plugged in?)"
        if not os.access(self.path, os.W_OK | os.X_OK):
            return f"folder {self.path} is not writable"
        return None

    def connect(self) -> None:
        problem = self._reachable()
        if problem:
            self._update(state="offline", seen=False, last_error=problem)
            raise self._error(problem)
        with self._lock:
            if self._status.state == "offline":
                self._update(state="idle", last_error=None)

    def status(self):  # type: ignore[override]
        with self._lock:
            st = self._status
            problem = self._reachable()
            if problem and st.state != "offline":
                return self._update(state="offline", seen=False, last_error=problem)
            if not problem and st.state == "offline" and st.last_error and "folder" in st.last_error:
                return self._update(state="idle", last_error=None)
            if not problem:
                return self._update()  # seen now
            return st

    def send(self, path: Path, meta: Mapping[str, Any]) -> None:
        path = Path(path)
        self._require_state("receive a file", *FREE_STATES)
        if not path.is_file():
            raise self._error(f"{path}: file not found")
        with self._lock:
            self._pending = (path, meta.get("job_id"))
            self._update(state="idle", job_id=meta.get("job_id"), progress_pct=0.0,
                         last_error=None)

    def start(self) -> None:
        """Write the file (temporary name, then rename); the print is then finished."""
        with self._lock:
            self._require_state("start", "idle")
            if self._pending is None:
                raise self._error("cannot start: no file was sent")
            src, job_id = self._pending
            problem = self._reachable()
            if problem:
                raise self._error(problem)
            size = src.stat().st_size
            free = shutil.disk_usage(self.path).free
            need = size + self.min_free_mb * 1024 * 1024
            if free < need:
                raise self._error(
                    f"not enough space in {self.path}: {src.name} needs {size / 1e6:.1f} MB "
                    f"and {self.min_free_mb:g} MB must stay free, {free / 1e6:.1f} MB free")
            self._update(state="busy")
            final = self._free_name(safe_name(src.name))
            tmp = self.path / f".{final.name}.part"
            try:
                with open(src, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1024 * 1024)
                    fout.flush()
                    os.fsync(fout.fileno())
                os.replace(tmp, final)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                self._update(state="idle")
                raise self._error(f"cannot write {final}: {exc.strerror or exc}") from None
            self.last_written = final
            self._pending = None
            self._update(state="finished", job_id=job_id, progress_pct=100.0, time_left_s=0.0)

    def _free_name(self, name: str) -> Path:
        target = self.path / name
        stem, suffix = target.stem, target.suffix
        n = 2
        while target.exists():
            target = self.path / f"{stem}-{n}{suffix}"
            n += 1
        return target

    def pause(self) -> None:
        raise self._error("a folder printer cannot pause: the file is written at once")

    def resume(self) -> None:
        raise self._error("a folder printer cannot resume: nothing is paused")

    def cancel(self) -> None:
        with self._lock:
            self._pending = None
            if self._status.state != "offline":
                self._update(state="idle", job_id=None, progress_pct=None)
