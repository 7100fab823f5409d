"""Batching (resin): several queued jobs of one profile and material placed on one plate
(:func:`printprep.casting.plate_layout`) and sliced into one archive; each job keeps its
own state and its event log says where its part sits.

:class:`Batching` is mixed into :class:`~printprep.service.dispatch.loop.Dispatcher`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from printprep.errors import PrintprepError
from printprep.printers.base import Printer, PrinterStatus
from printprep.service.dispatch.prints import ActivePrint, attr, job_archive_path

log = logging.getLogger("printprep.dispatch")


class Batching:
    """Plates of several jobs (mixed into the dispatcher)."""

    # -- batching (resin) -----------------------------------------------------------------
    def _assign_plate(self, printer: Printer, st: PrinterStatus, jobs: list[Any]) -> bool:
        """Put the best queued job and others of its material on one plate; False when
        there is nothing to batch (the caller then sends the best job alone)."""
        from printprep.casting import plate_layout
        from printprep.errors import CastingError
        from printprep.profiles import load_profile

        try:
            profile = load_profile(printer.profile)
        except PrintprepError:
            return False
        if getattr(profile, "kind", "") != "resin":
            return False
        lead = jobs[0]
        mates = [j for j in jobs[1:] if attr(j, "material") == attr(lead, "material")]
        if not mates:
            return False
        lead_mesh = job_mesh(lead)
        if lead_mesh is None:
            return False
        chosen, meshes = [lead], [lead_mesh]
        for job in mates[: max(0, self.settings.batch_max - 1)]:
            mesh = job_mesh(job)
            if mesh is None:
                continue
            try:
                plate_layout([*meshes, mesh], profile, gap_mm=self.settings.batch_gap_mm)
            except CastingError:
                continue  # does not fit beside the others: it waits for another plate
            chosen.append(job)
            meshes.append(mesh)
        if len(chosen) < 2:
            return False
        ids = [str(attr(j, "id", "job_id")) for j in chosen]
        claimed, claimed_meshes = [], []
        for job_id, mesh in zip(ids, meshes, strict=True):
            if self._transition(
                job_id,
                "printing",
                f"placed on a plate of {len(ids)} jobs for {printer.name}",
                expect="queued",
                printer=printer.name,
            ):
                claimed.append(job_id)
                claimed_meshes.append(mesh)
        if not claimed:
            return True  # all moved on meanwhile; the next tick looks again
        folder = Path(attr(lead, "folder"))
        pr = ActivePrint(claimed[0], printer.name, job_ids=claimed)
        material = attr(lead, "material") or None
        layer_height_mm = layer_height_mm_of(lead)

        def build() -> tuple[Path, dict[str, Any]]:
            from printprep.slicing import slice_to_archive

            layout = plate_layout(claimed_meshes, profile, gap_mm=self.settings.batch_gap_mm)
            suffix = ".zip" if profile.archive_format == "pngzip" else ".sl1"
            plate = folder / f"plate-{'-'.join(i[:6] for i in claimed)}{suffix}"
            slice_to_archive(
                claimed_meshes,
                profile,
                plate,
                placements_mm=layout,
                material=material,
                layer_height_mm=layer_height_mm,
            )
            others = ", ".join(claimed)
            pr.announce = [
                (
                    job_id,
                    f"printing on {printer.name} on plate {plate.name} (jobs {others}); "
                    f"this part at x {x:.1f} y {y:.1f} mm",
                    {"plate": plate.name, "jobs": claimed, "placement_mm": [x, y]},
                )
                for job_id, (x, y) in zip(claimed, layout, strict=True)
            ]
            return plate, {
                "job_id": claimed[0],
                "name": plate.name,
                "profile": printer.profile,
                "job_ids": claimed,
            }

        self._send(pr, printer, st, build)
        return True


def job_mesh(job: Any) -> Any:
    """The mesh a job's plate part is made of (mm): its prepared print mesh, else the
    repaired mesh, else the original; None when none can be read."""
    import trimesh

    folder = Path(attr(job, "folder"))
    for pattern in ("*.print.stl", "*.repaired.stl"):
        found = sorted(folder.glob(pattern))
        if found:
            try:
                return trimesh.load(found[0], force="mesh")
            except Exception:  # noqa: BLE001 - an unreadable artifact: try the next
                log.warning("job %s: cannot read %s", attr(job, "id"), found[0])
    original = attr(job, "original_path")
    if original is not None and Path(original).is_file():
        try:
            from printprep.mesh import load_mesh

            units = (attr(job, "options") or {}).get("units")
            return load_mesh(original, units=units).mesh
        except Exception:  # noqa: BLE001
            log.warning("job %s: cannot read %s", attr(job, "id"), original)
    return None


def layer_height_mm_of(job: Any) -> float | None:
    """The layer height the job was sliced at (a plate keeps it), if its archive says."""
    path = job_archive_path(job)
    if path is None or not path.is_file():
        return None
    try:
        from printprep.slicing import read_archive

        archive = read_archive(path)
        try:
            return float(archive.layer_height_mm)
        finally:
            archive.close()
    except Exception:  # noqa: BLE001 - not a layer archive: the profile's default
        return None
