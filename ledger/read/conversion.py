"""Conversion cells: per target currency, line currency and day, the exact ratio the
roll-up applies to a line's amount, and the bound under which its float fast path is exact.

An amount A (minor units of C) becomes A x num / den minor units of the target R,
rounded half-even, where num = rate(C) x 10^max(0, e_R - e_C) and den = rate(R) x
10^max(0, e_C - e_R) (rates in 10^-12 USD, e = minor-unit exponents). The kernel
first computes x = A x ratio in float64 (ratio = num / den) and keeps rint(x) only when
x is provably more than its rounding error away from a half-way point; `fast_max` is
the largest |A| for which that error bound holds: with |x| < 2^61 and den < 2^61 the
float error of A x ratio is below |x| x 2^-52 + 2, so |A| <= (2^61 / den - 2) x 2^52 /
ratio keeps the error under 1/(2 den), the smallest distance from a half-way point of
an exact quotient; halved again for margin and capped at 2^53 (exact A in float64).
Larger amounts take the exact integer path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ledger.domain.money import MINOR_EXPONENT
from ledger.domain.schema import day_of
from ledger.read.dims import (
    _bad_param,
)
from ledger.resident import columns as C
from ledger.resident.columns import Lookups

if TYPE_CHECKING:
    pass


@dataclass
class _Conversion:
    num: np.ndarray
    den: np.ndarray
    ratio: np.ndarray
    fast_max: np.ndarray
    day0: int
    fixed_day: int
    targets: tuple[str, ...] = ()  # the reporting currencies, by conversion table


class Conversions:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

    def _conversion(
        self, targets: list[str], fx: str = "order-date", lookups: Lookups | None = None
    ) -> _Conversion:
        """Conversion cells into each target currency, by line currency and day."""
        lk = lookups or self.cols.lookups
        rates = lk.rate_e12  # [currency, day]
        fixed_day = -1
        if fx != "order-date":
            try:
                fixed_date = dt.date.fromisoformat(fx)
            except ValueError:
                raise _bad_param("fx", f"{fx!r} is neither order-date nor YYYY-MM-DD") from None
            column = min(max(day_of(fixed_date) - lk.rate_day0, -1), rates.shape[1] - 1)
            rates = rates[:, [column]] if column >= 0 else np.zeros((rates.shape[0], 1), np.int64)
            fixed_day = day_of(fixed_date)
            day0 = fixed_day
        else:
            day0 = lk.rate_day0
        exps = np.array([MINOR_EXPONENT[c] for c in C.CURRENCIES], np.int64)
        n_t, n_c, n_d = len(targets), rates.shape[0], rates.shape[1]
        num = np.zeros((n_t, n_c, n_d), np.int64)
        den = np.zeros((n_t, n_c, n_d), np.int64)
        for t, code in enumerate(targets):
            r = self.cols.dicts["currency"].index[code]
            e_r = MINOR_EXPONENT[code]
            num[t] = rates * (10 ** np.maximum(0, e_r - exps))[:, None]
            den[t] = rates[r][None, :] * (10 ** np.maximum(0, exps - e_r))[:, None]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.where(den > 0, num / np.maximum(den, 1), 0.0)
            den_f = np.maximum(den.astype(np.float64), 1.0)
            x_limit = np.minimum(2.0**61, (2.0**61 / den_f - 2.0) * 2.0**52)
            a_limit = np.where(ratio > 0, x_limit / np.maximum(ratio, 1e-300), 0.0)
            fast_max = np.floor(np.clip(np.minimum(a_limit, 2.0**53) * 0.5, 0, 2.0**53))
        num = np.where(den > 0, num, 0)  # the kernel checks num alone: 0 means no rate
        return _Conversion(
            num, den, ratio, fast_max.astype(np.int64), day0, fixed_day, tuple(targets)
        )

    def _check_currency(self, code: str, name: str = "currency") -> str:
        code = (code or "").upper()
        if code not in MINOR_EXPONENT:
            raise _bad_param(name, f"{code!r} is not a supported ISO 4217 code")
        lk = self.cols.lookups
        if not (lk.rate_e12[self.cols.dicts["currency"].index[code]] > 0).any():
            raise _bad_param(name, f"no {code} rates are loaded; load fx-rates first")
        return code
