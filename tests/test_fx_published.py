"""Rates as published: ECB history loaded as printed ties out, to the unit, with cross rates
computed in Fraction from the very quotes; the same through a wide CSV with base USD; the
`orders_usd` view equals the API; the older form migrates; a missing path is a clear 422.

The ECB figures are the euro foreign exchange reference rates for 17 and 22-25 April 2025
(a TARGET holiday on Good Friday 18 April and Easter Monday 21 April, a weekend between:
no rows those days), in the published layout of eurofxref-hist.csv (newest first, `N/A`
for withdrawn currencies, a trailing comma), copied from a public repository's test data.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from fractions import Fraction

import duckdb
import pytest

from ledger.domain.errors import LedgerError
from ledger.domain.money import MINOR_EXPONENT, half_even_div
from ledger.ledger import Ledger
from ledger.reference import fx_import
from tests.conftest import ENTITIES_CSV, HEADER

ECB_CSV = """Date,USD,JPY,BGN,CYP,CZK,DKK,EEK,GBP,HUF,LTL,LVL,MTL,PLN,ROL,RON,SEK,SIT,SKK,CHF,ISK,NOK,HRK,RUB,TRL,TRY,AUD,BRL,CAD,CNY,HKD,IDR,ILS,INR,KRW,MXN,MYR,NZD,PHP,SGD,THB,ZAR,
2025-04-25,1.1357,162.8,1.9558,N/A,24.929,7.4656,N/A,0.8531,406.53,N/A,N/A,N/A,4.2683,N/A,4.9776,11.0015,N/A,N/A,0.9421,144.9,11.8415,N/A,N/A,N/A,43.6289,1.7797,6.4566,1.5754,8.2773,8.8089,19140.75,4.1124,97.0205,1634.83,22.2874,4.9676,1.9063,63.918,1.493,38.091,21.3608,
2025-04-24,1.1376,162.16,1.9558,N/A,24.977,7.4655,N/A,0.855,407.3,N/A,N/A,N/A,4.2748,N/A,4.9769,10.911,N/A,N/A,0.9392,144.9,11.8285,N/A,N/A,N/A,43.584,1.7823,6.4678,1.5769,8.2925,8.826,19170.72,4.1477,97.0793,1632.79,22.2856,4.9747,1.9026,64.222,1.4924,38.041,21.2838,
2025-04-23,1.1415,161.68,1.9558,N/A,25.015,7.4658,N/A,0.85793,409.03,N/A,N/A,N/A,4.2915,N/A,4.9772,10.9395,N/A,N/A,0.9382,144.9,11.891,N/A,N/A,N/A,43.7076,1.7814,6.5127,1.5789,8.3199,8.8567,19263.67,4.1849,97.4838,1623.36,22.3248,5.0123,1.9063,64.56,1.4961,38.086,21.2326,
2025-04-22,1.1476,161.05,1.9558,N/A,25.081,7.4656,N/A,0.85858,409.38,N/A,N/A,N/A,4.28,N/A,4.9773,10.9153,N/A,N/A,0.9318,144.9,11.8885,N/A,N/A,N/A,43.9069,1.7945,6.6516,1.5891,8.3929,8.9027,19328.11,4.2682,97.785,1635.54,22.559,5.0397,1.9141,64.963,1.5011,38.14,21.3719,
2025-04-17,1.136,161.98,1.9558,N/A,25.009,7.4672,N/A,0.85873,407.6,N/A,N/A,N/A,4.2743,N/A,4.9776,11.0278,N/A,N/A,0.9291,145.1,11.9655,N/A,N/A,N/A,43.2604,1.7845,6.681,1.5773,8.29,8.8195,19162.33,4.1852,97.0185,1609.12,22.6247,5.0069,1.9118,64.387,1.4905,37.8,21.3927,
"""
WITHDRAWN = ["BGN", "CYP", "EEK", "LTL", "LVL", "MTL", "ROL", "SIT", "SKK", "HRK", "TRL"]
LINE_CURRENCIES = ["USD", "EUR", "JPY", "IDR", "KRW", "GBP", "CHF", "CNY", "HUF", "ISK", "PLN"]
# every calendar day from the first rate to the Monday after: weekends, holidays included
DAYS = [dt.date(2025, 4, 17) + dt.timedelta(days=k) for k in range(12)]
REPORTING = ["USD", "EUR", "JPY"]


def quotes(text: str) -> dict[dt.date, dict[str, Fraction]]:
    """Per published day, units of each currency per unit of the file's base, exactly."""
    lines = text.strip().splitlines()
    header = lines[0].rstrip(",").split(",")
    out = {}
    for line in lines[1:]:
        cells = line.rstrip(",").split(",")
        out[dt.date.fromisoformat(cells[0])] = {
            c: Fraction(v) for c, v in zip(header[1:], cells[1:], strict=True) if v != "N/A"
        }
    return out


def value_in(table, base: str, currency: str, day: dt.date) -> Fraction:
    """Units of `base` one unit of currency is worth, on the latest published day <= day."""
    published = max(d for d in table if d <= day)
    return Fraction(1) if currency == base else 1 / table[published][currency]


def reference_total(lines: list[dict], target: str, table, base: str) -> int:
    """Sum of the lines converted one by one, half-even to the target's minor unit."""
    total = 0
    for ln in lines:
        day = dt.date.fromisoformat(ln["order_date"])
        amount = Fraction(ln["unit_price"]) * int(ln["quantity"])
        value = amount * value_in(table, base, ln["currency"], day)
        value /= value_in(table, base, target, day)
        value *= 10 ** MINOR_EXPONENT[target]
        total += half_even_div(value.numerator, value.denominator)
    return total


def make_lines(n: int = 240, seed: int = 12) -> list[dict]:
    rng = random.Random(seed)
    lines = []
    for k in range(n):
        currency = LINE_CURRENCIES[k % len(LINE_CURRENCIES)]
        e = MINOR_EXPONENT[currency]
        minor = rng.choice([1, 5, 50, 125, rng.randrange(1, 10**9), rng.randrange(1, 10**13)])
        price = f"{minor // 10**e}.{minor % 10**e:0{e}d}" if e else str(minor)
        lines.append({
            "order_id": f"PO-{k // 10}", "line_no": str(k % 10 + 1), "revision": "0",
            "status": "open", "entity": "ACME-SG", "order_date": DAYS[k % len(DAYS)].isoformat(),
            "supplier": "Nvidia", "chip_model": "H100", "quantity": str(rng.choice([1, 3, 7])),
            "unit_price": price, "currency": currency, "destination": "SG",
            "budget_code": "OVS-2025", "workload": "training", "acquisition": "purchase",
            "owner": "", "operator": "", "identity_reviewed": "false", "license_ref": "",
        })  # fmt: skip
    return lines


def feed(lines: list[dict]) -> bytes:
    cols = HEADER.split(",")
    return "\n".join([HEADER, *[",".join(ln[c] for c in cols) for ln in lines]]).encode()


def wide_usd_csv() -> str:
    """A wide file with base USD: units per USD rounded to 6 significant digits from the ECB
    quotes above (illustrative figures, as a USD-based source would print them)."""
    table = quotes(ECB_CSV)
    codes = ["EUR", "JPY", "IDR", "KRW", "GBP", "CHF", "CNY", "HUF", "ISK", "PLN"]
    rows = ["date," + ",".join(codes)]
    for day in sorted(table):
        usd = table[day]["USD"]
        cells = []
        for c in codes:
            per_usd = (1 / usd) if c == "EUR" else table[day][c] / usd
            cells.append(format(float(per_usd), ".6g"))
        rows.append(day.isoformat() + "," + ",".join(cells))
    return "\n".join(rows) + "\n"


@pytest.fixture
def lines():
    return make_lines()


def open_ledger(tmp_path, name: str, pivot: str | None = None) -> Ledger:
    opened = Ledger.open(tmp_path / f"{name}.duckdb", pivot=pivot)
    opened.load_reference("entities", ENTITIES_CSV, "csv")
    return opened


@pytest.mark.parametrize("pivot", ["USD", "EUR"])
def test_ecb_rates_as_published_tie_out_to_the_unit(tmp_path, lines, pivot):
    with open_ledger(tmp_path, "ecb", pivot) as ledger:
        summary = ledger.import_fx_rates(ECB_CSV.encode(), "ecb")
        assert summary["rows"] == 5 * 29 and summary["days"] == 5
        assert summary["skipped_columns"] == WITHDRAWN
        ledger.ingest_bytes(feed(lines), "csv")
        table = quotes(ECB_CSV)
        for target in REPORTING:
            got = ledger.totals(["line_currency"], target)
            assert got["total"]["amount_minor"] == reference_total(lines, target, table, "EUR")
            for row in got["rows"]:
                mine = [ln for ln in lines if ln["currency"] == row["line_currency"]]
                assert row["amount_minor"] == reference_total(mine, target, table, "EUR")


def test_wide_csv_with_base_usd_ties_out(tmp_path, lines):
    text = wide_usd_csv()
    with open_ledger(tmp_path, "wide") as ledger:
        summary = ledger.import_fx_rates(text.encode(), "wide", base="USD")
        assert summary["rows"] == 5 * 10
        ledger.ingest_bytes(feed(lines), "csv")
        table = quotes(text)
        for target in REPORTING:
            got = ledger.totals([], target)["total"]["amount_minor"]
            assert got == reference_total(lines, target, table, "USD")


def test_orders_usd_equals_the_api(tmp_path, lines):
    with open_ledger(tmp_path, "sql") as ledger:
        ledger.import_fx_rates(ECB_CSV.encode(), "ecb")
        ledger.ingest_bytes(feed(lines), "csv")
        api = ledger.totals(["line_currency"], "USD")
        answer, _ = ledger.sql(
            "SELECT currency, CAST(sum(amount_usd_minor) AS BIGINT) AS usd, "
            "count(amount_usd_minor) AS n FROM orders_usd GROUP BY 1"
        )
        sql = {r["currency"]: (r["usd"], r["n"]) for r in answer.to_pylist()}
        assert {r["line_currency"]: (r["amount_minor"], r["lines"]) for r in api["rows"]} == sql
        assert sum(v for v, _ in sql.values()) == reference_total(
            lines, "USD", quotes(ECB_CSV), "EUR"
        )


def test_no_path_is_a_422_naming_the_currency_and_the_date(tmp_path, lines):
    with open_ledger(tmp_path, "nopath") as ledger:
        ledger.import_fx_rates(ECB_CSV.encode(), "ecb")
        ledger.ingest_bytes(feed(lines[:20]), "csv")
        with pytest.raises(LedgerError) as e:
            ledger.totals([], "JPY", fx="2025-04-16")
        assert e.value.status == 422
        assert "JPY" in e.value.detail and "2025-04-16" in e.value.detail
        # a line in a currency that has no rate at all is refused when it arrives
        stray = dict(lines[0], order_id="PO-X", currency="NGN", unit_price="5")
        with pytest.raises(LedgerError) as e:
            ledger.ingest_bytes(feed([stray]), "csv")
        assert "no NGN rate on or before 2025-04-17" in json.dumps(e.value.as_problem())


def test_importer_reads_the_published_layout_and_refuses_what_it_cannot():
    parsed = fx_import.parse(ECB_CSV.encode(), "ecb")
    first = parsed.rows[0]
    assert first == {"rate_date": "2025-04-25", "base": "EUR", "quote": "USD", "rate": "1.1357",
                     "source": fx_import.ECB_SOURCE}  # fmt: skip
    assert not any(r["quote"] in WITHDRAWN for r in parsed.rows)
    with pytest.raises(LedgerError):
        fx_import.parse(ECB_CSV.encode(), "ecb", base="USD")  # the ECB quotes per EUR
    with pytest.raises(LedgerError):
        fx_import.parse(b"date,JPY\n2025-01-01,150\n", "wide")  # a wide file names its base
    with pytest.raises(LedgerError) as e:
        fx_import.parse(b"date,JPY\n01/02/2025,150\n", "wide", base="USD")
    assert e.value.status == 422
    old = fx_import.parse(b"date,JPY\n1999-12-31,150\n2025-01-02,150\n", "wide", base="USD")
    assert [r["rate_date"] for r in old.rows] == ["2025-01-02"]
    assert old.skipped_days == ["1999-12-31"]


@pytest.mark.parametrize(
    "rate, ok",
    [("1.23456789012", True), ("1.234567890123", False), ("0.000000000001", True),
     ("0.0000000000001", False), ("999999999999", True), ("1000000000000", False),
     ("0", False), ("-1", False), ("1e1", True)],
)  # fmt: skip
def test_rates_are_bounded_and_shown_plainly(tmp_path, rate, ok):
    with open_ledger(tmp_path, "bounds") as ledger:
        row = [{"rate_date": "2025-01-02", "base": "EUR", "quote": "JPY", "rate": rate}]
        if not ok:
            with pytest.raises(LedgerError) as e:
                ledger.load_reference("fx-rates", json.dumps(row).encode(), "json")
            assert e.value.errors[0].field == "rate"
            return
        ledger.load_reference("fx-rates", json.dumps(row).encode(), "json")
        shown = ledger.reference_rows("fx-rates")[0]["rate"]
        assert shown == ("10" if rate == "1e1" else rate) and "E" not in shown


def test_an_old_shape_ledger_is_migrated(tmp_path, lines):
    """A ledger written with fx_rates(rate_date, currency, usd_per_unit) opens as schema 2."""
    path = tmp_path / "old.duckdb"
    usd_lines = [ln for ln in lines if ln["currency"] in ("USD", "EUR", "JPY")][:30]
    with open_ledger(tmp_path, "old") as ledger:
        ledger.load_reference("fx-rates", b"rate_date,currency,usd_per_unit\n"
                              b"2025-04-17,JPY,0.0066\n2025-04-17,EUR,1.1\n", "csv")  # fmt: skip
        ledger.ingest_bytes(feed(usd_lines), "csv")
        expected = ledger.totals([], "USD")["total"]["amount_minor"]
    con = duckdb.connect(str(path))
    con.execute("DROP VIEW IF EXISTS orders_usd")
    con.execute("DROP VIEW IF EXISTS fx_values")
    con.execute("DROP VIEW IF EXISTS fx_rates_e12")
    con.execute("DROP VIEW IF EXISTS fx_legs")
    con.execute(
        "CREATE TABLE old AS SELECT rate_date, base AS currency, "
        "CAST(rate AS DECIMAL(18,12)) AS usd_per_unit, synthetic FROM fx_rates "
        "WHERE quote = 'USD'"
    )
    con.execute("DROP TABLE fx_rates")
    con.execute("ALTER TABLE old RENAME TO fx_rates")
    con.execute(  # the schema-1 view over the old columns
        "CREATE VIEW fx_rates_e12 AS SELECT rate_date, currency, "
        "CAST(usd_per_unit * 1000000000000 AS HUGEINT) AS rate_e12 FROM fx_rates"
    )
    con.execute("DELETE FROM schema_version")
    con.execute("INSERT INTO schema_version VALUES (1, now())")
    con.close()
    for cache in tmp_path.glob("old.duckdb.columns"):
        import shutil

        shutil.rmtree(cache)
    with Ledger.open(path) as ledger:
        rows = ledger.reference_rows("fx-rates")
        assert {(r["base"], r["quote"]) for r in rows} == {("JPY", "USD"), ("EUR", "USD")}
        assert {r["rate"] for r in rows} == {"0.0066", "1.1"}
        version = ledger.sql("SELECT max(version) AS v FROM schema_version")[0]
        assert version.to_pylist() == [{"v": 2}]
        assert ledger.totals([], "USD")["total"]["amount_minor"] == expected


def test_cli_imports_the_ecb_file(tmp_path):
    from cli.main import main

    path = tmp_path / "eurofxref-hist.csv"
    path.write_text(ECB_CSV)
    db = str(tmp_path / "cli.duckdb")
    assert main(["reference", "import", "fx-rates", str(path), "--format", "ecb", "--db", db]) == 0
    with Ledger.open(db) as ledger:
        rows = ledger.reference_rows("fx-rates")
    assert len(rows) == 5 * 29
    assert {(r["base"], r["source"]) for r in rows} == {("EUR", fx_import.ECB_SOURCE)}
    jpy = [r for r in rows if r["quote"] == "JPY" and r["rate_date"] == "2025-04-25"]
    assert jpy[0]["rate"] == "162.8"


def test_a_row_against_the_pivot_beats_the_hop_in_the_api_and_in_sql(tmp_path, lines):
    """CNY with a CFETS-style row (base USD) from 22 April: before it, CNY goes through EUR."""
    cny = [dict(ln, currency="CNY", unit_price="1000.05", order_id=f"PO-C{k}", line_no="1",
                order_date=day) for k, (ln, day) in
           enumerate(zip(lines, ["2025-04-18", "2025-04-22", "2025-04-26"], strict=False))]  # fmt: skip
    with open_ledger(tmp_path, "mixed") as ledger:
        ledger.import_fx_rates(ECB_CSV.encode(), "ecb")
        row = [{"rate_date": "2025-04-22", "base": "USD", "quote": "CNY", "rate": "7.2066"}]
        ledger.load_reference("fx-rates", json.dumps(row).encode(), "json")
        ledger.ingest_bytes(feed(cny), "csv")
        table = quotes(ECB_CSV)
        hop = Fraction(100005, 100) * 3 * value_in(table, "EUR", "CNY", dt.date(2025, 4, 18))
        hop /= value_in(table, "EUR", "USD", dt.date(2025, 4, 18))
        direct = Fraction(100005, 100) * 3 / Fraction("7.2066")
        quantities = [int(ln["quantity"]) for ln in cny]
        expected = []
        for v, q in zip([hop, direct, direct], quantities, strict=True):
            cents = v / 3 * q * 100
            expected.append(half_even_div(cents.numerator, cents.denominator))
        assert hop != direct  # the two paths give different values: the rule matters
        assert ledger.totals([], "USD")["total"]["amount_minor"] == sum(expected)
        answer, _ = ledger.sql("SELECT amount_usd_minor FROM orders_usd ORDER BY order_date")
        assert answer["amount_usd_minor"].to_pylist() == expected


def test_a_cross_rate_too_wide_for_exact_int64_is_a_clear_422(tmp_path, lines):
    """12-digit rates from two sources: the exact CNY/JPY ratio needs ~80 bits a side."""
    rows = [
        {"rate_date": "2025-04-17", "base": "EUR", "quote": "USD", "rate": "1.13600012347"},
        {"rate_date": "2025-04-17", "base": "EUR", "quote": "JPY", "rate": "161.980012349"},
        {"rate_date": "2025-04-17", "base": "USD", "quote": "CNY", "rate": "7.18840012345"},
    ]
    with open_ledger(tmp_path, "wide") as ledger:
        ledger.load_reference("fx-rates", json.dumps(rows).encode(), "json")
        line = dict(lines[0], currency="CNY", unit_price="10.00")
        ledger.ingest_bytes(feed([line]), "csv")
        usd = ledger.totals([], "USD")["total"]["amount_minor"]  # CNY -> USD fits
        cents = Fraction(1000) * int(line["quantity"]) / Fraction("7.18840012345")
        assert usd == half_even_div(cents.numerator, cents.denominator)
        with pytest.raises(LedgerError) as e:
            ledger.totals([], "JPY")
        assert e.value.status == 422
        assert "CNY/JPY" in e.value.detail and "2025-04-17" in e.value.detail
