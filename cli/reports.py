"""CLI commands over the read use cases: totals, budgets, sourcing, compliance."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

out = Console()


def _queries(args):
    from cli.main import db_path, open_ledger
    from ledger.read.queries import Queries

    return Queries(open_ledger(db_path(args)))


def _show(rows: list[dict], fmt: str, title: str = "") -> None:
    if fmt == "json":
        out.print_json(json.dumps(rows, default=str))
        return
    if not rows:
        out.print(f"[dim]{title}: no rows[/]")
        return
    table = Table(*rows[0].keys(), title=title)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row.values()])
    out.print(table)


def cmd_totals(args) -> int:
    filters: dict[str, list] = {}
    for item in args.filter or []:
        name, _, value = item.partition("=")
        filters.setdefault(name, []).append(value)
    answer = _queries(args).totals(
        [b for b in (args.by or "").split(",") if b], args.currency, args.fx, filters
    )
    if args.format == "json":
        out.print_json(json.dumps(answer, default=str))
        return 0
    _show(answer["rows"], "table", f"totals in {answer['currency']} (fx {answer['fx']})")
    total = answer["total"]
    out.print(f"total: {total['amount']} {answer['currency']}, {total['lines']} lines")
    return 0


def cmd_budgets(args) -> int:
    _show(_queries(args).budgets(args.fiscal_year, args.entity)["rows"], args.format, "budgets")
    return 0


def cmd_sourcing(args) -> int:
    _show(_queries(args).sourcing(args.fiscal_year, args.entity)["rows"], args.format, "sourcing")
    return 0


def cmd_compliance(args) -> int:
    answer = _queries(args).compliance(args.fiscal_year, args.rule, args.limit, args.offset)
    if args.format == "json":
        out.print_json(json.dumps(answer, default=str))
        return 0
    _show(answer["counts"], "table", "flagged lines per rule")
    _show(answer["lines"], "table", f"flagged lines ({answer['total']} in all)")
    return 0


def add_commands(sub) -> None:
    fmt = {"choices": ["table", "json"], "default": "table"}
    t = sub.add_parser("totals", help="totals by dimensions, in a reporting currency")
    t.add_argument("--by", default="", help="comma-separated dimensions")
    t.add_argument("--currency", default="USD")
    t.add_argument("--fx", default="order-date", help="order-date or YYYY-MM-DD")
    t.add_argument("--filter", action="append", help="dim=value (repeatable)")
    t.add_argument("--format", **fmt)
    t.set_defaults(func=cmd_totals)
    for name, func, help_text in [
        ("budgets", cmd_budgets, "budget status: committed against amount"),
        ("sourcing", cmd_sourcing, "domestic-sourcing shares against policies"),
    ]:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--fiscal-year", type=int)
        p.add_argument("--entity")
        p.add_argument("--format", **fmt)
        p.set_defaults(func=func)
    c = sub.add_parser("compliance", help="lines flagged by export-control rules")
    c.add_argument("--fiscal-year", type=int)
    c.add_argument("--rule")
    c.add_argument("--limit", type=int, default=20)
    c.add_argument("--offset", type=int, default=0)
    c.add_argument("--format", **fmt)
    c.set_defaults(func=cmd_compliance)
