"""Start numba without importing scipy.linalg (about 0.5 s of every process's first
compiled call), and load its cached kernels without timing every LLVM call.

When numba first loads or compiles a kernel it imports its array implementations
(``numba.np.arraymath``), whose import probes for BLAS by importing
``scipy.linalg.cython_blas``, which imports all of scipy.linalg. The probe only sets a
flag; scipy is a dependency of printprep, so BLAS is there. :func:`defer_blas_probe`
imports ``numba.np.arraymath`` once with the probe answered without the import; a kernel
that really uses BLAS (np.dot, np.linalg inside njit) still imports scipy when it is
compiled. Every mesh ``*_kernels`` module calls it on import, before its first kernel.

Loading a cached kernel makes a few hundred calls into LLVM (numba lists the symbols of
its object code one FFI call each), and numba wraps every one of them in a pair of
"numba:llvm_lock" events that only feed the compile timers of a dispatcher's metadata.
:func:`drop_llvm_lock_events` unhooks them: 32 cached kernels load in 0.16-0.17 s of CPU
instead of 0.19-0.21 s (6 runs each); a compile's ``llvm_lock`` timer then reads 0.
"""

from __future__ import annotations

import importlib.util
import sys


def defer_blas_probe() -> None:
    """Import ``numba.np.arraymath`` with its BLAS probe answered without importing
    scipy.linalg (when scipy is installed; otherwise numba's own probe runs). Does
    nothing when numba's array implementations are already loaded."""
    if "numba.np.arraymath" in sys.modules or importlib.util.find_spec("scipy") is None:
        return
    import numba.np.linalg as numba_linalg  # noqa: PLC0415 - only here, once

    probe = getattr(numba_linalg, "ensure_blas", None)
    if probe is None:  # another numba: leave its own probe alone (start-up is slower, not wrong)
        return
    numba_linalg.ensure_blas = _blas_present
    try:
        import numba.np.arraymath as arraymath  # noqa: PLC0415 - binds the answered probe once
    finally:
        numba_linalg.ensure_blas = probe
    arraymath.ensure_blas = probe  # the real probe again, for anything that asks later


def _blas_present() -> None:
    """numba's BLAS probe, answered: scipy (and its BLAS) is installed."""


def drop_llvm_lock_events() -> None:
    """Unhook numba's "numba:llvm_lock" events from llvmlite's lock (see the module
    docstring). Does nothing when llvmlite or numba keep them elsewhere."""
    import numba.core.base  # noqa: F401, PLC0415 - hooks them on import: unhook after
    from llvmlite.binding import ffi  # noqa: PLC0415

    lock = getattr(getattr(ffi, "lib", None), "_lock", None)
    hooks = getattr(lock, "_cblist", None)
    if lock is None or not isinstance(hooks, list):  # another llvmlite: leave it
        return
    for acquire, release in list(hooks):
        if getattr(acquire, "__module__", None) == "numba.core.base":
            lock.unregister(acquire, release)


defer_blas_probe()
drop_llvm_lock_events()
