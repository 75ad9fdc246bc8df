"""The read use cases of `ledger.queries`, found once at start-up.

Loading them maps the resident columns back (or rebuilds them) and warms the
kernels, so the first request pays no compile time.
"""

from __future__ import annotations

import logging
import time

from api import metrics
from ledger.ingest import Ledger
from ledger.queries import DIMENSIONS, Queries

log = logging.getLogger("chip_ledger.api")


def dimensions() -> list[str]:
    """The dimensions GET /v1/totals accepts: the use cases' own list."""
    return list(DIMENSIONS)


def _observe_kernel(kernel: str, seconds: float) -> None:
    metrics.KERNEL_SECONDS.labels(kernel).observe(seconds)


def open_queries(ledger: Ledger) -> Queries:
    """`Queries(ledger)`: loads the resident columns, registers for appends, warms the kernels."""
    started = time.perf_counter()
    queries = Queries(ledger)
    queries.observers.append(_observe_kernel)
    loaded = time.perf_counter() - started
    # compile (or load from numba's cache) every kernel on tiny inputs: the first request
    # pays no compile time, and start-up does not grow with the ledger
    queries.warm_up()
    log.info(
        "use cases ready: columns loaded in %.2f s, kernels warm after %.2f s",
        loaded, time.perf_counter() - started,
    )  # fmt: skip
    return queries
