"""Turning a file into a job: sanitize its name, sniff its content, store it untouched.

The REST API (uploads), the watch folder and the CLI (through the API) all come here.
A file whose content is not a mesh format printprep reads still becomes a job, which is
``failed`` at once with the reason, so the submitter sees why (never a 500).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import struct
import time
import unicodedata
from pathlib import Path
from typing import Any, BinaryIO

from printprep.errors import PrintprepError, ProfileError
from printprep.profiles import list_profiles, load_profile
from printprep.service.store import Job, Store, new_job_id

log = logging.getLogger("printprep.intake")

#: Formats the mesh loader reads, by sniffed content.
MESH_FORMATS = ("stl", "obj", "ply", "off", "3mf", "glb")
_OBJ_LINE = re.compile(rb"^\s*(v|vn|vt|f|o|g|s|mtllib|usemtl)\s", re.MULTILINE)
_PROFILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._ ()+-]+")
SNIFF_BYTES = 4096


class UploadTooLarge(PrintprepError):
    """An upload is larger than ``[server] upload_limit_mb``."""


def sanitize_filename(name: str | None, *, default: str = "upload") -> str:
    """A safe file name from a client's name: no folders, no traversal, no control chars.

    ``"../../etc/passwd"`` -> ``"passwd"``; ``"C:\\x\\ring.stl"`` -> ``"ring.stl"``;
    ``".hidden"`` -> ``"hidden"``; empty -> ``default``. At most 120 characters, keeping
    the extension.
    """
    # accents become plain letters ("été" -> "ete"); other non-ASCII becomes "_"
    name = unicodedata.normalize("NFKD", name or "")
    name = "".join(c for c in name if not unicodedata.combining(c))
    name = name.replace("\\", "/").split("/")[-1]
    name = re.sub(r"_+", "_", _SAFE_CHARS.sub("_", name))
    stem, ext = os.path.splitext(name)
    if not re.fullmatch(r"\.[A-Za-z0-9]{1,10}", ext):
        stem, ext = name, ""
    stem = stem.strip(" ._")
    if not stem and ext and not name.startswith("."):
        stem = default  # "戒指.stl" -> "upload.stl"
    elif not stem:
        # ".stl" is a hidden file named "stl"; "..", "" have nothing
        stem = ext.lstrip(".") if ext else default
        ext = ""
    name = stem + ext
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 120 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else name[:120]
    return name


def sniff_format(head: bytes, size: int) -> str | None:
    """The mesh format of a file from its first bytes and size; None if none matches.

    head : the first :data:`SNIFF_BYTES` bytes (or all of a smaller file).
    """
    if size >= 84 and len(head) >= 84:
        (count,) = struct.unpack_from("<I", head, 80)
        if 84 + 50 * count == size and count > 0:
            return "stl"
    stripped = head.lstrip()
    if stripped[:5].lower() == b"solid" and (b"facet" in head or b"endsolid" in head):
        return "stl"
    if head.startswith(b"ply"):
        return "ply"
    if head.startswith((b"OFF", b"COFF", b"NOFF")):
        return "off"
    if head.startswith(b"PK\x03\x04"):
        return "3mf"
    if head.startswith(b"glTF"):
        return "glb"
    if b"\x00" not in head and _OBJ_LINE.search(head):
        return "obj"
    from printprep.mesh.io_stl import looks_like_binary_stl

    if looks_like_binary_stl(head, size):  # cut short: the loader names how short
        return "stl"
    return None


def check_profile_name(profile: str) -> str:
    """Validate a printer profile name; with ``printprep.profiles`` present, it must exist."""
    if not profile or not _PROFILE_RE.match(profile):
        raise ProfileError(f"not a valid profile name: {profile!r}")
    load_profile(profile)
    return profile


def known_profiles() -> list[str]:
    """Names of the shipped printer profiles (empty if the profiles folder is unreadable)."""
    try:
        return [p.name for p in list_profiles()]
    except PrintprepError:
        return []


def _copy_limited(src: BinaryIO, dst_path: Path, limit_bytes: int | None) -> int:
    """Copy a stream to ``dst_path`` (via a temp name, fsync, rename); return bytes."""
    tmp = dst_path.with_name("." + dst_path.name + ".part")
    written = 0
    try:
        with open(tmp, "wb") as out:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                written += len(chunk)
                if limit_bytes is not None and written > limit_bytes:
                    raise UploadTooLarge(
                        f"larger than the upload limit of {limit_bytes / 1048576:g} MB"
                    )
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


def intake_stream(
    store: Store,
    stream: BinaryIO,
    *,
    filename: str | None,
    source: str,
    profile: str,
    submitter: str | None = None,
    name: str | None = None,
    material: str | None = None,
    alloy: str | None = None,
    priority: int = 0,
    notes: str | None = None,
    order_ref: str | None = None,
    options: dict[str, Any] | None = None,
    limit_bytes: int | None = None,
    source_key: str | None = None,
) -> Job:
    """Store ``stream`` untouched in a new job's folder and create the job.

    The file is written first (temp name, fsync, rename) and the job row second, so a
    crash never leaves a job without its file. Content that is not a mesh yields a job
    already ``failed`` with the reason.
    """
    safe = sanitize_filename(filename)
    job_id = new_job_id()
    folder = store.job_folder(job_id)
    folder.mkdir(parents=True, exist_ok=False)
    incoming = folder / INCOMING_NAME
    try:
        size = _copy_limited(stream, incoming, limit_bytes)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    with open(incoming, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    fmt = sniff_format(head, size)
    stem = Path(safe).stem or "upload"
    original = f"original.{fmt}" if fmt else f"original{_ext(safe)}"
    os.replace(incoming, folder / original)
    opts = dict(options or {})
    opts["original_filename"] = safe
    opts["original_bytes"] = size
    kwargs: dict[str, Any] = {
        "name": (name or stem)[:200],
        "source": source,
        "profile": profile,
        "submitter": submitter,
        "material": material or None,
        "alloy": alloy or None,
        "priority": priority,
        "notes": notes or None,
        "order_ref": (order_ref or "").strip() or None,
        "options": opts,
        "original": original,
        "source_key": source_key,
        "job_id": job_id,
    }
    if fmt is None:
        error = (
            f"{safe}: content is not a mesh format printprep reads "
            f"({', '.join(f.upper() for f in MESH_FORMATS)})"
            + (": the file is empty" if size == 0 else f"; it starts with {head[:16]!r}")
        )
        return store.create_job(**kwargs, state="failed", error=error, message=error)
    return store.create_job(**kwargs)


#: Name of an upload being written into a new job's folder (renamed once complete).
INCOMING_NAME = ".incoming"
#: A job folder without a job row is left alone this long (an upload may be under way).
ORPHAN_MIN_AGE_S = 60.0


def remove_orphan_folders(store: Store, *, min_age_s: float = ORPHAN_MIN_AGE_S,
                          now: float | None = None) -> list[Path]:
    """Remove job folders an interrupted upload left behind; the removed folders.

    A folder is removed only when no job row has its id, it holds no file but an
    unfinished upload (``.incoming``) or nothing at all, and neither it nor that file
    changed in the last ``min_age_s`` seconds. A folder with a finished file but no row
    (a crash between storing the upload and creating its job) is kept and logged: it may
    be the only copy of someone's file.
    """
    now = time.time() if now is None else now
    try:
        folders = [p for p in store.jobs_dir.iterdir() if p.is_dir()]
    except OSError:
        return []
    if not folders:
        return []
    known = store.existing_ids(p.name for p in folders)
    removed: list[Path] = []
    for folder in folders:
        if folder.name in known:
            continue
        try:
            entries = list(folder.iterdir())
            newest = max([folder.stat().st_mtime, *(e.lstat().st_mtime for e in entries)])
        except OSError:
            continue
        if any(e.name != INCOMING_NAME or not e.is_file() for e in entries):
            log.warning("job folder %s has files but no job: kept for a person to look at",
                        folder)
            continue
        if now - newest < min_age_s:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            log.info("removed %s: an upload that was interrupted before its job existed",
                     folder)
            removed.append(folder)
    return removed


def intake_path(store: Store, path: Path, **kw: Any) -> Job:
    """:func:`intake_stream` for a file on disk (the watch folder)."""
    with open(path, "rb") as fh:
        return intake_stream(store, fh, filename=path.name, **kw)


def _ext(name: str) -> str:
    ext = Path(name).suffix.lower()
    return ext if re.fullmatch(r"\.[a-z0-9]{1,8}", ext) else ".bin"
