"""The demo ledger over HTTP: /v1/totals equals ad-hoc SQL over the `orders_usd` view."""

from __future__ import annotations

import pytest

from tests.test_api_support import LiveServer, needs_queries

pytestmark = needs_queries

DEMO_LINES = 3000


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    srv = LiveServer(
        folder,
        {"CHIP_LEDGER_DEMO": "true", "CHIP_LEDGER_DEMO_LINES": str(DEMO_LINES)},
        reference=False,
    )
    srv.wait_ready()
    yield srv
    srv.stop()


SQL_DIMS = {
    "entity": "o.entity",
    "fiscal_year": "o.fiscal_year",
    "line_currency": "o.currency",
    "destination": "o.destination",
    "workload": "o.workload",
    "supplier": "o.supplier",
    "supplier_country": "s.hq_country",
    "chip_model": "o.chip_model",
    "vendor": "c.vendor",
    "budget_code": "o.budget_code",
    "acquisition": "o.acquisition",
}


def sql_totals(server: LiveServer, by: list[str], where: str = "true") -> list[list]:
    cols = ", ".join(SQL_DIMS[d] for d in by)
    return server.rows(
        f"SELECT {cols}, CAST(count(*) AS BIGINT), CAST(sum(o.quantity) AS BIGINT), "
        "CAST(sum(o.amount_usd_minor) AS BIGINT) FROM orders_usd o "
        "JOIN suppliers s USING (supplier) JOIN chips c USING (chip_model) "
        f"WHERE o.status = 'open' AND {where} GROUP BY ALL ORDER BY ALL"
    )


def api_totals(server: LiveServer, by: list[str], **filters) -> list[list]:
    r = server.client.get("/v1/totals", params={"by": ",".join(by), **filters})
    assert r.status_code == 200, r.text
    rows = [
        [*(row[d] for d in by), row["lines"], row["quantity"], int(row["amount_minor"])]
        for row in r.json()["rows"]
    ]
    return sorted(rows)


@pytest.mark.parametrize(
    "by",
    [
        ["entity", "fiscal_year"],
        ["entity", "fiscal_year", "line_currency", "destination", "workload"],
        ["supplier_country", "vendor", "acquisition", "budget_code"],
        ["supplier", "chip_model"],
    ],
)
def test_totals_equal_sql_over_orders_usd(demo, by):
    expected = [
        [*row[:-3], int(row[-3]), int(row[-2]), int(row[-1])] for row in sql_totals(demo, by)
    ]
    assert len(expected) > 1
    assert api_totals(demo, by) == sorted(expected)


def test_filtered_totals_equal_sql(demo):
    expected = sql_totals(demo, ["vendor"], "o.entity = 'Group-CN'")
    got = api_totals(demo, ["vendor"], entity="Group-CN")
    assert got == sorted([[v, int(n), int(q), int(a)] for v, n, q, a in expected])


def test_demo_reads_answer(demo):
    for path in ("/v1/budgets", "/v1/sourcing", "/v1/compliance"):
        r = demo.client.get(path)
        assert r.status_code == 200, (path, r.text)
    assert demo.client.get("/v1/compliance").json()["total"] > 0
    assert len(demo.client.get("/v1/budgets").json()["rows"]) > 0
    assert (demo.folder / "demo-feeds").is_dir()  # sample feeds beside the ledger file
