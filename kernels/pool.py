"""The one pool of plain threads every CPU kernel runs its chunks on.

The compiled bodies release the GIL (`nogil=True`), so plain threads run them
in parallel; with one shared pool, no second pool (such as numba's OpenMP one)
is left spinning beside it on a small machine.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor


def n_chunks(n: int, n_threads: int) -> int:
    """How many chunks n entries run in: one per thread, none under 4096 entries."""
    return max(1, min(n_threads, n // 4096 + 1))


def in_chunks(n: int, count: int, body) -> None:
    """body(t, lo, hi) for the `count` even slices of range(n), one per pool thread."""
    size = (n + count - 1) // count
    slices = [(t, t * size, min(n, (t + 1) * size)) for t in range(count)]
    if count == 1:
        body(*slices[0])
        return
    for done in [threads(count).submit(body, *sl) for sl in slices]:
        done.result()


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    """In a forked child the parent's pool threads do not exist: start a new pool there."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def threads(n: int) -> ThreadPoolExecutor:
    """A shared pool of at least n threads (kernels release the GIL: `nogil=True`)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="kernel")
        return _pool
