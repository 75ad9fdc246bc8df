"""Validate a raw feed table and normalise it to `LINE_SCHEMA`. Pure: no I/O.

Every check is vectorised over the whole batch (pyarrow.compute and numpy);
every fault is collected as `{row, field, message}` so that a sender sees all
that is wrong with a feed at once, not one fault per try.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from ledger.domain.errors import LedgerError, RowError, invalid
from ledger.domain.money import MAX_LINE_AMOUNT_MINOR, MINOR_EXPONENT
from ledger.domain.schema import ACQUISITIONS, FEED_FIELDS, LINE_SCHEMA, STATUSES, WORKLOADS

COUNTRY_CODES = frozenset(c.alpha_2 for c in pycountry.countries)
MAX_QUANTITY = 10**9
MAX_INT32 = 2**31 - 1
MIN_ORDER_DATE = dt.date(2000, 1, 1)
MAX_ORDER_DATE = dt.date(2099, 12, 31)


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
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    return col


def _as_text(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Any scalar column as strings (empty string -> null), plus a mask of cells of a bad type."""
    t = col.type
    bad = np.zeros(len(col), dtype=bool)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        col = col.cast(pa.string())
    elif not pa.types.is_string(t):
        if pa.types.is_null(t):
            return pa.nulls(len(col), pa.string()), bad
        if (
            pa.types.is_integer(t)
            or pa.types.is_decimal(t)
            or pa.types.is_floating(t)
            or pa.types.is_boolean(t)
            or pa.types.is_date(t)
        ):
            col = col.cast(pa.string())
        else:  # lists, structs, timestamps...: not a scalar this schema knows
            bad = ~_mask(pc.is_null(col))
            return pa.nulls(len(col), pa.string()), bad
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


def validate(raw: pa.Table, ref: ReferenceView, max_rows: int = 5_000_000) -> pa.Table:
    """A raw feed table -> a `LINE_SCHEMA` table, or LedgerError(422) naming every fault."""
    n = raw.num_rows
    if n == 0:
        raise LedgerError("empty-feed", "The feed has no lines", "send at least one line", 422)
    if n > max_rows:
        raise LedgerError(
            "too-many-rows", "The feed has too many lines",
            f"{n} lines; at most {max_rows} per feed", 413,
        )  # fmt: skip
    faults = _Faults()
    unknown = [c for c in raw.column_names if c not in FEED_FIELDS]
    header_errors = [RowError(None, c, f"unknown field {c!r}") for c in unknown]
    missing = [c for c, req in FEED_FIELDS.items() if req and c not in raw.column_names]
    header_errors += [RowError(None, c, "required field is missing") for c in missing]
    if len(set(raw.column_names)) != len(raw.column_names):
        header_errors.append(RowError(None, None, "a field name is repeated"))
    if header_errors:
        raise invalid(header_errors, len(header_errors))

    text: dict[str, pa.Array] = {}
    typed: dict[str, pa.Array] = {}  # columns that arrived typed (Arrow, Parquet, big JSON)
    for name in FEED_FIELDS:
        if name in raw.column_names:
            typed[name] = _combine(raw.column(name))
            col, bad_type = _as_text(typed[name])
            faults.add(bad_type, name, "not a scalar value")
        else:
            col = pa.nulls(n, pa.string())
        text[name] = col

    def required(name: str) -> np.ndarray:
        ok = _present(text[name])
        faults.add(~ok, name, "required field is missing")
        return ok

    def one_of(name: str, allowed: tuple[str, ...], default: str) -> pa.Array:
        col = pc.fill_null(pc.utf8_lower(text[name]), default)
        bad = ~_mask(pc.is_in(col, value_set=pa.array(allowed)))
        vals = text[name]
        faults.add(bad, name, lambda r: f"{vals[r].as_py()!r} is not one of {', '.join(allowed)}")
        return col

    def known(name: str, values, what: str) -> None:
        present = required(name)
        bad = present & ~_mask(
            pc.is_in(text[name], value_set=pa.array(sorted(values), pa.string()))
        )
        col = text[name]
        faults.add(bad, name, lambda r: f"unknown {what} {col[r].as_py()!r}")

    def integer(name: str, lo: int, hi: int, default: int | None) -> np.ndarray:
        given = typed.get(name)
        if given is not None and pa.types.is_integer(given.type):
            # already integers: no text round trip (the common case for binary feeds)
            present = _present(given)
            if default is None:
                faults.add(~present, name, "required field is missing")
            values = pc.fill_null(given, default or 0).cast(pa.int64()).to_numpy()
            out_of_range = (values < lo) | (values > hi)
            faults.add(out_of_range, name, lambda r: f"{values[r]} is not in [{lo}, {hi}]")
            return np.where(out_of_range, lo, values)
        col = text[name]
        if default is None:
            present = required(name)
        else:
            present = _present(col)
            col = pc.fill_null(col, str(default))
        looks_int = _mask(pc.match_substring_regex(col, r"^\s*[+-]?\d{1,18}\s*$"))
        bad_form = present & ~looks_int
        faults.add(bad_form, name, lambda r: f"{text[name][r].as_py()!r} is not an integer")
        safe = pc.if_else(pa.array(looks_int), pc.utf8_trim_whitespace(col), "0")
        values = pc.cast(safe, pa.int64()).to_numpy(zero_copy_only=False)
        out_of_range = looks_int & ((values < lo) | (values > hi))
        faults.add(out_of_range, name, lambda r: f"{values[r]} is not in [{lo}, {hi}]")
        return np.where(looks_int & ~out_of_range, values, lo)

    # identity
    order_ok = required("order_id")
    oid = text["order_id"]
    bad_oid = order_ok & ~_printable_1_64(oid)
    faults.add(bad_oid, "order_id", "must be 1-64 printable characters")
    line_no = integer("line_no", 1, MAX_INT32, None)
    revision = integer("revision", 0, MAX_INT32, 0)
    status = one_of("status", STATUSES, "open")

    # parties and things
    known("entity", ref.entity_fy_start_month.keys(), "entity")
    known("supplier", ref.suppliers, "supplier")
    known("chip_model", ref.chips, "chip model")

    # order date
    date_present = required("order_date")
    date_txt = text["order_date"]
    given_date = typed.get("order_date")
    if given_date is not None and pa.types.is_date32(given_date.type):
        date_ok = date_present  # already a date: nothing to parse
        parsed = pc.cast(given_date, pa.timestamp("s"))
    else:
        date_shape = _mask(pc.match_substring_regex(date_txt, r"^\d{4}-\d{2}-\d{2}$"))
        parsed = pc.strptime(
            pc.if_else(pa.array(date_shape), date_txt, "2000-01-01"),
            "%Y-%m-%d",
            "s",
            error_is_null=True,
        )
        # strptime rolls 2025-02-30 over to March: a date must print back as it was sent
        printed = pc.strftime(pc.fill_null(parsed, pa.scalar(0, pa.timestamp("s"))), "%Y-%m-%d")
        date_ok = date_shape & _present(parsed) & _mask(pc.equal(printed, date_txt))
    faults.add(
        date_present & ~date_ok, "order_date",
        lambda r: f"{date_txt[r].as_py()!r} is not an ISO date (YYYY-MM-DD)",
    )  # fmt: skip
    order_date = pc.cast(pc.fill_null(parsed, pa.scalar(0, pa.timestamp("s"))), pa.date32())
    days = order_date.cast(pa.int32()).to_numpy(zero_copy_only=False)
    lo_day = (MIN_ORDER_DATE - dt.date(1970, 1, 1)).days
    hi_day = (MAX_ORDER_DATE - dt.date(1970, 1, 1)).days
    faults.add(
        date_ok & ((days < lo_day) | (days > hi_day)), "order_date",
        f"must be between {MIN_ORDER_DATE} and {MAX_ORDER_DATE}",
    )  # fmt: skip

    # quantity, currency, price, amount
    quantity = integer("quantity", 1, MAX_QUANTITY, None)
    cur_present = required("currency")
    currency = pc.utf8_upper(text["currency"])
    cur_known = _mask(pc.is_in(currency, value_set=pa.array(sorted(MINOR_EXPONENT))))
    faults.add(
        cur_present & ~cur_known, "currency",
        lambda r: f"{text['currency'][r].as_py()!r} is not a supported ISO 4217 code",
    )  # fmt: skip
    cur_codes = sorted(MINOR_EXPONENT)
    cur_index = pc.index_in(currency, value_set=pa.array(cur_codes)).to_numpy(zero_copy_only=False)
    cur_index = np.nan_to_num(cur_index.astype(np.float64), nan=0).astype(np.int64)
    exp_by_code = np.array([MINOR_EXPONENT[c] for c in cur_codes], dtype=np.int64)
    exponent = exp_by_code[cur_index]
    # a rate must exist on or before the order date (USD is always 1)
    first_rate = np.full(len(cur_codes), np.iinfo(np.int32).max, dtype=np.int64)
    for code, first in ref.first_rate_date.items():
        if code in MINOR_EXPONENT:
            first_rate[cur_codes.index(code)] = (first - dt.date(1970, 1, 1)).days
    first_rate[cur_codes.index("USD")] = np.iinfo(np.int32).min
    no_rate = cur_known & date_ok & (days < first_rate[cur_index])
    faults.add(
        no_rate, "currency",
        lambda r: f"no {currency[r].as_py()} rate on or before {order_date[r].as_py()}",
    )  # fmt: skip

    price_present = required("unit_price")
    price_txt = pc.utf8_trim_whitespace(text["unit_price"])
    parts = pc.extract_regex(price_txt, r"^(?P<units>\d{1,15})(?:\.(?P<frac>\d{0,18}))?$")
    price_shape = _mask(pc.is_valid(parts))
    faults.add(
        price_present & ~price_shape, "unit_price",
        lambda r: f"{text['unit_price'][r].as_py()!r} is not a non-negative decimal",
    )  # fmt: skip
    units_txt = pc.fill_null(pc.struct_field(parts, "units"), "0")
    frac_txt = pc.utf8_rtrim(pc.fill_null(pc.struct_field(parts, "frac"), ""), characters="0")
    frac_len = pc.utf8_length(frac_txt).to_numpy(zero_copy_only=False).astype(np.int64)
    frac_val = pc.cast(pc.if_else(pc.equal(frac_txt, ""), "0", frac_txt), pa.int64())
    frac_val = frac_val.to_numpy(zero_copy_only=False)
    units = pc.cast(units_txt, pa.int64()).to_numpy(zero_copy_only=False)
    too_precise = price_shape & cur_known & (frac_len > exponent)
    faults.add(
        too_precise, "unit_price",
        lambda r: f"{text['unit_price'][r].as_py()!r} has more decimals than "
        f"{currency[r].as_py()} allows ({int(exponent[r])})",
    )  # fmt: skip
    price_ok = price_shape & cur_known & ~too_precise
    pow10 = 10 ** np.arange(19, dtype=np.int64)
    unit_price_minor = np.where(
        price_ok, units * pow10[exponent] + frac_val * pow10[np.clip(exponent - frac_len, 0, 18)], 0
    )
    # overflow-safe bound check before the product: price <= MAX // quantity
    safe_qty = np.maximum(quantity, 1)
    too_large = price_ok & (unit_price_minor > MAX_LINE_AMOUNT_MINOR // safe_qty)
    faults.add(
        too_large, "unit_price",
        f"quantity x unit_price exceeds {MAX_LINE_AMOUNT_MINOR} minor units per line",
    )  # fmt: skip
    amount_minor = np.where(too_large, 0, unit_price_minor * safe_qty)

    # places and purposes
    required("destination")
    destination = pc.utf8_upper(text["destination"])
    bad_dest = _present(destination) & ~_mask(
        pc.is_in(destination, value_set=pa.array(sorted(COUNTRY_CODES)))
    )
    faults.add(
        bad_dest, "destination",
        lambda r: f"{text['destination'][r].as_py()!r} is not an ISO 3166-1 alpha-2 code",
    )  # fmt: skip
    budget_ok = required("budget_code")
    bad_budget = budget_ok & ~_printable_1_64(text["budget_code"])
    faults.add(bad_budget, "budget_code", "must be 1-64 printable characters")
    workload_present = required("workload")
    workload = pc.utf8_lower(text["workload"])
    faults.add(
        workload_present & ~_mask(pc.is_in(workload, value_set=pa.array(WORKLOADS))),
        "workload",
        lambda r: f"{text['workload'][r].as_py()!r} is not one of {', '.join(WORKLOADS)}",
    )
    acquisition = one_of("acquisition", ACQUISITIONS, "purchase")
    is_lease = _mask(pc.equal(acquisition, "lease"))
    for party in ("owner", "operator"):
        faults.add(is_lease & ~_present(text[party]), party, f"a lease must name its {party}")
    reviewed_txt = pc.utf8_lower(pc.fill_null(text["identity_reviewed"], "false"))
    reviewed_ok = _mask(pc.is_in(reviewed_txt, value_set=pa.array(["true", "false"])))
    faults.add(
        ~reviewed_ok, "identity_reviewed",
        lambda r: f"{text['identity_reviewed'][r].as_py()!r} is not true or false",
    )  # fmt: skip
    reviewed = pc.equal(reviewed_txt, "true")

    # one line key at most once per feed: sort (order_id code, line_no) keys, stable,
    # so every occurrence after the first of a key is the one reported
    if not faults.count:
        oid_codes = pc.dictionary_encode(oid).indices.to_numpy(zero_copy_only=False)
        keys = (oid_codes.astype(np.int64) << 32) | line_no.astype(np.int64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        later = order[1:][sorted_keys[1:] == sorted_keys[:-1]]
        if later.size:
            repeated = np.zeros(n, bool)
            repeated[later] = True
            faults.add(
                repeated, "line_no",
                lambda r: f"line ({oid[r].as_py()}, {int(line_no[r])}) appears more than once "
                "in this feed",
            )  # fmt: skip

    if faults.count:
        raise invalid(faults.first(), faults.count)

    # fiscal year: the year in which the entity's fiscal year ends
    entity = text["entity"]
    months = pc.month(order_date).to_numpy(zero_copy_only=False).astype(np.int32)
    years = pc.year(order_date).to_numpy(zero_copy_only=False).astype(np.int32)
    names = sorted(ref.entity_fy_start_month)
    start_by_index = np.array([ref.entity_fy_start_month[e] for e in names], dtype=np.int32)
    ent_index = pc.index_in(entity, value_set=pa.array(names, pa.string())).to_numpy(
        zero_copy_only=False
    )
    start = start_by_index[ent_index.astype(np.int64)]
    fiscal_year = years + ((start > 1) & (months >= start)).astype(np.int32)

    zero_if_cancelled = _mask(pc.equal(status, "cancelled"))
    batch = pa.table(
        {
            "order_id": oid,
            "line_no": pa.array(line_no.astype(np.int32)),
            "revision": pa.array(revision.astype(np.int32)),
            "status": status,
            "entity": entity,
            "order_date": order_date,
            "fiscal_year": pa.array(fiscal_year),
            "supplier": text["supplier"],
            "chip_model": text["chip_model"],
            # a cancelled line commits nothing: it is kept with zero quantity and amount
            "quantity": pa.array(np.where(zero_if_cancelled, 0, quantity).astype(np.int64)),
            "unit_price_minor": pa.array(unit_price_minor.astype(np.int64)),
            "amount_minor": pa.array(np.where(zero_if_cancelled, 0, amount_minor).astype(np.int64)),
            "currency": currency,
            "destination": destination,
            "budget_code": text["budget_code"],
            "workload": workload,
            "acquisition": acquisition,
            "owner": text["owner"],
            "operator": text["operator"],
            "identity_reviewed": reviewed,
            "license_ref": text["license_ref"],
        },
        schema=LINE_SCHEMA,
    )
    _check_invariants(batch)
    return batch


def _check_invariants(batch: pa.Table) -> None:
    """What every validated batch satisfies; a failure here is a bug, not bad input."""
    amount = batch["amount_minor"].to_numpy()
    qty = batch["quantity"].to_numpy()
    assert (np.abs(amount) <= MAX_LINE_AMOUNT_MINOR).all()
    assert (qty >= 0).all()
    assert batch.schema.equals(LINE_SCHEMA)
