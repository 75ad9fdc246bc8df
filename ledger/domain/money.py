"""Money as integers: ISO 4217 minor-unit exponents and exact decimal parsing.

Every amount in the ledger is an int64 count of its currency's minor units.
Decimal strings are parsed without ever passing through a binary float.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation


def _iso_4217() -> dict[str, int]:
    """Every active ISO 4217 currency with a minor unit, from the `iso4217` package (the ISO
    4217 Maintenance Agency's list one, table A.1, as published by SIX; re-released on each
    amendment). Entries whose minor unit is "N.A." (gold, SDR, bond units, XXX, XTS) hold no
    money counted in minor units and are left out."""
    from iso4217 import Currency

    return {c.code: int(c.exponent) for c in Currency if c.exponent is not None}


# ISO 4217 minor-unit exponents of the currencies the ledger accepts (USD 2, JPY 0, KWD 3).
MINOR_EXPONENT: dict[str, int] = _iso_4217()

# A line's amount (quantity x unit price) is bounded so that every later
# product (amount x scaled rate) stays inside exact 128-bit arithmetic and
# every total of up to 10^3 such lines per group fits in int64 with room.
MAX_LINE_AMOUNT_MINOR = 10**15

# Rates (fx_rates.rate) are exact decimals > 0 of at most 12 significant digits, 12 decimals
# and 12 integer digits: as a fraction p / q in lowest terms, p < 10^12 and q divides 10^12,
# so a product of two such parts fits in int64 after cross-reduction in most cases and in
# 128-bit integers always (ledger.resident.rates).
RATE_DIGITS = 12
RATE_SCALE = 10**RATE_DIGITS
MAX_RATE = 10**RATE_DIGITS


def exponent(currency: str) -> int:
    try:
        return MINOR_EXPONENT[currency]
    except KeyError:
        raise ValueError(f"unknown currency {currency!r}") from None


# A decimal of more digits than this before the point is out of every range here:
# refused before any arithmetic (1e999999999 would otherwise take minutes to expand).
MAX_DECIMAL_DIGITS = 30


def finite_decimal(value: str | int | Decimal) -> Decimal:
    """A finite, bounded decimal from its text, or ValueError (NaN, Infinity, 1e999999999)."""
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not d.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if d and (d.adjusted() >= MAX_DECIMAL_DIGITS or d.adjusted() < -MAX_DECIMAL_DIGITS):
        raise ValueError(f"{value!r} is out of range")
    return d


def plain(d: Decimal) -> str:
    """A decimal written plainly: 10, never 1E+1."""
    return format(d.normalize(), "f") if d else "0"


def to_minor(value: str | int | Decimal, currency: str) -> int:
    """An exact decimal amount to minor units; refuses more decimals than the currency has."""
    d = finite_decimal(value)
    e = exponent(currency)
    scaled = d.scaleb(e)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {e} decimals for {currency}")
    return int(scaled)


def format_minor(amount_minor: int, currency: str) -> str:
    """Minor units as a decimal string with exactly the currency's decimals."""
    e = exponent(currency)
    units, minor = divmod(abs(int(amount_minor)), 10**e)  # integers: exact at any size
    sign = "-" if amount_minor < 0 else ""
    return f"{sign}{units}.{minor:0{e}d}" if e else f"{sign}{units}"


def rate_fraction(value: str | int | Decimal) -> tuple[int, int]:
    """An exact decimal rate as (p, q) in lowest terms, or ValueError: > 0, at most 12
    significant digits, at most 12 decimals, below 10^12."""
    d = finite_decimal(value)
    if not (0 < d < MAX_RATE):
        raise ValueError(f"rate {plain(d)} is not in (0, {MAX_RATE})")
    d = d.normalize()
    sign, digits, exp = d.as_tuple()
    if len(digits) > RATE_DIGITS:
        raise ValueError(f"rate {plain(d)} has more than {RATE_DIGITS} significant digits")
    if -exp > RATE_DIGITS:
        raise ValueError(f"rate {plain(d)} has more than {RATE_DIGITS} decimals")
    m = int("".join(map(str, digits)))
    p, q = (m * 10**exp, 1) if exp >= 0 else (m, 10**-exp)
    g = math.gcd(p, q)
    return p // g, q // g


def half_even_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-even, in Python ints (exact)."""
    q, r = divmod(numerator, denominator)  # floor division: 0 <= r < denominator
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2 == 1):
        q += 1
    return q


def exact_sum(values, axis: int | None = None):
    """The exact sum of int64 values (a Python int, or a list of them along `axis`), for
    fewer than 2^31 of them: each is high * 2^32 + low (low in [0, 2^32)), and each half
    summed in int64 cannot wrap; a plain numpy sum wraps silently past int64."""
    low = (values & 0xFFFFFFFF).sum(axis=axis)
    high = (values >> 32).sum(axis=axis)
    if axis is None:
        return (int(high) << 32) + int(low)
    return [(int(h) << 32) + int(lo) for h, lo in zip(high, low, strict=True)]
