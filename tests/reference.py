"""Slow, obviously correct references in plain Python ints and Decimal."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import ROUND_HALF_EVEN, Decimal

from ledger.domain.money import MINOR_EXPONENT


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
