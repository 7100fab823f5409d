"""A printer with no hardware: prints the job's own archive in simulated time.

Resin archives (SL1/SL1S and PNG zips) are zips of layer images: the virtual printer reads
each layer from the zip in order (so a damaged archive fails here as it would on a real
printer) and spends ``printTime / layers`` (from the SL1 ``config.ini``) or ``layer_s`` per
layer. G-code files are printed line by line at ``line_s`` per command. ``time_scale``
multiplies every simulated duration: 0.001 runs a 2-hour print in 7 seconds.

Faults for tests and demonstrations: ``fail_at_pct`` reports an error at that progress,
``offline_at_pct`` drops the printer off the network for ``offline_s`` seconds (it keeps
printing, or comes back idle with the print lost when ``reboot_on_reconnect``).
"""

from __future__ import annotations

import re
import threading
import time
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from printprep.printers.base import FREE_STATES, BasePrinter

_TICK_S = 0.02
_DIGITS = re.compile(r"(\d+)\.png$", re.IGNORECASE)


@dataclass
class _Loaded:
    """The file sent for the next print."""

    job_id: str | None
    path: Path
    kind: str  # "resin" | "filament"
    units: int  # layers or G-code commands
    unit_s: float  # simulated seconds per unit
    layer_names: list[str]


def archive_layers(path: Path) -> tuple[list[str], float | None]:
    """The layer image names of a resin archive in print order, and its printTime (s).

    Layers are the ``*.png`` members outside ``thumbnail/``, ordered by the number before
    ``.png`` (``ring00012.png`` for SL1, ``13.png`` for PNG zips).
    """
    with zipfile.ZipFile(path) as zf:
        names = [
            n for n in zf.namelist()
            if _DIGITS.search(n) and not n.lower().startswith("thumbnail/") and "/" not in n
        ]
        names.sort(key=lambda n: int(_DIGITS.search(n).group(1)))  # type: ignore[union-attr]
        print_time_s = None
        if "config.ini" in zf.namelist():
            for line in zf.read("config.ini").decode("utf-8", "replace").splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "printTime":
                    try:
                        print_time_s = float(value.strip())
                    except ValueError:
                        pass
    return names, print_time_s


def gcode_commands(path: Path) -> int:
    """Number of G-code commands in ``path`` (lines that are not empty or pure comments)."""
    count = 0
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.split(b";", 1)[0].strip()
            if line:
                count += 1
    return count


class VirtualPrinter(BasePrinter):
    """Simulated resin or filament printer (type ``virtual``)."""

    kind = "virtual"
    auto_clear = True  # nothing on a simulated plate: the quick start and tests flow on

    def __init__(
        self,
        name: str,
        profile: str,
        *,
        time_scale: float = 1.0,
        layer_s: float = 8.0,
        line_s: float = 0.02,
        fail_at_pct: float | None = None,
        offline_at_pct: float | None = None,
        offline_s: float = 2.0,
        reboot_on_reconnect: bool = False,
        poll_s: float = 1.0,
    ) -> None:
        super().__init__(name, profile)
        self.time_scale = time_scale
        self.layer_s = layer_s
        self.line_s = line_s
        self.fail_at_pct = fail_at_pct
        self.offline_at_pct = offline_at_pct
        self.offline_s = offline_s
        self.reboot_on_reconnect = reboot_on_reconnect
        self.poll_s = poll_s
        self._loaded: _Loaded | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._cancel = threading.Event()
        self.prints_started = 0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> VirtualPrinter:
        keys = ("time_scale", "layer_s", "line_s", "fail_at_pct", "offline_at_pct",
                "offline_s", "reboot_on_reconnect", "poll_s")
        return cls(cfg["name"], cfg["profile"], **{k: cfg[k] for k in keys})

    # -- Printer --------------------------------------------------------------------------
    def connect(self) -> None:
        with self._lock:
            if self._status.state == "offline" and self._thread is None:
                self._update(state="idle")

    def send(self, path: Path, meta: Mapping[str, Any]) -> None:
        path = Path(path)
        job_id = meta.get("job_id")
        with self._lock:
            self._require_state("receive a file", *FREE_STATES)
            self._update(state="busy", job_id=job_id, progress_pct=None, last_error=None)
        try:
            loaded = self._load(path, job_id)
        except Exception:
            self._update(state="idle", job_id=None)
            raise
        with self._lock:
            self._loaded = loaded
            fields: dict[str, Any] = {"layer": None, "layer_count": None, "line": None,
                                      "line_count": None}
            if loaded.kind == "resin":
                fields.update(layer=0, layer_count=loaded.units)
            else:
                fields.update(line=0, line_count=loaded.units)
            self._update(state="idle", progress_pct=0.0,
                         time_left_s=loaded.units * loaded.unit_s, **fields)

    def start(self) -> None:
        with self._lock:
            self._require_state("start", "idle")
            if self._loaded is None:
                raise self._error("cannot start: no file was sent")
            self._stop.clear()
            self._cancel.clear()
            self._paused.clear()
            self._update(state="printing", job_id=self._loaded.job_id, progress_pct=0.0,
                         last_error=None)
            self.prints_started += 1
            self._thread = threading.Thread(
                target=self._run, args=(self._loaded,), name=f"virtual-{self.name}", daemon=True
            )
            self._thread.start()

    def pause(self) -> None:
        with self._lock:
            self._require_state("pause", "printing")
            self._paused.set()
            self._update(state="paused")

    def resume(self) -> None:
        with self._lock:
            self._require_state("resume", "paused")
            self._paused.clear()
            self._update(state="printing")

    def cancel(self) -> None:
        with self._lock:
            st = self._require_state("cancel", "printing", "paused", "idle", "busy", "offline")
            self._cancel.set()
            self._paused.clear()
            if st.state == "idle" and self._loaded is not None:
                self._loaded = None
                self._update(job_id=None, progress_pct=None)
        self._join()

    def close(self) -> None:
        self._stop.set()
        self._cancel.set()
        self._join()
        with self._lock:
            self._thread = None
            self._update(state="offline", seen=False)

    # -- simulation -----------------------------------------------------------------------
    def _load(self, path: Path, job_id: str | None) -> _Loaded:
        if not path.is_file():
            raise self._error(f"{path}: file not found")
        if zipfile.is_zipfile(path):
            try:
                names, print_time_s = archive_layers(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise self._error(f"{path}: unreadable archive ({exc})") from exc
            if not names:
                raise self._error(f"{path}: archive holds no layer images (*.png)")
            unit_s = print_time_s / len(names) if print_time_s else self.layer_s
            return _Loaded(job_id, path, "resin", len(names), unit_s, names)
        if path.suffix.lower() in (".gcode", ".gco", ".g", ".bgcode") or _looks_like_text(path):
            n = gcode_commands(path)
            if n == 0:
                raise self._error(f"{path}: G-code file holds no commands")
            return _Loaded(job_id, path, "filament", n, self.line_s, [])
        raise self._error(f"{path}: neither a layer archive (zip) nor a G-code file")

    def _run(self, job: _Loaded) -> None:
        """The print loop: advance by simulated time, honouring pause, cancel and faults."""
        sim_s = 0.0
        done_units = 0
        fail_pct = self.fail_at_pct
        offline_pct = self.offline_at_pct
        offline_until: float | None = None
        zf = zipfile.ZipFile(job.path) if job.kind == "resin" else None
        last = time.monotonic()
        try:
            while True:
                time.sleep(_TICK_S)
                now = time.monotonic()
                dt = now - last
                last = now
                if self._stop.is_set():
                    return
                if self._cancel.is_set():
                    with self._lock:
                        self._loaded = None
                        self._update(state="idle", job_id=None, progress_pct=None,
                                     time_left_s=None, last_error="cancelled")
                    return
                if offline_until is not None:
                    if now < offline_until:
                        if not self._paused.is_set():
                            sim_s += dt / self.time_scale
                        continue
                    offline_until = None
                    if self.reboot_on_reconnect:
                        with self._lock:
                            self._loaded = None
                            self._update(state="idle", job_id=None, progress_pct=None,
                                         time_left_s=None, layer=None, line=None,
                                         last_error="printer restarted; print lost")
                        return
                    self._update(state="paused" if self._paused.is_set() else "printing")
                if self._paused.is_set():
                    continue
                sim_s += dt / self.time_scale
                target = min(job.units, int(sim_s / job.unit_s))
                if zf is not None:
                    for i in range(done_units, target):
                        zf.read(job.layer_names[i])  # CRC-checked: a damaged layer raises
                done_units = max(done_units, target)
                pct = 100.0 * done_units / job.units
                if fail_pct is not None and pct >= fail_pct:
                    where = (f"layer {done_units}" if job.kind == "resin"
                             else f"line {done_units}")
                    self._update(state="error", progress_pct=pct,
                                 last_error=f"simulated failure at {pct:.1f} % ({where})")
                    return
                fields: dict[str, Any] = {"progress_pct": pct,
                                          "time_left_s": (job.units - done_units) * job.unit_s}
                fields["layer" if job.kind == "resin" else "line"] = done_units
                if offline_pct is not None and pct >= offline_pct and done_units < job.units:
                    offline_pct = None
                    offline_until = now + self.offline_s
                    self._update(state="offline", seen=False, **fields)
                    continue
                if done_units >= job.units:
                    with self._lock:
                        self._loaded = None
                        self._update(state="finished", **fields)
                    return
                self._update(**fields)
        except (zipfile.BadZipFile, OSError, KeyError, zlib.error, EOFError) as exc:
            self._update(state="error", last_error=f"{job.path}: cannot read layer "
                                                   f"{done_units + 1} ({exc})")
        finally:
            if zf is not None:
                zf.close()

    def _join(self) -> None:
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5.0)


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return b"\0" not in head and (b"G1" in head or b"G0" in head or b"M" in head)
