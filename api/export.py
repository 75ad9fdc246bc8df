"""Read answers as a spreadsheet would take them: CSV and XLSX, from the JSON answer itself.

One helper for every read route (`respond`) and for the CLI (`sheets`, `csv_bytes`,
`xlsx_bytes`), so the three forms of an answer cannot drift apart:
- CSV: the answer's rows, values as JSON gives them (amounts as decimal text).
- XLSX (XlsxWriter): money as numbers with the currency's minor-unit decimals as the
  number format (`#,##0.00` for USD, `#,##0` for JPY, `#,##0.000` for KWD), never as
  text, except where a binary double cannot hold the amount exactly (beyond ~15
  significant digits): then the exact decimal text, so no spreadsheet shows a number
  nobody booked. Text cells are written as text (never read as formulas).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from decimal import Decimal

from fastapi import Request, Response

from ledger.domain.money import MINOR_EXPONENT

CSV_MEDIA = "text/csv"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON_MEDIA = "application/json"
# columns that carry money in the row's `currency` (or the answer's reporting currency)
MONEY_COLUMNS = frozenset({
    "amount", "committed", "remaining", "domestic", "total", "headroom", "shortfall",
    "used_value", "remaining_value", "value",
})  # fmt: skip
# decimal text that is a number, not money: shares, and unit counts of sourcing policies
NUMBER_COLUMNS = frozenset({"utilization", "share", "min_share", "warn_share"})
_NUMERIC_COLUMNS = MONEY_COLUMNS | NUMBER_COLUMNS
_DECIMAL = re.compile(r"^-?\d+(?:\.\d+)?$")
MAX_EXACT_INT = 2**53

# OpenAPI: the other forms of a read answer (merged into a route's `responses`)
EXPORT_RESPONSES = {
    200: {
        "description": "The answer: JSON, or CSV / XLSX by `Accept`",
        "content": {
            CSV_MEDIA: {"schema": {"type": "string"}},
            XLSX_MEDIA: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@dataclass(frozen=True)
class Sheet:
    name: str
    rows: list[dict]
    currency: str | None = None  # the answer's reporting currency, for rows without their own

    @property
    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)


def sheets(kind: str, answer: dict) -> list[Sheet]:
    """The tables of an answer, the main one first (the one CSV carries)."""
    if kind == "totals":
        currency = answer.get("currency")
        total = {"fx": answer.get("fx"), **answer.get("total", {})}
        return [Sheet("totals", answer.get("rows", []), currency),
                Sheet("total", [total], currency)]  # fmt: skip
    if kind == "compliance":
        return [Sheet("flagged lines", answer.get("lines", [])),
                Sheet("per rule", answer.get("counts", []))]  # fmt: skip
    return [Sheet(kind, answer.get("rows", []))]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def csv_bytes(sheet: Sheet) -> bytes:
    """The sheet as CSV; a totals sheet gains its reporting `currency` as the last column."""
    columns = sheet.columns
    extra = sheet.currency is not None and "currency" not in columns
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*columns, "currency"] if extra else columns)
    for row in sheet.rows:
        cells = [_text(row.get(c)) for c in columns]
        writer.writerow([*cells, sheet.currency] if extra else cells)
    return buf.getvalue().encode("utf-8")


class _Formats:
    """XlsxWriter formats, one per number of decimals (made once per workbook)."""

    def __init__(self, workbook) -> None:
        self.workbook = workbook
        self._money: dict[int, object] = {}
        self._plain: dict[int, object] = {}
        self.header = workbook.add_format({"bold": True, "bottom": 1})

    def money(self, decimals: int):
        if decimals not in self._money:
            pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
            self._money[decimals] = self.workbook.add_format({"num_format": pattern})
        return self._money[decimals]

    def plain(self, decimals: int):
        if decimals not in self._plain:
            pattern = "0" + ("." + "0" * decimals if decimals else "")
            self._plain[decimals] = self.workbook.add_format({"num_format": pattern})
        return self._plain[decimals]


def _exact_float(text: str) -> float | None:
    """The double that prints back as this decimal, or None when there is none."""
    value = float(text)
    return value if Decimal(repr(value)) == Decimal(text) else None


def _write_cell(ws, r: int, c: int, name: str, value, currency: str | None, fmt: _Formats):
    if value is None:
        return
    if isinstance(value, bool):
        ws.write_boolean(r, c, value)
    elif isinstance(value, int):
        if abs(value) < MAX_EXACT_INT:
            ws.write_number(r, c, value)
        else:
            ws.write_string(r, c, str(value))
    elif isinstance(value, float):
        ws.write_number(r, c, value)
    elif isinstance(value, str) and name in _NUMERIC_COLUMNS and _DECIMAL.match(value):
        number = _exact_float(value)
        if number is None:
            ws.write_string(r, c, value)  # exact text rather than a rounded double
        elif name in MONEY_COLUMNS and currency in MINOR_EXPONENT:
            ws.write_number(r, c, number, fmt.money(MINOR_EXPONENT[currency]))
        else:
            ws.write_number(r, c, number, fmt.plain(len(value.partition(".")[2])))
    else:
        ws.write_string(r, c, _text(value))


def xlsx_bytes(tables: list[Sheet]) -> bytes:
    """A workbook, one worksheet per sheet: a header row (frozen, filtered), then the rows."""
    import xlsxwriter

    buf = io.BytesIO()
    options = {
        "in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
        "strings_to_urls": False,
    }  # fmt: skip
    workbook = xlsxwriter.Workbook(buf, options)
    fmt = _Formats(workbook)
    for sheet in tables:
        ws = workbook.add_worksheet(sheet.name[:31])
        columns = sheet.columns
        if sheet.currency is not None and "currency" not in columns:
            columns.append("currency")
        for c, name in enumerate(columns):
            ws.write_string(0, c, name, fmt.header)
            ws.set_column(c, c, max(len(name) + 2, 12))
        for r, row in enumerate(sheet.rows, start=1):
            currency = row.get("currency") or sheet.currency
            full = {**row, "currency": currency} if sheet.currency else row
            for c, name in enumerate(columns):
                _write_cell(ws, r, c, name, full.get(name), currency, fmt)
        ws.freeze_panes(1, 0)
        if columns:
            ws.autofilter(0, 0, max(len(sheet.rows), 1), len(columns) - 1)
    workbook.close()
    return buf.getvalue()


def wanted(accept: str | None) -> str:
    """json, csv or xlsx: the media type Accept prefers among ours (JSON when none is named)."""
    ours = {CSV_MEDIA: "csv", XLSX_MEDIA: "xlsx", JSON_MEDIA: "json"}
    best, best_q = "json", -1.0
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        kind = ours.get(media.lower())
        if kind is None:
            continue
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if q > best_q and q > 0:
            best, best_q = kind, q
    return best


def respond(request: Request, kind: str, answer: dict, json_body: str | None = None):
    """The answer in the form `Accept` asks for; JSON as the route gives it otherwise."""
    form = wanted(request.headers.get("accept"))
    if form == "json":
        return answer if json_body is None else Response(json_body, media_type=JSON_MEDIA)
    disposition = {"Content-Disposition": f'attachment; filename="{kind}.{form}"'}
    if form == "csv":
        body = csv_bytes(sheets(kind, answer)[0])
        return Response(body, media_type=f"{CSV_MEDIA}; charset=utf-8", headers=disposition)
    return Response(xlsx_bytes(sheets(kind, answer)), media_type=XLSX_MEDIA, headers=disposition)
