"""Reference tables: parse (JSON or CSV), validate row by row, and load into the store.

Each table is specified once in `registry` (columns, types, checkers, keys);
the checkers are in `checks`. Reference tables are small (thousands of rows),
so each row is checked in plain Python for clear messages; feeds, which are
large, are checked vectorised in `ledger.domain.validate`. The shipped pack
(`chips.csv`, `suppliers.csv`, `export_rules.json` beside this file) carries
its sources.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa

from ledger.domain.errors import LedgerError, RowError, invalid
from ledger.domain.money import MAX_LINE_AMOUNT_MINOR, plain, to_minor
from ledger.reference import fx_import, registry
from ledger.reference.checks import _check_rule_params, _loads

PACK_DIR = Path(__file__).parent

# API / CLI name -> store table name (from the registry)
TABLES = {t.api_name: t.name for t in registry.TABLES}
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


def validate_rows(table: str, rows: list[dict]) -> pa.Table:
    """Rows of a reference table -> an Arrow table for the store, or 422 naming every fault."""
    spec = registry.BY_NAME[table]
    if len(rows) > MAX_REFERENCE_ROWS:
        raise LedgerError(
            "too-many-rows", "Too many reference rows", f"at most {MAX_REFERENCE_ROWS}", 413
        )
    sent_as: list[dict[str, str]] = []
    if table == "fx_rates":  # the older form (currency, usd_per_unit) is still read
        rows, sent_as = fx_import.canonical_rows(rows)
    known = set(spec.fields)
    errors: list[RowError] = []
    out: list[dict] = []
    for i, row in enumerate(rows):
        errors += [RowError(i, key, message) for key, message in getattr(row, "faults", ())]
        errors += [RowError(i, key, f"unknown field {key!r}") for key in row if key not in known]
        clean: dict = {}
        for column in spec.columns:
            try:
                clean[column.name] = column.check(row.get(column.field_name))
            except ValueError as e:
                errors.append(RowError(i, column.field_name, str(e)))
        errors += [RowError(i, f, m) for f, m in _FINISH.get(table, _none)(clean)]
        out.append(clean)
    errors += _duplicate_keys(spec, out)
    if sent_as:
        errors = [RowError(e.row, sent_as[e.row].get(e.field, e.field), e.message) for e in errors]
    if errors:
        raise invalid(errors, len(errors), what="reference")
    return pa.table({c.name: pa.array([r[c.name] for r in out], c.arrow) for c in spec.columns})


def _none(clean: dict) -> list:
    return []


def _duplicate_keys(spec: registry.Table, rows: list[dict]) -> list[RowError]:
    seen: dict[tuple, int] = {}
    errors = []
    for i, r in enumerate(rows):
        k = tuple(r.get(c) for c in spec.keys)
        if k in seen:
            errors.append(RowError(i, spec.keys[-1], f"same key as row {seen[k]}"))
        seen[k] = i
    return errors


# -- checks across the fields of one row (field, message) ---------------------


def _finish_budget(clean: dict) -> list[tuple[str, str]]:
    """The amount (a decimal) in minor units of the budget's currency."""
    if clean.get("amount_minor") is None or clean.get("currency") is None:
        return []
    try:
        minor = to_minor(clean["amount_minor"], clean["currency"])
        if not 0 <= minor <= MAX_LINE_AMOUNT_MINOR * 1000:
            raise ValueError("amount out of range")
    except (ValueError, InvalidOperation) as e:
        clean["amount_minor"] = None
        return [("amount", str(e))]
    clean["amount_minor"] = minor
    return []


def _finish_rate(clean: dict) -> list[tuple[str, str]]:
    base = clean.get("base")
    if base is not None and base == clean.get("quote"):
        return [("quote", f"a rate of {base} against itself is always 1: not a row")]
    return []


def _finish_rule(clean: dict) -> list[tuple[str, str]]:
    faults = []
    if isinstance(clean.get("params"), dict) and clean.get("kind"):
        try:
            _check_rule_params(clean["kind"], clean["params"])
            clean["params"] = json.dumps(clean["params"], sort_keys=True)
        except ValueError as e:
            faults.append(("params", str(e)))
    start, end = clean.get("effective_from"), clean.get("effective_to")
    if start and end and end < start:
        faults.append(("effective_to", "is before effective_from"))
    return faults


def _finish_licence(clean: dict) -> list[tuple[str, str]]:
    """max_value in minor units of the licence's currency; valid_to not before valid_from."""
    faults = []
    if clean.get("max_value_minor") is not None and clean.get("currency") is not None:
        try:
            minor = to_minor(clean["max_value_minor"], clean["currency"])
            if not 0 <= minor <= MAX_LINE_AMOUNT_MINOR * 1000:
                raise ValueError("max_value out of range")
            clean["max_value_minor"] = minor
        except (ValueError, InvalidOperation) as e:
            clean["max_value_minor"] = None
            faults.append(("max_value", str(e)))
    start, end = clean.get("valid_from"), clean.get("valid_to")
    if start and end and end < start:
        faults.append(("valid_to", "is before valid_from"))
    return faults


def _finish_party(clean: dict) -> list[tuple[str, str]]:
    start, end = clean.get("listed_from"), clean.get("listed_to")
    if start and end and end < start:
        return [("listed_to", "is before listed_from")]
    return []


_FINISH = {
    "budgets": _finish_budget, "fx_rates": _finish_rate, "export_rules": _finish_rule,
    "licences": _finish_licence,
    "restricted_parties": _finish_party,
}  # fmt: skip


def load(store, name: str, data: bytes, fmt: str) -> int:
    """Parse, validate and load one reference table; returns the rows loaded."""
    return load_rows(store, name, parse_rows(data, fmt))


def load_rows(store, name: str, rows: list[dict]) -> int:
    """Validate and load rows already parsed (a CSL import); returns the rows loaded."""
    table = table_name(name)
    arrow = validate_rows(table, rows)
    if table == "budgets":
        _check_budget_refs(store, arrow)
    if table == "entities":
        _check_fiscal_year_start(store, arrow)
    if table == "licences":
        _check_licence_refs(store, arrow)
    return store.replace_reference(table, arrow)


def _check_fiscal_year_start(store, arrow: pa.Table) -> None:
    """An entity's fy_start_month cannot change once it has lines: each entry stores its
    fiscal year, which would go stale (and an unchanged re-send would be refused)."""
    in_use = store.fy_start_months_in_use()
    changed = [
        (i, e, m)
        for i, (e, m) in enumerate(zip(arrow["entity"].to_pylist(),
                                       arrow["fy_start_month"].to_pylist(), strict=True))
        if e in in_use and in_use[e] != m
    ]  # fmt: skip
    if changed:
        raise LedgerError(
            "fiscal-year-start-in-use", "Fiscal year start cannot change",
            "; ".join(f"{e} has lines with fiscal years from month {in_use[e]}" for _, e, _ in
                      changed)
            + ": their stored fiscal years would go stale. Create a new entity instead.",
            409,
            errors=[RowError(i, "fy_start_month", f"is {in_use[e]} for {e}'s lines; sent {m}")
                    for i, e, m in changed],
        )  # fmt: skip


def import_rates(
    store, data: bytes, fmt: str, base: str | None = None, source: str | None = None
) -> dict:
    """An exchange-rate file as published (ECB history or wide CSV) into fx_rates."""
    parsed = fx_import.parse(data, fmt, base, source)
    arrow = validate_rows("fx_rates", parsed.rows)
    store.replace_reference("fx_rates", arrow)
    return parsed.summary()


def _check_budget_refs(store, arrow: pa.Table) -> None:
    entities = set(store.reference_view().entity_fy_start_month)
    errors = [
        RowError(i, "entity", f"unknown entity {e!r}")
        for i, e in enumerate(arrow["entity"].to_pylist())
        if e not in entities
    ]
    if errors:
        raise invalid(errors, len(errors), what="reference")


def _check_licence_refs(store, arrow: pa.Table) -> None:
    """A licence names a known holder and known chips: a typo would silently cover nothing."""
    view = store.reference_view()
    errors = [
        RowError(i, "holder", f"unknown entity {h!r}")
        for i, h in enumerate(arrow["holder"].to_pylist())
        if h not in view.entity_fy_start_month
    ]
    for i, chips in enumerate(arrow["chips"].to_pylist()):
        unknown = [c for c in chips.split(",") if chips != "*" and c not in view.chips]
        errors += [RowError(i, "chips", f"unknown chip model {c!r}") for c in unknown[:3]]
    if errors:
        raise invalid(errors, len(errors), what="reference")


PACK_FILES = [
    ("chips", "chips.csv", "csv"),
    ("suppliers", "suppliers.csv", "csv"),
    ("export-rules", "export_rules.json", "json"),
    ("restricted-parties", "restricted_parties.json", "json"),
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
        if table == "licences":
            from ledger.domain.money import format_minor

            minor = r.pop("max_value_minor")
            r["max_value"] = None if minor is None else format_minor(minor, r["currency"])
        if table == "export_rules":
            r["params"] = json.loads(r["params"])
        if table == "mappings":
            r["profile"] = json.loads(r["profile"])
    return rows
