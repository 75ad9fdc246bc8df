"""`Queries`: the read use cases over the resident columns, one use case a module.

Each answer is JSON-ready (decimal strings for money, with minor units beside
them) and comes from the kernels; the CLI and the API both call these through
`Ledger`. The state kept between reads (in-flight reads, prepared tables, the
committed budget totals, the reference generation) lives here.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from kernels import dispatch
from ledger.domain.parties import DEFAULT_THRESHOLD
from ledger.guard import Committed
from ledger.read.batching import Batching
from ledger.read.budgets import Budgets
from ledger.read.compliance import Compliance
from ledger.read.conversion import Conversions
from ledger.read.dims import (
    Dimensions,
)
from ledger.read.licences import Licences
from ledger.read.parties import Parties
from ledger.read.rollup import Rollups
from ledger.read.sharing import KernelObserver, Sharing
from ledger.read.sourcing import Sourcing
from ledger.read.totals import Totals
from ledger.resident import bounds
from ledger.resident.columns import ResidentColumns

if TYPE_CHECKING:
    from ledger.store.store import Store


def warm_kernels(
    backend: str | None = None, kernels: tuple[str, ...] = dispatch.KERNELS, done=None
) -> float:
    """Compile or load the named kernels (every one by default) on tiny inputs (no ledger
    needed); done(name, seconds) as each is ready. Returns seconds taken."""
    return dispatch.warm_up(backend, kernels, done)


class Queries(
    Totals,
    Batching,
    Budgets,
    Sourcing,
    Compliance,
    Licences,
    Parties,
    Rollups,
    Conversions,
    Dimensions,
    Sharing,
):
    """The read use cases, over resident columns kept in step with the ledger."""

    def __init__(
        self, store: Store, cols: ResidentColumns, backend: str | None = None,
        party_threshold: float = DEFAULT_THRESHOLD,
    ):  # fmt: skip
        self.store = store
        self.cols = cols
        self.backend = backend
        self.observers: list[KernelObserver] = []
        # committed minor units per checked budget at the current state, kept in step
        # with appends so that the budget guard converts the incoming feed only
        self._committed: Committed | None = None
        self._magnitudes: tuple[int, dict[str, int]] | None = None  # (entries, per currency)
        self._generation = 0  # bumped when reference data (rates, budgets...) changes
        self._inflight: dict[tuple, Future] = {}  # see _shared
        self._inflight_lock = threading.Lock()
        self._init_batching()  # see ledger.read.batching
        self._prepared_state: tuple | None = None  # see _prepared
        self._prepared_items: dict[tuple, Any] = {}
        # restricted-party matches, redone when the generation moves (see ledger.read.parties)
        self.party_threshold = party_threshold
        self._party_lock = threading.Lock()
        self._party_screen = None
        self._party_hits = None

    def state_changed(self) -> None:
        """Reference data changed (rates, budgets, rules...): nothing kept may be reused."""
        self._committed = None
        self._generation += 1

    def committed(self, after: Committed | None, magnitudes: dict[str, int]) -> None:
        """A feed committed: keep its committed budget totals if they are of this state,
        and the open lines' magnitudes per currency (the guard's bound)."""
        if after is not None and after.n_entries == self.cols.n:
            self._committed = after
        self._magnitudes = (self.cols.n, magnitudes)

    def magnitudes(self) -> dict[str, int]:
        """Per currency, the exact sum of |amount_minor| of the current open lines."""
        known = self._magnitudes
        if known is None or known[0] != self.cols.n:
            view = self.cols.view()
            by_code = bounds.active_abs_by_currency(view["codes"], view["amount"], view["flags"])
            names = self.cols.dicts["currency"].values
            known = (self.cols.n, {names[c]: v for c, v in by_code.items()})
            self._magnitudes = known
        return known[1]
