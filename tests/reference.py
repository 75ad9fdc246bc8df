"""Slow, obviously correct references in plain Python ints and Decimal."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import ROUND_HALF_EVEN, Decimal

from kernels import layout as L
from ledger.domain.money import MINOR_EXPONENT, half_even_div


def rate_on(rates: list[dict], currency: str, day: dt.date) -> Decimal:
    """The latest rate with rate_date <= day; USD is 1."""
    if currency == "USD":
        return Decimal(1)
    best = None
    for r in rates:
        rd = dt.date.fromisoformat(r["rate_date"])
        if r["currency"] == currency and rd <= day and (best is None or rd > best[0]):
            best = (rd, Decimal(r["usd_per_unit"]))
    if best is None:
        raise LookupError(f"no {currency} rate on or before {day}")
    return best[1]


def convert(amount: Decimal, currency: str, target: str, day: dt.date, rates) -> int:
    """An amount (in currency units) to target minor units, half-even, once."""
    value = amount * rate_on(rates, currency, day) / rate_on(rates, target, day)
    return int(value.scaleb(MINOR_EXPONENT[target]).quantize(Decimal(1), ROUND_HALF_EVEN))


def feed_rows(csv_text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(csv_text)))


def total_in(csv_text: str, target: str, rates) -> int:
    """Sum over the open lines of a CSV feed, converted per line at its order date."""
    total = 0
    for row in feed_rows(csv_text):
        if row.get("status", "open") == "cancelled":
            continue
        amount = Decimal(row["quantity"]) * Decimal(row["unit_price"])
        total += convert(
            amount, row["currency"], target, dt.date.fromisoformat(row["order_date"]), rates
        )
    return total


def rollup(
    codes, amount, quantity, lines, term_src, term_tab, num, den, day0, n_groups,
    weight_src=-1, weight_tab=None,
) -> tuple[list[list[int]], int, int]:  # fmt: skip
    """The roll-up in Python ints: (sums per group, bad lines, out-of-range column bits).

    A group's sums are exact (unbounded); a cell beyond int64 reads L.OUT_OF_RANGE,
    as the kernels promise, and its column's bit is set in the third value.
    Conversion table 0 only (every group converts into the first target).
    """
    exact = [[0] * L.N_OUT for _ in range(n_groups)]
    bad = 0
    for i in range(len(amount)):
        parts = [int(term_tab[k, codes[term_src[k], i]]) for k in range(len(term_src))]
        if any(p < 0 for p in parts):
            continue
        g = sum(parts)
        d, c = int(codes[L.DAY, i]) - day0, int(codes[L.CURRENCY, i])
        if not (0 <= d < num.shape[2]) or num[0, c, d] == 0 or den[0, c, d] == 0:
            bad += 1
            continue
        value = half_even_div(int(amount[i]) * int(num[0, c, d]), int(den[0, c, d]))
        if not -(2**63) < value < 2**63:
            bad += 1  # the line itself cannot be converted into int64
            continue
        exact[g][L.OUT_LINES] += int(lines[i])
        exact[g][L.OUT_QUANTITY] += int(quantity[i])
        exact[g][L.OUT_AMOUNT] += value
        if weight_src >= 0:
            exact[g][L.OUT_WEIGHTED] += int(quantity[i]) * int(weight_tab[codes[weight_src, i]])
    mask = 0
    out = []
    for row in exact:
        fits = [-(2**63) <= v < 2**63 for v in row]
        mask |= sum(1 << k for k, ok in enumerate(fits) if not ok)
        out.append([v if ok else L.OUT_OF_RANGE for v, ok in zip(row, fits, strict=True)])
    return out, bad, mask
