"""Terminal output: tables, JSON, CSV and problems, for people and for pipes."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from ledger.domain.errors import LedgerError

err = Console(stderr=True)
out = Console()


def show_rows(rows: list[dict], fmt: str, title: str = "") -> None:
    """Rows as a table (amounts right-aligned, `*_minor` columns left to JSON/CSV), JSON or CSV."""
    if fmt == "json":
        out.print_json(json.dumps(rows, default=str))
        return
    if fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
        return
    if not rows:
        out.print(f"[dim]{title}: no rows[/]")
        return
    names = [k for k in rows[0] if not k.endswith("_minor")]
    table = Table(title=title)
    for name in names:
        numeric = all(_is_number(r.get(name)) for r in rows)
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*["" if row.get(k) is None else str(row.get(k)) for k in names])
    out.print(table)


def _is_number(v) -> bool:
    if isinstance(v, int | float):
        return True
    return isinstance(v, str) and v.replace(".", "", 1).replace("-", "", 1).isdigit()


def show_arrow(table, fmt: str) -> None:
    if fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, sys.stdout.buffer)
        return
    show_rows(table.to_pylist(), "json" if fmt == "json" else "table")


def print_problem(e: LedgerError, where: str = "") -> None:
    err.print(f"[red]{e.title}[/]{' in ' + where if where else ''}: {e.detail}", highlight=False)
    for fault in e.errors:
        where_row = "header" if fault.row is None else f"row {fault.row}"
        err.print(f"  {where_row}, field {fault.field}: {fault.message}", highlight=False)
    if e.error_count > len(e.errors):
        err.print(f"  ... and {e.error_count - len(e.errors)} more")
    for item in e.extra.get("budgets", []):
        err.print(
            f"  budget {item['entity']}/{item['budget_code']}/{item['fiscal_year']}: "
            f"{item['committed_after']} of {item['amount']} {item['currency']} "
            f"(over by {item['excess']})",
            highlight=False,
        )


def print_warnings(answer: dict) -> None:
    for w in answer.get("warnings", []):
        if w.get("kind") == "budget-exceeded":
            err.print(
                f"[yellow]warning[/]: budget {w['entity']}/{w['budget_code']}/{w['fiscal_year']} "
                f"now {w['committed_after']} of {w['amount']} {w['currency']} "
                f"(over by {w['excess']})",
                highlight=False,
            )
        else:
            err.print(f"[yellow]warning[/]: {w}", highlight=False)
