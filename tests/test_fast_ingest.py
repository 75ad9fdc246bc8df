"""The ingest fast routes (issue 14) give the answers of the general routes they stand for:
the same parts of every price, the same faults for bad input, the same stored rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import cells
from ledger.domain import validate as v
from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger

PRICE_ALPHABET = "0123456789.. \t-+e\u00a0"


def _both_routes(texts: list[str | None]):
    sent = pa.array(texts, pa.string())
    present = np.asarray(sent.is_valid(), bool)
    fast = cells.prices(sent, present)
    slow = cells.prices_regex(sent)
    return fast, slow


def _assert_same_parts(fast, slow) -> None:
    units_f, frac_f, len_f, shape_f = fast
    units_s, frac_s, len_s, shape_s = slow
    assert shape_f.tolist() == shape_s.tolist()
    ok = shape_s  # the parts of a cell without the form are never read
    assert units_f[ok].tolist() == units_s[ok].tolist()
    assert frac_f[ok].tolist() == frac_s[ok].tolist()
    assert len_f[ok].tolist() == len_s[ok].tolist()


@given(st.lists(st.one_of(st.none(), st.text(PRICE_ALPHABET, min_size=1, max_size=40)),
                min_size=1, max_size=30))  # fmt: skip
def test_price_scan_splits_every_price_as_the_regex_does(texts):
    _assert_same_parts(*_both_routes(texts))


@pytest.mark.parametrize(
    "texts",
    [
        ["0", "1", "12.5", "12.50", "12.500000", "0.000", "007.10", "999999999999999"],
        ["1234567890123456", "1.", ".5", "1..2", "1.2.3", "1.2.", "..", "."],
        ["1." + "0" * 18, "1." + "0" * 19, "1." + "9" * 18, "1." + "9" * 19, "0.0001"],
        ["999999999999999.999999999999999999", "5", None, "3.14"],
    ],
)
def test_price_scan_edges(texts):
    fast, slow = _both_routes(texts)
    _assert_same_parts(fast, slow)
    assert fast[3].tolist() == slow[3].tolist()


def test_a_price_with_another_byte_takes_the_regex_route(monkeypatch):
    calls = []
    real = cells.prices_regex
    monkeypatch.setattr(cells, "prices_regex", lambda s: calls.append(1) or real(s))
    _both_routes(["12.5", "3"])  # the test's own call to the slow route counts once
    assert len(calls) == 1
    _both_routes(["12.5", " 3"])  # white space: only the regex route trims it
    assert len(calls) == 3
    fast, _ = _both_routes(["12.5", " 3 ", "-1", "+2"])
    assert fast[3].tolist() == [True, True, False, False]
    assert fast[0].tolist()[:2] == [12, 3]


def test_a_sliced_price_column_is_read_at_its_offset():
    sent = pa.array(["9.99", "1.5", "20", "abc"], pa.string()).slice(1, 2)
    units, frac, frac_len, shape = cells.prices(sent, np.ones(2, bool))
    assert (units.tolist(), frac.tolist(), frac_len.tolist(), shape.tolist()) == (
        [1, 20], [5, 0], [1, 0], [True, True],
    )  # fmt: skip


INTEGER_ALPHABET = "0123456789--- \t+.x\u00a0"


@given(
    st.lists(st.one_of(st.none(), st.text(INTEGER_ALPHABET, min_size=1, max_size=24)),
             min_size=1, max_size=30),
    st.sampled_from([None, 0, 7]),
)  # fmt: skip
def test_integer_scan_reads_every_cell_as_the_regex_does(cells_text, default):
    sent = pa.array(cells_text, pa.string())
    present = np.asarray(sent.is_valid(), bool)
    filled = sent if default is None else pa.compute.fill_null(sent, str(default))
    fast_values, fast_ok = cells.integers(sent, filled, present, default)
    slow_values, slow_ok = cells.integers_regex(filled)
    assert fast_ok.tolist() == slow_ok.tolist()
    assert fast_values[slow_ok].tolist() == slow_values[slow_ok].tolist()


@pytest.mark.parametrize("text", ["0", "-0", "-5", "123456789012345678", "1234567890123456789",
                                  "-", "--1", "1-", "5-5", "+5", " 5", "5 ", "0007"])  # fmt: skip
def test_integer_scan_edges(text):
    sent = pa.array([text, None], pa.string())
    present = np.array([True, False])
    fast = cells.integers(sent, sent, present, None)
    slow = cells.integers_regex(sent)
    assert fast[1].tolist() == slow[1].tolist()
    assert fast[0][slow[1]].tolist() == slow[0][slow[1]].tolist()


# -- whole feeds: the faults of bad input are those of the general route ------


def _raw(**cols) -> pa.Table:
    base = {
        "order_id": ["PO-9", "PO-9", "PO-9"],
        "line_no": [1, 2, 3],
        "entity": ["ACME-CN"] * 3,
        "order_date": ["2025-02-01"] * 3,
        "supplier": ["Huawei"] * 3,
        "chip_model": ["Ascend 910B"] * 3,
        "quantity": [1, 2, 3],
        "unit_price": ["10.5", "20", "0.12"],
        "currency": ["CNY"] * 3,
        "destination": ["CN"] * 3,
        "budget_code": ["DOM-2025"] * 3,
        "workload": ["training"] * 3,
    }
    base.update(cols)
    return pa.table(base)


def _faults(ledger, raw: pa.Table) -> list[tuple]:
    with pytest.raises(LedgerError) as e:
        v.validate(raw, ledger.store.reference_view())
    return [(r.row, r.field, r.message) for r in e.value.errors]


def test_integer_faults_name_the_same_rows_and_messages(ledger, monkeypatch):
    raw = _raw(line_no=["1", "x2", "-3"], quantity=["1", "2", "1234567890123456789"],
               revision=[None, "4", "+1"])  # fmt: skip
    fast = _faults(ledger, raw)
    monkeypatch.setattr(cells, "integers", lambda s, f, p, d: cells.integers_regex(f))
    assert _faults(ledger, raw) == fast
    assert fast == [
        (1, "line_no", "'x2' is not an integer"),
        (2, "line_no", "-3 is not in [1, 2147483647]"),
        (2, "revision", "'+1' is not an integer (a leading + is not accepted: write '1')"),
        (2, "quantity", "'1234567890123456789' is not an integer"),
    ]


def test_price_faults_name_the_same_rows_and_messages(ledger, monkeypatch):
    raw = _raw(unit_price=["10.555", "1..2", "12.50"])
    fast = _faults(ledger, raw)
    monkeypatch.setattr(cells, "prices", lambda sent, present: cells.prices_regex(sent))
    assert _faults(ledger, raw) == fast
    assert fast == [
        (0, "unit_price", "'10.555' has more decimals than CNY allows (2)"),
        (1, "unit_price", "'1..2' is not a non-negative decimal"),
    ]


@pytest.mark.parametrize(
    "dates, why",
    [
        (pa.array([dt.datetime(2025, 2, 1, 10, 30)] * 3, pa.timestamp("s")), "has a time of day"),
        (pa.array([dt.datetime(2025, 2, 1)] * 3, pa.timestamp("ms", "UTC")), "has a time zone"),
    ],
)
def test_typed_date_faults_still_show_the_date_as_text(ledger, dates, why):
    faults = _faults(ledger, _raw(order_date=dates))
    shown = v._temporal_text(dates).to_pylist()
    assert faults == [
        (r, "order_date", f"{shown[r]!r} {why}; order_date is a date (YYYY-MM-DD)")
        for r in range(3)
    ]


def test_typed_dates_are_stored_as_their_text_would_be(ledger):
    typed = _raw(order_date=pa.array([dt.date(2025, 2, 1), None, dt.date(2025, 2, 3)]))
    faults = _faults(ledger, typed)
    assert faults == [(1, "order_date", "required field is missing")]
    ok = v.validate(
        _raw(order_date=pa.array([dt.date(2025, 2, d) for d in (1, 2, 3)])),
        ledger.store.reference_view(),
    )
    text = v.validate(
        _raw(order_date=["2025-02-01", "2025-02-02", "2025-02-03"]), ledger.store.reference_view()
    )
    assert ok.equals(text)


# -- the budget guard's |amount| delta and its encoding reused by the resident extend --


def _feed_delta_reference(entries: pa.Table) -> dict[str, int]:
    """The per-line loop the vectorised feed_delta replaced (Python ints)."""
    delta: dict[str, int] = {}
    for kind, amount, currency in zip(
        entries["entry_kind"].to_pylist(), entries["amount_minor"].to_pylist(),
        entries["currency"].to_pylist(), strict=True,
    ):  # fmt: skip
        sign = -1 if kind == "reversal" else 1
        delta[currency] = delta.get(currency, 0) + sign * abs(amount)
    return delta


@given(st.lists(st.tuples(st.sampled_from(["line", "reversal"]),
                          st.integers(-(10**15), 10**15),
                          st.sampled_from(["USD", "CNY", "JPY", "KWD"])), min_size=1, max_size=60))  # fmt: skip
def test_feed_delta_is_the_exact_per_line_sum(rows):
    from ledger.resident import bounds

    entries = pa.table(
        {
            "entry_kind": [r[0] for r in rows],
            "amount_minor": pa.array([r[1] for r in rows], pa.int64()),
            "currency": [r[2] for r in rows],
        }
    )
    got = bounds.feed_delta(entries)
    want = _feed_delta_reference(entries)
    assert got == want and list(got) == list(want)  # the same currencies, first use first


def test_feed_delta_does_not_wrap_past_int64():
    from ledger.resident import bounds

    n = 10_000  # 10^4 lines of 10^15: 10^19 > 2^63
    entries = pa.table({
        "entry_kind": ["line"] * n,
        "amount_minor": pa.array([10**15] * n, pa.int64()),
        "currency": ["USD"] * n,
    })  # fmt: skip
    assert bounds.feed_delta(entries) == {"USD": n * 10**15}


NEW_VALUES_CSV = """{header}
PO-7,1,0,open,ACME-CN,2025-02-01,Huawei,Ascend 910B,3,10.00,CNY,CN,NEW-BUDGET-A,inference,purchase,,,false,LIC-NEW-1
PO-7,2,0,open,ACME-SG,2025-05-01,Nvidia,H100,1,5.00,USD,AE,NEW-BUDGET-B,training,lease,Owner X,Operator Y,true,
PO-7,3,0,open,ACME-SG,2025-05-02,Nvidia,H100,2,5.00,USD,AE,NEW-BUDGET-A,training,purchase,,,false,LIC-NEW-2
"""


def _resident(ledger) -> dict:
    cols = ledger.cols
    view = cols.view()
    out = {k: v[: cols.n].copy() for k, v in view.items() if k != "codes"}
    out["codes"] = view["codes"][:, : cols.n].copy()
    out["dicts"] = {name: list(d.values) for name, d in cols.dicts.items()}
    return out


def test_the_extend_that_reuses_the_guard_encoding_matches_a_fresh_load(
    ledger, db_path, monkeypatch
):
    from tests.conftest import GOLDEN_CSV, HEADER

    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv", "golden")
    cols = ledger.cols  # resident before the next feed: it is extended, not loaded
    before = {name: len(d) for name, d in cols.dicts.items()}
    encodings = []
    real_encode = type(cols).encode
    monkeypatch.setattr(
        type(cols), "encode", lambda self, e, grow=True: encodings.append(grow) or
        real_encode(self, e, grow),
    )  # fmt: skip
    ledger.ingest_bytes(NEW_VALUES_CSV.format(header=HEADER).encode(), "csv", "new-values")
    assert encodings == [False]  # the guard's; the extend reused it
    monkeypatch.undo()
    extended = _resident(ledger)
    grew = [n for n, d in extended["dicts"].items() if len(d) > before[n]]
    assert {"budget_code", "license_ref"} <= set(grew)  # the feed brought new codes
    ledger.close()
    fresh = Ledger.open(db_path, cache=False)
    try:
        loaded = _resident(fresh)
    finally:
        fresh.close()
    assert extended["dicts"] == loaded["dicts"]
    for name in ("codes", "amount", "quantity", "lines", "flags", "licence"):
        assert np.array_equal(extended[name], loaded[name]), name


def test_an_encoding_made_against_other_dictionaries_is_not_reused(ledger):
    from tests.conftest import GOLDEN_CSV

    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv", "golden")
    cols = ledger.cols
    stale = {"dict_sizes": (0,) * 9, "codes": np.zeros((1, 0), np.uint16)}
    assert cols._adopt(pa.table({"x": [1]}), stale) is False


@pytest.mark.parametrize(
    "texts, sliced, want",
    [
        (["a", "b"], None, False),
        (["a", ""], None, True),
        (["a", None], None, False),  # a null is no empty string
        ([None, None], None, False),
        (["", "a", "b"], (1, 2), False),  # a slice is read at its offset
        (["a", "b", ""], (1, 2), True),
    ],
)
def test_empty_strings_are_found_from_the_offsets(texts, sliced, want):
    col = pa.array(texts, pa.string())
    if sliced:
        col = col.slice(*sliced)
    assert cells.has_empty(col) is want
    assert bool(pa.compute.any(pa.compute.equal(col, "")).as_py() or False) is want
