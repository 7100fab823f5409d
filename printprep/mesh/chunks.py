"""Running a compiled scan over chunks of its work on every core, twice: once to count
what each chunk finds, once to write it where its count says.

The scans are numba functions compiled with ``nogil=True``, so plain threads run them in
parallel; this keeps ``parallel=True`` (whose compilation of big loop bodies costs tens
of seconds on the first run) out of the heaviest kernels. :func:`on_two_threads` runs a
kernel on two halves of its work at once, and :class:`Background` one piece of work on a
thread of its own while the caller goes on with another (repair's and check's overlaps).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

#: Chunks per thread: small enough to balance uneven work between the threads.
CHUNKS_PER_THREAD = 16


def two_pass(
    scan: Callable[..., tuple[int, int]], n: int, widths: tuple[int, int] = (2, 2), min_per_thread: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``scan(lo, hi, write, out_a, at_a, out_b, at_b) -> (count_a, count_b)`` over
    ``0..n`` in chunks, on every core, and gather its two kinds of records.

    scan : counts (and when ``write``, stores from ``at_a`` / ``at_b`` on) the records of
    items ``lo..hi``; widths : the columns of each kind of record; min_per_thread : fewer
    items per thread run on one thread. Returns (a (p, widths[0]) int64, b (q, widths[1])
    int64), chunk by chunk in item order.
    """
    n_threads = max(1, min(os.cpu_count() or 1, n // max(min_per_thread, 1)))
    n_chunks = max(1, n_threads * CHUNKS_PER_THREAD) if n_threads > 1 else 1
    bounds = np.linspace(0, n, n_chunks + 1).astype(np.int64)
    empty_a = np.zeros((0, widths[0]), dtype=np.int64)
    empty_b = np.zeros((0, widths[1]), dtype=np.int64)

    def count(c: int) -> tuple[int, int]:
        return scan(bounds[c], bounds[c + 1], False, empty_a, 0, empty_b, 0)

    with ThreadPoolExecutor(n_threads) as pool:
        counts = np.array(list(pool.map(count, range(n_chunks))), dtype=np.int64).reshape(n_chunks, 2)
        at = np.zeros((n_chunks + 1, 2), dtype=np.int64)
        np.cumsum(counts, axis=0, out=at[1:])
        out_a = np.empty((at[-1, 0], widths[0]), dtype=np.int64)
        out_b = np.empty((at[-1, 1], widths[1]), dtype=np.int64)

        def write(c: int) -> None:
            scan(bounds[c], bounds[c + 1], True, out_a, at[c, 0], out_b, at[c, 1])

        list(pool.map(write, [c for c in range(n_chunks) if counts[c].any()]))
    return out_a, out_b


def on_two_threads(kernel: Callable[..., Any], args_a: tuple, args_b: tuple) -> tuple:
    """``kernel(*args_a)`` on a new thread and ``kernel(*args_b)`` on this one (nogil
    kernels run in parallel); their results side by side: a tuple of pairs (a's, b's)
    when the kernel returns a tuple, else the pair of results. An exception on either
    thread is raised here, after both ended."""
    out: list = []

    def run_a() -> None:
        try:
            out.append((True, kernel(*args_a)))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            out.append((False, exc))

    worker = threading.Thread(target=run_a, name=f"{getattr(kernel, '__name__', 'kernel')}-a")
    worker.start()
    try:
        b = kernel(*args_b)
    finally:
        worker.join()
    ok, a = out[0]
    if not ok:
        raise a
    return tuple(zip(a, b, strict=True)) if isinstance(b, tuple) else (a, b)


class Background:
    """``fn(*args)`` run on a thread of its own (or at once with ``inline``: small work,
    where a thread costs more than it overlaps); :meth:`result` waits and returns its
    value or raises its exception. For compiled kernels (no GIL held) and numpy work that
    overlap what the calling thread does meanwhile."""

    def __init__(self, fn: Callable[..., Any], *args: Any, inline: bool = False) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if inline:
            self._run(fn, args)
            return
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True, name="printprep-mesh")
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._error = exc

    def result(self) -> Any:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
