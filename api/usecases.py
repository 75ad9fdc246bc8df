"""The read use cases of `ledger.read.queries`, found once at start-up.

Loading them maps the resident columns back (or rebuilds them). The kernels the first
answers need (`kernels.dispatch.FIRST_ANSWER`) are compiled, or loaded from numba's cache,
on a thread that starts before the ledger opens (a demo build runs meanwhile); the rest
compile on another thread once the service answers, each logged as it is ready. A request
that needs one not compiled yet compiles it on the spot (numba's compiler lock orders them).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from api import metrics
from kernels.dispatch import FIRST_ANSWER, KERNELS
from ledger.ledger import Ledger
from ledger.read.dims import DIMENSIONS
from ledger.read.queries import warm_kernels

log = logging.getLogger("chip_ledger.api")


def dimensions() -> list[str]:
    """The dimensions GET /v1/totals accepts: the use cases' own list."""
    return list(DIMENSIONS)


def _observe_kernel(kernel: str, seconds: float) -> None:
    metrics.KERNEL_SECONDS.labels(kernel).observe(seconds)


def _progress(what: str, names: tuple[str, ...]):
    """done(name, seconds) for warm_kernels: one log line per kernel, so that a cold numba
    cache (tens of seconds on 2 cores) shows where it is."""
    count = iter(range(1, len(names) + 1))

    def done(name: str, seconds: float) -> None:
        log.info("kernels: %s ready in %.1f s (%d of %d %s)", name, seconds, next(count),
                 len(names), what)  # fmt: skip

    return done


def start_warm_up() -> Future:
    """Compile (or load) the kernels the first answers need, on a thread; the caller goes on
    opening the ledger meanwhile, and `open_queries` waits for it."""
    log.info("kernels: compiling or loading %s (the first answers need them)",
             ", ".join(FIRST_ANSWER))  # fmt: skip
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm-up")
    warmed = pool.submit(warm_kernels, None, FIRST_ANSWER, _progress("first", FIRST_ANSWER))
    pool.shutdown(wait=False)  # the thread ends with its one task
    return warmed


def warm_the_rest() -> threading.Thread:
    """The other kernels, on a daemon thread, after the service answers."""
    rest = tuple(k for k in KERNELS if k not in FIRST_ANSWER)

    def run() -> None:
        try:
            took = warm_kernels(None, rest, _progress("in the background", rest))
            log.info("kernels: all %d ready (the last %d in %.1f s)", len(KERNELS), len(rest), took)
        except Exception:  # the request that needs it compiles it again and answers the error
            log.exception("kernels: background compile failed")

    thread = threading.Thread(target=run, name="warm-up-rest", daemon=True)
    thread.start()
    return thread


def open_queries(ledger: Ledger, warmed: Future | None = None) -> Ledger:
    """The ledger with its resident columns loaded and the first answers' kernels warm."""
    started = time.perf_counter()
    warmed = warmed or start_warm_up()
    queries = ledger.reads  # numpy copies release the GIL: the compile goes on meanwhile
    loaded = time.perf_counter() - started
    warmed.result()  # a compile error surfaces here, before the first request
    queries.observers.append(_observe_kernel)
    log.info(
        "use cases ready: columns loaded in %.2f s, first kernels warm after %.2f s",
        loaded, time.perf_counter() - started,
    )  # fmt: skip
    return ledger
