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
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa

from ledger.domain.errors import LedgerError, RowError, invalid
from ledger.domain.money import MAX_LINE_AMOUNT_MINOR, MINOR_EXPONENT, rate_to_e12, to_minor
from ledger.domain.validate import COUNTRY_CODES

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
            doc = json.loads(data, parse_float=str)
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
    except (ValueError, UnicodeDecodeError, csv.Error) as e:
        raise LedgerError(
            "malformed-reference", f"Malformed {fmt} reference data", str(e), 400
        ) from None
    raise LedgerError("unknown-format", "Unknown reference format", f"{fmt}: use json or csv", 415)


# -- field checkers: value -> normalised value, or ValueError(message) ------


def _text(v, max_len: int = 200) -> str:
    if v is None or (isinstance(v, str) and not v.strip()):
        raise ValueError("required")
    s = str(v).strip()
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


def _int(lo: int, hi: int) -> Callable:
    def check(v) -> int:
        try:
            d = Decimal(str(v).strip())
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
    try:
        return dt.date.fromisoformat(_text(v))
    except ValueError:
        raise ValueError(f"{v!r} is not an ISO date (YYYY-MM-DD)") from None


def _opt_date(v):
    return None if v is None or v == "" else _date(v)


def _decimal(lo: Decimal, hi: Decimal, name: str = "value") -> Callable:
    def check(v) -> Decimal:
        try:
            d = Decimal(str(v).strip())
        except (InvalidOperation, TypeError):
            raise ValueError(f"{v!r} is not a decimal number") from None
        if not d.is_finite() or not lo <= d <= hi:
            raise ValueError(f"{name} {v} is not in [{lo}, {hi}]")
        return d

    return check


def _positive_number(v) -> float:
    try:
        f = float(str(v))
    except (TypeError, ValueError):
        raise ValueError(f"{v!r} is not a number") from None
    if not f > 0:
        raise ValueError("must be > 0")
    return f


def _one_of(*allowed: str) -> Callable:
    def check(v) -> str:
        s = _text(v).lower()
        if s not in allowed:
            raise ValueError(f"{v!r} is not one of {', '.join(allowed)}")
        return s

    return check


def _rate(v) -> Decimal:
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
    if isinstance(v, str):
        try:
            v = json.loads(v, parse_float=str)
        except ValueError as e:
            raise ValueError(f"params is not JSON: {e}") from None
    if not isinstance(v, dict):
        raise ValueError("params must be an object")
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
        ("currency", _currency), ("amount", _text), ("action", _one_of("stop", "warn", "ignore")),
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


def _check_rule_params(kind: str, params: dict) -> None:
    def countries(key: str, required: bool) -> None:
        if key not in params:
            if required:
                raise ValueError(f"params.{key} is required for {kind}")
            return
        if not isinstance(params[key], list):
            raise ValueError(f"params.{key} must be a list of country codes")
        params[key] = [_country(c) for c in params[key]]

    def number(key: str, required: bool) -> None:
        if key not in params:
            if required:
                raise ValueError(f"params.{key} is required for {kind}")
            return
        params[key] = float(_decimal(Decimal(0), Decimal(10**9), f"params.{key}")(params[key]))

    countries("origins", True)
    if kind in ("tpp_license", "tpp_notify", "product_license"):
        countries("destinations", True)
        countries("buyer_hq", False)
    if kind == "product_caution":
        countries("exempt_buyer_hq", False)
    if kind in ("product_license", "product_caution"):
        if not isinstance(params.get("products"), list) or not params["products"]:
            raise ValueError(f"params.products (a list of chip models) is required for {kind}")
    if kind == "tpp_license":
        for k in ("tpp_min", "tpp_min_dense", "pd_min_dense"):
            number(k, True)
    if kind == "tpp_notify":
        for k in ("tpp_min", "tpp_max", "pd_min", "pd_max", "tpp_min_dense", "pd_min_dense"):
            number(k, True)
    if kind == "lease_identity":
        number("tpp_min", True)


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
                r[k] = format(v.normalize(), "f") if k != "usd_per_unit" else str(v.normalize())
            elif isinstance(v, dt.date):
                r[k] = v.isoformat()
        if table == "budgets":
            from ledger.domain.money import format_minor

            r["amount"] = format_minor(r.pop("amount_minor"), r["currency"])
        if table == "export_rules":
            r["params"] = json.loads(r["params"])
    return rows
