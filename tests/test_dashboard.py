"""The dashboard in a real headless browser (Debian's chromium, driven by playwright) against a
live server on a demo ledger: its figures equal the API's answers, and nothing leaves loopback."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.test_api_support import LiveServer

CHROMIUM = "/usr/bin/chromium"  # Debian's: the Makefile installs it; no browser download
if not Path(CHROMIUM).exists() and os.environ.get("CHIP_LEDGER_NO_BROWSER") == "1":
    pytest.skip("CHIP_LEDGER_NO_BROWSER=1 and no chromium", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"CHIP_LEDGER_DEMO": "1", "CHIP_LEDGER_DEMO_LINES": "6000"}
    srv = LiveServer(tmp_path_factory.mktemp("dash"), env, reference=False).wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


class Page:
    """A page on the dashboard that records console errors and every request's host."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1400})
        self.errors: list[str] = []
        self.hosts: set[str] = set()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.hosts.add(urlsplit(r.url).hostname or r.url))
        self.page.goto(url)
        self.ready = self.wait_ready(None)

    def wait_ready(self, previous: str | None) -> str:
        self.page.wait_for_function(
            "p => document.body.dataset.ready && document.body.dataset.ready !== p",
            arg=previous, timeout=120_000,
        )  # fmt: skip
        return self.page.evaluate("document.body.dataset.ready")

    def values(self, selector: str) -> dict[str, list[str]]:
        """Per row key: the data-value of each cell that has one."""
        return self.page.evaluate(
            """sel => Object.fromEntries([...document.querySelectorAll(sel + ' tbody tr')].map(
                tr => [tr.dataset.key, [...tr.querySelectorAll('[data-value]')].map(
                    td => td.dataset.value)]))""",
            selector,
        )

    def select(self, selector: str, value: str) -> None:
        previous = self.ready
        self.page.select_option(selector, value)
        self.ready = self.wait_ready(previous)


@pytest.fixture
def page(browser, server):
    p = Page(browser, server.url + "/")
    yield p
    p.page.close()


def test_loads_with_no_console_errors_and_no_request_off_loopback(page):
    assert page.errors == []
    assert page.hosts == {"127.0.0.1"}
    assert int(page.page.evaluate("document.querySelector('#budgets').dataset.rows")) > 0


def test_panels_equal_the_api(page, server):
    http = server.client
    budgets = {f"{b['entity']}/{b['budget_code']}/{b['fiscal_year']}": b
               for b in http.get("/v1/budgets").json()["rows"]}  # fmt: skip
    shown = page.values("#budgets")
    assert set(shown) == set(budgets)
    for key, cells in shown.items():
        b = budgets[key]
        assert cells == [b["committed"], b["amount"], b["remaining"], b["utilization"], b["state"]]
    sourcing = {f"{s['policy']}/{s['entity']}/{s['fiscal_year']}": s
                for s in http.get("/v1/sourcing").json()["rows"]}  # fmt: skip
    assert {k: v[0] for k, v in page.values("#sourcing").items()} == {
        k: s["share"] for k, s in sourcing.items()
    }
    totals = http.get("/v1/totals", params={"by": "supplier", "currency": "USD"}).json()
    top = sorted(totals["rows"], key=lambda r: -r["amount_minor"])[:10]
    assert page.values("#suppliers") == {
        r["supplier"]: [str(r["lines"]), str(r["quantity"]), r["amount"]] for r in top
    }
    spend = http.get("/v1/totals", params={"by": "month,vendor", "currency": "USD"}).json()
    assert page.page.get_attribute("#spend-chart", "data-total") == spend["total"]["amount"]
    compliance = http.get("/v1/compliance", params={"limit": 20}).json()
    counts = page.page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#rule-counts li')].map("
        "li => [li.dataset.rule, Number(li.dataset.value)]))"
    )
    assert counts == {c["rule_id"]: c["lines"] for c in compliance["counts"]}
    assert list(page.values("#screening")) == [
        f"{x['order_id']}/{x['line_no']}/{x['rule_id']}" for x in compliance["lines"]
    ]


def test_fiscal_year_and_currency_change_the_figures(page, server):
    before = page.values("#budgets")
    page.select("#fiscal-year", "2024")
    after = page.values("#budgets")
    assert after != before and all(key.endswith("/2024") for key in after)
    want = server.client.get("/v1/budgets", params={"fiscal_year": 2024}).json()["rows"]
    assert sorted(after) == sorted(f"{b['entity']}/{b['budget_code']}/2024" for b in want)
    usd = page.values("#suppliers")
    page.select("#currency", "CNY")
    cny = page.values("#suppliers")
    api = server.client.get(
        "/v1/totals", params={"by": "supplier", "currency": "CNY", "fiscal_year": 2024}
    ).json()
    assert cny != usd
    assert {k: v[2] for k, v in cny.items()} == {
        r["supplier"]: r["amount"] for r in api["rows"] if r["supplier"] in cny
    }


def test_the_flagged_lines_table_pages(page, server):
    first = list(page.values("#screening"))
    page.page.click("#next")
    page.page.wait_for_function(
        "first => document.querySelector('#flagged tbody tr').dataset.key !== first",
        arg=first[0],
    )
    second = list(page.values("#screening"))
    api = server.client.get("/v1/compliance", params={"limit": 20, "offset": 20}).json()
    assert second == [f"{x['order_id']}/{x['line_no']}/{x['rule_id']}" for x in api["lines"]]
    assert second != first


def test_docs_render_their_operations_offline(browser, server):
    page = browser.new_page()
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(urlsplit(r.url).hostname or r.url))
    page.goto(server.url + "/docs")
    page.wait_for_selector(".opblock", timeout=60_000)
    # an operation with two tags is shown under each: compare the set of operations
    shown = set(page.eval_on_selector_all(
        ".opblock",
        "els => els.map(e => e.querySelector('.opblock-summary-method').textContent.trim()"
        " + ' ' + e.querySelector('.opblock-summary-path').getAttribute('data-path'))",
    ))  # fmt: skip
    spec = server.client.get("/openapi.json").json()
    methods = {"get", "put", "post", "delete", "patch"}
    assert shown == {f"{m.upper()} {path}" for path, item in spec["paths"].items()
                     for m in item if m in methods}  # fmt: skip
    assert hosts == {"127.0.0.1"}
    page.close()
