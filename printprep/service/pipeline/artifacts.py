"""A job's files: each attempt writes into a private work folder and renames finished
files into the job's folder, so the folder never holds half a file.

The job's folder (``Job.folder``) keeps the original upload untouched and the artifacts
of the stages: ``<stem>.repaired.stl``, the prepared meshes, the archive, ``report.json``
and a preview picture. The work folder is ``<job folder>/.work-<attempt>``; a new attempt
removes those of earlier ones.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger("printprep.pipeline")

REPORT_NAME = "report.json"
PREVIEW_NAME = "preview.png"

#: Archive suffixes in the order one is picked among a stage's files.
ARCHIVE_SUFFIXES = (".sl1", ".sl1s", ".pwmx", ".ctb", ".zip", ".gcode", ".bgcode")


def job_stem(name: str) -> str:
    """The stem of a job's artifact names: its name, sanitized, at most 60 characters."""
    from printprep.service.intake import sanitize_filename

    return sanitize_filename(name, default="part").replace(" ", "_")[:60] or "part"


def pick_archive(names: list[str]) -> str | None:
    """The archive among ``names`` (file names), by :data:`ARCHIVE_SUFFIXES`; None if none."""
    for suffix in ARCHIVE_SUFFIXES:
        for n in names:
            if n.endswith(suffix):
                return n
    return None


class Artifacts:
    """The job's folder and this attempt's work folder.

    folder : the job's folder (artifacts people download).
    attempt : the attempt number (``Job.attempts``), naming the work folder.
    """

    def __init__(self, folder: Path, attempt: int) -> None:
        self.folder = folder
        self.work = folder / f".work-{attempt}"

    def open(self) -> None:
        """Remove the work folders of earlier attempts and create this one's."""
        for old in self.folder.glob(".work-*"):
            shutil.rmtree(old, ignore_errors=True)
        self.work.mkdir(parents=True)

    def close(self) -> None:
        """Remove this attempt's work folder and whatever was not published from it."""
        shutil.rmtree(self.work, ignore_errors=True)

    def publish(self, *names: str) -> None:
        """Move finished files from the work folder into the job's folder (atomic each)."""
        for name in names:
            os.replace(self.work / name, self.folder / name)

    def publish_written(self, written: dict[str, Any]) -> list[str]:
        """Publish the files ``write_prepared`` wrote (kind -> path), except its own
        report (its content goes into ``report.json``): returns their names."""
        own = written.get("report")
        if own is not None:
            Path(own).unlink(missing_ok=True)
        names = [Path(p).name for kind, p in written.items() if kind != "report"]
        self.publish(*[n for n in names if (self.work / n).is_file()])
        return names

    def write_report(self, report: dict[str, Any]) -> None:
        """Write ``report.json`` and publish it; after :meth:`close` too (a job that stops
        for a person ends after its stages' work folder is gone)."""
        reopened = not self.work.is_dir()
        if reopened:
            self.work.mkdir(parents=True)
        try:
            (self.work / REPORT_NAME).write_text(json.dumps(report, indent=2, default=str))
            self.publish(REPORT_NAME)
        finally:
            if reopened:
                self.close()

    def preview(self, mesh: Any, render: Any, job_id: str) -> None:
        """A small PNG picture of ``mesh`` by ``render(mesh, path)``, unless a stage
        already published one (or there is no renderer). Never fails the job."""
        if render is None or any(p.suffix == ".png" for p in self.folder.iterdir()):
            return
        try:
            render(mesh, self.work / PREVIEW_NAME)
            self.publish(PREVIEW_NAME)
        except Exception as exc:  # noqa: BLE001 - a preview is a nicety
            log.info("job %s: preview: %s", job_id, exc)
