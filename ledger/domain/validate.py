"""Validate a raw feed table and normalise it to `LINE_SCHEMA`. Pure: no I/O.

Every check is vectorised over the whole batch (pyarrow.compute and numpy);
every fault is collected as `{row, field, message}` so that a sender sees all
that is wrong with a feed at once, not one fault per try.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger.domain import cells
from ledger.domain.errors import LedgerError, RowError, invalid
from ledger.domain.feeds import plain_column
from ledger.domain.iso3166 import COUNTRY_CODES
from ledger.domain.money import MAX_LINE_AMOUNT_MINOR, MINOR_EXPONENT
from ledger.domain.schema import (
    ACQUISITIONS,
    FEED_FIELDS,
    FIRST_DATE,
    LAST_DATE,
    LINE_SCHEMA,
    STATUSES,
    WORKLOADS,
)

MAX_QUANTITY = 10**9
MAX_INT32 = 2**31 - 1
MIN_ORDER_DATE, MAX_ORDER_DATE = FIRST_DATE, LAST_DATE


@dataclass(frozen=True)
class ReferenceView:
    """What validation needs to know of the reference tables."""

    entity_fy_start_month: dict[str, int] = field(default_factory=dict)
    suppliers: frozenset[str] = frozenset()
    chips: frozenset[str] = frozenset()
    first_rate_date: dict[str, dt.date] = field(default_factory=dict)  # currency -> earliest


class _Faults:
    """Collects faults as (rows, field, message-of-row) without a loop per row."""

    def __init__(self) -> None:
        self._groups: list[tuple[np.ndarray, str | None, Callable[[int], str]]] = []

    def add(self, bad: np.ndarray | pa.Array, field_name: str | None, message) -> None:
        mask = _mask(bad)
        rows = np.flatnonzero(mask)
        if rows.size:
            fn = message if callable(message) else (lambda _row, m=message: m)
            self._groups.append((rows, field_name, fn))

    @property
    def count(self) -> int:
        return int(sum(g[0].size for g in self._groups))

    def first(self, limit: int = 100) -> list[RowError]:
        picked: list[tuple[int, int, str | None, Callable[[int], str]]] = []
        for order, (rows, name, fn) in enumerate(self._groups):
            for r in rows[:limit]:
                picked.append((int(r), order, name, fn))
        picked.sort(key=lambda t: (t[0], t[1]))
        return [RowError(r, name, fn(r)) for r, _, name, fn in picked[:limit]]


def _mask(values) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values.astype(bool, copy=False)
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _combine(col) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return plain_column(col)  # dictionaries (any index width), string_view, large_string


_TICKS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _is_temporal_date(t: pa.DataType) -> bool:
    return pa.types.is_date(t) or pa.types.is_timestamp(t)


def _temporal_ticks(col: pa.Array) -> tuple[np.ndarray, str]:
    """The raw integers of a date or timestamp column (null -> 0) and their numpy unit:
    read as integers, so no cast can overflow (the date32 minimum included)."""
    t = col.type
    col = pc.fill_null(col.view(_storage(t)), 0).view(t)
    if pa.types.is_date32(t):
        return col.view(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64), "D"
    if pa.types.is_date64(t):
        return col.view(pa.int64()).to_numpy(zero_copy_only=False), "ms"
    return col.view(pa.int64()).to_numpy(zero_copy_only=False), t.unit


def _temporal_text(col: pa.Array) -> pa.Array:
    """ISO text of any date or timestamp (the date32 minimum included), for messages."""
    ticks, unit = _temporal_ticks(col)
    shown = np.datetime_as_string(ticks.astype(f"datetime64[{unit}]"))
    if pa.types.is_timestamp(col.type) and col.type.tz is not None:
        shown = np.char.add(shown, f" {col.type.tz}")
    return pc.if_else(pc.is_valid(col), pa.array(shown, pa.string()), pa.scalar(None, pa.string()))


def _storage(t: pa.DataType) -> pa.DataType:
    return pa.int32() if pa.types.is_date32(t) else pa.int64()


def _float_text(col: pa.Array) -> pa.Array:
    """Floats as their shortest decimal form (repr), written plainly: 1.234567890125e+11 is
    "123456789012.5", so a float is taken only when that form is exact in the minor unit."""
    if pa.types.is_float16(col.type):
        col = col.cast(pa.float32())
    text = col.cast(pa.string())  # Arrow's shortest round-trip form
    sci = np.flatnonzero(_mask(pc.match_substring(text, "e")))
    if not sci.size:
        return text
    values = text.to_pylist()
    for i in sci:
        d = Decimal(values[i])
        if d.is_finite() and abs(d.adjusted()) < 40:  # beyond that: refused as it stands
            values[i] = format(d, "f")
    return pa.array(values, pa.string())


def _as_text(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Any scalar column as strings (empty string -> null), plus a mask of cells of a bad type."""
    t = col.type
    bad = np.zeros(len(col), dtype=bool)
    if not pa.types.is_string(t):
        if pa.types.is_null(t):
            return pa.nulls(len(col), pa.string()), bad
        if pa.types.is_floating(t):
            col = _float_text(col)
        elif pa.types.is_date(t):
            col = _temporal_text(col)
        elif pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t):
            col = col.cast(pa.string())
        else:  # lists, structs, timestamps...: not a scalar this schema knows
            bad = ~_mask(pc.is_null(col))
            return pa.nulls(len(col), pa.string()), bad
    if cells.has_empty(col):  # most columns have none: then no pass over the text at all
        col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    return col, bad


def _printable_1_64(text: pa.Array) -> np.ndarray:
    """1 to 64 characters, none of them a control character."""
    if _mask(pc.string_is_ascii(text)).all():  # the usual case, ~10x faster than utf8 tables
        length = pc.binary_length(text).to_numpy(zero_copy_only=False)
        printable = _mask(pc.ascii_is_printable(text))
    else:
        length = pc.utf8_length(text).to_numpy(zero_copy_only=False)
        printable = _mask(pc.utf8_is_printable(text))
    return printable & (length >= 1) & (length <= 64)


def _present(text: pa.Array) -> np.ndarray:
    return _mask(pc.is_valid(text))


class _Feed:
    """A raw feed's columns as text (and as they arrived), and the faults found so far."""

    def __init__(self, raw: pa.Table) -> None:
        self.n = raw.num_rows
        self.faults = _Faults()
        self.text: dict[str, pa.Array] = {}
        self.typed: dict[str, pa.Array] = {}  # columns as they arrived (Arrow, Parquet, JSON)
        for name in FEED_FIELDS:
            if name not in raw.column_names:
                self.text[name] = pa.nulls(self.n, pa.string())
                continue
            self.typed[name] = _combine(raw.column(name))
            if name == "order_date" and _is_temporal_date(self.typed[name].type):
                # checked in _order_dates; stands as itself (only its nulls are read here):
                # its ISO text is made for a message's row alone (all rows cost ~60 ms/100k)
                self.text[name] = self.typed[name]
                continue
            self.text[name], bad_type = _as_text(self.typed[name])
            self.faults.add(bad_type, name, "not a scalar value")

    def required(self, name: str) -> np.ndarray:
        ok = _present(self.text[name])
        self.faults.add(~ok, name, "required field is missing")
        return ok

    def one_of(self, name: str, allowed: tuple[str, ...], default: str) -> pa.Array:
        col = pc.fill_null(pc.utf8_lower(self.text[name]), default)
        bad = ~_mask(pc.is_in(col, value_set=pa.array(allowed)))
        vals = self.text[name]
        self.faults.add(
            bad, name, lambda r: f"{vals[r].as_py()!r} is not one of {', '.join(allowed)}"
        )
        return col

    def known(self, name: str, values, what: str) -> None:
        present = self.required(name)
        col = self.text[name]
        bad = present & ~_mask(pc.is_in(col, value_set=pa.array(sorted(values), pa.string())))
        self.faults.add(bad, name, lambda r: f"unknown {what} {col[r].as_py()!r}")

    def integer(self, name: str, lo: int, hi: int, default: int | None) -> np.ndarray:
        given = self.typed.get(name)
        if given is not None and pa.types.is_integer(given.type):
            return self._typed_integer(name, given, lo, hi, default)
        col = self.text[name]
        if default is None:
            present = self.required(name)
        else:
            present = _present(col)
            col = pc.fill_null(col, str(default))
        sent = self.text[name]
        values, looks_int = cells.integers(sent, col, present, default)
        self.faults.add(present & ~looks_int, name, lambda r: _not_an_integer(sent[r].as_py()))
        out_of_range = looks_int & ((values < lo) | (values > hi))
        self.faults.add(out_of_range, name, lambda r: f"{values[r]} is not in [{lo}, {hi}]")
        return np.where(looks_int & ~out_of_range, values, lo)

    def _typed_integer(
        self, name: str, given: pa.Array, lo: int, hi: int, default: int | None
    ) -> np.ndarray:
        """Integers as sent (no text round trip); any width, uint64 2^64-1 included."""
        present = _present(given)
        if default is None:
            self.faults.add(~present, name, "required field is missing")
        filled = pc.fill_null(given, default or 0)
        if pa.types.is_unsigned_integer(given.type):
            wide = filled.cast(pa.uint64()).to_numpy(zero_copy_only=False)
            values = np.minimum(wide, np.uint64(hi + 1)).astype(np.int64)  # hi < 2^63
        else:
            values = filled.cast(pa.int64()).to_numpy(zero_copy_only=False)
        out_of_range = (values < lo) | (values > hi)
        self.faults.add(
            out_of_range, name, lambda r: f"{filled[r].as_py()} is not in [{lo}, {hi}]"
        )  # fmt: skip
        return np.where(out_of_range, lo, values)


def _not_an_integer(value) -> str:
    if isinstance(value, str) and value.strip().startswith("+"):
        plain = value.strip()[1:]
        return f"{value!r} is not an integer (a leading + is not accepted: write {plain!r})"
    return f"{value!r} is not an integer"


def validate(
    raw: pa.Table, ref: ReferenceView, max_rows: int = 5_000_000,
    attributes: pa.Array | None = None,
) -> pa.Table:  # fmt: skip
    """A raw feed table -> a `LINE_SCHEMA` table, or LedgerError(422) naming every fault.

    `attributes` (JSON object text per line, from a mapping profile) is stored as given."""
    _check_shape(raw, max_rows)
    feed = _Feed(raw)
    ident = _identity(feed, ref)
    dates = _order_dates(feed)
    quantity = feed.integer("quantity", 1, MAX_QUANTITY, None)
    money = _money(feed, ref, dates, quantity)
    places = _places_and_purposes(feed)
    if not feed.faults.count:
        _repeated_keys(feed, ident["order_id"], ident["line_no"])
    if feed.faults.count:
        raise invalid(feed.faults.first(), feed.faults.count)
    batch = _assemble(feed, ref, ident, dates, quantity, money, places, attributes)
    _check_invariants(batch)
    return batch


def _check_shape(raw: pa.Table, max_rows: int) -> None:
    n = raw.num_rows
    if n == 0:
        raise LedgerError("empty-feed", "The feed has no lines", "send at least one line", 422)
    if n > max_rows:
        raise LedgerError(
            "too-many-rows", "The feed has too many lines",
            f"{n} lines; at most {max_rows} per feed", 413,
        )  # fmt: skip
    unknown = [c for c in raw.column_names if c not in FEED_FIELDS]
    header_errors = [RowError(None, c, f"unknown field {c!r}") for c in unknown]
    missing = [c for c, req in FEED_FIELDS.items() if req and c not in raw.column_names]
    header_errors += [RowError(None, c, "required field is missing") for c in missing]
    if len(set(raw.column_names)) != len(raw.column_names):
        header_errors.append(RowError(None, None, "a field name is repeated"))
    if header_errors:
        raise invalid(header_errors, len(header_errors))


def _identity(feed: _Feed, ref: ReferenceView) -> dict:
    order_ok = feed.required("order_id")
    oid = feed.text["order_id"]
    feed.faults.add(
        order_ok & ~_printable_1_64(oid), "order_id", "must be 1-64 printable characters"
    )
    ident = {
        "order_id": oid,
        "line_no": feed.integer("line_no", 1, MAX_INT32, None),
        "revision": feed.integer("revision", 0, MAX_INT32, 0),
        "status": feed.one_of("status", STATUSES, "open"),
    }
    feed.known("entity", ref.entity_fy_start_month.keys(), "entity")
    feed.known("supplier", ref.suppliers, "supplier")
    feed.known("chip_model", ref.chips, "chip model")
    return ident


class _LazyTemporalText:
    """`_temporal_text(col)[r]` for the rows a message names, not for every row."""

    def __init__(self, col: pa.Array) -> None:
        self.col = col

    def __getitem__(self, r: int) -> pa.Scalar:
        return _temporal_text(self.col.slice(int(r), 1))[0]


@dataclass
class _Dates:
    order_date: pa.Array  # date32, day 0 where not ok
    days: np.ndarray  # int64 days since 1970-01-01
    ok: np.ndarray  # a valid date in the ledger's range


def _order_dates(feed: _Feed) -> _Dates:
    """order_date is a date: a midnight timestamp is taken as its date; any other time of
    day, or any zone, is refused, never shifted."""
    given = feed.typed.get("order_date")
    shown = feed.text["order_date"]
    present = feed.required("order_date")
    if given is not None and _is_temporal_date(given.type):
        shown = _LazyTemporalText(given)
        ticks, unit = _temporal_ticks(given)
        per_day = 1 if unit == "D" else _TICKS_PER_DAY[unit]
        zoned = pa.types.is_timestamp(given.type) and given.type.tz is not None
        ok = present & (ticks % per_day == 0) & (not zoned)
        why = "has a time zone" if zoned else "has a time of day"
        feed.faults.add(
            present & ~ok, "order_date",
            lambda r: f"{shown[r].as_py()!r} {why}; order_date is a date (YYYY-MM-DD)",
        )  # fmt: skip
        days = ticks // per_day
    else:
        days, ok = _text_dates(feed, shown, present)
    lo_day, hi_day = _day(MIN_ORDER_DATE), _day(MAX_ORDER_DATE)
    in_range = (days >= lo_day) & (days <= hi_day)
    feed.faults.add(
        ok & ~in_range, "order_date", f"must be between {MIN_ORDER_DATE} and {MAX_ORDER_DATE}"
    )  # fmt: skip
    ok &= in_range
    days = np.where(ok, days, 0)
    return _Dates(pa.array(days.astype(np.int32)).view(pa.date32()), days, ok)


_DATE_TEXT = r"^(?P<date>\d{4}-\d{2}-\d{2})(?:T00:00:00(?:\.0{1,9})?)?$"


_PLAIN_DATE = r"^\d{4}-\d{2}-\d{2}$"


def _plain_dates(text: pa.Array) -> np.ndarray | None:
    """Days since 1970 when every value is a plain YYYY-MM-DD of a real calendar date (the
    usual feed), through one strict cast; None otherwise: then `_text_dates` takes the
    general route and names each fault. Arrow's cast refuses 2025-02-30 as the general
    route's print-back check does, so both accept the same dates; it is the print-back
    (strftime) that made the general route the slowest check of a feed."""
    if text.null_count or not pc.all(pc.match_substring_regex(text, _PLAIN_DATE)).as_py():
        return None
    try:
        dates = pc.cast(text, pa.date32())
    except pa.ArrowInvalid:
        return None
    return pc.cast(dates, pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)


def _text_dates(feed: _Feed, text: pa.Array, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YYYY-MM-DD, or that date at midnight with no zone (YYYY-MM-DDT00:00:00)."""
    if len(text):
        days = _plain_dates(text)
        if days is not None:
            return days, np.ones(len(text), bool)
    parts = pc.extract_regex(text, _DATE_TEXT)
    shape = _present(parts)
    date_txt = pc.if_else(pa.array(shape), pc.struct_field(parts, "date"), "2000-01-01")
    parsed = pc.strptime(date_txt, "%Y-%m-%d", "s", error_is_null=True)
    # strptime rolls 2025-02-30 over to March: a date must print back as it was sent
    printed = pc.strftime(pc.fill_null(parsed, pa.scalar(0, pa.timestamp("s"))), "%Y-%m-%d")
    ok = shape & _present(parsed) & _mask(pc.equal(printed, date_txt))

    def message(r: int) -> str:
        v = text[r].as_py()
        hint = "; a time of day or a zone is not taken" if len(v) > 10 and v[10] in "T " else ""
        return f"{v!r} is not an ISO date (YYYY-MM-DD{hint})"

    feed.faults.add(present & ~ok, "order_date", message)
    secs = pc.fill_null(parsed, pa.scalar(0, pa.timestamp("s"))).view(pa.int64())
    return secs.to_numpy(zero_copy_only=False) // 86_400, ok


def _day(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


@dataclass
class _Money:
    currency: pa.Array
    unit_price_minor: np.ndarray
    amount_minor: np.ndarray


def _money(feed: _Feed, ref: ReferenceView, dates: _Dates, quantity: np.ndarray) -> _Money:
    currency, cur_known, exponent = _currencies(feed, ref, dates)
    unit_price_minor, price_ok = _unit_prices(feed, currency, cur_known, exponent)
    # overflow-safe bound check before the product: price <= MAX // quantity
    safe_qty = np.maximum(quantity, 1)
    too_large = price_ok & (unit_price_minor > MAX_LINE_AMOUNT_MINOR // safe_qty)
    feed.faults.add(
        too_large, "unit_price",
        f"quantity x unit_price exceeds {MAX_LINE_AMOUNT_MINOR} minor units per line",
    )  # fmt: skip
    amount_minor = np.where(too_large, 0, unit_price_minor * safe_qty)
    return _Money(currency, unit_price_minor, amount_minor)


def _currencies(feed: _Feed, ref: ReferenceView, dates: _Dates):
    """Currency codes, which are known, and each line's minor-unit exponent."""
    text = feed.text
    cur_present = feed.required("currency")
    currency = pc.utf8_upper(text["currency"])
    cur_known = _mask(pc.is_in(currency, value_set=pa.array(sorted(MINOR_EXPONENT))))
    feed.faults.add(
        cur_present & ~cur_known, "currency",
        lambda r: f"{text['currency'][r].as_py()!r} is not a supported ISO 4217 code",
    )  # fmt: skip
    cur_codes = sorted(MINOR_EXPONENT)
    cur_index = pc.index_in(currency, value_set=pa.array(cur_codes)).to_numpy(zero_copy_only=False)
    cur_index = np.nan_to_num(cur_index.astype(np.float64), nan=0).astype(np.int64)
    exp_by_code = np.array([MINOR_EXPONENT[c] for c in cur_codes], dtype=np.int64)
    exponent = exp_by_code[cur_index]
    # a value in the pivot must exist on or before the order date (ReferenceView)
    first_rate = np.full(len(cur_codes), np.iinfo(np.int32).max, dtype=np.int64)
    for code, first in ref.first_rate_date.items():
        if code in MINOR_EXPONENT:
            first_rate[cur_codes.index(code)] = _day(first)
        if first == dt.date.min:  # the pivot: worth 1 of itself on every day
            first_rate[cur_codes.index(code)] = np.iinfo(np.int32).min
    no_rate = cur_known & dates.ok & (dates.days < first_rate[cur_index])
    order_date = dates.order_date
    feed.faults.add(
        no_rate, "currency",
        lambda r: f"no {currency[r].as_py()} rate on or before {order_date[r].as_py()}",
    )  # fmt: skip
    return currency, cur_known, exponent


def _unit_prices(feed: _Feed, currency: pa.Array, cur_known: np.ndarray, exponent: np.ndarray):
    """Exact decimal prices to minor units; more decimals than the currency has is refused."""
    sent = feed.text["unit_price"]
    price_present = feed.required("unit_price")
    units, frac_val, frac_len, price_shape = cells.prices(sent, price_present)
    feed.faults.add(
        price_present & ~price_shape, "unit_price",
        lambda r: f"{sent[r].as_py()!r} is not a non-negative decimal",
    )  # fmt: skip
    too_precise = price_shape & cur_known & (frac_len > exponent)
    feed.faults.add(
        too_precise, "unit_price",
        lambda r: f"{sent[r].as_py()!r} has more decimals than "
        f"{currency[r].as_py()} allows ({int(exponent[r])})",
    )  # fmt: skip
    price_ok = price_shape & cur_known & ~too_precise
    pow10 = 10 ** np.arange(19, dtype=np.int64)
    unit_price_minor = np.where(
        price_ok, units * pow10[exponent] + frac_val * pow10[np.clip(exponent - frac_len, 0, 18)], 0
    )
    return unit_price_minor, price_ok


def _places_and_purposes(feed: _Feed) -> dict:
    text = feed.text
    feed.required("destination")
    destination = pc.utf8_upper(text["destination"])
    bad_dest = _present(destination) & ~_mask(
        pc.is_in(destination, value_set=pa.array(sorted(COUNTRY_CODES)))
    )
    feed.faults.add(
        bad_dest, "destination",
        lambda r: f"{text['destination'][r].as_py()!r} is not an ISO 3166-1 alpha-2 code",
    )  # fmt: skip
    budget_ok = feed.required("budget_code")
    bad_budget = budget_ok & ~_printable_1_64(text["budget_code"])
    feed.faults.add(bad_budget, "budget_code", "must be 1-64 printable characters")
    workload_present = feed.required("workload")
    workload = pc.utf8_lower(text["workload"])
    feed.faults.add(
        workload_present & ~_mask(pc.is_in(workload, value_set=pa.array(WORKLOADS))),
        "workload",
        lambda r: f"{text['workload'][r].as_py()!r} is not one of {', '.join(WORKLOADS)}",
    )
    acquisition = feed.one_of("acquisition", ACQUISITIONS, "purchase")
    # a lease without owner or operator is accepted (the ledger must know the commitment)
    # and flagged by the lease_identity rule (DESIGN section 1): no fault here
    reviewed_txt = pc.utf8_lower(pc.fill_null(text["identity_reviewed"], "false"))
    reviewed_ok = _mask(pc.is_in(reviewed_txt, value_set=pa.array(["true", "false"])))
    feed.faults.add(
        ~reviewed_ok, "identity_reviewed",
        lambda r: f"{text['identity_reviewed'][r].as_py()!r} is not true or false",
    )  # fmt: skip
    return {
        "destination": destination,
        "workload": workload,
        "acquisition": acquisition,
        "identity_reviewed": pc.equal(reviewed_txt, "true"),
    }


def _repeated_keys(feed: _Feed, oid: pa.Array, line_no: np.ndarray) -> None:
    """One line key at most once per feed: sort (order_id code, line_no) keys, stable,
    so every occurrence after the first of a key is the one reported."""
    oid_codes = pc.dictionary_encode(oid).indices.to_numpy(zero_copy_only=False)
    keys = (oid_codes.astype(np.int64) << 32) | line_no.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    later = order[1:][sorted_keys[1:] == sorted_keys[:-1]]
    if later.size:
        repeated = np.zeros(feed.n, bool)
        repeated[later] = True
        feed.faults.add(
            repeated, "line_no",
            lambda r: f"line ({oid[r].as_py()}, {int(line_no[r])}) appears more than once "
            "in this feed",
        )  # fmt: skip


def _fiscal_years(entity: pa.Array, order_date: pa.Array, ref: ReferenceView) -> pa.Array:
    """The year in which the entity's fiscal year ends."""
    months = pc.month(order_date).to_numpy(zero_copy_only=False).astype(np.int32)
    years = pc.year(order_date).to_numpy(zero_copy_only=False).astype(np.int32)
    names = sorted(ref.entity_fy_start_month)
    start_by_index = np.array([ref.entity_fy_start_month[e] for e in names], dtype=np.int32)
    ent_index = pc.index_in(entity, value_set=pa.array(names, pa.string())).to_numpy(
        zero_copy_only=False
    )
    start = start_by_index[ent_index.astype(np.int64)]
    return pa.array(years + ((start > 1) & (months >= start)).astype(np.int32))


def _assemble(feed, ref, ident, dates, quantity, money, places, attributes) -> pa.Table:
    text = feed.text
    zero_if_cancelled = _mask(pc.equal(ident["status"], "cancelled"))
    return pa.table(
        {
            "order_id": ident["order_id"],
            "line_no": pa.array(ident["line_no"].astype(np.int32)),
            "revision": pa.array(ident["revision"].astype(np.int32)),
            "status": ident["status"],
            "entity": text["entity"],
            "order_date": dates.order_date,
            "fiscal_year": _fiscal_years(text["entity"], dates.order_date, ref),
            "supplier": text["supplier"],
            "chip_model": text["chip_model"],
            # a cancelled line commits nothing: it is kept with zero quantity and amount
            "quantity": pa.array(np.where(zero_if_cancelled, 0, quantity).astype(np.int64)),
            "unit_price_minor": pa.array(money.unit_price_minor.astype(np.int64)),
            "amount_minor": pa.array(
                np.where(zero_if_cancelled, 0, money.amount_minor).astype(np.int64)
            ),
            "currency": money.currency,
            "destination": places["destination"],
            "budget_code": text["budget_code"],
            "workload": places["workload"],
            "acquisition": places["acquisition"],
            "owner": text["owner"],
            "operator": text["operator"],
            "identity_reviewed": places["identity_reviewed"],
            "license_ref": text["license_ref"],
            "attributes": pa.nulls(feed.n, pa.string()) if attributes is None else attributes,
        },
        schema=LINE_SCHEMA,
    )


def _check_invariants(batch: pa.Table) -> None:
    """What every validated batch satisfies; a failure here is a bug, not bad input."""
    amount = batch["amount_minor"].to_numpy()
    qty = batch["quantity"].to_numpy()
    assert (np.abs(amount) <= MAX_LINE_AMOUNT_MINOR).all()
    assert (qty >= 0).all()
    assert batch.schema.equals(LINE_SCHEMA)
