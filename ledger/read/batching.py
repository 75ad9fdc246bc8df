"""Roll-ups waiting on the columns' lock share one kernel pass.

On a small machine the roll-up kernel already runs on every core, so different totals
requests cannot run side by side faster than one after the other: eight clients asking
eight different questions wait eight kernel passes. Instead, whoever takes the lock
answers every totals request waiting for it in the same reporting currency and rate
basis from one pass: a cube grouped by the union of their dimensions (grouped and
filtered), from which each answer is summed. The sums are exact, and every answer is
the one the request would get alone:
  * each line is converted and rounded once, in the kernel, as it would be alone;
  * a cell of the cube is an exact int64 (the kernel refuses otherwise), and a group of
    an answer is a sum of cells, done in two int64 halves and checked against int64;
  * where the cube pass or one answer is not plainly that (a line without a rate, which
    one request might filter out; a total past int64; a cube too large), the request is
    computed alone, so its own answer or its own error comes from the kernel.
A request that arrives alone is computed alone, as before.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from ledger.domain.errors import LedgerError

MAX_CUBE_CELLS = 1 << 16  # a cube past this is not worth its reductions: compute alone
_LOW = np.int64(0xFFFFFFFF)


@dataclass
class _Waiting:
    by: list[str]
    filters: dict[str, list]
    filter_key: tuple
    answer: Future = field(default_factory=Future)  # (out, labels, strides)


class Batching:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

    def _init_batching(self) -> None:
        self._batch_lock = threading.Lock()
        self._batch_waiting: dict[tuple, list[_Waiting]] = {}

    def _batched_rollup(
        self, by: list[str], currency: str, fx: str, filters: dict[str, list], filter_key: tuple
    ) -> tuple[np.ndarray, list, list]:
        """(out, labels, strides) of one totals request: computed with whatever requests of
        the same currency and rate basis wait for the lock beside it."""
        me, key = _Waiting(by, filters, filter_key), (currency, fx)
        with self._batch_lock:
            self._batch_waiting.setdefault(key, []).append(me)
        with self.cols.lock:
            # not answered yet: no holder took it, so it is still in the waiting list
            if not me.answer.done():
                with self._batch_lock:
                    batch = self._batch_waiting.pop(key, [])
                self._answer_batch(batch, currency, fx)
        return me.answer.result()

    def _answer_batch(self, batch: list[_Waiting], currency: str, fx: str) -> None:
        """Every request of the batch answered (or failed) at this one ledger state.
        Caller holds cols.lock."""
        try:
            arrays = self.cols.view()
            try:
                conv = self._prepared(
                    ("conversion", currency, fx), lambda: self._conversion([currency], fx)
                )
            except LedgerError as bad_rate_basis:  # each gets what it would get alone
                for w in batch:
                    self._fail_alone(w, bad_rate_basis)
                return
            shared = self._from_one_pass(batch, arrays, conv) if len(batch) > 1 else None
            for w, answer in zip(batch, shared or [None] * len(batch), strict=True):
                try:
                    w.answer.set_result(
                        answer if answer is not None else self._alone(w, arrays, conv)
                    )
                except Exception as own:  # noqa: BLE001 (the request's own error, alone)
                    w.answer.set_exception(own)
        except BaseException as stopped:  # nobody waits forever: each waiter gets the cause
            for w in batch:
                if not w.answer.done():
                    w.answer.set_exception(stopped)
            raise

    def _fail_alone(self, w: _Waiting, conversion_error: LedgerError) -> None:
        """The error w gets alone when the conversion cannot be built: its own group
        tables' error first (they are built first alone), else the conversion's."""
        try:
            self._request_terms(w)
        except LedgerError as own:
            w.answer.set_exception(own)
            return
        w.answer.set_exception(conversion_error)

    def _every_line_has_a_cell(self, dims: list[str]) -> bool:
        """Whether every code that occurs maps to a value in each of the cube's dimensions.
        The cube drops a line whose value is missing in any of them (its term is -1); a
        request that does not use that dimension would count the line alone."""
        for name in dims:
            dim = self._dim(name)
            width, lut = self._source_lut(dim)  # as the cube's own term tables read it
            if (self.cols.seen[dim.src, :width] & (lut < 0)).any():
                return False
        return True

    def _request_terms(self, w: _Waiting) -> tuple:
        return self._prepared(
            ("terms", tuple(w.by), w.filter_key), lambda: self._terms(w.by, w.filters)
        )

    def _alone(self, w: _Waiting, arrays: dict, conv) -> tuple[np.ndarray, list, list]:
        terms, labels, strides, n_groups = self._request_terms(w)
        out = self._rollup(arrays, terms, n_groups, conv, np.zeros(n_groups, np.int64))
        return out, labels, strides

    def _from_one_pass(self, batch: list[_Waiting], arrays: dict, conv) -> list | None:
        """Each request's (out, labels, strides) from one cube, or None for a request (or
        the whole batch) that must be computed alone."""
        dims: list[str] = []
        for w in batch:
            dims += [d for d in [*w.by, *w.filters] if d not in dims]
        failed = self._prepared(("cube-failed", conv.targets, conv.fixed_day), lambda: [False])
        if failed[0] or not self._every_line_has_a_cell(dims):
            return None  # known to fail at this state, or a line the cube would drop
        try:
            terms, cube_labels, _, n_cells = self._prepared(
                ("terms", tuple(dims), ()), lambda: self._terms(dims, {})
            )
        except LedgerError:  # too many groups for one table
            return None
        if n_cells > MAX_CUBE_CELLS:
            return None
        try:
            cube = self._rollup(arrays, terms, n_cells, conv, np.zeros(n_cells, np.int64))
        except LedgerError:  # no rate for some line, or a cell past int64
            failed[0] = True  # not again at this state: each would pay a pass for nothing
            return None
        sizes = [max(len(labels), 1) for labels in cube_labels]
        shaped = cube.reshape(*sizes, cube.shape[1])
        answers = []
        for w in batch:
            try:
                _, labels, strides, n_groups = self._request_terms(w)
            except LedgerError:
                answers.append(None)  # its own error, raised when computed alone
                continue
            out = _marginal(shaped, dims, cube_labels, w, labels, n_groups)
            answers.append(None if out is None else (out, labels, strides))
        return answers


def _marginal(cube, dims, cube_labels, w: _Waiting, labels, n_groups: int):
    """Request w's (n_groups, columns) table summed from the cube, or None when one of its
    totals leaves int64 (computed alone, the kernel then says so)."""
    kept = [dims.index(name) for name in w.by]
    if [cube_labels[j] for j in kept] != list(labels):
        return None  # not the same groups (cannot happen at one state; never guess)
    x = cube
    for j, name in enumerate(dims):
        values = w.filters.get(name)
        if values:
            wanted = {str(v) for v in values}
            allow = np.zeros(cube.shape[j], bool)
            allow[: len(cube_labels[j])] = [str(label) in wanted for label in cube_labels[j]]
            shape = [1] * cube.ndim
            shape[j] = -1
            x = x * allow.reshape(shape)
    summed = tuple(j for j in range(len(dims)) if j not in kept)
    # exact: each cell as high * 2^32 + low, the halves summed (no wrap below 2^31 cells)
    low = (x & _LOW).sum(axis=summed)
    high = (x >> np.int64(32)).sum(axis=summed) + (low >> np.int64(32))
    low &= _LOW
    if high.size and (high.max() > 2**31 - 1 or high.min() < -(2**31)):
        return None
    order = [sorted(kept).index(j) for j in kept]
    exact = ((high << np.int64(32)) | low).transpose(*order, len(order))
    return np.ascontiguousarray(exact).reshape(n_groups, cube.shape[-1])
