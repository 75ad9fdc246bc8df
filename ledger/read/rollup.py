"""The one call of the roll-up kernel, and what its error slots mean for a reader."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from kernels import dispatch
from kernels.layout import ERR_OUT_OF_RANGE, ERR_SLOTS, out_of_range_columns
from ledger.domain.errors import LedgerError
from ledger.domain.money import exact_sum
from ledger.read.conversion import _Conversion
from ledger.resident import columns as C

if TYPE_CHECKING:
    pass


INT64_MAX = 2**63 - 1


def exact_column_sums(out: np.ndarray) -> list[int]:
    """The sum of each column of an int64 table, exactly (Python ints): a plain numpy sum
    wraps where the groups fit and their sum does not (two groups of 8 x 10^18 JPY)."""
    if out.shape[0] >= 2**31:
        raise ValueError("at most 2^31 - 1 rows")
    return exact_sum(out, axis=0)


class Rollups:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

    def _rollup(
        self, arrays: dict, terms, n_groups: int, conv: _Conversion, group_target: np.ndarray,
        weight: np.ndarray | None = None, kernel: str = "rollup",
    ) -> np.ndarray:  # fmt: skip
        term_src, term_tab = self._term_arrays(terms)
        out = np.zeros((n_groups, 4), np.int64)
        err = np.zeros(ERR_SLOTS, np.int64)
        weight_tab = (
            weight
            if weight is not None
            else np.zeros(max(len(self.cols.lookups.chip_tpp), 1), np.int64)
        )
        started = time.perf_counter()
        dispatch.rollup(
            codes=arrays["codes"], term_src=term_src, term_tab=term_tab,
            weight_src=np.int64(C.CHIP if weight is not None else -1), weight_tab=weight_tab,
            group_target=group_target,
            day=arrays["codes"][C.DAY, : arrays["amount"].shape[0]],
            currency=arrays["codes"][C.CURRENCY, : arrays["amount"].shape[0]],
            amount=arrays["amount"], quantity=arrays["quantity"], lines=arrays["lines"],
            num=conv.num, den=conv.den, ratio=conv.ratio, fast_max=conv.fast_max,
            fixed_day=np.int64(conv.fixed_day), day0=np.int64(conv.day0), out=out, err=err,
            which=self.backend,
        )  # fmt: skip
        self._observe(kernel, time.perf_counter() - started)
        if err[0]:
            raise LedgerError(
                "no-rate", "Cannot convert",
                f"{int(err[0])} line(s) cannot be converted: "
                f"{self._why_not(arrays, conv, int(err[1]))}; load fx-rates", 422,
            )  # fmt: skip
        if err[ERR_OUT_OF_RANGE]:
            raise LedgerError(
                "total-out-of-range", "Total out of range",
                f"a {'/'.join(out_of_range_columns(int(err[ERR_OUT_OF_RANGE])))} total in "
                f"{', '.join(conv.targets)} is beyond the ledger's range (|x| < 2^63 minor "
                "units); narrow the query", 422,
            )  # fmt: skip
        return out

    def _why_not(self, arrays: dict, conv: _Conversion, day: int) -> str:
        """The currency and date at fault, for the earliest day with a line that failed."""
        n = arrays["amount"].shape[0]
        on_day = arrays["codes"][C.DAY, :n] == day
        codes = np.unique(arrays["codes"][C.CURRENCY, :n][on_day]).tolist()
        return conv.why_not(self.cols.dicts["currency"].values, codes, day)
