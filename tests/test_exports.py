"""Exports (issue 12, item 4): every read answer as CSV and XLSX, read back with standard
readers (csv, openpyxl) and equal to the JSON answer; money as numbers with the currency's
decimals, not text; the same from the CLI's --format csv|xlsx|json."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from api.export import CSV_MEDIA, XLSX_MEDIA, Sheet, csv_bytes, xlsx_bytes
from cli.main import main as cli_main
from tests.conftest import GOLDEN_CSV
from tests.test_api_support import LiveServer

openpyxl = pytest.importorskip("openpyxl")

BUDGETS = [
    {"entity": "ACME-CN", "budget_code": "DOM-2025", "fiscal_year": 2025, "currency": "CNY",
     "amount": "20000000", "action": "warn"},
    {"entity": "ACME-SG", "budget_code": "OVS-2025", "fiscal_year": 2026, "currency": "KWD",
     "amount": "150000.125", "action": "warn"},
]  # fmt: skip
POLICIES = [
    {"policy": "cn-spend", "jurisdiction": "CN", "destinations": "CN", "metric": "spend",
     "min_share": "0.5"},
    {"policy": "cn-units", "jurisdiction": "CN", "destinations": "all", "metric": "units",
     "min_share": "0.5"},
]  # fmt: skip
READS = [
    ("totals", {"by": "entity,line_currency", "currency": "JPY"}),
    ("totals", {"by": "supplier", "currency": "KWD"}),
    ("budgets", {}),
    ("sourcing", {}),
    ("compliance", {"limit": 50}),
]
MONEY_FORMAT = {"JPY": "#,##0", "KWD": "#,##0.000", "CNY": "#,##0.00", "USD": "#,##0.00"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = LiveServer(tmp_path_factory.mktemp("exports")).wait_ready()
    for table, rows in (("budgets", BUDGETS), ("sourcing-policies", POLICIES)):
        assert s.client.put(f"/v1/reference/{table}", json=rows).status_code == 200
    assert s.post_feed(GOLDEN_CSV.encode(), "csv").status_code == 201
    yield s
    s.stop()


def main_rows(kind: str, answer: dict) -> list[dict]:
    return answer["lines"] if kind == "compliance" else answer["rows"]


def as_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True)
    return str(v)


@pytest.mark.parametrize(("kind", "params"), READS)
def test_csv_equals_the_json_answer(server, kind, params):
    answer = server.client.get(f"/v1/{kind}", params=params).json()
    r = server.client.get(f"/v1/{kind}", params=params, headers={"Accept": CSV_MEDIA})
    assert r.status_code == 200 and r.headers["content-type"].startswith(CSV_MEDIA)
    got = list(csv.DictReader(io.StringIO(r.text)))
    rows = main_rows(kind, answer)
    assert rows, "the fixture must give every read some rows"
    assert len(got) == len(rows)
    for want, have in zip(rows, got, strict=True):
        assert {k: as_text(v) for k, v in want.items()} == {k: have[k] for k in want}
        if kind == "totals":
            assert have["currency"] == answer["currency"]  # the unit of every amount


@pytest.mark.parametrize(("kind", "params"), READS)
def test_xlsx_equals_the_json_answer_with_money_as_numbers(server, kind, params):
    answer = server.client.get(f"/v1/{kind}", params=params).json()
    r = server.client.get(f"/v1/{kind}", params=params, headers={"Accept": XLSX_MEDIA})
    assert r.status_code == 200 and r.headers["content-type"] == XLSX_MEDIA
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    rows = main_rows(kind, answer)
    cells = list(sheet.iter_rows(min_row=2))
    assert len(cells) == len(rows)
    money_cells = 0
    for want, row in zip(rows, cells, strict=True):
        by_name = dict(zip(header, row, strict=True))
        currency = want.get("currency") or answer.get("currency")
        for name, value in want.items():
            cell = by_name[name]
            if name in (
                "amount",
                "committed",
                "remaining",
                "domestic",
                "total",
                "headroom",
                "shortfall",
            ):
                assert cell.data_type == "n", (name, cell.value)  # a number, not text
                assert Decimal(str(cell.value)) == Decimal(value)
                if currency:
                    assert cell.number_format == MONEY_FORMAT[currency], (name, currency)
                    money_cells += 1
            elif isinstance(value, str) and name in (
                "utilization",
                "share",
                "min_share",
                "warn_share",
            ):
                assert Decimal(str(cell.value)) == Decimal(value)
            else:
                assert as_text(cell.value) == as_text(value), name
    if kind in ("totals", "budgets", "sourcing"):
        assert money_cells > 0


def test_json_stays_the_default(server):
    for accept in (None, "*/*", "application/json", "text/html"):
        headers = {"Accept": accept} if accept else {}
        r = server.client.get("/v1/budgets", headers=headers)
        assert r.headers["content-type"].startswith("application/json"), accept
    r = server.client.get("/v1/budgets", headers={"Accept": f"{CSV_MEDIA};q=0.5, {XLSX_MEDIA}"})
    assert r.headers["content-type"] == XLSX_MEDIA  # the higher q wins


def test_xlsx_text_is_never_a_formula_and_huge_money_stays_exact():
    rows = [
        {"supplier": "=HYPERLINK(\"http://x\")", "amount": "12345678901234567.89",
         "amount_minor": 1234567890123456789, "currency": "USD"},
        {"supplier": "4500001", "amount": "0.10", "amount_minor": 10, "currency": "USD"},
    ]  # fmt: skip
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_bytes([Sheet("t", rows)]))).worksheets[0]
    first, second = list(sheet.iter_rows(min_row=2, values_only=True))
    assert first[0] == '=HYPERLINK("http://x")'  # text as sent, not a formula
    assert first[1] == "12345678901234567.89"  # no double holds it: exact text
    assert first[2] == "1234567890123456789"  # beyond 2^53: text
    assert second[0] == "4500001" and second[1] == pytest.approx(0.1)
    assert csv_bytes(Sheet("t", rows)).decode().splitlines()[1].startswith('"=HYPERLINK(')


def test_cli_formats_equal_the_library_answer(tmp_path, capsys, ledger):
    db = ledger.store.path
    ledger.load_reference("budgets", json.dumps(BUDGETS).encode(), "json")
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    expected = ledger.totals(["entity"], "KWD")
    ledger.close()
    args = ["--db", db, "totals", "--by", "entity", "--currency", "KWD"]
    assert cli_main([*args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == expected
    assert cli_main([*args, "--format", "csv"]) == 0
    got = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["amount"] for r in got] == [r["amount"] for r in expected["rows"]]
    target = tmp_path / "totals.xlsx"
    assert cli_main([*args, "--format", "xlsx", "--output", str(target)]) == 0
    sheet = openpyxl.load_workbook(target).worksheets[0]
    amounts = [row[3] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert [Decimal(str(a)) for a in amounts] == [Decimal(r["amount"]) for r in expected["rows"]]
    for kind in ("budgets", "sourcing", "compliance"):
        out = tmp_path / f"{kind}.xlsx"
        assert cli_main(["--db", db, kind, "--format", "xlsx", "--output", str(out)]) == 0
        assert openpyxl.load_workbook(out).worksheets[0].max_row >= 1
