"""CLI tables a person reads (issue 12, item 6): at 80 and 120 columns no number is cut,
amounts carry thousands separators, `*_minor` columns stay in JSON/CSV, and a table too wide
for the terminal drops to one block per row."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from cli import output
from cli.main import main as cli_main
from cli.output import grouped, show_rows
from tests.conftest import GOLDEN_CSV

# a line of 9 trillion CNY (9 * 10^14 minor units, near the per-line bound): 15-digit JPY
BIG = GOLDEN_CSV.replace("100,120000.50", "100,90000000000.00")
WIDE_BY = ["entity", "supplier", "chip_model", "destination", "line_currency", "workload"]


def drawn(rows: list[dict], width: int) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    show_rows(rows, "table", "totals", console=console)
    return console.file.getvalue()


@pytest.fixture
def big(ledger):
    ledger.ingest_bytes(BIG.encode(), "csv")
    return ledger


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("by", [["entity"], ["entity", "line_currency"], WIDE_BY])
def test_no_number_is_cut(big, width, by):
    rows = big.totals(by, "JPY")["rows"]
    text = drawn(rows, width)
    assert max(len(line) for line in text.splitlines()) <= width
    for row in rows:
        assert grouped(row["amount"]) in text  # whole, on one line, with separators
        assert f"{row['quantity']:,}" in text
    assert "_minor" not in text and "…" not in text
    assert any(len(r["amount"]) > 12 for r in rows)  # the case that was cut before


def test_wide_table_drops_to_a_list_at_80_and_stays_a_table_at_120(big):
    rows = big.totals(WIDE_BY, "JPY")["rows"]
    narrow, wide = drawn(rows, 80), drawn(rows, 120)
    assert "-- 1 --" in narrow and "┃" not in narrow
    assert "┃" in wide and "-- 1 --" not in wide


def test_grouping_keeps_ids_and_decimals():
    assert grouped("12000050.36") == "12,000,050.36"
    assert grouped("-1234567") == "-1,234,567"
    text = drawn([{"order_id": "4500001", "fiscal_year": 2025, "amount": "1234.500"}], 80)
    assert "4500001" in text and "2025" in text and "1,234.500" in text


def test_cli_report_at_80_columns(big, monkeypatch, capsys):
    db = big.store.path
    big.close()
    console = Console(width=80, file=io.StringIO(), color_system=None)
    monkeypatch.setattr(output, "out", console)
    monkeypatch.setattr("cli.reports.out", console)
    assert (
        cli_main(["--db", db, "totals", "--by", "entity,line_currency", "--currency", "JPY"]) == 0
    )
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "total: " in text and "," in text.splitlines()[-1]
    assert "amount_minor" not in text
