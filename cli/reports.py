"""Report commands: totals, budgets, sourcing, compliance, licences; local, or through a
running service."""

from __future__ import annotations

import json
import re
import sys

from cli.common import db_path, open_ledger
from cli.output import grouped, out, show_rows
from ledger import service
from ledger.domain.errors import LedgerError

FORMATS = {"choices": ["table", "json", "csv", "xlsx"], "default": "table"}


def through_service(args, kind: str) -> dict | None:
    """The answer from the service serving this ledger, or None when none serves it."""
    record = service.read_record(db_path(args))
    if record is None:
        return None
    from cli import remote

    if kind == "sql":
        return remote.post_sql(record, args.query, args.max_rows)
    params: list[tuple[str, str]] = []
    if kind == "totals":
        params = [("by", args.by), ("currency", args.currency), ("fx", args.fx)]
        params += [tuple(item.partition("=")[::2]) for item in args.filter or []]
    elif kind == "licences":
        params = [("state", args.state), ("as_of", _str(args.as_of)),
                  ("lines", str(args.lines))]  # fmt: skip
    else:
        entity = getattr(args, "entity", None)
        params = [("fiscal_year", _str(args.fiscal_year)), ("entity", entity)]
        if kind == "compliance":
            params = [("fiscal_year", _str(args.fiscal_year)), ("rule", args.rule),
                      ("limit", str(args.limit)), ("offset", str(args.offset))]  # fmt: skip
    return remote.get(record, f"/v1/{kind}", [(k, v) for k, v in params if v])


def _str(v) -> str | None:
    return None if v is None else str(v)


def _answer(args, kind: str) -> dict:
    remote_answer = through_service(args, kind)
    if remote_answer is not None:
        return remote_answer
    with open_ledger(args) as ledger:
        if kind == "totals":
            filters: dict[str, list] = {}
            for item in args.filter or []:
                name, _, value = item.partition("=")
                filters.setdefault(name, []).append(value)
            by = [b for b in (args.by or "").split(",") if b]
            return ledger.totals(by, args.currency, args.fx, filters)
        if kind == "compliance":
            return ledger.compliance(args.fiscal_year, args.rule, args.limit, args.offset)
        if kind == "licences":
            return ledger.licences(args.state, args.as_of, args.lines)
        return getattr(ledger, kind)(args.fiscal_year, args.entity)


def _export(args, kind: str, answer: dict) -> bool:
    """JSON, CSV or XLSX of an answer (the service's own forms, api/export.py); False for
    a table, which the command draws itself."""
    from api import export

    if args.format == "json":  # budgets and sourcing: their rows, as the CLI always gave them
        rows_only = kind in ("budgets", "sourcing")
        out.print_json(json.dumps(answer["rows"] if rows_only else answer, default=str))
    elif args.format == "csv":
        sys.stdout.buffer.write(export.csv_bytes(export.sheets(kind, answer)[0]))
        sys.stdout.flush()
    elif args.format == "xlsx":
        body = export.xlsx_bytes(export.sheets(kind, answer))
        if args.output:
            with open(args.output, "wb") as f:
                f.write(body)
        elif not sys.stdout.isatty():
            sys.stdout.buffer.write(body)
            sys.stdout.flush()
        else:
            raise LedgerError(
                "output-needed", "XLSX needs a file", "pass --output FILE.xlsx", 400
            )  # fmt: skip
    else:
        return False
    return True


def cmd_totals(args) -> int:
    answer = _answer(args, "totals")
    if not _export(args, "totals", answer):
        currency = answer["currency"]
        show_rows(answer["rows"], "table", f"totals in {currency} (fx {answer['fx']})")
        total = answer["total"]
        out.print(f"total: {grouped(total['amount'])} {currency}, {total['lines']:,} lines")
    return 0


def cmd_budgets(args) -> int:
    answer = _answer(args, "budgets")
    if not _export(args, "budgets", answer):
        show_rows(answer["rows"], "table", "budgets")
    return 0


def cmd_sourcing(args) -> int:
    answer = _answer(args, "sourcing")
    if not _export(args, "sourcing", answer):
        show_rows(answer["rows"], "table", "sourcing")
    if args.format == "table":
        out.print(
            "basis chip_origin: domestic = the chip's origin country is the jurisdiction; "
            "supplier_hq: the supplier's HQ is. shortfall: extra domestic amount that reaches "
            "the minimum; headroom: extra non-domestic amount that keeps it passing (spend "
            "in the policy currency, else units or TPP)."
        )
    return 0


def cmd_compliance(args) -> int:
    answer = _answer(args, "compliance")
    if not _export(args, "compliance", answer):
        show_rows(answer["counts"], "table", "flagged lines per rule")
        show_rows(answer["lines"], "table", f"flagged lines ({answer['total']:,} in all)")
    return 0


TABLE_LICENCE_COLUMNS = (
    "licence_id", "holder", "state", "used_quantity", "remaining_quantity", "used_value",
    "remaining_value", "currency", "lines_total", "lines_exhausted",
)  # fmt: skip
TABLE_LINE_COLUMNS = ("order_id", "line_no", "order_date", "quantity", "value", "reason")


def cmd_licences(args) -> int:
    answer = _answer(args, "licences")
    if args.format == "json":
        out.print_json(json.dumps(answer, default=str))
        return 0
    rows = [
        {**{k: v for k, v in r.items() if k != "lines"},
         "lines_refused": ";".join(f"{k}={v}" for k, v in r["lines_refused"].items())}
        for r in answer["rows"]
    ]  # fmt: skip
    if args.format == "table":  # a terminal's width: the figures an officer reads first
        rows = [{k: r[k] for k in TABLE_LICENCE_COLUMNS} for r in rows]
    show_rows(rows, args.format, f"licences (states as of {answer['as_of']})")
    if args.format == "table":
        lines = [{"licence_id": r["licence_id"], **{k: line[k] for k in TABLE_LINE_COLUMNS}}
                 for r in answer["rows"] for line in r["lines"]]  # fmt: skip
        show_rows(lines, "table", f"consuming lines (at most {args.lines} per licence)")
    return 0


def _date(text: str):
    import datetime as dt

    return dt.date.fromisoformat(text)


def _format_options(p) -> None:
    p.add_argument("--format", **FORMATS)
    p.add_argument("--output", help="file to write (for --format xlsx)")


def add_commands(command) -> None:
    t = command("totals", cmd_totals, "totals by dimensions, in a reporting currency")
    t.add_argument("--by", default="", help="comma-separated dimensions")
    t.add_argument("--currency", default="USD")
    t.add_argument("--fx", default="order-date", help="order-date or YYYY-MM-DD")
    t.add_argument("--filter", action="append", help="dim=value (repeatable)")
    _format_options(t)
    for name, func, help_text in [
        ("budgets", cmd_budgets, "budget status: committed against amount"),
        ("sourcing", cmd_sourcing, "domestic-sourcing shares against policies"),
    ]:
        p = command(name, func, help_text)
        p.add_argument("--fiscal-year", type=int)
        p.add_argument("--entity")
        _format_options(p)
    c = command("compliance", cmd_compliance, "lines flagged by export-control rules")
    c.add_argument("--fiscal-year", type=int)
    c.add_argument("--rule")
    c.add_argument("--limit", type=int, default=20)
    c.add_argument("--offset", type=int, default=0)
    _format_options(c)
    lic = command("licences", cmd_licences, "the licence register: used, remaining, state")
    lic.add_argument("--state", choices=["ok", "warn", "exhausted", "expired"])
    lic.add_argument("--as-of", type=_date, help="YYYY-MM-DD the states are for (today)")
    lic.add_argument("--lines", type=int, default=20, help="consuming lines per licence")
    lic.add_argument("--format", choices=["table", "json", "csv"], default="table")


def locked_message(db: str, detail: str) -> str:
    """One line: who holds the file, and what to do."""
    pid = re.search(r"PID (\d+)", detail)
    holder = f"process {pid.group(1)}" if pid else "another process"
    return (
        f"chip-ledger: {db} is held by {holder} (DuckDB lets one process write a ledger file). "
        "Read commands go through a running `chip-ledger serve` of this file by themselves; "
        "for anything else stop that process, or use its HTTP API."
    )
