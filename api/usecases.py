"""The read use cases of `ledger.queries`, found once at start-up.

The service runs without them (ingest, reference, SQL and health still work)
only while `ledger.queries` does not exist yet; any other import failure is
a real fault and stops the start.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from api import metrics
from ledger.errors import LedgerError
from ledger.ingest import Ledger

log = logging.getLogger("chip_ledger.api")

# The dims of GET /v1/totals in DESIGN.md section 4; ledger.queries.DIMENSIONS rules when present.
DESIGN_DIMENSIONS = (
    "entity", "fiscal_year", "supplier", "supplier_country", "chip_model", "vendor",
    "destination", "budget_code", "workload", "acquisition", "line_currency", "month",
)  # fmt: skip


def _queries_module():
    try:
        from ledger import queries
    except ModuleNotFoundError as e:
        if e.name != "ledger.queries":
            raise
        return None
    return queries


def dimensions() -> list[str]:
    module = _queries_module()
    dims = getattr(module, "DIMENSIONS", None) if module else None
    if dims is None:
        return list(DESIGN_DIMENSIONS)
    return sorted(dims) if isinstance(dims, set | frozenset) else list(dims)


def _observe_kernel(kernel: str, seconds: float) -> None:
    metrics.KERNEL_SECONDS.labels(kernel).observe(seconds)


def open_queries(ledger: Ledger) -> Any | None:
    """`Queries(ledger)`: loads the resident columns, registers for appends, warms the kernels."""
    module = _queries_module()
    if module is None:
        log.warning("ledger.queries is missing: totals, budgets, sourcing, compliance answer 503")
        return None
    started = time.perf_counter()
    queries = module.Queries(ledger)
    observers = getattr(queries, "observers", None)
    if isinstance(observers, list):
        observers.append(_observe_kernel)
    loaded = time.perf_counter() - started
    # One call of each use case compiles (or loads from numba's cache) every kernel they
    # use, so the first request pays no compile time. Through ledger: api never imports kernels.
    for warm in (
        lambda: queries.totals(["entity"]),
        lambda: queries.compliance(fiscal_year=None, rule=None, limit=1, offset=0),
    ):
        try:
            warm()
        except LedgerError as e:  # e.g. no rates yet: the kernels still compiled, or will
            log.info("warm-up call refused (%s); continuing", e.title)
    log.info(
        "use cases ready: columns loaded in %.2f s, kernels warm after %.2f s",
        loaded, time.perf_counter() - started,
    )  # fmt: skip
    return queries
