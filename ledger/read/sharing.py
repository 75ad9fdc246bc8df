"""Sharing work between reads: identical reads in flight share one computation, and group
tables and conversion cells are kept while the ledger state they came from holds."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

# kernel time observer (the API registers a Prometheus histogram here)
KernelObserver = Callable[[str, float], None]


class Sharing:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

    def _prepared(self, key: tuple, build: Callable[[], Any]) -> Any:
        """Group tables and conversion cells, kept while the ledger state they came from holds
        (entry count and reference generation): repeated reads skip rebuilding them."""
        state = (self.cols.n, self._generation)
        if self._prepared_state != state:
            self._prepared_state, self._prepared_items = state, {}
        if key not in self._prepared_items:
            if len(self._prepared_items) >= 64:
                self._prepared_items.clear()
            self._prepared_items[key] = build()
        return self._prepared_items[key]

    def _shared(self, key: tuple, compute: Callable[[], dict]) -> dict:
        """One computation for identical concurrent reads of the same ledger state.

        Dashboards poll the same totals; without this, N identical requests queue
        on the columns' lock and the last waits N kernel runs. The key holds the
        entry count and reference generation seen on arrival, so a read never gets
        an answer older than the last commit before it arrived. Answers are shared:
        callers must not mutate them. Nothing is kept once the computation ends.
        """
        key = (*key, self.cols.n, self._generation)
        with self._inflight_lock:
            running = self._inflight.get(key)
            if running is None:
                mine = self._inflight[key] = Future()
        if running is not None:
            return running.result()
        try:
            answer = compute()
        except BaseException as e:
            mine.set_exception(e)
            raise
        else:
            mine.set_result(answer)
            return answer
        finally:
            with self._inflight_lock:
                del self._inflight[key]

    def _observe(self, kernel: str, seconds: float) -> None:
        for observer in self.observers:
            observer(kernel, seconds)
