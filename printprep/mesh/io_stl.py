"""STL reading and writing: binary via one ``np.fromfile``, ASCII via one regex pass.

A binary STL whose 80-byte header happens to start with ``solid`` is still binary when the
triangle count agrees with the file size; only files that do not add up are read as ASCII.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from printprep.errors import MeshError

#: One binary STL record: normal, three vertices, attribute byte count (50 bytes).
STL_RECORD = np.dtype(
    [("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attr", "<u2")]
)
_HEADER_BYTES = 84
_VERTEX_RE = re.compile(rb"vertex\s+(\S+)\s+(\S+)\s+(\S+)")
_FACET_RE = re.compile(rb"\bfacet\b")
_ENDSOLID_RE = re.compile(rb"endsolid", re.IGNORECASE)


def read_stl(path: Path, size_bytes: int, max_triangles: int) -> np.ndarray:
    """Read an STL file into a triangle soup.

    Returns (m, 3, 3) float32 (file units). Raises MeshError naming the file when the file
    is empty, truncated, its triangle count disagrees with its size, or it has too many
    triangles.
    """
    raw = read_stl_raw(path, size_bytes, max_triangles)
    if isinstance(raw, np.ndarray):
        return raw
    buf, count = raw
    return np.frombuffer(buf, dtype=STL_RECORD, count=count)["vertices"]


def read_stl_raw(path: Path, size_bytes: int, max_triangles: int) -> np.ndarray | tuple[np.ndarray, int]:
    """Read an STL file: a binary one as its records' bytes, an ASCII one as a soup.

    Returns (records (50 m,) uint8, m) for a binary STL (the bytes after the 84-byte
    header, for :func:`stl_kernels.weld_records`) or (m, 3, 3) float32 (file units) for
    an ASCII one. Raises MeshError as :func:`read_stl` does.
    """
    with open(path, "rb") as fh:
        head = fh.read(_HEADER_BYTES)
    if size_bytes == 0:
        raise MeshError("file is empty", where=str(path))
    looks_ascii = head.lstrip().lower().startswith(b"solid")
    if len(head) >= _HEADER_BYTES:
        count = int(np.frombuffer(head, "<u4", 1, 80)[0])
        expected = _HEADER_BYTES + STL_RECORD.itemsize * count
        if expected == size_bytes:
            if count > max_triangles:
                raise MeshError(
                    f"{count} triangles exceed the limit of {max_triangles}", where=str(path)
                )
            return np.fromfile(path, dtype=np.uint8, count=STL_RECORD.itemsize * count, offset=_HEADER_BYTES), count
        if not looks_ascii or not _ascii_text(path):
            raise MeshError(binary_stl_size_problem(count, size_bytes), where=str(path))
    elif not looks_ascii:
        raise MeshError(
            f"truncated STL: {size_bytes} bytes, shorter than the 84-byte binary header",
            where=str(path),
        )
    return _read_ascii(path, max_triangles)


def binary_stl_size_problem(count: int, size_bytes: int) -> str:
    """The sentence for a binary STL whose header count disagrees with its size."""
    held = (size_bytes - _HEADER_BYTES) // STL_RECORD.itemsize
    expected = _HEADER_BYTES + STL_RECORD.itemsize * count
    if size_bytes < expected:
        return (
            f"truncated: header says {count} triangles ({expected} bytes), file holds {held} "
            f"({size_bytes} bytes)"
        )
    return (
        f"corrupt binary STL: header says {count} triangles ({expected} bytes), but the file "
        f"has {size_bytes} bytes (room for {held})"
    )


def looks_like_binary_stl(head: bytes, size_bytes: int) -> bool:
    """Whether a file's first bytes read as a binary STL, complete or not.

    head : the file's first bytes (at least 134 for a useful answer); size_bytes : its
    size. True when the header's triangle count is positive and the first record holds
    finite, sane floats with a unit or zero normal, so a truncated binary STL can be told
    apart from other binary content (and gets :func:`binary_stl_size_problem`'s sentence).
    """
    if size_bytes < _HEADER_BYTES or len(head) < _HEADER_BYTES + STL_RECORD.itemsize:
        return False
    count = int(np.frombuffer(head, "<u4", 1, 80)[0])
    if count == 0:
        return False
    rec = np.frombuffer(head, STL_RECORD, 1, _HEADER_BYTES)[0]
    values = np.concatenate([rec["normal"].ravel(), rec["vertices"].ravel()]).astype(np.float64)
    if not np.isfinite(values).all() or np.abs(values).max() > 1e7:
        return False
    n = float(np.linalg.norm(rec["normal"]))
    return n < 1e-6 or abs(n - 1.0) < 1e-3


def _ascii_text(path: Path) -> bool:
    """True when the file's start is text (no NUL byte in its first 4 KiB)."""
    with open(path, "rb") as fh:
        return b"\0" not in fh.read(4096)


def _read_ascii(path: Path, max_triangles: int) -> np.ndarray:
    data = path.read_bytes()
    if b"\0" in data[:4096] or not _ENDSOLID_RE.search(data):
        raise MeshError(
            "neither a binary STL (size disagrees with the triangle count) nor a complete "
            "ASCII STL (no 'endsolid'): truncated or corrupt",
            where=str(path),
        )
    coords = _VERTEX_RE.findall(data)
    n_facets = len(_FACET_RE.findall(data))
    if len(coords) % 3 or len(coords) != 3 * n_facets:
        raise MeshError(
            f"ASCII STL has {n_facets} facets but {len(coords)} vertices (3 per facet expected)",
            where=str(path),
        )
    if n_facets > max_triangles:
        raise MeshError(f"{n_facets} triangles exceed the limit of {max_triangles}", where=str(path))
    try:
        values = np.array(coords, dtype=np.float64)
    except ValueError as exc:
        raise MeshError(f"ASCII STL has a vertex that is not a number ({exc})", where=str(path)) from exc
    return values.reshape(-1, 3, 3).astype(np.float32)


def write_stl_binary(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write a binary STL.

    vertices : (n, 3) float64, mm; faces : (m, 3) int. Normals are computed from the
    winding (zero for degenerate triangles). The whole file is built in one buffer
    (:func:`stl_kernels.fill_records` writes the records in place, on two threads but for
    tiny meshes) and written at once.
    """
    from printprep.mesh.chunks import on_two_threads  # noqa: PLC0415 - with the kernels
    from printprep.mesh.stl_kernels import MIN_SPLIT_RECORDS, fill_records  # noqa: PLC0415 - kernels load on first use

    m = len(faces)
    buf = np.zeros(_HEADER_BYTES + STL_RECORD.itemsize * m, dtype=np.uint8)
    buf[:80] = np.frombuffer(b"binary STL written by printprep".ljust(80, b" "), dtype=np.uint8)
    buf[80:84] = np.frombuffer(np.uint32(m).tobytes(), dtype=np.uint8)
    # the records' 12 float32 (normal, three corners) as a strided view of the buffer
    floats = buf[_HEADER_BYTES:].reshape(m, STL_RECORD.itemsize)[:, :48].view(np.float32)
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if m >= MIN_SPLIT_RECORDS:
        half = m // 2
        on_two_threads(fill_records, (vertices, faces[:half], floats[:half]), (vertices, faces[half:], floats[half:]))
    else:
        fill_records(vertices, faces, floats)
    with open(path, "wb") as fh:
        buf.tofile(fh)
