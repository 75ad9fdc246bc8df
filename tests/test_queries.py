"""Use cases (kernels over resident columns) against DuckDB SQL and Decimal references."""

from __future__ import annotations

import json

import pytest

from ledger import demo
from ledger.domain.errors import LedgerError
from ledger.domain.money import MINOR_EXPONENT
from ledger.ledger import Ledger
from ledger.read.dims import DIMENSIONS
from ledger.store.store import Store
from tests.conftest import GOLDEN_CSV, HEADER, RATES
from tests.reference import total_in

SQL_DIM = {
    "entity": "e.entity", "fiscal_year": "e.fiscal_year", "supplier": "e.supplier",
    "supplier_country": "s.hq_country", "chip_model": "e.chip_model", "vendor": "ch.vendor",
    "destination": "e.destination", "budget_code": "e.budget_code", "workload": "e.workload",
    "acquisition": "e.acquisition", "line_currency": "e.currency",
    "month": "strftime(e.order_date, '%Y-%m')",
}  # fmt: skip


def sql_totals(store: Store, by: list[str], currency: str) -> dict:
    """The same totals in plain DuckDB SQL: 128-bit integers, half-even, per line."""
    e_r = MINOR_EXPONENT[currency]
    dims = ", ".join(f"{SQL_DIM[d]} AS {d}" for d in by)
    rows = store.query(
        f"""
        SELECT {dims + "," if by else ""}
               sum(e.lines)::BIGINT AS lines, sum(e.quantity)::BIGINT AS quantity,
               sum(half_even_div(CAST(e.amount_minor AS HUGEINT) * rc.rate_e12 * {10**e_r},
                   rr.rate_e12 * CAST(pow(10, c.minor_exponent) AS HUGEINT)))::BIGINT AS amount
        FROM line_entries e JOIN currencies c USING (currency)
        JOIN suppliers s USING (supplier) JOIN chips ch USING (chip_model)
        ASOF JOIN fx_rates_e12 rc ON e.currency = rc.currency AND e.order_date >= rc.rate_date
        ASOF JOIN fx_rates_e12 rr ON rr.currency = '{currency}' AND e.order_date >= rr.rate_date
        {"GROUP BY ALL" if by else ""}
        """
    ).to_pylist()
    return {
        tuple(str(r[d]) for d in by): (r["lines"], r["quantity"], r["amount"])
        for r in rows
        if (r["lines"], r["quantity"], r["amount"]) != (0, 0, 0)
    }


def kernel_totals(q: Ledger, by: list[str], currency: str) -> dict:
    answer = q.totals(by, currency)
    return {
        tuple(str(r[d]) for d in by): (r["lines"], r["quantity"], r["amount_minor"])
        for r in answer["rows"]
    }


@pytest.fixture(scope="module")
def demo_queries(tmp_path_factory):
    path = tmp_path_factory.mktemp("q") / "demo.duckdb"
    ledger = Ledger.open(path)
    demo.build(ledger, 30_000, batch_lines=10_000)
    yield ledger
    ledger.close()


@pytest.mark.parametrize("currency", ["USD", "CNY", "EUR"])
def test_demo_totals_match_sql_for_every_dimension(demo_queries, currency):
    for dim in DIMENSIONS:
        assert kernel_totals(demo_queries, [dim], currency) == sql_totals(
            demo_queries.store, [dim], currency
        ), dim
    by = ["entity", "chip_model", "month"]
    assert kernel_totals(demo_queries, by, currency) == sql_totals(demo_queries.store, by, currency)


def test_grand_total_equals_orders_usd_and_groupings_sum_to_it(demo_queries):
    total = demo_queries.totals([], "USD")["total"]["amount_minor"]
    sql = demo_queries.store.query("SELECT sum(amount_usd_minor)::BIGINT AS s FROM orders_usd")
    assert total == sql["s"][0].as_py()
    for by in (["vendor"], ["destination", "workload"], ["month", "acquisition", "entity"]):
        rows = demo_queries.totals(by, "USD")["rows"]
        assert sum(r["amount_minor"] for r in rows) == total


def test_golden_feed_equals_decimal_reference(ledger):
    q = ledger
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    for currency in ("USD", "EUR", "JPY", "KWD"):
        got = q.totals([], currency)["total"]["amount_minor"]
        assert got == total_in(GOLDEN_CSV, currency, RATES), currency


def test_filters_and_fixed_date(ledger):
    q = ledger
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    only = q.totals(
        ["chip_model"], "USD", filters={"entity": ["ACME-SG"], "workload": ["training"]}
    )
    assert {r["chip_model"] for r in only["rows"]} == {"H100", "H200", "MI300X"}
    fixed = q.totals([], "USD", fx="2025-03-15")
    # at one chosen date every line converts at that date's rate (CNY 0.1375, not 0.125)
    import datetime as dt
    from decimal import Decimal

    from tests.reference import convert, feed_rows

    want = sum(
        convert(Decimal(r["quantity"]) * Decimal(r["unit_price"]), r["currency"], "USD",
                dt.date(2025, 3, 15), RATES)
        for r in feed_rows(GOLDEN_CSV)
    )  # fmt: skip
    assert fixed["total"]["amount_minor"] == want
    assert want != q.totals([], "USD")["total"]["amount_minor"]
    with pytest.raises(LedgerError) as e:
        q.totals(["colour"])
    assert e.value.status == 422
    for name, value in [("fiscal_year", "abc"), ("month", "2025-13"), ("destination", "ZZ")]:
        with pytest.raises(LedgerError) as e:
            q.totals([], "USD", filters={name: [value]})
        assert e.value.status == 422 and e.value.errors[0].field == name
    assert q.totals([], "USD", filters={"entity": ["NOBODY"]})["rows"] == []
    with pytest.raises(LedgerError) as e:
        q.totals([], "GBP")
    assert "GBP" in e.value.detail
    with pytest.raises(LedgerError):
        q.totals([], "USD", fx="2024-01-01")  # before any CNY rate


def test_feed_and_its_cancellation_sum_to_zero(ledger):
    q = ledger
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    lines = GOLDEN_CSV.strip().splitlines()[1:]
    cancel = (
        HEADER + "\n" + "\n".join(line.replace(",0,open,", ",1,cancelled,", 1) for line in lines)
    )
    ledger.ingest_bytes(cancel.encode(), "csv")
    total = q.totals(["entity"], "USD")
    assert total["rows"] == [] and total["total"]["amount_minor"] == 0
    assert total["total"]["lines"] == 0 and total["total"]["quantity"] == 0


def _budgets(ledger, action: str, amount: str) -> None:
    rows = [{"entity": "ACME-SG", "budget_code": "OVS-2025", "fiscal_year": 2026,
             "currency": "USD", "amount": amount, "action": action}]  # fmt: skip
    ledger.load_reference("budgets", json.dumps(rows).encode(), "json")


def test_budget_status_and_stop_precheck(ledger, store):
    _budgets(ledger, "stop", "200000.00")
    q = ledger
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    assert e.value.status == 409 and e.value.kind == "budget-exceeded"
    [over] = e.value.extra["budgets"]
    assert over["budget_code"] == "OVS-2025" and over["currency"] == "USD"
    assert store.count("line_entries") == 0
    # raise the budget: accepted, and the status is computed exactly
    _budgets(ledger, "stop", "500000.00")
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    [row] = q.budgets(fiscal_year=2026)["rows"]
    want = total_in(
        "\n".join([HEADER] + [x for x in GOLDEN_CSV.splitlines()[1:] if ",ACME-SG," in x]),
        "USD", RATES,
    )  # fmt: skip
    assert row["committed_minor"] == want
    assert row["state"] in ("ok", "warn") and row["remaining"] == f"{(50000000 - want) / 100:.2f}"


def test_budget_warn_is_accepted_with_a_warning(ledger):
    _budgets(ledger, "warn", "1000.00")
    result = ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    assert [w["kind"] for w in result.answer["warnings"]] == ["budget-exceeded"]


def test_sourcing_share_and_shortfall(ledger):
    policy = [{"policy": "cn30", "jurisdiction": "CN", "destinations": "CN", "metric": "spend",
               "min_share": "0.95", "currency": "USD"}]  # fmt: skip
    ledger.load_reference("sourcing-policies", json.dumps(policy).encode(), "json")
    q = ledger
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    [row] = q.sourcing()["rows"]
    cn_lines = [x for x in GOLDEN_CSV.splitlines()[1:] if ",CN,DOM-2025," in x]
    domestic = total_in(
        "\n".join([HEADER] + [x for x in cn_lines if "Huawei" in x or "Cambricon" in x]),
        "USD",
        RATES,
    )
    total = total_in("\n".join([HEADER] + cn_lines), "USD", RATES)
    assert (row["domestic"], row["total"]) == (f"{domestic / 100:.2f}", f"{total / 100:.2f}")
    assert row["status"] == "fail"
    # adding the shortfall as domestic spend reaches the minimum, one unit less does not
    # (issue 11: this figure was called headroom; headroom is now the non-domestic slack)
    from decimal import Decimal

    shortfall = int(Decimal(row["shortfall"]) * 100)
    assert Decimal(domestic + shortfall) >= Decimal("0.95") * (total + shortfall)
    assert Decimal(domestic + shortfall - 1) < Decimal("0.95") * (total + shortfall - 1)
    assert row["headroom"] == "0.00"  # failing: no non-domestic slack


def test_compliance_flags_the_right_lines(ledger):
    q = ledger
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    after = (
        f"{HEADER}\n"
        "PO-7,1,0,open,ACME-CN,2025-05-01,Nvidia,H20,1,100,USD,CN,DOM-2025,training,purchase,,,false,\n"
        "PO-7,2,0,open,ACME-CN,2025-05-01,Nvidia,H20,1,100,USD,CN,DOM-2025,training,purchase,,,false,LIC-9\n"
        "PO-7,3,0,open,ACME-CN,2025-05-01,Huawei,Ascend 910B,1,100,USD,CN,DOM-2025,inference,purchase,,,false,\n"
        "PO-7,4,0,open,ACME-SG,2025-06-01,Huawei,Ascend 910C,1,100,USD,SG,OVS-2025,inference,purchase,,,false,\n"
    )
    ledger.ingest_bytes(after.encode(), "csv")
    result = q.compliance(limit=100)
    # the export rules' flags; Huawei and Cambricon lines are also flagged restricted_party
    # (both on the Entity List excerpt of the shipped pack: tests/test_parties.py)
    parties = {
        (x["order_id"], x["line_no"]) for x in result["lines"] if x["kind"] == "restricted_party"
    }
    assert parties == {("PO-1", 1), ("PO-1", 4), ("PO-7", 3), ("PO-7", 4)}
    flagged = {(x["order_id"], x["line_no"], x["kind"]) for x in result["lines"]} - {
        (*p, "restricted_party") for p in parties
    }
    assert flagged == {
        ("PO-3", 2, "tpp_license"),  # H100 into CN, no licence
        ("PO-2", 3, "lease_identity"),  # leased MI300X, identity not reviewed
        ("PO-7", 1, "product_license"),  # H20 into CN after 2025-04-15, no licence
        ("PO-7", 2, "product_license"),  # ... naming LIC-9, which is not on file
        ("PO-7", 4, "product_caution"),  # Ascend 910C bought by a non-CN entity
    }
    assert result["total"] == 5 + len(parties)
    page = q.compliance(limit=2, offset=1)
    assert len(page["lines"]) == 2 and page["total"] == 5 + len(parties)
    # a cancelled line is no longer flagged
    ledger.ingest_bytes(
        (
            after.splitlines()[0]
            + "\n"
            + after.splitlines()[1].replace(",0,open,", ",1,cancelled,")
        ).encode(),
        "csv",
    )
    assert q.compliance()["total"] == 4 + len(parties)


def test_reopened_ledger_answers_the_same(ledger, db_path):
    q = ledger
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    before = q.totals(["entity"], "EUR")
    ledger.close()
    with Ledger.open(db_path, cache=False) as again:  # loaded from the file
        assert again.totals(["entity"], "EUR") == before


def _answers(q: Ledger) -> tuple:
    return (
        q.totals(["entity", "chip_model", "month"], "EUR"),
        q.budgets(),
        q.compliance(limit=50),
        q.cols.nbytes_per_entry(),
    )


def test_column_cache_plus_tail_equals_a_rebuild(ledger, db_path):
    from pathlib import Path

    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    ledger.totals([], "USD")  # resident columns loaded
    ledger.close()  # writes the cache beside the ledger
    assert Path(db_path + ".columns", "meta.json").exists()
    # appended by a ledger that keeps no cache: a revision (supersedes a cached entry), new lines
    amend = (
        f"{HEADER}\n"
        "PO-3,2,1,open,ACME-CN,2025-03-15,Nvidia,H100,5,30000.99,EUR,CN,DOM-2025,training,purchase,,,false,\n"
        "PO-8,1,0,open,ACME-SG,2025-07-01,Nvidia,H20,3,1000,USD,SG,OVS-2025,training,purchase,,,false,\n"
    )
    with Ledger.open(db_path, cache=False) as other:
        other.ingest_bytes(amend.encode(), "csv")
    with Ledger.open(db_path) as from_cache, Ledger.open(db_path, cache=False) as rebuilt:
        assert from_cache.cols.loaded_from == "cache+tail" and rebuilt.cols.loaded_from == "store"
        assert from_cache.cols.n == rebuilt.cols.n == rebuilt.store.count("line_entries")
        assert _answers(from_cache) == _answers(rebuilt)
        n = rebuilt.cols.n
        assert (from_cache.cols.flags[:n] == rebuilt.cols.flags[:n]).all()


def test_a_cache_from_another_ledger_is_not_trusted(tmp_path, ledger, db_path):
    import shutil

    from tests.conftest import load_reference

    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    ledger.totals([], "USD")
    ledger.save_cache()  # cache of this ledger
    with Ledger.open(tmp_path / "other.duckdb", cache=False) as other:
        load_reference(other)
        other.ingest_bytes(GOLDEN_CSV.replace("120000.50", "99.00").encode(), "csv")
    shutil.copytree(db_path + ".columns", str(tmp_path / "other.duckdb.columns"))
    with Ledger.open(tmp_path / "other.duckdb") as q:
        assert q.cols.loaded_from == "store"
        sql = q.store.query("SELECT sum(amount_usd_minor)::BIGINT AS s FROM orders_usd")
        assert q.totals([], "USD")["total"]["amount_minor"] == sql["s"][0].as_py()


def test_stop_budget_counts_every_feed_before_it(ledger, store, db_path):
    # the guard keeps committed totals in step with appends; a feed is judged
    # against all that came before it, not only against the ledger it was loaded with
    _budgets(ledger, "stop", "300000.00")
    q = ledger
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")  # ~258k USD of ACME-SG lines
    line = "PO-9,{n},0,open,ACME-SG,2025-07-01,Nvidia,H100,1,{price},USD,SG,OVS-2025,training,purchase,,,false,"
    small = f"{HEADER}\n{line.format(n=1, price='1000')}\n"
    ledger.ingest_bytes(small.encode(), "csv")
    [row] = q.budgets(fiscal_year=2026)["rows"]
    before = store.content_hash()
    big = f"{HEADER}\n{line.format(n=2, price='50000')}\n"
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(big.encode(), "csv")
    assert e.value.extra["budgets"][0]["committed_before"] == row["committed"]
    assert store.content_hash() == before
    # and a feed that fits is still accepted afterwards
    ledger.ingest_bytes(f"{HEADER}\n{line.format(n=3, price='10')}\n".encode(), "csv")
    ledger.close()
    with Ledger.open(db_path, cache=False) as again:
        [after] = again.budgets(fiscal_year=2026)["rows"]
    assert after["committed_minor"] == row["committed_minor"] + 1000


def test_identical_concurrent_reads_share_one_computation(ledger):
    """Eight identical totals requests in flight together run the kernel once; a read that
    arrives after a commit gets an answer that includes it."""
    import threading

    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    q = ledger
    runs = []
    arrived = threading.Barrier(8)

    def slow_observer(kernel: str, seconds: float) -> None:
        runs.append(kernel)
        if len(runs) == 1:
            threading.Event().wait(2.0)  # hold the first computation while the others arrive

    q.reads.observers.append(slow_observer)
    answers = [None] * 8

    def ask(k: int) -> None:
        arrived.wait()
        answers[k] = q.totals(["entity"], "USD")

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runs == ["rollup"]
    assert all(a == answers[0] for a in answers)
    assert answers[0]["total"]["amount_minor"] == total_in(GOLDEN_CSV, "USD", RATES)
    extra = f"{HEADER}\nPO-9,1,0,open,ACME-SG,2025-05-01,Nvidia,H100,1,1000,USD,SG,OVS-2025,training,purchase,,,false,\n"
    ledger.ingest_bytes(extra.encode(), "csv")
    after = q.totals(["entity"], "USD")
    assert len(runs) == 2
    assert after["total"]["amount_minor"] == answers[0]["total"]["amount_minor"] + 100_000


def test_new_rates_change_the_answer(ledger):
    """Totals keep their conversion cells between reads; new rates must replace them."""
    import json as _json

    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    q = ledger
    before = q.totals(["entity"], "USD")
    assert before["total"]["amount_minor"] == total_in(GOLDEN_CSV, "USD", RATES)
    assert q.totals(["entity"], "USD") == before  # the second read reuses the cells
    new_rates = [dict(r, usd_per_unit=str(float(r["usd_per_unit"]) * 2)) for r in RATES]
    ledger.load_reference("fx-rates", _json.dumps(new_rates).encode(), "json")
    after = q.totals(["entity"], "USD")
    assert after["total"]["amount_minor"] == total_in(GOLDEN_CSV, "USD", new_rates)
    assert after["total"]["amount_minor"] != before["total"]["amount_minor"]
