"""Layer preview for the web page: the sliced layer images of a job's archive.

``GET /api/jobs/{id}/layers`` → ``{count, width_px, height_px, window_px}``
``GET /api/jobs/{id}/layers/{n}.png`` → layer ``n`` (0-based) as a greyscale PNG.

Both read the job's archive with :func:`printprep.slicing.read_archive`, the reader every
other part of printprep uses. A jewelry piece covers a small patch of a 4K or 8K display,
so the image route can crop to ``window_px`` (``?window=1``: the lit region of the whole
stack plus a margin, the same for every layer so the view does not jump) and scale down
to ``max_px`` on its longer side, keeping the pixels sharp.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from printprep.errors import PrintprepError
from printprep.service.deps import TokenName

router = APIRouter(tags=["preview"])

#: Layers read to find the lit window of a stack whose layers are slow to read.
WINDOW_SAMPLE_LAYERS = 32
#: A layer read faster than this (s) is a band read: every layer is read, the window is exact.
FAST_LAYER_S = 0.015
#: Margin around the lit window: a fraction of its size (sampled stacks only) plus pixels.
WINDOW_MARGIN_FRAC = 0.06
WINDOW_MARGIN_PX = 12
#: Largest longer side of a returned image.
MAX_PX_LIMIT = 4096

_cache_lock = threading.Lock()
#: (archive path, mtime_ns, size) -> {count, width_px, height_px, window_px}
_info_cache: OrderedDict[tuple[str, int, int], dict[str, Any]] = OrderedDict()
_CACHE_SIZE = 32


def _job_archive(request: Request, job_id: str) -> Path:
    """The archive of job ``job_id``; 404/409 with the reason when there is none (yet)."""
    from printprep.service.store import JobNotFoundError

    store = request.app.state.store
    try:
        job = store.get(job_id)
    except JobNotFoundError as exc:
        raise HTTPException(status_code=404, detail=f"job {job_id}: no such job") from exc
    path = job.archive_path
    if path is None:
        raise HTTPException(
            status_code=409,
            detail=f"job {job_id} has no sliced archive yet (state: {job.state})",
        )
    if path.suffix.lower() in (".gcode", ".bgcode"):
        raise HTTPException(
            status_code=404,
            detail=f"job {job_id}: {path.name} is G-code for a filament printer; it has no layer images",
        )
    if not path.is_file():
        raise HTTPException(
            status_code=404,
            detail=f"job {job_id}: archive {path.name} is missing from the job's folder",
        )
    return path


def _open(path: Path, job_id: str) -> Any:
    """``read_archive(path)``, with a 422 that names the file when it cannot be read."""
    from printprep.slicing import read_archive

    try:
        return read_archive(path)
    except PrintprepError as exc:
        raise HTTPException(status_code=422, detail=f"job {job_id}: {exc}") from exc


def _close(archive: Any) -> None:
    close = getattr(archive, "close", None)
    if callable(close):
        close()


def _lit_bounds(layer: Any) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` of the lit pixels of one layer, or None when it is dark.

    ``layer`` is an (h, w) uint8 image or a band (``row0``, ``col0``, ``pixels``: the
    lit part of an image, as ``Archive.layer_band`` returns it).
    """
    row0, col0 = int(getattr(layer, "row0", 0)), int(getattr(layer, "col0", 0))
    pixels = np.asarray(getattr(layer, "pixels", layer))
    if pixels.size == 0:
        return None
    rows = np.flatnonzero(pixels.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(pixels[rows[0] : rows[-1] + 1].any(axis=0))
    return (
        col0 + int(cols[0]),
        row0 + int(rows[0]),
        col0 + int(cols[-1]) + 1,
        row0 + int(rows[-1]) + 1,
    )


def lit_window_px(
    archive: Any, sample_layers: int = WINDOW_SAMPLE_LAYERS
) -> tuple[int, int, int, int] | None:
    """Bounding box ``(x0, y0, x1, y1)`` (pixels, end-exclusive) of the lit pixels of a
    stack, widened by a margin; None when every layer read is dark.

    printprep's own archives record each layer's lit band, so every layer is read
    (``archive.layer_band(i)``, milliseconds each) and the box is exact. Archives without
    bands (each read is a whole-image decode, tens of ms at 4K) are sampled instead: at
    most ``sample_layers`` evenly spaced layers, the margin covering what lies between.
    """
    count = int(archive.layer_count)
    if count == 0:
        return None
    read = getattr(archive, "layer_band", None) or archive.layer
    h, w = archive.image_px[1], archive.image_px[0]
    boxes: list[tuple[int, int, int, int]] = []
    order = list(range(count))
    sampled = False
    started = time.perf_counter()
    done = 0
    while done < len(order):
        box = _lit_bounds(read(order[done]))
        if box is not None:
            boxes.append(box)
        done += 1
        if done == 4 and not sampled and count > sample_layers:
            per_layer_s = (time.perf_counter() - started) / done
            if per_layer_s > FAST_LAYER_S:  # whole-image decodes: sample the rest
                picks = np.linspace(0, count - 1, sample_layers).round().astype(int)
                order = order[:done] + sorted(set(picks.tolist()) - set(order[:done]))
                sampled = True
    if not boxes:
        return None
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    frac = WINDOW_MARGIN_FRAC if sampled else 0.0
    my = int((y1 - y0) * frac) + WINDOW_MARGIN_PX
    mx = int((x1 - x0) * frac) + WINDOW_MARGIN_PX
    return max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)


def _info(path: Path, job_id: str) -> dict[str, Any]:
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        if key in _info_cache:
            _info_cache.move_to_end(key)
            return _info_cache[key]
    archive = _open(path, job_id)
    try:
        count = int(archive.layer_count)
        w, h = archive.image_px
        window = lit_window_px(archive)
    except PrintprepError as exc:
        raise HTTPException(status_code=422, detail=f"job {job_id}: {exc}") from exc
    finally:
        _close(archive)
    info = {
        "count": count,
        "width_px": int(w),
        "height_px": int(h),
        "window_px": list(window) if window else None,
    }
    with _cache_lock:
        _info_cache[key] = info
        while len(_info_cache) > _CACHE_SIZE:
            _info_cache.popitem(last=False)
    return info


@router.get("/api/jobs/{job_id}/layers")
def layers_info(request: Request, job_id: str, _caller: TokenName) -> dict[str, Any]:
    """Number of layers and their size in pixels; ``window_px`` is the lit region
    ``[x0, y0, x1, y1]`` of the whole stack (null when every layer is dark)."""
    path = _job_archive(request, job_id)
    return _info(path, job_id)


@router.get("/api/jobs/{job_id}/layers/{n}.png")
def layer_png(
    request: Request,
    job_id: str,
    n: int,
    _caller: TokenName,
    window: bool = Query(False, description="crop to the stack's lit region (window_px)"),
    max_px: int = Query(
        0, ge=0, le=MAX_PX_LIMIT, description="scale down to this longer side; 0: full size"
    ),
) -> Response:
    """Layer ``n`` (0-based) as an 8-bit greyscale PNG, white = exposed."""
    path = _job_archive(request, job_id)
    info = _info(path, job_id)
    if not 0 <= n < info["count"]:
        raise HTTPException(
            status_code=404,
            detail=f"job {job_id}: layer {n} does not exist (the archive has layers 0 to {info['count'] - 1})",
        )
    archive = _open(path, job_id)
    try:
        band = getattr(archive, "layer_band", None)
        # A band read inflates only the lit rows: far quicker than a whole 4K/16K image.
        img = band(n).full(archive.image_px) if band else np.asarray(archive.layer(n))
    finally:
        _close(archive)
    if window and info["window_px"]:
        x0, y0, x1, y1 = info["window_px"]
        img = img[y0:y1, x0:x1]
    longer = max(img.shape[:2])
    if max_px and longer > max_px:
        scale = max_px / longer
        size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", np.ascontiguousarray(img), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise HTTPException(status_code=500, detail=f"job {job_id}: layer {n} could not be encoded")
    return Response(
        png.tobytes(),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=300"},
    )
