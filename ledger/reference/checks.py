"""Field checkers for reference rows: value -> normalised value, or ValueError(message).

Reference tables are small (thousands of rows), so each value is checked in
plain Python for clear messages. Every date is inside the ledger's range, every
number finite and bounded, every rule's params of its kind's schema: a row that
passes cannot slow the service down or break a later read.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from kernels import layout
from ledger.domain.errors import LedgerError
from ledger.domain.feeds import JsonNumber, loads_strict
from ledger.domain.money import MINOR_EXPONENT, finite_decimal, plain, rate_fraction
from ledger.domain.validate import COUNTRY_CODES, MAX_ORDER_DATE, MIN_ORDER_DATE

RULE_KINDS = layout.RULE_KINDS  # the kinds the screening kernel evaluates


def _loads(data: bytes | str):
    return loads_strict(data, "reference JSON", parse_float=str, parse_int=int)


# -- field checkers: value -> normalised value, or ValueError(message) ------


def _text(v, max_len: int = 200) -> str:
    if v is None or (isinstance(v, str) and not v.strip()):
        raise ValueError("required")
    if isinstance(v, dict | list) or (isinstance(v, JsonNumber) and not _finite(v)):
        raise ValueError(f"{json.dumps(v, default=str)[:60]} is not text")
    s = str(v).strip()
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate)") from None
    if len(s) > max_len:
        raise ValueError(f"longer than {max_len} characters")
    return s


def _opt_text(v):
    return None if v is None or str(v).strip() == "" else _text(v)


def _country(v) -> str:
    s = _text(v).upper()
    if s not in COUNTRY_CODES:
        raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 code")
    return s


def _opt_country(v):
    return None if v is None or v == "" else _country(v)


def _currency(v) -> str:
    s = _text(v).upper()
    if s not in MINOR_EXPONENT:
        raise ValueError(f"{v!r} is not a supported ISO 4217 code")
    return s


def _finite(v) -> bool:
    try:
        finite_decimal(v)
    except ValueError:
        return False
    return True


def _int(lo: int, hi: int) -> Callable:
    def check(v) -> int:
        try:
            if isinstance(v, bool | dict | list):
                raise ValueError
            d = finite_decimal(v)  # bounded first: int() of 1e999999999 would never end
            if d != d.to_integral_value():
                raise ValueError
            i = int(d)
        except (InvalidOperation, ValueError, TypeError):
            raise ValueError(f"{v!r} is not an integer") from None
        if not lo <= i <= hi:
            raise ValueError(f"{i} is not in [{lo}, {hi}]")
        return i

    return check


def _opt_int(lo: int, hi: int) -> Callable:
    inner = _int(lo, hi)
    return lambda v: None if v is None or v == "" else inner(v)


def _date(v) -> dt.date:
    """YYYY-MM-DD inside the ledger's range: a lookup table spans it, so a row dated
    0001-01-01 or 9999-12-31 could make every lookup huge."""
    s = _text(v)
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            raise ValueError
        d = dt.date.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{v!r} is not an ISO date (YYYY-MM-DD)") from None
    if not MIN_ORDER_DATE <= d <= MAX_ORDER_DATE:
        raise ValueError(f"{s} is not between {MIN_ORDER_DATE} and {MAX_ORDER_DATE}")
    return d


def _opt_date(v):
    return None if v is None or v == "" else _date(v)


def _decimal(lo: Decimal, hi: Decimal, name: str = "value", places: int = 6) -> Callable:
    """A finite decimal in [lo, hi] with at most `places` decimals (what the column holds)."""

    def check(v) -> Decimal:
        if isinstance(v, bool | dict | list):
            raise ValueError(f"{name} {json.dumps(v)[:60]} is not a decimal number")
        try:
            d = finite_decimal(v)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
        if not lo <= d <= hi:
            raise ValueError(f"{name} {plain(d)} is not in [{lo}, {hi}]")
        if d != d.quantize(Decimal(1).scaleb(-places)):
            raise ValueError(f"{name} {plain(d)} has more than {places} decimals")
        return d

    return check


MAX_DIE_AREA_MM2 = 10**6


def _positive_number(v) -> float:
    if isinstance(v, bool | dict | list):
        raise ValueError(f"{json.dumps(v)[:60]} is not a number")
    d = finite_decimal(v)
    if not 0 < d <= MAX_DIE_AREA_MM2:
        raise ValueError(f"{plain(d)} is not in (0, {MAX_DIE_AREA_MM2}]")
    return float(d)


def _one_of(*allowed: str) -> Callable:
    def check(v) -> str:
        s = _text(v).lower()
        if s not in allowed:
            raise ValueError(f"{v!r} is not one of {', '.join(allowed)}")
        return s

    return check


def _rate(v) -> Decimal:
    """An exact decimal rate, kept as published (normalised only: 10, never 1E+1)."""
    if isinstance(v, bool | dict | list):
        raise ValueError(f"{json.dumps(v)[:60]} is not a rate")
    try:
        p, q = rate_fraction(str(v).strip())
    except (InvalidOperation, ValueError, TypeError, AttributeError) as e:
        raise ValueError(str(e) if str(e) else f"{v!r} is not a rate") from None
    return Decimal(p) / Decimal(q)  # exact: q divides 10^12


def _bool(v) -> bool:
    if isinstance(v, bool):
        return v
    if v is None or v == "":
        return False
    s = str(v).strip().lower()
    if s not in ("true", "false"):
        raise ValueError(f"{v!r} is not true or false")
    return s == "true"


def _amount(v) -> str:
    if v is None or v == "":
        raise ValueError("required")
    if isinstance(v, bool | dict | list):
        raise ValueError(f"{json.dumps(v)[:60]} is not a decimal number")
    return plain(finite_decimal(str(v)))  # Infinity, NaN, 1e999999999: refused here


def _all_or_items(v, separators: str) -> list | str:
    """`*` for all / *, else the items of a JSON list or of text split on `separators`."""
    if isinstance(v, list):
        return v
    s = _text(v, 2000)
    if s.lower() in ("all", "*"):
        return "*"
    for sep in separators[1:]:
        s = s.replace(sep, separators[0])
    return [x.strip() for x in s.split(separators[0]) if x.strip()]


def _destinations(v) -> str:
    items = _all_or_items(v, ",; ")
    if items == "*":
        return "*"
    if not items:
        raise ValueError("name at least one country, or all")
    return ",".join(sorted({_country(x) for x in items}))


def _chips(v) -> str:
    """`all`, or a list of chip model names (a JSON list, or text split on `,` / `;`):
    stored as `*` or the sorted names joined by commas (so a name may hold no comma)."""
    items = _all_or_items(v, ",;")
    if items == "*":
        return "*"
    if not items:
        raise ValueError("name at least one chip model, or all")
    if not all(isinstance(x, str) for x in items):
        raise ValueError("chip models must be names (strings)")
    names = {_text(x) for x in items}
    if any("," in x for x in names):
        raise ValueError("a chip model name in a list may not contain a comma")
    return ",".join(sorted(names))


MAX_LIST_ITEMS = 200  # alt names or countries of one listing


def _items(v) -> list:
    """A list as sent: a JSON array, or text separated by `;` (CSV), or nothing."""
    if v is None or v == "":
        return []
    if isinstance(v, list):
        items = v
    elif isinstance(v, str):
        items = [x for x in (p.strip() for p in v.split(";")) if x]
    else:
        raise ValueError(f"{json.dumps(v, default=str)[:60]} is not a list")
    if len(items) > MAX_LIST_ITEMS:
        raise ValueError(f"more than {MAX_LIST_ITEMS} items")
    return items


def _names(v) -> list[str]:
    """Alternative names: each text, kept in order, repeats dropped."""
    names = [_text(x, 500) for x in _items(v)]
    return list(dict.fromkeys(names))


def _countries(v) -> list[str]:
    return sorted({_country(x) for x in _items(v)})


def _params(v) -> dict:
    if isinstance(v, str):  # CSV carries params as JSON text
        try:
            v = _loads(v.encode("utf-8", "surrogatepass"))
        except LedgerError as e:
            raise ValueError(f"params is not JSON: {e.detail}") from None
    if not isinstance(v, dict):
        raise ValueError("params must be an object")
    for key, message in getattr(v, "faults", ()):
        raise ValueError(f"params.{key}: {message}")
    return v


# The params each rule kind takes: "countries" (a list of ISO codes), "products"
# (a non-empty list of chip model names) or "number" (finite, in [0, 10^9]).
_COUNTRIES, _PRODUCTS, _NUMBER = "countries", "products", "number"
_TPP_NOTIFY_NUMBERS = ("tpp_min", "tpp_max", "pd_min", "pd_max", "tpp_min_dense", "pd_min_dense")
RULE_PARAMS: dict[str, dict[str, tuple[str, bool]]] = {
    "tpp_license": {
        "origins": (_COUNTRIES, True), "destinations": (_COUNTRIES, True),
        "buyer_hq": (_COUNTRIES, False), "tpp_min": (_NUMBER, True),
        "tpp_min_dense": (_NUMBER, True), "pd_min_dense": (_NUMBER, True),
    },
    "tpp_notify": {
        "origins": (_COUNTRIES, True), "destinations": (_COUNTRIES, True),
        "buyer_hq": (_COUNTRIES, False), **{k: (_NUMBER, True) for k in _TPP_NOTIFY_NUMBERS},
    },
    "product_license": {
        "origins": (_COUNTRIES, True), "products": (_PRODUCTS, True),
        "destinations": (_COUNTRIES, True), "buyer_hq": (_COUNTRIES, False),
    },
    "product_caution": {
        "origins": (_COUNTRIES, True), "products": (_PRODUCTS, True),
        "exempt_buyer_hq": (_COUNTRIES, False),
    },
    "lease_identity": {"origins": (_COUNTRIES, True), "tpp_min": (_NUMBER, True)},
}  # fmt: skip


def _param_value(kind: str, key: str, value):
    if kind == _NUMBER:
        return float(_decimal(Decimal(0), Decimal(10**9), f"params.{key}", places=12)(value))
    what = "country codes" if kind == _COUNTRIES else "chip model names"
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValueError(f"params.{key} must be a list of {what} (strings)")
    if kind == _PRODUCTS:
        if not value:
            raise ValueError(f"params.{key} must name at least one chip model")
        return [_text(x) for x in value]
    return [_country(x) for x in value]


def _check_rule_params(kind: str, params: dict) -> None:
    """params against the schema of its kind: no unknown key, every value of its type."""
    schema = RULE_PARAMS[kind]
    for key in params:
        if key not in schema:
            raise ValueError(f"params.{key} is not a parameter of {kind}")
    for key, (value_kind, required) in schema.items():
        if key not in params:
            if required:
                raise ValueError(f"params.{key} is required for {kind}")
            continue
        params[key] = _param_value(value_kind, key, params[key])
