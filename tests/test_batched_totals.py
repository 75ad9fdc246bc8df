"""Totals requests waiting on the lock together share one kernel pass (ledger.read.batching):
every answer equals the one the request gets alone, errors included."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.errors import LedgerError
from ledger.read.dims import DIMENSIONS
from tests.conftest import GOLDEN_CSV, HEADER

CHIPS = ["H100", "H200", "H20", "Ascend 910B", "MI300X"]
CURRENCIES = ["USD", "CNY", "JPY", "EUR", "KWD"]


def _price(k: int, currency: str) -> str:
    places = {"JPY": 0, "KWD": 3}.get(currency, 2)
    whole = (k * 7919) % 100000
    return f"{whole}.{k % 10**places:0{places}d}" if places else str(whole)


def _lines(n: int) -> bytes:
    rows = [
        f"PO-B{k // 7},{k % 7 + 1},0,open,{'ACME-CN' if k % 3 else 'ACME-SG'},"
        f"2025-{k % 9 + 2:02d}-{k % 27 + 1:02d},Nvidia,{CHIPS[k % 5]},{k % 11 + 1},"
        f"{_price(k, CURRENCIES[k % 4 + (k % 13 == 0)])},{CURRENCIES[k % 4 + (k % 13 == 0)]},"
        f"{['SG', 'CN', 'MY'][k % 3]},{'DOM-2025' if k % 2 else 'OVS-2025'},training,"
        f"{'lease' if k % 5 == 0 else 'purchase'},{'Equinix,Equinix,true' if k % 5 == 0 else ',,false'},"
        for k in range(n)
    ]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    from ledger.ledger import Ledger
    from tests.conftest import load_reference

    led = Ledger.open(tmp_path_factory.mktemp("batched") / "l.duckdb")
    load_reference(led)
    led.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    led.ingest_bytes(_lines(3000), "csv")
    yield led
    led.close()


def _alone(led, by, currency, filters):
    try:
        return led.totals(by, currency, filters=filters)
    except LedgerError as e:
        return ("error", e.kind, e.status, e.detail)


def _together(led, requests):
    """The requests sent at once while the lock is held: all wait, one holder answers all."""
    q = led.reads
    passes, answers = [], [None] * len(requests)
    q.observers.append(lambda kernel, _s: passes.append(kernel))
    try:
        with q.cols.lock:
            threads = [
                threading.Thread(target=lambda k=k, r=r: answers.__setitem__(k, _alone(led, *r)))
                for k, r in enumerate(requests)
            ]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            # each request either waits for the lock or has already failed before it
            while sum(map(len, q._batch_waiting.values())) + sum(
                not t.is_alive() for t in threads
            ) < len(requests):
                assert time.monotonic() < deadline, "requests never reached the lock"
                time.sleep(0.005)
        for t in threads:
            t.join()
    finally:
        q.observers.pop()
    return answers, passes


VALUES = {"entity": ["ACME-CN", "ACME-SG", "NOPE"], "chip_model": [*CHIPS, "B200"],
          "acquisition": ["purchase", "lease"], "line_currency": CURRENCIES,
          "destination": ["SG", "CN"], "month": ["2025-03", "2025-05", "2031-01"],
          "fiscal_year": ["2025", "2026"], "supplier": ["Nvidia", "Huawei", "AMD"],
          "supplier_country": ["US", "CN"], "vendor": ["Nvidia", "Huawei", "AMD"],
          "budget_code": ["DOM-2025", "OVS-2025"], "workload": ["training", "inference"]}  # fmt: skip
requests = st.tuples(
    st.lists(st.sampled_from(DIMENSIONS), max_size=3, unique=True),
    st.sampled_from(["USD", "EUR"]),
    st.dictionaries(st.sampled_from(sorted(VALUES)), st.just(None), max_size=2),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(requests, min_size=2, max_size=6), st.data())
def test_answers_together_equal_answers_alone(filled, batch, data):
    concrete = []
    for by, currency, filters in batch:
        chosen = {k: data.draw(st.lists(st.sampled_from(VALUES[k]), min_size=1, max_size=3))
                  for k in filters}  # fmt: skip
        if (by, currency, chosen) not in concrete:  # identical ones share one answer anyway
            concrete.append((by, currency, chosen))
    want = [_alone(filled, *r) for r in concrete]
    got, passes = _together(filled, concrete)
    assert got == want
    union = {d for by, _, filters in concrete for d in [*by, *filters]}
    if len({c for _, c, _ in concrete}) == 1 and len(union) <= 4 and len(concrete) > 1:
        assert passes == ["rollup"]  # one pass answered them all (no request failed alone)


def test_eight_different_requests_take_one_kernel_pass(filled):
    by = ["entity", "chip_model", "month"]
    batch = [(list(p), "USD", {}) for p in ([by[i], by[j], by[k]] for i, j, k in
             [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)])]  # fmt: skip
    batch += [(by, "USD", {"acquisition": ["purchase", "lease"]}), (["entity"], "USD", {})]
    want = [_alone(filled, *r) for r in batch]
    got, passes = _together(filled, batch)
    assert got == want and passes == ["rollup"]


def test_a_line_without_a_rate_fails_only_the_requests_that_keep_it(tmp_path):
    """GBP rates start on 2025-06-01: in GBP, the earlier lines have no rate. The cube pass
    fails, so each request is answered alone: the one that keeps only June gets its rows,
    the one that keeps every line gets its own 422."""
    import json

    from ledger.ledger import Ledger
    from tests.conftest import RATES, load_reference

    with Ledger.open(tmp_path / "l.duckdb") as led:
        load_reference(led)
        gbp = {"rate_date": "2025-06-01", "currency": "GBP", "usd_per_unit": "1.25"}
        led.load_reference("fx_rates", json.dumps([*RATES, gbp]).encode(), "json")
        led.ingest_bytes(GOLDEN_CSV.encode(), "csv")
        batch = [(["entity"], "GBP", {"month": ["2025-06"]}), (["chip_model"], "GBP", {})]
        got, passes = _together(led, batch)
        assert got == [_alone(led, *r) for r in batch]
        assert got[0]["rows"] and got[1][:3] == ("error", "no-rate", 422)
        assert passes == ["rollup", "rollup", "rollup"]  # the cube, then each alone


@pytest.mark.parametrize("fx", ["bogus", "2025-13-01"])
def test_a_bad_rate_basis_fails_each_request_as_it_would_alone(filled, fx):
    batch = [(["entity"], "USD", {}), (["chip_model"], "USD", {}), (["month"], "USD", {})]
    want = []
    for by, currency, filters in batch:
        try:
            filled.totals(by, currency, fx=fx, filters=filters)
        except LedgerError as e:
            want.append((e.kind, e.status))
    q, errors = filled.reads, []

    def ask(by):
        try:
            filled.totals(by, "USD", fx=fx)
        except LedgerError as e:
            errors.append((e.kind, e.status))

    with q.cols.lock:
        threads = [threading.Thread(target=ask, args=(by,)) for by, _, _ in batch]
        for t in threads:
            t.start()
        while sum(map(len, q._batch_waiting.values())) < len(batch):
            time.sleep(0.005)
    for t in threads:
        t.join()
    assert errors == want == [("invalid-parameter", 422)] * 3


@pytest.mark.parametrize("fx", ["20250630", "2025-W26-1", "9999-12-31", "1999-12-31", "2025-6-30"])
def test_fx_is_a_date_in_the_contract_form_and_range(filled, fx):
    """YYYY-MM-DD within the ledger's dates (2000-2099): Python's fromisoformat took
    20250630 and week dates, and 9999-12-31 answered 200."""
    with pytest.raises(LedgerError) as refused:
        filled.totals(["entity"], "USD", fx=fx)
    assert refused.value.status == 422 and refused.value.kind == "invalid-parameter"
    assert filled.totals(["entity"], "USD", fx="2025-06-30")["rows"]
