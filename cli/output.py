"""Terminal output: tables, JSON, CSV and problems, for people and for pipes."""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING

from api.export import MONEY_COLUMNS
from ledger.domain.errors import LedgerError

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich Console made on its first use: `chip-ledger serve` prints none of its lines
    through one, and importing rich (~70 ms) would only delay the service's start."""

    def __init__(self, **options):
        self._options = options
        self._console = None

    def console(self) -> Console:
        """The Console itself, for rich objects that take one (a Progress)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str):
        return getattr(self.console(), name)


err = _LazyConsole(stderr=True)
out = _LazyConsole()


# integer columns that are names, not quantities: never grouped (2,025 is no year)
_ID_COLUMNS = frozenset({"fiscal_year", "line_no", "revision", "month", "feed_seq", "entry_seq"})
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_TEXT_MIN_WIDTH = 10  # a text column narrower than this wraps into unreadable slivers


def grouped(value: str | int) -> str:
    """A number with thousands separators: 12000050.36 -> 12,000,050.36 (decimals kept)."""
    text = str(value)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    units, dot, frac = text.partition(".")
    return f"{sign}{int(units):,}{dot}{frac}"


def _cell(name: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and name not in _ID_COLUMNS:
        return f"{value:,}"
    # decimal text is grouped only where it is an amount: an order id "4500001" stays as sent
    if isinstance(value, str) and name in MONEY_COLUMNS and _NUMBER.match(value):
        return grouped(value)
    return str(value)


def show_rows(
    rows: list[dict], fmt: str, title: str = "", console: Console | None = None,
    drop_minor: bool = True,
):  # fmt: skip
    """Rows as a table for a person (numbers grouped and never cut, `*_minor` columns left to
    JSON/CSV; a table wider than the terminal drops to one block per row), JSON or CSV."""
    console = console or out
    if fmt == "json":
        console.print_json(json.dumps(rows, default=str))
        return
    if fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
        return
    if not rows:
        console.print(f"[dim]{title}: no rows[/]")
        return
    names = [k for k in rows[0] if not (drop_minor and k.endswith("_minor"))]
    cells = [[_cell(k, row.get(k)) for k in names] for row in rows]
    numeric = [all(_is_number(r.get(k)) for r in rows) for k in names]
    widest = [max(len(c[i]) for c in cells) for i in range(len(names))]
    least = [w if num else min(w, max(_TEXT_MIN_WIDTH, len(n) // 2))
             for w, num, n in zip(widest, numeric, names, strict=True)]  # fmt: skip
    # rich's box: one border column, and a padded separator (3) per column
    if sum(least) + 3 * len(names) + 1 > console.width:
        _show_as_list(console, names, cells, title)
        return
    from rich.table import Table

    table = Table(title=title)
    for name, num, width in zip(names, numeric, widest, strict=True):
        if num:  # a number is never wrapped, folded or cut: its header wraps instead
            table.add_column(name, justify="right", no_wrap=True, min_width=width)
        else:
            table.add_column(name, overflow="fold")
    for row in cells:
        table.add_row(*row)
    console.print(table)


def _show_as_list(console: Console, names: list[str], cells: list[list[str]], title: str):
    """One block per row, a field a line: for tables wider than the terminal."""
    if title:
        console.print(f"[bold]{title}[/]", highlight=False)
    label = max(len(n) for n in names)
    for i, row in enumerate(cells):
        console.print(f"[dim]-- {i + 1} --[/]", highlight=False)
        for name, value in zip(names, row, strict=True):
            console.print(f"{name.rjust(label)}  {value}", highlight=False, soft_wrap=False)


def _is_number(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int | float):
        return True
    return isinstance(v, str) and bool(_NUMBER.match(v))


def show_arrow(table, fmt: str) -> None:
    if fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, sys.stdout.buffer)
        return
    # ad-hoc SQL: every column asked for is shown, *_minor ones too
    show_rows(table.to_pylist(), "json" if fmt == "json" else "table", drop_minor=False)


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
