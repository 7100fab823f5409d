"""glibc's allocator set for the batch commands (check, repair, prepare, slice, layers):
freed memory kept for reuse and transparent huge pages.

A repair of a 1.35M-triangle mesh makes and drops hundreds of arrays of 5-70 MB. With
glibc's defaults every one of them is its own ``mmap`` (they are over the mmap
threshold), is returned to the kernel when freed, and the next one is faulted in again,
4 KiB page by 4 KiB page: about 180,000 page faults and 0.7-0.9 s of system time. The
batch commands are short-lived processes that end soon after their peak, so they keep
what they free instead:

- ``mmap_threshold`` 32 MiB (glibc's largest): blocks below it come from the heap and are
  reused after ``free``;
- ``trim_threshold`` 4 GiB and ``top_pad`` 256 MiB: the heap is not given back (and grown
  in big steps) while the process runs;
- ``hugetlb=1``: glibc asks for transparent huge pages (``madvise``) on the memory it
  maps, so a fault brings in 2 MiB (THP is often "madvise" only, and numpy marks only the
  arrays it allocates itself, not numba's).

Measured on the damaged 1.35M band (``printprep repair``): 186k -> 13k minor faults,
system time 0.7-0.8 s -> 0.4-0.7 s, peak RSS 944 -> 968 MB.

glibc reads these settings (its "tunables") from ``GLIBC_TUNABLES`` only when a process
starts, and ``mallopt`` cannot ask for huge pages, so :func:`use_batch_malloc`
re-executes the command once with them set (about 0.05 s: a fresh interpreter before
any heavy import) when its input is big enough to gain from it. The long-running service (``serve``, ``worker``) is never set so: its
memory must go back to the OS between jobs. Nothing is done when the user set
``GLIBC_TUNABLES`` or ``PRINTPREP_MALLOC`` (``PRINTPREP_MALLOC=off`` turns this off),
off Linux/glibc, or when the interpreter's command line cannot be replayed.
"""

from __future__ import annotations

import os
import sys

#: CLI areas (printprep.cli modules) whose commands get the batch allocator settings.
BATCH_AREAS = ("mesh", "casting", "slicing")
#: The settings, as glibc's GLIBC_TUNABLES reads them.
TUNABLES = (
    "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432"
    ":glibc.malloc.trim_threshold=4294967296:glibc.malloc.top_pad=268435456"
)
#: Set in the re-executed process's environment (and removed from os.environ there, so
#: that programs it starts keep glibc's defaults); any value set by the user disables
#: the settings.
MARK = "PRINTPREP_MALLOC"
_APPLIED = "applied"

#: True in a process that runs with :data:`TUNABLES` (set by :func:`use_batch_malloc`).
applied = False


#: Re-execute only when an argument names a file at least this big (bytes): the settings
#: save nothing measurable on a small mesh, the re-execution costs about 0.05 s.
MIN_INPUT_BYTES = 8 << 20


def use_batch_malloc(argv: list[str]) -> None:
    """Give this process the batch allocator settings: returns at once in the process
    that has them (after tidying its environment), re-executes the interpreter's own
    command line with them otherwise (does not return), and returns without change where
    they cannot or should not be applied (see the module docstring) or when none of the
    command's arguments ``argv`` is a file of at least :data:`MIN_INPUT_BYTES`."""
    global applied
    mark = os.environ.get(MARK)
    if mark == _APPLIED:  # the re-executed process
        del os.environ[MARK]
        if os.environ.get("GLIBC_TUNABLES") == TUNABLES:
            del os.environ["GLIBC_TUNABLES"]
            applied = True
        return
    if mark is not None or "GLIBC_TUNABLES" in os.environ or not _big_input(argv) or not _can_reexec():
        return
    env = dict(os.environ, GLIBC_TUNABLES=TUNABLES, **{MARK: _APPLIED})
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, sys.orig_argv, env)
    except OSError:  # pragma: no cover - the interpreter vanished: run as we are
        return


def _can_reexec() -> bool:
    """Linux with glibc, a known interpreter, and a command line that replays this run
    (not a script read from stdin)."""
    if sys.platform != "linux" or not sys.executable or not getattr(sys, "orig_argv", None):
        return False
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):  # pragma: no cover - not glibc
        return False
    return libc.startswith("glibc") and sys.argv[:1] != ["-"] and "-" not in sys.orig_argv[1:2]


def _big_input(argv: list[str]) -> bool:
    """Whether one of ``argv`` is a regular file of at least :data:`MIN_INPUT_BYTES`."""
    for arg in argv:
        if arg.startswith("-"):
            continue
        try:
            if os.stat(arg).st_size >= MIN_INPUT_BYTES:
                return True
        except (OSError, ValueError):
            continue
    return False
