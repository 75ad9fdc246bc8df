"""Roll-up totals at the int64 boundary: exact, or a clear error; never a wrap.

Each case is checked against Python ints (tests.reference.rollup), on the CPU
and on the CUDA twin (the simulator in CI), through the `run_rollup` fixture.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

from kernels import cpu
from kernels import layout as L
from kernels.scalar import carry_of, wide_product, wrapping_add
from ledger.domain.errors import LedgerError
from tests import reference
from tests.test_kernels import rollup_runner

# the CUDA simulator's atomics add numpy int64 scalars, which warn when they wrap
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


@pytest.fixture(params=["cpu", "cuda"])
def run_rollup(request):
    return rollup_runner(request.param)


INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
USD = 10**12  # one rate cell USD -> USD (rates are 10^-12 USD per unit)


def _lines(amount, quantity=None, lines=None, weight_tab=None) -> dict:
    """The roll-up's arguments for USD lines into one group, rate 1 on day 0."""
    amount = np.asarray(amount, np.int64)
    n = amount.shape[0]
    codes = np.zeros((L.N_SOURCES, n), np.uint16)
    num = np.full((1, 1, 1), USD, np.int64)
    weighted = weight_tab is not None
    return {
        "codes": codes, "term_src": np.zeros(0, np.int64), "term_tab": np.zeros((0, 1), np.int64),
        "weight_src": np.int64(L.CHIP if weighted else -1),
        "weight_tab": np.asarray(weight_tab if weighted else [0], np.int64),
        "group_target": np.zeros(1, np.int64), "day": codes[L.DAY],
        "currency": codes[L.CURRENCY], "amount": amount,
        "quantity": np.asarray(quantity if quantity is not None else np.ones(n), np.int32),
        "lines": np.asarray(lines if lines is not None else np.ones(n), np.int8),
        "num": num, "den": num.copy(), "ratio": np.ones((1, 1, 1)),
        "fast_max": np.full((1, 1, 1), 2**52, np.int64), "fixed_day": np.int64(-1),
        "day0": np.int64(0),
    }  # fmt: skip


def _run(run, arrays: dict) -> tuple[list[int], list[int]]:
    out = np.zeros((1, L.N_OUT), np.int64)
    err = np.zeros(L.ERR_SLOTS, np.int64)
    run(**arrays, out=out, err=err)
    return out[0].tolist(), err.tolist()


def _expected(arrays: dict) -> tuple[list[int], int]:
    a = arrays
    want, bad, beyond = reference.rollup(
        a["codes"], a["amount"], a["quantity"], a["lines"], a["term_src"], a["term_tab"],
        a["num"], a["den"], 0, 1, int(a["weight_src"]), a["weight_tab"],
    )  # fmt: skip
    assert bad == 0
    return want[0], beyond


def _split(total: int, n: int) -> list[int]:
    """n int64 amounts summing to total, all but the last equal."""
    base = total // n
    return [base] * (n - 1) + [total - base * (n - 1)]


@pytest.mark.parametrize(
    "total", [INT64_MAX, INT64_MAX + 1, INT64_MAX + 2**40, INT64_MIN, INT64_MIN - 1]
)
def test_amount_total_at_the_boundary(run_rollup, total):
    """40 large lines (reversals for the negative totals): a total just inside int64 is
    exact, one just beyond is reported in err and reads OUT_OF_RANGE. On CUDA each
    block's partial fits and only their combination in `out` goes beyond."""
    n = 40
    sign = -1 if total < 0 else 1
    arrays = _lines(_split(total, n), quantity=[sign * 7] * n, lines=[sign] * n)
    out, err = _run(run_rollup, arrays)
    want, beyond = _expected(arrays)
    assert out == want
    assert err[L.ERR_OUT_OF_RANGE] == beyond
    fits = INT64_MIN <= total <= INT64_MAX
    assert out[L.OUT_AMOUNT] == (total if fits else L.OUT_OF_RANGE)
    assert err == [0, L.NO_BAD_DAY, 0 if fits else 1 << L.OUT_AMOUNT]
    assert out[L.OUT_LINES] == sign * n and out[L.OUT_QUANTITY] == sign * 7 * n


def test_sums_that_leave_int64_and_return_are_exact(run_rollup):
    """The running sum passes 2^63 and comes back: the total fits, so it is exact, no error."""
    arrays = _lines([2**62] * 3 + [-(2**62)] * 3 + [5])
    out, err = _run(run_rollup, arrays)
    assert out[L.OUT_AMOUNT] == 5
    assert err == [0, L.NO_BAD_DAY, 0]


@pytest.mark.parametrize("n_threads", [1, 7])
@pytest.mark.parametrize("total", [INT64_MAX, INT64_MAX + 1, INT64_MIN - 1])
def test_hot_loop_and_thread_partials_at_the_boundary(n_threads, total):
    """28,672 lines small enough for the CPU's hot loop: with one thread the hot loop
    itself carries; with seven, each chunk's partial fits and only the combine overflows."""
    n = 7 * 4096
    arrays = _lines(_split(total, n))
    assert max(abs(a) for a in arrays["amount"].tolist()) < 2**49  # the hot path's range
    out, err = _run(lambda **a: cpu.rollup(**a, n_threads=n_threads), arrays)
    fits = INT64_MIN <= total <= INT64_MAX
    assert out[L.OUT_AMOUNT] == (total if fits else L.OUT_OF_RANGE)
    assert err[L.ERR_OUT_OF_RANGE] == (0 if fits else 1 << L.OUT_AMOUNT)
    assert out[L.OUT_LINES] == n


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("offset", [0, 2**62, -(2**62) - 5])
def test_cancelling_lines_past_the_hot_bound_are_exact(n_threads, offset):
    """Lines of +-(2^49 - 1): the sum of |amount| passes 2^62, so the hot loop's bound
    cannot prove its unchecked sums exact and the exact pass takes each chunk again.
    The total (small, or near an int64 end) is exact, and the lines without a rate,
    counted by the hot loop before the chunk is redone, are counted once."""
    n = 4 * 8192  # 2^14 lines per chunk or more: their sum of |amount| passes 2^62
    big = 2**49 - 1
    amounts = [big if k % 2 else -big for k in range(n)]
    amounts[0] += offset // 2
    amounts[1] += offset - offset // 2
    arrays = _lines(amounts, quantity=[2**31 - 1] * n, weight_tab=[2**31])
    no_rate = [5, 9000, n - 1]  # day 1 lies beyond the one-day rate table
    arrays["codes"][L.DAY, no_rate] = 1
    assert sum(abs(a) for a in amounts) > 2**62
    out, err = _run(lambda **a: cpu.rollup(**a, n_threads=n_threads), arrays)
    kept = [a for k, a in enumerate(amounts) if k not in no_rate]
    assert out[L.OUT_AMOUNT] == sum(kept)
    assert out[L.OUT_LINES] == n - len(no_rate)
    assert out[L.OUT_QUANTITY] == (2**31 - 1) * (n - len(no_rate))
    assert out[L.OUT_WEIGHTED] == L.OUT_OF_RANGE  # (2^31 - 1) x 2^31 x ~32,000 > 2^63
    assert err == [len(no_rate), 1, 1 << L.OUT_WEIGHTED]


def test_weighted_sums_near_the_hot_bound_are_exact():
    """quantity x weight summing to just below, then just past, int64's maximum with
    every product inside int64: the bound on the weighted sums sends the chunk to the
    exact pass, which keeps the one that fits and flags the one that does not."""
    for extra, fits in [(0, True), (1, False)]:
        weight = 2**40
        n = 2**23 // 2**10  # 8192 lines of quantity 2^10 - 1 ...
        quantity = [2**10 - 1] * n
        total = (2**10 - 1) * n * weight
        # ... and one line making the weighted total INT64_MAX (+ extra)
        rest = INT64_MAX - total + extra
        arrays = _lines([1] * (n + 1), quantity=[*quantity, 1], weight_tab=[rest, weight])
        arrays["codes"][L.CHIP, :n] = 1  # weight 2^40 for the n lines, `rest` for the last
        assert rest < 2**63 and (2**10 - 1) * weight < 2**63
        out, err = _run(lambda **a: cpu.rollup(**a, n_threads=1), arrays)
        assert out[L.OUT_WEIGHTED] == (INT64_MAX if fits else L.OUT_OF_RANGE)
        assert err[L.ERR_OUT_OF_RANGE] == (0 if fits else 1 << L.OUT_WEIGHTED)


@pytest.mark.parametrize(
    ("quantity", "weight", "weighted"),
    [
        ([2**31 - 1] * 2, 2**32 - 1, 2 * (2**31 - 1) * (2**32 - 1)),  # narrow products, sum beyond
        ([2**31 - 1], 2**32 - 1, (2**31 - 1) * (2**32 - 1)),  # one product just inside
        ([3, -1], 2**62, 2**63),  # a product beyond int64; the total just beyond
        ([-3, 1], 2**62, INT64_MIN),  # ... the total exactly the int64 minimum
        ([3, -2], 2**62, 2**62),  # a product beyond int64, the total well inside
    ],
)
def test_weighted_total_at_the_boundary(run_rollup, quantity, weight, weighted):
    """quantity x weight (the tpp-weighted sum) is exact past int64 per line and per total."""
    arrays = _lines([1] * len(quantity), quantity=quantity, weight_tab=[weight])
    out, err = _run(run_rollup, arrays)
    want, beyond = _expected(arrays)
    assert out == want
    fits = INT64_MIN <= weighted <= INT64_MAX
    assert out[L.OUT_WEIGHTED] == (weighted if fits else L.OUT_OF_RANGE)
    assert err[L.ERR_OUT_OF_RANGE] == beyond == (0 if fits else 1 << L.OUT_WEIGHTED)


@njit(cache=True)
def _wide_many(a, b, hi, lo, carries):
    for i in range(a.shape[0]):
        hi[i], lo[i] = wide_product(a[i], b[i])
        carries[i] = carry_of(a[i], b[i], wrapping_add(a[i], b[i]))


int64s = st.one_of(
    st.integers(INT64_MIN, INT64_MAX),
    st.sampled_from([INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX]),
)


@given(st.lists(st.tuples(int64s, int64s), min_size=1, max_size=30))
def test_wide_product_and_carry_equal_python_ints(pairs):
    """Compiled (CPU) and as plain Python on numpy scalars (what the CUDA simulator runs)."""
    a = np.array([p[0] for p in pairs], np.int64)
    b = np.array([p[1] for p in pairs], np.int64)
    hi, lo, carries = (np.zeros(len(pairs), np.int64) for _ in range(3))
    _wide_many(a, b, hi, lo, carries)
    for i, (x, y) in enumerate(pairs):
        assert int(hi[i]) * 2**64 + int(lo[i]) == x * y
        s = int(wrapping_add(a[i], b[i]))
        assert int(carries[i]) * 2**64 + s == x + y
        h, low = wide_product(a[i], b[i])
        assert int(h) * 2**64 + int(low) == x * y


def test_err_of_the_old_shape_is_refused(run_rollup):
    with pytest.raises(ValueError, match="kernels.layout.ERR_"):
        run_rollup(**_lines([1]), out=np.zeros((1, L.N_OUT), np.int64), err=np.zeros(2, np.int64))


def _big_lines(n: int) -> bytes:
    from tests.conftest import HEADER

    rows = [
        f"PO-BIG,{k},0,open,ACME-SG,2025-05-01,Nvidia,H100,1,10000000000000,USD,SG,OVS-2025,"
        "training,purchase,,,false,LIC-1"
        for k in range(1, n + 1)
    ]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def test_a_feed_that_would_make_a_stored_total_unrepresentable_is_refused(ledger):
    """10,000 valid lines of 10^15 cents each: the USD total would be 10^19 cents, past int64."""
    before = ledger.store.content_hash()
    with pytest.raises(LedgerError) as refused:
        ledger.ingest_bytes(_big_lines(10_000), "csv")
    assert refused.value.status == 422 and refused.value.kind == "total-out-of-range"
    assert "USD" in refused.value.detail
    assert ledger.store.content_hash() == before and ledger.entry_count() == 0


def test_a_stop_budget_cannot_be_passed_by_overflow(ledger):
    import json

    stop = [{"entity": "ACME-SG", "budget_code": "OVS-2025", "fiscal_year": 2026,
             "currency": "USD", "amount": "1000000.00", "action": "stop"}]  # fmt: skip
    ledger.load_reference("budgets", json.dumps(stop).encode(), "json")
    with pytest.raises(LedgerError) as refused:
        ledger.ingest_bytes(_big_lines(10_000), "csv")
    assert refused.value.status in (409, 422)
    assert ledger.entry_count() == 0
    [row] = ledger.budgets()["rows"]
    assert row["committed_minor"] == 0 and row["state"] == "ok"


def test_reporting_totals_beyond_int64_are_a_422_naming_the_currency(ledger):
    """9,000 lines of 10^15 cents fit in USD (9 x 10^18) but not in JPY (2 JPY a cent)."""
    ledger.ingest_bytes(_big_lines(9_000), "csv")
    assert ledger.totals([], "USD")["total"]["amount_minor"] == 9_000 * 10**15
    q = ledger
    for by in ([], ["entity"]):
        with pytest.raises(LedgerError) as refused:
            q.totals(by, "JPY")
        assert refused.value.kind == "total-out-of-range"
        assert refused.value.status == 422
        assert "JPY" in refused.value.detail and "amount" in refused.value.detail


def _two_groups_of_8e18_jpy() -> bytes:
    """8,000 lines of 10^15 cents, half H100 and half H200: each chip's JPY total is
    8 x 10^18 (within int64), their sum 1.6 x 10^19 is not."""
    from tests.conftest import HEADER

    rows = [
        f"PO-BIG,{k},0,open,ACME-SG,2025-05-01,Nvidia,{'H100' if k % 2 else 'H200'},1,"
        "10000000000000,USD,SG,OVS-2025,training,purchase,,,false,"
        for k in range(1, 8001)
    ]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@pytest.mark.slow  # a server and a CLI process
def test_a_grand_total_beyond_int64_is_a_422_not_a_wrapped_number(ledger, tmp_path):
    """Every row fits but the rows' sum does not: the answer is refused on every path
    (a numpy sum of the rows wrapped it to -2,446,744,073,709,551,616)."""
    import subprocess
    import sys

    from tests.test_api_support import ROOT, LiveServer

    ledger.ingest_bytes(_two_groups_of_8e18_jpy(), "csv")
    rows = ledger.totals(["chip_model"], "USD")["rows"]
    assert [r["amount_minor"] for r in rows] == [4 * 10**18, 4 * 10**18]
    with pytest.raises(LedgerError) as refused:
        ledger.totals(["chip_model"], "JPY")
    assert refused.value.kind == "total-out-of-range" and "JPY" in refused.value.detail
    db = str(ledger.store.path)
    ledger.close()
    cli = subprocess.run(
        [sys.executable, "-m", "cli.main", "--db", db, "totals", "--by", "chip_model",
         "--currency", "JPY"], cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert cli.returncode != 0 and "out of range" in cli.stderr.lower()
    assert "-2446744073709551616" not in cli.stdout + cli.stderr
    server = LiveServer(tmp_path / "api", reference=True).wait_ready()
    try:
        assert server.post_feed(_two_groups_of_8e18_jpy(), "csv").status_code == 201
        answer = server.client.get("/v1/totals", params={"by": "chip_model", "currency": "JPY"})
        assert answer.status_code == 422
        assert answer.json()["type"].endswith("total-out-of-range")
    finally:
        server.stop()
