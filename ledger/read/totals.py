"""GET /v1/totals: lines, units and amount by any dimensions, in a reporting currency."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ledger.domain.errors import LedgerError
from ledger.domain.money import format_minor
from ledger.read.dims import (
    DIMENSIONS,
    _bad_param,
    _check_filter,
)
from ledger.read.rollup import INT64_MAX, exact_column_sums

if TYPE_CHECKING:
    pass


class Totals:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

    def totals(
        self, by: list[str] | None = None, currency: str = "USD", fx: str = "order-date",
        filters: dict[str, list] | None = None,
    ) -> dict:  # fmt: skip
        by = [b for b in (by or []) if b]
        filters = {k: v for k, v in (filters or {}).items() if v}
        for name in [*by, *filters]:
            if name not in DIMENSIONS:
                raise _bad_param(name, f"unknown dimension; one of {', '.join(DIMENSIONS)}")
        if len(set(by)) != len(by):
            raise _bad_param("by", "a dimension is repeated")
        for name, values in filters.items():
            _check_filter(name, values)
        currency = self._check_currency(currency)
        filter_key = tuple(sorted((k, tuple(str(v) for v in vs)) for k, vs in filters.items()))
        return self._shared(
            ("totals", tuple(by), currency, fx, filter_key),
            lambda: self._totals(by, currency, fx, filters, filter_key),
        )

    def _totals(
        self, by: list[str], currency: str, fx: str, filters: dict[str, list], filter_key: tuple
    ) -> dict:
        # computed alone, or in one pass with the other totals waiting for the lock
        out, labels, strides = self._batched_rollup(by, currency, fx, filters, filter_key)
        rows = []
        nonzero = np.flatnonzero((out[:, 0] != 0) | (out[:, 1] != 0) | (out[:, 2] != 0))
        for g in nonzero:
            row = {}
            for k, name in enumerate(by):
                row[name] = labels[k][(g // strides[k]) % len(labels[k])]
            row.update(self._money_row(out[g], currency))
            rows.append(row)
        total = self._money_row(self._grand_total(out, currency), currency)
        return {"currency": currency, "fx": fx, "by": by, "rows": rows, "total": total}

    @staticmethod
    def _grand_total(out: np.ndarray, currency: str) -> list[int]:
        """The rows' sums, exactly: 422 where one leaves int64, as a group's total would."""
        sums = exact_column_sums(out[:, :3])
        beyond = [name for name, v in zip(("lines", "quantity", "amount"), sums, strict=True)
                  if abs(v) > INT64_MAX]  # fmt: skip
        if beyond:
            raise LedgerError(
                "total-out-of-range", "Total out of range",
                f"the grand {'/'.join(beyond)} total in {currency} is beyond the ledger's "
                "range (|x| < 2^63 minor units) though each row is within it; filter the "
                "query so that fewer rows add up", 422,
            )  # fmt: skip
        return sums

    @staticmethod
    def _money_row(acc, currency: str) -> dict:
        return {
            "lines": int(acc[0]),
            "quantity": int(acc[1]),
            "amount": format_minor(int(acc[2]), currency),
            "amount_minor": int(acc[2]),
        }
