"""Conversion cells: per target currency, line currency and day, the exact ratio the
roll-up applies to a line's amount, and the bound under which its float fast path is exact.

An amount A (minor units of C) becomes A x num / den minor units of the target R, rounded
half-even, where num / den = v(C) / v(R) x 10^(e_R - e_C) in lowest terms (v: each
currency's exact value in the pivot, ledger.resident.rates; e: minor-unit exponents). A
cell whose reduced parts pass 2^62 is left empty and a read that needs it is a 422 saying
so. The kernel first computes x = A x ratio in float64 (ratio = num / den) and keeps
rint(x) only when x is provably more than its rounding error away from a half-way point;
`fast_max` is the largest |A| for which that error bound holds: with |x| < 2^61 and
den < 2^61 the float error of A x ratio is below |x| x 2^-52 + 2, so |A| <= (2^61 / den -
2) x 2^52 / ratio keeps the error under 1/(2 den), the smallest distance from a half-way
point of an exact quotient; halved again for margin and capped at 2^53 (exact A in
float64). Larger amounts take the exact integer path (num, den < 2^63: its guards hold).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ledger.domain.money import MINOR_EXPONENT
from ledger.domain.schema import FIRST_DATE, LAST_DATE, date_of, day_of
from ledger.read.dims import (
    _bad_param,
)
from ledger.resident.columns import Lookups
from ledger.resident.rates import exact_product, ratio_of

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
    v_num: np.ndarray | None = None  # v(C) numerators [currency, day] (0 none, -1 wide)
    wide: np.ndarray | None = None  # cells whose exact ratio does not fit int64

    def why_not(self, currencies: list[str], codes: np.ndarray, day: int) -> str:
        """Why lines of these currency codes on `day` (days since EPOCH) cannot convert."""
        d = (self.fixed_day if self.fixed_day >= 0 else day) - self.day0
        when = date_of(self.day0 + d)
        if not 0 <= d < self.num.shape[2]:
            return f"no rates cover {when}"
        for t, target in enumerate(self.targets):
            r = currencies.index(target) if target in currencies else -1
            if r < 0 or self.v_num[r, d] == 0:
                return f"no {target} value on or before {when} (no rate path to the pivot)"
            for c in codes:
                if c < self.v_num.shape[0] and self.v_num[c, d] == 0:
                    return (
                        f"no {currencies[c]} rate on or before {when}, against the pivot "
                        "or through one hop"
                    )
                if c < self.v_num.shape[0] and self.wide[t, c, d]:
                    return (
                        f"the exact {currencies[c]}/{target} cross rate on {when} needs more "
                        "than 62 bits each side (rates of many digits from two sources)"
                    )
        return f"the conversion on {when} overflows"


class Conversions:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

    def _conversion(
        self, targets: list[str], fx: str = "order-date", lookups: Lookups | None = None
    ) -> _Conversion:
        """Conversion cells into each target currency, by line currency and day."""
        lk = lookups or self.cols.lookups
        v_num, v_den = lk.rate_num, lk.rate_den  # [currency, day]
        fixed_day = -1
        if fx != "order-date":
            fixed_date = _fx_date(fx)
            column = min(max(day_of(fixed_date) - lk.rate_day0, -1), v_num.shape[1] - 1)
            if column >= 0:
                v_num, v_den = v_num[:, [column]], v_den[:, [column]]
            else:
                v_num = v_den = np.zeros((v_num.shape[0], 1), np.int64)
            fixed_day = day_of(fixed_date)
            day0 = fixed_day
        else:
            day0 = lk.rate_day0
        currencies = self.cols.dicts["currency"].values[: v_num.shape[0]]
        exps = np.array([MINOR_EXPONENT[c] for c in currencies], np.int64)
        n_t, n_c, n_d = len(targets), v_num.shape[0], v_num.shape[1]
        num = np.zeros((n_t, n_c, n_d), np.int64)
        den = np.zeros((n_t, n_c, n_d), np.int64)
        wide = np.zeros((n_t, n_c, n_d), bool)
        for t, code in enumerate(targets):
            r = self.cols.dicts["currency"].index.get(code, n_c)
            if r < n_c:  # else no rate at all: every cell stays empty (a 422 if read)
                num[t], den[t], wide[t] = _cells(v_num, v_den, r, exps, MINOR_EXPONENT[code])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.where(den > 0, num / np.maximum(den, 1), 0.0)
            den_f = np.maximum(den.astype(np.float64), 1.0)
            x_limit = np.minimum(2.0**61, (2.0**61 / den_f - 2.0) * 2.0**52)
            a_limit = np.where(ratio > 0, x_limit / np.maximum(ratio, 1e-300), 0.0)
            fast_max = np.floor(np.clip(np.minimum(a_limit, 2.0**53) * 0.5, 0, 2.0**53))
        num = np.where(den > 0, num, 0)  # the kernel checks num alone: 0 means no rate
        return _Conversion(
            num,
            den,
            ratio,
            fast_max.astype(np.int64),
            day0,
            fixed_day,
            tuple(targets),
            v_num,
            wide,
        )

    def _check_currency(self, code: str, name: str = "currency") -> str:
        code = (code or "").upper()
        if code not in MINOR_EXPONENT:
            raise _bad_param(name, f"{code!r} is not a supported ISO 4217 code")
        lk = self.cols.lookups
        index = self.cols.dicts["currency"].index.get(code)
        if index is None or index >= lk.rate_num.shape[0] or not (lk.rate_num[index] != 0).any():
            raise _bad_param(name, f"no {code} rates are loaded; load fx-rates first")
        return code


def _cells(v_num, v_den, r: int, exps: np.ndarray, e_r: int):
    """(num, den, wide) [currency, day]: v(C) / v(R) x 10^(e_R - e_C) in lowest terms, 0 where
    either value is missing, wide where a value or the reduced ratio passes 2^62."""
    num, den, fits = ratio_of(v_num, v_den, v_num[r][None, :], v_den[r][None, :])
    shift = (e_r - exps)[:, None]  # the power of ten, reduced against the other side first
    up = 10 ** np.maximum(shift, 0)
    down = 10 ** np.maximum(-shift, 0)
    g_up, g_down = np.gcd(den, up), np.gcd(num, down)
    num, f1 = exact_product(num // np.maximum(g_down, 1), up // np.maximum(g_up, 1))
    den, f2 = exact_product(den // np.maximum(g_up, 1), down // np.maximum(g_down, 1))
    present = (v_num != 0) & (v_num[r][None, :] != 0)
    wide = present & ((v_num < 0) | (v_num[r][None, :] < 0) | ~(fits & f1 & f2))
    ok = present & ~wide
    return np.where(ok, num, 0), np.where(ok, den, 0), wide


def _fx_date(fx: str) -> dt.date:
    """The `fx` date, as the contract says: YYYY-MM-DD only (Python's fromisoformat also
    takes 20250630 and week dates), within the ledger's dates (FIRST_DATE..LAST_DATE)."""
    try:
        if len(fx) != 10 or fx[4] != "-" or fx[7] != "-":
            raise ValueError
        fixed_date = dt.date.fromisoformat(fx)
    except ValueError:
        raise _bad_param("fx", f"{fx[:40]!r} is neither order-date nor YYYY-MM-DD") from None
    if not FIRST_DATE <= fixed_date <= LAST_DATE:
        raise _bad_param("fx", f"{fx} is outside the ledger's dates ({FIRST_DATE} to {LAST_DATE})")
    return fixed_date
