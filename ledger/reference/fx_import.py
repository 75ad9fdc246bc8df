"""Exchange rates as published: the ECB's history layout, a generic wide CSV, the older form.

Pure: bytes in, `fx_rates` rows out (rate_date, base, quote, rate, source), each rate
the very text the source printed; the registry's checkers validate them afterwards.

- ECB (https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip, `eurofxref-hist.csv`):
  a header `Date,USD,JPY,...` (often a trailing comma), one row per TARGET working day,
  the newest first, each cell the units of the column's currency per 1 EUR, `N/A` where
  the ECB published none (a currency not yet or no longer quoted). Base EUR.
- wide: a header `date,<ISO code>,...`, one row per day, each cell the units of the column's
  currency per 1 unit of the stated base; empty or `N/A` cells are skipped.
- the older row form (rate_date, currency, usd_per_unit): base = currency, quote = USD.

Columns that are not active ISO 4217 currencies (the ECB history keeps withdrawn ones:
CYP, SIT, HRK, BGN...) and days outside the ledger's range are not loaded; the answer
names them (`skipped_columns`, `skipped_days`), so nothing is dropped unseen.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field

from ledger.domain.errors import LedgerError, RowError, invalid
from ledger.domain.money import MINOR_EXPONENT
from ledger.domain.validate import MAX_ORDER_DATE, MIN_ORDER_DATE

FORMATS = ("ecb", "wide")
ECB_SOURCE = "ECB euro foreign exchange reference rates"
_MISSING = ("", "N/A", "NA", "-")
_LEGACY_FIELDS = {"currency", "usd_per_unit"}


@dataclass
class Imported:
    rows: list[dict]
    base: str
    days: int = 0
    skipped_columns: list[str] = field(default_factory=list)
    skipped_days: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        dates = sorted({r["rate_date"] for r in self.rows})
        return {
            "format_base": self.base, "rows": len(self.rows), "days": len(dates),
            "first_day": dates[0] if dates else None, "last_day": dates[-1] if dates else None,
            "currencies": sorted({r["quote"] for r in self.rows}),
            "skipped_columns": self.skipped_columns, "skipped_days": self.skipped_days[:20],
            "skipped_day_count": len(self.skipped_days),
        }  # fmt: skip


def _bad(detail: str, errors: list[RowError] | None = None) -> LedgerError:
    if errors:
        return invalid(errors, len(errors), what="reference")
    return LedgerError("malformed-reference", "Malformed exchange-rate file", detail, 400)


def parse(data: bytes, fmt: str, base: str | None = None, source: str | None = None) -> Imported:
    """An ECB or wide CSV file -> fx_rates rows (rates as printed), or a 400/422."""
    fmt = (fmt or "").lower()
    if fmt not in FORMATS:
        raise LedgerError(
            "unknown-format", "Unknown exchange-rate format", f"{fmt!r}: use ecb or wide", 415
        )
    base = (base or ("EUR" if fmt == "ecb" else "")).strip().upper()
    if fmt == "ecb" and base != "EUR":
        raise _bad(f"the ECB publishes units per EUR: base must be EUR, not {base}")
    if base not in MINOR_EXPONENT:
        raise _bad(f"base {base or '(none)'!r} is not a supported ISO 4217 code; name it")
    try:
        text = data.decode("utf-8-sig")
        table = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as e:
        raise _bad(str(e)) from None
    if not table:
        raise _bad("the file is empty")
    header = [h.strip() for h in table[0]]
    date_name = "Date" if fmt == "ecb" else "date"
    if not header or header[0].lower() != date_name.lower():
        raise _bad(f"the first column must be {date_name!r}, not {header[0] if header else ''!r}")
    src = source or (ECB_SOURCE if fmt == "ecb" else None)
    return _rows(table, header, base, src)


def _rows(table: list[list[str]], header: list[str], base: str, source: str | None) -> Imported:
    out = Imported([], base)
    columns: list[tuple[int, str]] = []
    for k, name in enumerate(header[1:], start=1):
        code = name.upper()
        if not code:
            continue  # the ECB's trailing comma
        if code not in MINOR_EXPONENT or code == base:
            out.skipped_columns.append(name)
        else:
            columns.append((k, code))
    errors: list[RowError] = []
    for i, row in enumerate(table[1:], start=1):
        day = row[0].strip() if row else ""
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
                raise ValueError
            date = dt.date.fromisoformat(day)
        except ValueError:
            errors.append(RowError(i, header[0], f"{day!r} is not an ISO date (YYYY-MM-DD)"))
            continue
        if not MIN_ORDER_DATE <= date <= MAX_ORDER_DATE:
            out.skipped_days.append(day)
            continue
        for k, code in columns:
            cell = row[k].strip() if k < len(row) else ""
            if cell.upper() in _MISSING:
                continue
            out.rows.append({"rate_date": day, "base": base, "quote": code, "rate": cell,
                             "source": source})  # fmt: skip
    if errors:
        raise _bad("", errors[:100])
    return out


def canonical_rows(rows: list[dict]) -> tuple[list[dict], list[dict[str, str]]]:
    """fx_rates rows as sent -> the current form, with per row the field each stored column
    was sent as (the older form's `currency` / `usd_per_unit`), for error messages."""
    out, sent_as = [], []
    for row in rows:
        if not isinstance(row, dict) or not (_LEGACY_FIELDS & set(row)) or "base" in row:
            out.append(row)
            sent_as.append({})
            continue
        new = {k: v for k, v in row.items() if k not in _LEGACY_FIELDS}
        new.update(base=row.get("currency"), quote="USD", rate=row.get("usd_per_unit"))
        out.append(_keep_faults(row, new))
        sent_as.append({"base": "currency", "quote": "currency", "rate": "usd_per_unit"})
    return out, sent_as


def _keep_faults(old: dict, new: dict) -> dict:
    faults = getattr(old, "faults", None)
    if not faults:
        return new
    kept = type(old)(new)  # the strict JSON reader's dict, which carries its faults
    kept.faults = faults
    return kept
