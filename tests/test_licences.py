"""The licence register: depletion, conversion, give-back, overrun, expiry, scope and the four
reasons, against the plain-Python reference (tests/reference.py), on cpu and on cuda
(simulated); and the same answers through the API and the CLI."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from kernels import dispatch
from kernels import layout as L
from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger
from tests import reference
from tests.conftest import HEADER, RATES, load_reference

BACKENDS = ["cpu", "cuda"]
H20_RULE = "US-H20-MI308-2025"  # product licence: H20 into CN from 2025-04-15


def _line(order: str, no: int, date: str, qty: int, price: str, cur: str = "USD",
          ref: str = "LIC-CN", chip: str = "H20", dest: str = "CN", entity: str = "ACME-CN",
          rev: int = 0, status: str = "open") -> str:  # fmt: skip
    return (
        f"{order},{no},{rev},{status},{entity},{date},Nvidia,{chip},{qty},{price},{cur},{dest},"
        f"DOM-2025,training,purchase,,,false,{ref}"
    )


def _feed(*lines: str) -> bytes:
    return (HEADER + "\n" + "\n".join(lines) + "\n").encode()


def _licence(**kw) -> dict:
    row = {
        "licence_id": "LIC-CN", "authority": "US BIS", "kind": "licence", "holder": "ACME-CN",
        "chips": ["H20"], "destinations": ["CN"], "valid_from": "2025-04-15",
        "source": "test licence",
    }  # fmt: skip
    row.update(kw)
    return {k: v for k, v in row.items() if v is not None}


def _load(ledger: Ledger, *rows: dict) -> None:
    ledger.load_reference("licences", json.dumps(list(rows)).encode(), "json")


@pytest.fixture(params=BACKENDS)
def backend_ledger(request, db_path):
    opened = Ledger.open(db_path, backend=request.param)
    load_reference(opened)
    yield opened
    opened.close()


def _verdicts(ledger: Ledger) -> dict:
    """{(order_id, line_no): licence reason or None} for every H20 rule flag / line."""
    lines = ledger.compliance(rule=H20_RULE, limit=10_000)["lines"]
    return {(x["order_id"], x["line_no"]): x["evidence"] for x in lines}


def _check_against_reference(ledger: Ledger, feeds: list[bytes], licences: list[dict]) -> None:
    want = reference.licence_check(
        reference.current_lines([f.decode() for f in feeds]), licences, RATES
    )
    flagged = _verdicts(ledger)
    for key, (reason, _used_q, _used_v) in want["lines"].items():
        got = flagged.get(key)
        assert (got or {}).get("reason") == reason, (key, got, reason)
    answer = {r["licence_id"]: r for r in ledger.licences(lines=1000)["rows"]}
    for lic in licences:
        row = answer[lic["licence_id"]]
        assert (row["used_quantity"], row["used_value_minor"]) == want["used"][lic["licence_id"]]
        lines = {(x["order_id"], x["line_no"]): x for x in row["lines"]}
        for key, (reason, used_q, _used_v) in want["lines"].items():
            if used_q is not None and key in lines:
                assert lines[key]["used_quantity_through"] == used_q
                assert lines[key]["reason"] == reason


def test_depletion_in_order_date_then_feed_order(backend_ledger):
    ledger = backend_ledger
    _load(ledger, _licence(max_quantity=10))
    feed = _feed(
        _line("PO-A", 1, "2025-05-03", 4, "100"),
        _line("PO-A", 2, "2025-05-01", 4, "100"),
        _line("PO-A", 3, "2025-05-02", 2, "100"),
        _line("PO-A", 4, "2025-05-02", 1, "100"),  # same day as line 3: after it (feed order)
    )
    ledger.ingest_bytes(feed, "csv")
    ev = _verdicts(ledger)
    # by date: A2 (4), A3 (6), A4 (7), A1 (11 > 10): only the last in order is exhausted
    assert set(ev) == {("PO-A", 1)}
    assert ev[("PO-A", 1)]["reason"] == "licence_exhausted"
    assert ev[("PO-A", 1)]["licence_id"] == "LIC-CN"
    assert ev[("PO-A", 1)]["remaining_quantity"] == -1
    row = ledger.licences(as_of=dt.date(2025, 6, 1))["rows"][0]
    assert [(x["line_no"], x["used_quantity_through"]) for x in row["lines"]] == [
        (2, 4), (3, 6), (4, 7), (1, 11),
    ]  # fmt: skip
    assert (row["used_quantity"], row["remaining_quantity"], row["state"]) == (11, -1, "exhausted")
    assert row["lines_exhausted"] == 1
    _check_against_reference(ledger, [feed], [_licence(max_quantity=10)])


def test_value_converts_into_the_licence_currency_half_even(backend_ledger):
    ledger = backend_ledger
    # EUR cap; lines in CNY (two rates in force), JPY (half-way cents) and KWD
    lic = _licence(max_value="2000.00", currency="EUR")
    _load(ledger, lic)
    feed = _feed(
        _line("PO-V", 1, "2025-05-01", 3, "1000.01", "CNY"),
        _line("PO-V", 2, "2025-05-02", 1, "1", "JPY"),
        _line("PO-V", 3, "2025-05-03", 5, "3", "JPY"),
        _line("PO-V", 4, "2025-05-04", 1, "100.123", "KWD"),
        _line("PO-V", 5, "2025-05-05", 3, "700", "USD"),
    )
    ledger.ingest_bytes(feed, "csv")
    want = reference.licence_check(reference.current_lines([feed.decode()]), [lic], RATES)
    row = ledger.licences()["rows"][0]
    assert row["used_value_minor"] == want["used"]["LIC-CN"][1]
    by_line = {x["line_no"]: x for x in row["lines"]}
    for (_order, no), (_reason, _q, used_v) in want["lines"].items():
        assert by_line[no]["used_value_through"] == f"{used_v // 100}.{used_v % 100:02d}"
    _check_against_reference(ledger, [feed], [lic])
    assert _verdicts(ledger)[("PO-V", 5)]["reason"] == "licence_exhausted"


def test_cancellation_and_revision_give_back(backend_ledger):
    ledger = backend_ledger
    lic = _licence(max_quantity=10)
    _load(ledger, lic)
    first = _feed(
        _line("PO-C", 1, "2025-05-01", 6, "10"),
        _line("PO-C", 2, "2025-05-02", 6, "10"),
        _line("PO-C", 3, "2025-05-03", 3, "10"),
    )
    ledger.ingest_bytes(first, "csv")
    assert {k for k, v in _verdicts(ledger).items()} == {("PO-C", 2), ("PO-C", 3)}
    second = _feed(_line("PO-C", 1, "2025-05-01", 6, "10", rev=1, status="cancelled"))
    ledger.ingest_bytes(second, "csv")
    assert _verdicts(ledger) == {}  # 6 + 3 = 9: both fit once line 1 gives its share back
    assert ledger.licences()["rows"][0]["used_quantity"] == 9
    third = _feed(_line("PO-C", 3, "2025-05-03", 5, "10", rev=1))  # 6 + 5 = 11 > 10
    ledger.ingest_bytes(third, "csv")
    assert set(_verdicts(ledger)) == {("PO-C", 3)}
    assert ledger.licences()["rows"][0]["used_quantity"] == 11
    _check_against_reference(ledger, [first, second, third], [lic])


@pytest.mark.parametrize(("pct", "covered_up_to"), [("0", 10), ("10", 11), ("15.5", 11),
                                                   ("20", 12)])  # fmt: skip
def test_overrun_pct_widens_the_caps_exactly(ledger, pct, covered_up_to):
    lic = _licence(max_quantity=10, overrun_pct=pct)
    _load(ledger, lic)
    feed = _feed(*[_line("PO-O", k, f"2025-05-{k:02d}", 1, "1") for k in range(1, 14)])
    ledger.ingest_bytes(feed, "csv")
    flagged = sorted(no for (_o, no) in _verdicts(ledger))
    assert flagged == list(range(covered_up_to + 1, 14))
    _check_against_reference(ledger, [feed], [lic])


def test_expiry_and_validity(ledger):
    lic = _licence(valid_from="2025-05-10", valid_to="2025-05-20", max_quantity=100)
    _load(ledger, lic)
    feed = _feed(
        _line("PO-E", 1, "2025-05-09", 1, "1"),
        _line("PO-E", 2, "2025-05-10", 1, "1"),
        _line("PO-E", 3, "2025-05-20", 1, "1"),
        _line("PO-E", 4, "2025-05-21", 1, "1"),
    )
    ledger.ingest_bytes(feed, "csv")
    ev = _verdicts(ledger)
    assert {k: v["reason"] for k, v in ev.items()} == {
        ("PO-E", 1): "licence_expired", ("PO-E", 4): "licence_expired",
    }  # fmt: skip
    row = ledger.licences(as_of=dt.date(2025, 5, 15))["rows"][0]
    assert (row["used_quantity"], row["state"]) == (2, "ok")  # expired lines consume nothing
    assert row["lines_refused"] == {"licence_expired": 2}
    assert ev[("PO-E", 4)]["remaining_quantity"] == 98
    assert ledger.licences(as_of=dt.date(2025, 5, 21))["rows"][0]["state"] == "expired"
    assert ledger.licences(state="expired", as_of=dt.date(2025, 5, 15))["rows"] == []
    _check_against_reference(ledger, [feed], [lic])


def test_scope_chip_destination_and_holder(backend_ledger):
    ledger = backend_ledger
    ledger.load_reference("entities", b"entity,hq_country,fy_start_month\nACME-CN2,CN,1\n", "csv")
    lic = _licence(chips=["H20"], destinations=["CN", "HK"], max_quantity=100)
    _load(ledger, lic)
    feed = _feed(
        _line("PO-S", 1, "2025-05-01", 1, "1"),  # in scope
        _line("PO-S", 2, "2025-05-01", 1, "1", dest="HK"),  # in scope (a listed destination)
        _line("PO-S", 3, "2025-05-01", 1, "1", dest="MO"),  # destination not covered
        _line("PO-S", 4, "2025-05-01", 1, "1", entity="ACME-CN2"),  # another holder
        _line("PO-S", 5, "2025-05-01", 1, "1", chip="MI308"),  # chip not covered
    )
    ledger.ingest_bytes(feed, "csv")
    ev = {k: v["reason"] for k, v in _verdicts(ledger).items()}
    assert ev == {("PO-S", k): "licence_out_of_scope" for k in (3, 4, 5)}
    row = ledger.licences()["rows"][0]
    assert row["used_quantity"] == 2 and row["lines_refused"] == {"licence_out_of_scope": 3}
    _check_against_reference(ledger, [feed], [lic])


def test_the_four_reasons_and_a_line_without_reference(ledger):
    _load(ledger, _licence(max_quantity=1), _licence(licence_id="LIC-OLD", valid_to="2025-04-30"))
    ledger.ingest_bytes(
        _feed(
            _line("PO-R", 1, "2025-05-01", 1, "1"),  # covered
            _line("PO-R", 2, "2025-05-02", 1, "1"),  # exhausted
            _line("PO-R", 3, "2025-05-01", 1, "1", ref="LIC-9"),  # not on file
            _line("PO-R", 4, "2025-05-01", 1, "1", ref="LIC-OLD"),  # expired
            _line("PO-R", 5, "2025-05-01", 1, "1", dest="MO"),  # out of scope
            _line("PO-R", 6, "2025-05-01", 1, "1", ref=""),  # names none
        ),
        "csv",
    )
    ev = _verdicts(ledger)
    assert {k[1]: (v["reason"], v["licence_id"]) for k, v in ev.items()} == {
        2: ("licence_exhausted", "LIC-CN"), 3: ("licence_not_on_file", "LIC-9"),
        4: ("licence_expired", "LIC-OLD"), 5: ("licence_out_of_scope", "LIC-CN"),
        6: ("licence_not_on_file", None),
    }  # fmt: skip
    assert ev[("PO-R", 2)]["remaining_quantity"] == -1  # through this line
    assert ev[("PO-R", 5)]["remaining_quantity"] == -1  # the licence now
    assert "remaining_quantity" not in ev[("PO-R", 3)]


def test_a_notification_satisfies_notification_rules_only(ledger):
    # an H100 into CN is flagged by the 3A090.a licence rule (and the 2026 product rule)
    _load(ledger, _licence(kind="notification", chips="all", destinations="all"))
    ledger.ingest_bytes(_feed(_line("PO-N", 1, "2025-05-01", 1, "1", chip="H100")), "csv")
    lines = ledger.compliance(limit=100)["lines"]
    tpp = [x for x in lines if x["rule_id"] == "US-3A090a-TPP"]
    assert tpp and tpp[0]["evidence"]["reason"] == "licence_out_of_scope"
    _load(ledger, _licence(kind="exception", chips="all", destinations="all"))
    assert not [x for x in ledger.compliance(limit=100)["lines"] if x["order_id"] == "PO-N"]


def test_licence_rows_are_checked(ledger):
    bad = [
        _licence(holder="NOBODY"), _licence(chips=["H2O"]),
        _licence(valid_from="2025-05-01", valid_to="2025-04-01"),
        _licence(max_value="1.001", currency="USD"), _licence(kind="permit"),
        _licence(overrun_pct="101"), _licence(destinations=["XX"]),
    ]  # fmt: skip
    for row in bad:
        with pytest.raises(LedgerError) as e:
            _load(ledger, row)
        assert e.value.status == 422, row
    assert ledger.reference_rows("licences") == []
    _load(ledger, _licence(max_value="1000000.50", currency="CNY", chips="all"))
    row = ledger.reference_rows("licences")[0]
    assert (row["max_value"], row["chips"], row["currency"]) == ("1000000.50", "*", "CNY")


def test_states_ok_warn_exhausted(ledger):
    _load(ledger, _licence(licence_id="A", max_quantity=10), _licence(licence_id="B",
          max_quantity=10, warn_share="0.5"), _licence(licence_id="C", max_quantity=2))  # fmt: skip
    ledger.ingest_bytes(
        _feed(*[_line("PO-W", k, "2025-05-01", q, "1", ref=r)
                for k, (q, r) in enumerate([(6, "A"), (6, "B"), (2, "C")], 1)]),
        "csv",
    )  # fmt: skip
    states = {r["licence_id"]: r["state"] for r in ledger.licences()["rows"]}
    assert states == {"A": "ok", "B": "warn", "C": "exhausted"}
    assert [r["licence_id"] for r in ledger.licences(state="warn")["rows"]] == ["B"]
    with pytest.raises(LedgerError):
        ledger.licences(state="bad")


def test_many_lines_against_the_reference(backend_ledger):
    ledger = backend_ledger
    rng = np.random.default_rng(5)
    refs = ["L1", "L2", "L3", "LX", ""]
    licences = [
        _licence(licence_id="L1", max_quantity=40, overrun_pct="5"),
        _licence(licence_id="L2", max_value="9000", currency="EUR", valid_to="2025-06-15"),
        _licence(
            licence_id="L3",
            max_quantity=25,
            max_value="80000",
            currency="CNY",
            destinations=["CN", "HK"],
        ),  # fmt: skip
    ]
    _load(ledger, *licences)
    lines = [
        _line("PO-M", k, f"2025-{rng.integers(5, 8):02d}-{rng.integers(1, 29):02d}",
              int(rng.integers(1, 6)), f"{rng.integers(1, 999)}.{rng.integers(0, 99):02d}",
              str(rng.choice(["USD", "CNY", "EUR"])), ref=str(rng.choice(refs)),
              dest=str(rng.choice(["CN", "CN", "HK", "MO"])))
        for k in range(1, 61)
    ]  # fmt: skip
    first = _feed(*lines)
    ledger.ingest_bytes(first, "csv")
    cancel = _feed(*[ln.replace(",0,open,", ",1,cancelled,") for ln in lines[::7]])
    ledger.ingest_bytes(cancel, "csv")
    _check_against_reference(ledger, [first, cancel], licences)


# -- the kernel twins on their own arrays ---------------------------------


def _random_kernel_inputs(rng, n: int = 300) -> dict:
    n_codes, n_slots, n_t, n_cur, n_days = 7, 5, 2, 3, 30
    num = rng.integers(10**11, 10**13, (n_t, n_cur, n_days)).astype(np.int64)
    num[:, :, :3] = 0  # no rate yet
    den = rng.integers(10**11, 10**13, (n_t, n_cur, n_days)).astype(np.int64)
    ratio = num / den
    x_limit = np.minimum(2.0**61, (2.0**61 / den - 2.0) * 2.0**52)
    a_limit = np.where(ratio > 0, x_limit / np.maximum(ratio, 1e-6), 0.0)
    fast = np.floor(np.clip(np.minimum(a_limit, 2.0**53) * 0.5, 0, 2.0**53)).astype(np.int64)
    items_c = rng.integers(0, 4, 8).astype(np.int32)
    items_d = rng.integers(0, 4, 8).astype(np.int32)
    lo = np.array([L.SCOPE_ALL, 0, 2, 4, 6], np.int64)
    hi = np.array([L.SCOPE_ALL, 2, 4, 6, 8], np.int64)
    return {
        "licence": rng.integers(0, n_codes, n).astype(np.uint16),
        "flags": (rng.integers(0, 8, n) | np.where(rng.random(n) < 0.9, L.ACTIVE, 0)).astype(
            np.uint8),
        "day": rng.integers(0, n_days, n).astype(np.uint16),
        "chip": rng.integers(0, 4, n).astype(np.uint16),
        "destination": rng.integers(0, 4, n).astype(np.uint16),
        "entity": rng.integers(0, 2, n).astype(np.uint16),
        "currency": rng.integers(0, n_cur, n).astype(np.uint16),
        "amount": rng.integers(0, 10**12, n).astype(np.int64),
        "quantity": rng.integers(1, 50, n).astype(np.int32),
        "lic_slot": np.array([-1, 0, 1, 2, 3, 4, -1], np.int32),
        "lic_kind": rng.integers(0, 3, n_slots).astype(np.int64),
        "lic_from": rng.integers(0, 10, n_slots).astype(np.int64),
        "lic_to": np.array([-1, 25, 29, 20, -1], np.int64),
        "lic_holder": rng.integers(0, 2, n_slots).astype(np.int64),
        "lic_chip_lo": lo, "lic_chip_hi": hi, "lic_chip_items": items_c,
        "lic_dest_lo": lo[::-1].copy(), "lic_dest_hi": hi[::-1].copy(), "lic_dest_items": items_d,
        "lic_target": rng.integers(0, n_t, n_slots).astype(np.int64),
        "qty_limit": np.array([L.NO_CAP, 200, 300, 100, 50], np.int64),
        "val_limit": np.array([10**13, L.NO_CAP, 3 * 10**13, L.NO_CAP, 10**14], np.int64),
        "num": num, "den": den, "ratio": ratio, "fast_max": fast, "day0": np.int64(0),
    }  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kernel_matches_the_reference(backend, seed):
    a = _random_kernel_inputs(np.random.default_rng(seed))
    out = np.zeros(len(a["licence"]), np.uint8)
    result = dispatch.licences(out=out, which=backend, **a)
    want_out, want = reference.licence_kernel(a)
    assert [int(x) for x in out] == want_out
    got = {
        int(i): (None if v == np.iinfo(np.int64).min else int(v), int(q), int(c))
        for i, v, q, c in zip(result["order"], result["value"], result["cum_q"],
                              result["cum_v"], strict=True)
    }  # fmt: skip
    assert got == want
    verdicts = {int(x) >> L.LIC_SHIFT for x in out}
    assert {L.LIC_COVERED, L.LIC_EXHAUSTED, L.LIC_NOT_ON_FILE, L.LIC_OUT_OF_SCOPE} <= verdicts


def test_the_bench_sql_twin_agrees_with_the_kernel(ledger):
    """bench/usecases.py screens in DuckDB SQL for comparison: with licences it must still
    give the kernel's counts (the bench refuses to time answers that differ)."""
    from bench import rollup, usecases

    _load(ledger, _licence(max_quantity=6, overrun_pct="10"), _licence(
        licence_id="LIC-N", kind="notification", chips="all", destinations="all",
        max_value="5000", currency="CNY"))  # fmt: skip
    lines = [
        _line("PO-B", k, f"2025-05-{k:02d}", 1 + k % 3, "250", cur, ref=ref, chip=chip)
        for k, (cur, ref, chip) in enumerate(
            [
                ("USD", "LIC-CN", "H20"),
                ("CNY", "LIC-CN", "H20"),
                ("EUR", "LIC-N", "H100"),
                ("USD", "LIC-N", "H20"),
                ("JPY", "LIC-CN", "H20"),
                ("USD", "LIC-X", "H20"),
                ("CNY", "", "H100"),
                ("USD", "LIC-CN", "H20"),
                ("EUR", "LIC-N", "H20"),
            ],
            1,
        )
    ]
    ledger.ingest_bytes(_feed(*lines), "csv")  # fmt: skip
    cur = ledger.store.cursor()
    rollup.prepare(cur)
    kernel = usecases.screening_kernel(ledger.reads)
    assert kernel[H20_RULE] > 0
    assert usecases.screening_sql(cur, usecases.screening_sql_text(cur)) == kernel
