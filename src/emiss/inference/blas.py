"""Limit the OpenBLAS thread pools of numpy and scipy while the fast engine fits.

The fits multiply and solve small matrices (about 150 x 150); a multi-threaded OpenBLAS
spends more time waking and spinning its threads than computing, and on a loaded machine (or
with one process per core, as ``emiss scan --jobs`` runs) a single Hessian evaluation went from
3 ms to over 100 ms. Parallelism belongs to the scan (one hypothesis per process), so the fits
run with one BLAS thread. The pools are found as threadpoolctl does (the shared objects mapped
into the process, /proc/self/maps, exposing ``openblas_set_num_threads``); elsewhere this is a
no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)

_SUFFIXES = ("", "64_")
_PREFIXES = ("openblas", "scipy_openblas")
_libs: list[tuple[ctypes.CDLL, str]] | None = None


def _find() -> list[tuple[ctypes.CDLL, str]]:
    """(library, function prefix) of every loaded OpenBLAS with a thread setter."""
    global _libs
    if _libs is not None:
        return _libs
    found: list[tuple[ctypes.CDLL, str]] = []
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({ln.split()[-1] for ln in fh
                            if "openblas" in ln.lower() and ".so" in ln.split()[-1]})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pre in _PREFIXES:
            for suf in _SUFFIXES:
                if hasattr(lib, f"{pre}_set_num_threads{suf}") and hasattr(
                        lib, f"{pre}_get_num_threads{suf}"):
                    found.append((lib, f"{pre}_%s_num_threads{suf}"))
                    break
            else:
                continue
            break
    _libs = found
    log.debug("OpenBLAS pools found: %d", len(found))
    return found


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Context in which numpy's and scipy's OpenBLAS use one thread (restored on exit)."""
    saved = []
    for lib, pat in _find():
        try:
            n = int(getattr(lib, pat % "get")())
            if n != 1:
                getattr(lib, pat % "set")(1)
                saved.append((lib, pat, n))
        except Exception:  # pragma: no cover - foreign library
            continue
    try:
        yield
    finally:
        for lib, pat, n in saved:
            getattr(lib, pat % "set")(n)
