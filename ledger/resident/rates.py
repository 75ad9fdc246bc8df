"""Each currency's value in the pivot, per day, as an exact rational (DESIGN section 3, v(C)).

Rates arrive as published (one unit of base is worth rate units of quote), each as a
fraction p / q in lowest terms with p < 10^12 and q dividing 10^12 (ledger.domain.money
`rate_fraction`). Every row is a leg both ways (base -> quote p / q, quote -> base q / p);
of two rows of one pair on one day, the one quoted with the currency as its base wins.
On day d, v(C) is:
  * C's own leg to the pivot P in force (the latest on or before d), else
  * leg(C -> X) x v(X) for the first currency X (by code) that has both a leg from C and
    its own leg to P in force (ECB rows with P = USD: v(JPY) = EURUSD / EURJPY), else
  * none (0): a read that needs it is a 422 naming the currency and the date.
v(P) = 1. Values are int64 numerator / denominator in lowest terms; a one-hop value whose
reduced parts pass 2^62 (only with 12-digit rates from two sources) is WIDE (-1): it
exists, and a read that needs it says so, never rounds it. The store's `fx_values` view
computes the same with the same rule in SQL (ledger.store.ddl), so ad-hoc SQL ties out.
"""

from __future__ import annotations

import numpy as np

WIDE = -1  # a value that exists but whose exact parts do not fit the kernels' int64
LIMIT = float(2**62)  # products below this (by a float estimate) are exact in int64


def exact_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a x b, fits): the int64 product where the float estimate is below 2^62 (so the
    exact product is below 2^63), 0 elsewhere."""
    fits = a.astype(np.float64) * b.astype(np.float64) < LIMIT
    return np.where(fits, a, 0) * np.where(fits, b, 0), fits


def ratio_of(an, ad, bn, bd) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(an / ad) / (bn / bd) in lowest terms (inputs in lowest terms, > 0): (num, den, fits)."""
    an, ad, bn, bd = (np.where(v > 0, v, 1) for v in (an, ad, bn, bd))  # callers mask these
    g1 = np.gcd(an, bn)
    g2 = np.gcd(ad, bd)
    num, f1 = exact_product(an // g1, bd // g2)
    den, f2 = exact_product(ad // g2, bn // g1)
    return num, den, f1 & f2


def _forward_fill(table: np.ndarray) -> np.ndarray:
    """Along the last axis, each 0 replaced by the latest nonzero value before it (or 0)."""
    width = table.shape[-1]
    last = np.maximum.accumulate(np.where(table != 0, np.arange(width), -1), axis=-1)
    return np.where(last >= 0, np.take_along_axis(table, np.maximum(last, 0), axis=-1), 0)


def values(
    day: np.ndarray, base: np.ndarray, quote: np.ndarray, p: np.ndarray, q: np.ndarray,
    pivot: int, order: list[int], n_cur: int, width: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """v(C) for every currency code < n_cur and day offset < width: (num, den) int64.

    day: offsets from the table's first day; base, quote: currency codes; p / q: the rates;
    order: the currency codes sorted by their ISO code (the hop's tie rule).
    """
    num = np.zeros((n_cur, width), np.int64)
    den = np.zeros((n_cur, width), np.int64)
    num[pivot], den[pivot] = 1, 1
    if not len(day):
        return num, den
    # legs both ways; the row quoted with ccy as its base wins a same-day tie (stable sort)
    ccy = np.concatenate([quote, base])
    other = np.concatenate([base, quote])
    lp, lq = np.concatenate([q, p]), np.concatenate([p, q])
    days = np.concatenate([day, day])
    pair = ccy.astype(np.int64) * n_cur + other
    pairs, leg = np.unique(pair, return_inverse=True)
    leg_p = np.zeros((len(pairs), width), np.int64)
    leg_q = np.zeros((len(pairs), width), np.int64)
    cell = leg * width + days
    _, last = np.unique(cell[::-1], return_index=True)  # the last row of a cell wins
    keep = len(cell) - 1 - last
    leg_p[leg[keep], days[keep]], leg_q[leg[keep], days[keep]] = lp[keep], lq[keep]
    leg_p, leg_q = _forward_fill(leg_p), _forward_fill(leg_q)
    by_pair = {int(k): i for i, k in enumerate(pairs)}
    direct = np.zeros(n_cur, bool)
    for c in range(n_cur):
        i = by_pair.get(c * n_cur + pivot)
        if c != pivot and i is not None:
            num[c], den[c], direct[c] = leg_p[i], leg_q[i], True
    for c in range(n_cur):
        if c == pivot:
            continue
        for x in order:
            i = by_pair.get(c * n_cur + x)
            if x == pivot or not direct[x] or i is None:
                continue
            free = (num[c] == 0) & (leg_p[i] > 0) & (num[x] > 0)
            if not free.any():
                continue
            # v(C) = leg(C -> X) x v(X) = (lp / lq) / (den_x / num_x)
            n, d, fits = ratio_of(leg_p[i], leg_q[i], den[x], num[x])
            num[c] = np.where(free, np.where(fits, n, WIDE), num[c])
            den[c] = np.where(free, np.where(fits, d, WIDE), den[c])
    return num, den
