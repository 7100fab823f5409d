"""glibc's allocator set for the batch commands (check, repair, prepare, slice, layers):
freed memory kept for reuse.

A repair of a 1.35M-triangle mesh makes and drops hundreds of arrays of 5-70 MB. With
glibc's defaults every one of them is its own ``mmap`` (they are over the mmap
threshold), is returned to the kernel when freed, and the next one is faulted in and
zeroed again, 4 KiB page by 4 KiB page: about 195,000 page faults and 0.65-0.75 s of
system time, nearly all on the serial main thread. The batch commands are short-lived
processes that end soon after their peak, so :func:`keep_freed_memory` has them keep
what they free (``mallopt``, through ctypes):

- ``M_MMAP_THRESHOLD`` 32 MiB (glibc's largest): blocks below it come from the heap and
  are reused after ``free``;
- ``M_TRIM_THRESHOLD`` 2 GiB and ``M_TOP_PAD`` 1 GiB: the heap is not given back while
  the process runs, and grows in big steps (address space: pages count when touched);
- ``M_ARENA_MAX`` 1: the compiled kernels' threads allocate from the same heap (a thread
  arena is an ``mmap`` of its own, faulted in again by every process).

Measured in-process on the damaged 1.35M band (load, repair, write; 3 runs each at load
3.5-4.5): system time 0.65-0.75 s -> 0.41-0.46 s, 197k -> 118k minor faults, user time
the same, peak RSS 888 -> 884 MB. Transparent huge pages on the heap (``MADV_HUGEPAGE``)
cut the faults to 4k but raised system time to 0.82-0.86 s (each fault zeroes 2 MiB),
and are not used.

The long-running service (``serve``, ``worker``) is never set so: its memory must go back
to the OS between jobs. Nothing is done off Linux/glibc, when the user set
``GLIBC_TUNABLES`` (their own allocator settings), or with ``PRINTPREP_MALLOC=off``.
"""

from __future__ import annotations

import os
import sys

#: CLI areas (printprep.cli modules) whose commands get the batch allocator settings.
BATCH_AREAS = ("mesh", "casting", "slicing")
#: ``PRINTPREP_MALLOC=off`` leaves glibc's defaults.
SWITCH = "PRINTPREP_MALLOC"

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = (1 << 31) - 1  # mallopt takes an int
TOP_PAD_BYTES = 1 << 30

#: True once :func:`keep_freed_memory` set this process's allocator.
applied = False


def keep_freed_memory() -> bool:
    """Set this process's allocator for a batch command (see the module docstring).
    Returns whether it was set (False where it cannot or should not be, or glibc refused
    a setting). Calling it again does nothing."""
    global applied
    if applied:
        return True
    if os.environ.get(SWITCH) == "off" or "GLIBC_TUNABLES" in os.environ or not _glibc():
        return False
    import ctypes  # noqa: PLC0415 - only the batch commands need it

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # pragma: no cover - glibc without the usual soname
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    for param, value in ((M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
                         (M_ARENA_MAX, 1), (M_TOP_PAD, TOP_PAD_BYTES)):
        if libc.mallopt(param, value) != 1:  # pragma: no cover - refused: keep glibc's defaults for the rest
            return False
    applied = True
    return True


def heap_range() -> tuple[int, int] | None:
    """(start, end) addresses of this process's heap (its ``[heap]`` mappings), None when
    it has none."""
    found: list[int] = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                if line.rstrip().endswith("[heap]"):
                    found += [int(x, 16) for x in line.split()[0].split("-")]
    except OSError:  # pragma: no cover - no procfs
        return None
    return (min(found), max(found)) if found else None


def _glibc() -> bool:
    """Linux with glibc."""
    if sys.platform != "linux":
        return False
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # pragma: no cover - not glibc
        return False
