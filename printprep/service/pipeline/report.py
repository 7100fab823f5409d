"""The job's report (``report.json``, also stored with the job): plain JSON data built
from what the stages return.

One report per job. Its sections: ``load`` (file, format, units, triangles), ``check``,
``repair`` (``steps`` and ``result``), ``prepare`` (the casting report), ``slice``,
``archive``, ``timings_s`` (seconds per state), and on the way out ``attention`` or
``error``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

#: Arrays longer than this are shown by shape and dtype, not listed.
ARRAY_ITEMS_SHOWN = 64


def jsonable(obj: Any) -> Any:
    """A stage's result (report object, dataclass, dict, numpy value) as plain JSON data.

    Objects with ``to_dict()`` are converted through it; dataclasses field by field
    (private fields left out); paths become their file name; numpy scalars Python
    numbers; arrays of up to :data:`ARRAY_ITEMS_SHOWN` items lists, longer ones a
    ``<array shape dtype>`` note; anything else its ``str()``.
    """
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: jsonable(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not f.name.startswith("_")
        }
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return obj.name
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        if obj.size <= ARRAY_ITEMS_SHOWN:
            return obj.tolist()
        return f"<array {obj.shape} {obj.dtype}>"
    return str(obj)


def load_section(loaded: Any, file_name: str) -> dict[str, Any]:
    """The ``load`` section: what the loader read and what it assumed about units.

    loaded : a ``LoadedMesh`` (``.mesh`` a trimesh in mm; format, units, scale, ...).
    file_name : the name the user gave the file (not the job folder's copy).
    """
    return {
        "file": file_name,
        "format": getattr(loaded, "format", None),
        "units": getattr(loaded, "units", None),
        "scale": getattr(loaded, "scale", None),
        "units_detected": getattr(loaded, "units_detected", None),
        "units_note": getattr(loaded, "units_note", None),
        "triangles": int(len(loaded.mesh.faces)),
    }


def merge_casting_report(report: dict[str, Any], casting: Any) -> None:
    """One report per job: the casting report (``<stem>.report.json`` of
    ``write_prepared``, which the CLI keeps), converted to JSON data, becomes ``report``'s
    ``prepare`` section; the file is not published on its own.

    ``write_prepared`` completes the casting report with the slice figures and the file
    names; those replace what was recorded before it ran. The slice figures are also the
    report's ``slice`` section, as for a job sliced without casting.
    """
    if not isinstance(casting, dict):
        return
    files = casting.get("files")
    if isinstance(files, dict):  # the per-job report is report.json, in the job's folder
        casting["files"] = {k: v for k, v in files.items() if k != "report"}
    report["prepare"] = casting
    if "slice" in casting:
        report["slice"] = casting["slice"]
