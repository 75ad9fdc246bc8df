"""Money as integers: ISO 4217 minor-unit exponents and exact decimal parsing.

Every amount in the ledger is an int64 count of its currency's minor units.
Decimal strings are parsed without ever passing through a binary float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents of the currencies the ledger accepts.
MINOR_EXPONENT: dict[str, int] = {
    "USD": 2, "CNY": 2, "EUR": 2, "JPY": 0, "KWD": 3, "HKD": 2, "SGD": 2,
    "MYR": 2, "GBP": 2, "KRW": 0, "TWD": 2, "CHF": 2, "CAD": 2, "AUD": 2,
    "INR": 2, "AED": 2, "SAR": 2, "BHD": 3, "OMR": 3, "THB": 2, "IDR": 2,
    "VND": 0, "ILS": 2, "SEK": 2, "NOK": 2, "DKK": 2, "MXN": 2, "BRL": 2,
}  # fmt: skip

# A line's amount (quantity x unit price) is bounded so that every later
# product (amount x scaled rate) stays inside exact 128-bit arithmetic and
# every total of up to 10^3 such lines per group fits in int64 with room.
MAX_LINE_AMOUNT_MINOR = 10**15

# Rates are stored as integers of 10^-12 USD; a rate must be > 0 and < 1000.
RATE_SCALE_DIGITS = 12
RATE_SCALE = 10**RATE_SCALE_DIGITS
MAX_RATE = 1000


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


def rate_to_e12(value: str | int | Decimal) -> int:
    """An exact decimal rate (USD per unit) to an integer of 10^-12 USD."""
    d = finite_decimal(value)
    if not (0 < d < MAX_RATE):
        raise ValueError(f"rate {value} is not in (0, {MAX_RATE})")
    scaled = d.scaleb(RATE_SCALE_DIGITS)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"rate {value} has more than {RATE_SCALE_DIGITS} decimals")
    return int(scaled)


def half_even_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-even, in Python ints (exact)."""
    q, r = divmod(numerator, denominator)  # floor division: 0 <= r < denominator
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2 == 1):
        q += 1
    return q
