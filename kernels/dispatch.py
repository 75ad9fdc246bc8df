"""The one place that chooses the kernel backend (CHIP_LEDGER_BACKEND=auto|cpu|cuda).

Only this module asks numba whether CUDA is available, once, and logs why it
chose what it chose. Every public kernel call goes through `rollup`,
`screen` and `read_floor` here; the CPU path never imports numba.cuda.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import cache

import numba
import numpy as np

log = logging.getLogger("chip_ledger.kernels")
BACKENDS = ("auto", "cpu", "cuda")


@cache
def backend(requested: str | None = None) -> str:
    requested = (requested or os.environ.get("CHIP_LEDGER_BACKEND", "auto")).lower()
    if requested not in BACKENDS:
        raise ValueError(f"CHIP_LEDGER_BACKEND={requested!r}; use one of {', '.join(BACKENDS)}")
    if requested == "cpu":
        log.info("kernels: cpu (CHIP_LEDGER_BACKEND=cpu)")
        return "cpu"
    if requested == "auto" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        log.info("kernels: cpu (NUMBA_ENABLE_CUDASIM=1: the simulator serves tests only)")
        return "cpu"
    if not _nvidia_driver_present():
        available, why = False, "no NVIDIA driver on this machine"
    else:
        try:
            from numba import cuda

            available = cuda.is_available()
            why = "a CUDA device is available" if available else "numba found no CUDA device"
        except Exception as e:  # numba-cuda not installed, or no driver
            available, why = False, f"numba.cuda unusable ({type(e).__name__}: {e})"
    if requested == "cuda" and not available:
        raise RuntimeError(f"CHIP_LEDGER_BACKEND=cuda but {why}")
    chosen = "cuda" if available else "cpu"
    log.info("kernels: %s (%s; CHIP_LEDGER_BACKEND=%s)", chosen, why, requested)
    return chosen


def _nvidia_driver_present() -> bool:
    """A cheap look before asking numba: importing numba.cuda alone takes most of a second."""
    if os.environ.get("NUMBA_CUDA_DRIVER") or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return True  # a driver named by hand, or the simulator: ask numba
    if sys.platform != "linux":
        return True  # a platform we cannot tell cheaply: ask numba
    return any(
        os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg")
    )


def threads() -> int:
    return numba.get_num_threads()


def _impl(name: str, which: str | None):
    which = which or backend()
    if which == "cuda":
        from kernels import cuda as impl
    else:
        from kernels import cpu as impl
    return getattr(impl, name)


def rollup(*, out: np.ndarray, err: np.ndarray, which: str | None = None, **arrays) -> None:
    """Grouped sums with conversion; see kernels.cpu.rollup. Fills out and err."""
    if (which or backend()) == "cuda":
        from kernels import cuda as impl

        impl.rollup(out=out, err=err, **arrays)
        return
    from kernels import cpu

    cpu.rollup(**arrays, n_threads=threads(), out=out, err=err)


def screen(*, out: np.ndarray, which: str | None = None, **arrays) -> None:
    """Per-entry bit set of the export rules that flag it; see kernels.cpu.screen."""
    if (which or backend()) == "cuda":
        _impl("screen", which)(**arrays, out=out)
        return
    from kernels import cpu

    cpu.screen(**arrays, n_threads=threads(), out=out)


def read_floor(columns: tuple[np.ndarray, ...], out: np.ndarray) -> None:
    """Sum the given columns' bytes as uint64 words: the time floor for reading them."""
    from kernels import cpu

    cpu.read_floor(columns, threads(), out)


def warm_up(which: str | None = None) -> float:
    """Compile (or load from cache) every kernel on tiny inputs; returns seconds taken."""
    import time

    from kernels import warm

    started = time.perf_counter()
    warm.run(which or backend())
    return time.perf_counter() - started
