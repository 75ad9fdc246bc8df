"""The read use cases of `ledger.read.queries`, found once at start-up.

Loading them maps the resident columns back (or rebuilds them) and warms the
kernels, so the first request pays no compile time.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from api import metrics
from ledger.ledger import Ledger
from ledger.read.dims import DIMENSIONS
from ledger.read.queries import warm_kernels

log = logging.getLogger("chip_ledger.api")


def dimensions() -> list[str]:
    """The dimensions GET /v1/totals accepts: the use cases' own list."""
    return list(DIMENSIONS)


def _observe_kernel(kernel: str, seconds: float) -> None:
    metrics.KERNEL_SECONDS.labels(kernel).observe(seconds)


def open_queries(ledger: Ledger) -> Ledger:
    """The ledger with its resident columns loaded and the kernels warm (ready for reads)."""
    started = time.perf_counter()
    # compile (or load from numba's cache) every kernel on tiny inputs, so the first request
    # pays no compile time; on a thread, while the columns load (numpy copies without the GIL)
    warm = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm-up")
    warmed = warm.submit(warm_kernels)
    try:
        queries = ledger.reads
        loaded = time.perf_counter() - started
    finally:
        warm.shutdown(wait=True)
    warmed.result()  # a compile error surfaces here, before the first request
    queries.observers.append(_observe_kernel)
    log.info(
        "use cases ready: columns loaded in %.2f s, kernels warm after %.2f s",
        loaded, time.perf_counter() - started,
    )  # fmt: skip
    return ledger
