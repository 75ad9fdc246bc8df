"""Reference tables: parse (JSON or CSV), validate row by row, and load into the store.

Reference tables are small (thousands of rows), so each row is checked in
plain Python for clear messages; feeds, which are large, are checked
vectorised in `ledger.domain.validate`. The shipped pack (`chips.csv`,
`suppliers.csv`, `export_rules.json` beside this file) carries its sources.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa

from ledger.domain.errors import LedgerError, RowError, invalid
from ledger.domain.feeds import JsonNumber, loads_strict
from ledger.domain.money import (
    MAX_LINE_AMOUNT_MINOR,
    MINOR_EXPONENT,
    finite_decimal,
    plain,
    rate_to_e12,
    to_minor,
)
from ledger.domain.validate import COUNTRY_CODES, MAX_ORDER_DATE, MIN_ORDER_DATE

PACK_DIR = Path(__file__).parent

# API / CLI name -> store table name
TABLES = {
    "entities": "entities",
    "suppliers": "suppliers",
    "chips": "chips",
    "fx-rates": "fx_rates",
    "budgets": "budgets",
    "sourcing-policies": "sourcing_policies",
    "export-rules": "export_rules",
}
RULE_KINDS = ("tpp_license", "tpp_notify", "product_license", "product_caution", "lease_identity")
MAX_REFERENCE_ROWS = 1_000_000


def table_name(name: str) -> str:
    key = name.replace("_", "-")
    if key not in TABLES:
        raise LedgerError(
            "unknown-table", "Unknown reference table",
            f"{name!r}; one of {', '.join(TABLES)}", 404,
        )  # fmt: skip
    return TABLES[key]


def parse_rows(data: bytes, fmt: str) -> list[dict]:
    """JSON (an array, or {"rows": [...]}) or CSV (a header row) -> list of dicts."""
    try:
        if fmt == "json":
            # strict UTF-8, bounded depth; numbers as literals (ints as ints: a product
            # name is text, never the number 1); NaN / Infinity kept as text for a 422
            doc = _loads(data)
            if isinstance(doc, dict) and isinstance(doc.get("rows"), list):
                doc = doc["rows"]
            if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
                raise ValueError("expected an array of objects")
            return doc
        if fmt == "csv":
            text = data.decode("utf-8-sig")
            return [
                {k: (v if v != "" else None) for k, v in row.items()}
                for row in csv.DictReader(io.StringIO(text))
            ]
    except LedgerError as e:
        raise LedgerError(
            "malformed-reference", f"Malformed {fmt} reference data", e.detail, 400
        ) from None
    except (ValueError, UnicodeDecodeError, csv.Error) as e:
        raise LedgerError(
            "malformed-reference", f"Malformed {fmt} reference data", str(e), 400
        ) from None
    raise LedgerError("unknown-format", "Unknown reference format", f"{fmt}: use json or csv", 415)


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
    if isinstance(v, bool | dict | list):
        raise ValueError(f"{json.dumps(v)[:60]} is not a rate")
    try:
        rate_to_e12(str(v).strip())
    except (InvalidOperation, ValueError, TypeError, AttributeError) as e:
        raise ValueError(str(e) if str(e) else f"{v!r} is not a rate") from None
    return Decimal(str(v).strip())


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


def _destinations(v) -> str:
    if isinstance(v, list):
        items = v
    else:
        s = _text(v, 2000)
        if s.lower() in ("all", "*"):
            return "*"
        items = [x for x in s.replace(";", ",").replace(" ", ",").split(",") if x]
    if not items:
        raise ValueError("name at least one country, or all")
    return ",".join(sorted({_country(x) for x in items}))


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


# table -> [(field, checker, store column)]; a missing optional field is None.
SPECS: dict[str, list[tuple[str, Callable]]] = {
    "entities": [
        ("entity", _text), ("hq_country", _country), ("parent_hq_country", _opt_country),
        ("fy_start_month", lambda v: 1 if v is None or v == "" else _int(1, 12)(v)),
    ],
    "suppliers": [
        ("supplier", _text), ("hq_country", _country),
        ("source", lambda v: None if v is None or v == "" else _text(v, 2000)),
    ],
    "chips": [
        ("chip_model", _text), ("vendor", _text), ("origin_country", _country),
        ("tpp", _int(0, 10**9)), ("die_area_mm2", _positive_number),
        ("source", lambda v: None if v is None or v == "" else _text(v, 2000)),
    ],
    "fx_rates": [
        ("rate_date", _date), ("currency", _currency), ("usd_per_unit", _rate),
        ("synthetic", _bool),
    ],
    "budgets": [
        ("entity", _text), ("budget_code", _text), ("fiscal_year", _int(2000, 2100)),
        ("currency", _currency), ("amount", _amount), ("action", _one_of("stop", "warn", "ignore")),
        ("warn_share", lambda v: Decimal("0.9") if v is None or v == ""
         else _decimal(Decimal(0), Decimal(1), "warn_share")(v)),
    ],
    "sourcing_policies": [
        ("policy", _text), ("jurisdiction", _country), ("destinations", _destinations),
        ("metric", _one_of("spend", "units", "tpp")),
        ("min_share", _decimal(Decimal(0), Decimal(1), "min_share")),
        ("entity", _opt_text), ("fiscal_year", _opt_int(2000, 2100)),
        ("currency", lambda v: "USD" if v is None or v == "" else _currency(v)),
    ],
    "export_rules": [
        ("rule_id", _text), ("kind", _one_of(*RULE_KINDS)), ("effective_from", _date),
        ("effective_to", _opt_date), ("params", _params),
        ("severity", lambda v: "violation" if v is None or v == ""
         else _one_of("violation", "warning")(v)),
        ("source", lambda v: _text(v, 2000)),
    ],
}  # fmt: skip

ARROW_TYPES = {
    "fiscal_year": pa.int32(), "fy_start_month": pa.int32(), "tpp": pa.int64(),
    "die_area_mm2": pa.float64(), "rate_date": pa.date32(), "effective_from": pa.date32(),
    "effective_to": pa.date32(), "usd_per_unit": pa.decimal128(18, 12), "synthetic": pa.bool_(),
    "amount_minor": pa.int64(), "warn_share": pa.decimal128(7, 6),
    "min_share": pa.decimal128(7, 6),
}  # fmt: skip


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


def validate_rows(table: str, rows: list[dict]) -> pa.Table:
    """Rows of a reference table -> an Arrow table for the store, or 422 naming every fault."""
    spec = SPECS[table]
    if len(rows) > MAX_REFERENCE_ROWS:
        raise LedgerError(
            "too-many-rows", "Too many reference rows", f"at most {MAX_REFERENCE_ROWS}", 413
        )
    known = {name for name, _ in spec} | ({"amount"} if table == "budgets" else set())
    errors: list[RowError] = []
    out: list[dict] = []
    for i, row in enumerate(rows):
        clean: dict = {}
        errors += [RowError(i, key, message) for key, message in getattr(row, "faults", ())]
        for key in row:
            if key not in known:
                errors.append(RowError(i, key, f"unknown field {key!r}"))
        for name, check in spec:
            try:
                clean[name] = check(row.get(name))
            except ValueError as e:
                errors.append(RowError(i, name, str(e)))
        if table == "budgets" and "amount" in clean and "currency" in clean:
            try:
                minor = to_minor(clean.pop("amount"), clean["currency"])
                if not 0 <= minor <= MAX_LINE_AMOUNT_MINOR * 1000:
                    raise ValueError("amount out of range")
                clean["amount_minor"] = minor
            except (ValueError, InvalidOperation) as e:
                errors.append(RowError(i, "amount", str(e)))
        if table == "fx_rates" and clean.get("currency") == "USD":
            errors.append(
                RowError(i, "currency", "USD is the pivot: its rate against itself is always 1")
            )
        if table == "export_rules" and isinstance(clean.get("params"), dict) and "kind" in clean:
            try:
                _check_rule_params(clean["kind"], clean["params"])
                clean["params"] = json.dumps(clean["params"], sort_keys=True)
            except ValueError as e:
                errors.append(RowError(i, "params", str(e)))
            if clean.get("effective_to") and clean.get("effective_from"):
                if clean["effective_to"] < clean["effective_from"]:
                    errors.append(RowError(i, "effective_to", "is before effective_from"))
        out.append(clean)
    keys = _KEYS[table]
    seen: dict[tuple, int] = {}
    for i, r in enumerate(out):
        k = tuple(r.get(c) for c in keys)
        if k in seen:
            errors.append(RowError(i, keys[-1], f"same key as row {seen[k]}"))
        seen[k] = i
    if errors:
        raise invalid(errors, len(errors), what="reference")
    columns = [c for c, _ in spec if not (table == "budgets" and c == "amount")]
    if table == "budgets":
        columns.insert(4, "amount_minor")
    return pa.table(
        {c: pa.array([r[c] for r in out], ARROW_TYPES.get(c, pa.string())) for c in columns}
    )


_KEYS = {
    "entities": ["entity"],
    "suppliers": ["supplier"],
    "chips": ["chip_model"],
    "fx_rates": ["rate_date", "currency"],
    "budgets": ["entity", "budget_code", "fiscal_year"],
    "sourcing_policies": ["policy"],
    "export_rules": ["rule_id"],
}


def load(store, name: str, data: bytes, fmt: str) -> int:
    """Parse, validate and load one reference table; returns the rows loaded."""
    table = table_name(name)
    rows = parse_rows(data, fmt)
    arrow = validate_rows(table, rows)
    if table == "budgets":
        _check_budget_refs(store, arrow)
    return store.replace_reference(table, arrow)


def _check_budget_refs(store, arrow: pa.Table) -> None:
    entities = set(store.reference_view().entity_fy_start_month)
    errors = [
        RowError(i, "entity", f"unknown entity {e!r}")
        for i, e in enumerate(arrow["entity"].to_pylist())
        if e not in entities
    ]
    if errors:
        raise invalid(errors, len(errors), what="reference")


PACK_FILES = [
    ("chips", "chips.csv", "csv"),
    ("suppliers", "suppliers.csv", "csv"),
    ("export-rules", "export_rules.json", "json"),
]


def load_pack(store) -> dict[str, int]:
    """The shipped reference pack: chips, suppliers and export rules (never rates or orders)."""
    loaded = {}
    for name, file, fmt in PACK_FILES:
        loaded[name] = load(store, name, (PACK_DIR / file).read_bytes(), fmt)
    return loaded


def pack_tables() -> dict[str, pa.Table]:
    """The shipped pack as validated rows per store table: a new ledger's first transaction."""
    return {
        table_name(name): validate_rows(
            table_name(name), parse_rows((PACK_DIR / file).read_bytes(), fmt)
        )
        for name, file, fmt in PACK_FILES
    }


def as_rows(store, name: str) -> list[dict]:
    """A reference table as JSON-ready rows (decimals as strings, dates as ISO)."""
    table = table_name(name)
    rows = store.reference(table).to_pylist()
    for r in rows:
        for k, v in list(r.items()):
            if isinstance(v, Decimal):
                r[k] = plain(v)  # 10, never 1E+1
            elif isinstance(v, dt.date):
                r[k] = v.isoformat()
        if table == "budgets":
            from ledger.domain.money import format_minor

            r["amount"] = format_minor(r.pop("amount_minor"), r["currency"])
        if table == "export_rules":
            r["params"] = json.loads(r["params"])
    return rows
