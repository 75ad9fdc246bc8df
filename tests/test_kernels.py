"""Kernels against plain-Python references, on cpu and on cuda (simulated in CI)."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

from kernels import cpu
from kernels import layout as L
from kernels.scalar import muldiv_half_even, muldiv_half_even_exact
from ledger.domain.money import half_even_div
from tests import reference
from tests.strategies import amounts_minor, exponents, rates_e12

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


@njit(cache=True)
def _convert_many(a, num, den, ratio, fast_max, out):
    for i in range(a.shape[0]):
        out[i] = muldiv_half_even(a[i], num[i], den[i], ratio[i], fast_max[i])


@njit(cache=True)
def _convert_exact_many(a, num, den, out):
    for i in range(a.shape[0]):
        out[i] = muldiv_half_even_exact(a[i], num[i], den[i])


def _cells(num: int, den: int) -> tuple[float, int]:
    """The ratio and fast-path bound the queries module computes for a rate cell."""
    ratio = num / den
    x_limit = min(2.0**61, (2.0**61 / den - 2.0) * 2.0**52)
    fast = int(max(0.0, min(x_limit / ratio, 2.0**53) * 0.5)) if ratio > 0 else 0
    return ratio, fast


@given(
    st.lists(st.tuples(amounts_minor, rates_e12, rates_e12, exponents, exponents), min_size=1,
             max_size=40)
)  # fmt: skip
def test_conversion_equals_python_ints_on_both_paths(cases):
    a = np.array([c[0] for c in cases], np.int64)
    num = np.array([c[1] * 10 ** max(0, c[4] - c[3]) for c in cases], np.int64)
    den = np.array([c[2] * 10 ** max(0, c[3] - c[4]) for c in cases], np.int64)
    cells = [_cells(int(n), int(d)) for n, d in zip(num, den, strict=True)]
    ratio = np.array([c[0] for c in cells])
    fast = np.array([c[1] for c in cells], np.int64)
    fast_out = np.zeros(len(a), np.int64)
    exact_out = np.zeros(len(a), np.int64)
    _convert_many(a, num, den, ratio, fast, fast_out)
    _convert_exact_many(a, num, den, exact_out)
    for i in range(len(a)):
        want = half_even_div(int(a[i]) * int(num[i]), int(den[i]))
        if -(2**63) < want < 2**63:
            assert fast_out[i] == want, (a[i], num[i], den[i])
            assert exact_out[i] == want, (a[i], num[i], den[i])
        else:
            assert exact_out[i] == -(2**63)  # overflow is flagged, never wrapped


def test_exact_half_way_cases():
    # 1 JPY at 0.005 USD = 0.5 cent; 3 JPY = 1.5 cents; 5 JPY = 2.5 cents; negatives mirror
    a = np.array([1, 3, 5, -1, -3, -5, 10**15, -(10**15) + 1], np.int64)
    num = np.full(len(a), 5 * 10**9 * 100, np.int64)  # rate 0.005 e12, x 10^(2-0)
    den = np.full(len(a), 10**12, np.int64)
    ratio, fast = _cells(int(num[0]), int(den[0]))
    out = np.zeros(len(a), np.int64)
    _convert_many(a, num, den, np.full(len(a), ratio), np.full(len(a), fast, np.int64), out)
    assert out.tolist() == [half_even_div(int(x) * int(num[0]), 10**12) for x in a]
    assert out[:6].tolist() == [0, 2, 2, 0, -2, -2]


def _random_ledger(rng, n: int, n_cur: int = 4, n_days: int = 30):
    codes = rng.integers(0, 6, size=(L.N_SOURCES, n)).astype(np.uint16)
    codes[L.CURRENCY] = rng.integers(0, n_cur, n)
    codes[L.DAY] = rng.integers(5, 5 + n_days, n)
    amount = rng.integers(-(10**15), 10**15, n)
    amount[: n // 10] = rng.integers(-50, 50, n // 10)  # small amounts hit exact halves often
    quantity = rng.integers(-5, 9, n).astype(np.int32)
    lines = rng.integers(-1, 2, n).astype(np.int8)
    rates = rng.integers(1, 10**15, size=(n_cur, n_days + 5))
    rates[:, :2] = 0  # no rate yet on the first days of the table
    rates[0] = 10**12
    rates[1, ::3] = 125 * 10**9
    return codes, amount, quantity, lines, rates


def _tables(rates, exps, target: int):
    num = rates * (10 ** np.maximum(0, exps[target] - exps))[:, None]
    den = rates[target][None, :] * (10 ** np.maximum(0, exps - exps[target]))[:, None]
    ratio = np.zeros(num.shape)
    fast = np.zeros(num.shape, np.int64)
    for idx in np.ndindex(num.shape):
        if num[idx] > 0 and den[idx] > 0:
            ratio[idx], fast[idx] = _cells(int(num[idx]), int(den[idx]))
    return num[None], den[None], ratio[None], fast[None]


@pytest.fixture(params=["cpu", "cuda"])
def run_rollup(request):
    return rollup_runner(request.param)


def rollup_runner(backend: str):
    """The roll-up of one backend, called with the CPU twin's keyword arguments."""
    if backend == "cpu":

        def run(**arrays):
            cpu.rollup(**arrays, n_threads=numba.get_num_threads())

        return run
    from kernels import cuda

    def run_cuda(**arrays):
        arrays.pop("n_threads", None)
        cuda.rollup(**arrays, threads_per_block=8)

    return run_cuda


@pytest.mark.parametrize("n", [1, 37, 300])
def test_rollup_matches_reference(run_rollup, n):
    rng = np.random.default_rng(n)
    codes, amount, quantity, lines, rates = _random_ledger(rng, n)
    exps = np.array([2, 0, 3, 2], np.int64)
    num, den, ratio, fast = _tables(rates, exps, target=0)
    # group by source 0 (6 values) x source 2 (6 values); filter source 4 to codes {0, 1, 2}
    term_src = np.array([0, 2, 4], np.int64)
    term_tab = np.full((3, 6), -1, np.int64)
    term_tab[0] = np.arange(6) * 6
    term_tab[1] = np.arange(6)
    term_tab[2, :3] = 0
    out = np.zeros((36, 4), np.int64)
    err = np.zeros(L.ERR_SLOTS, np.int64)
    run_rollup(
        codes=codes, term_src=term_src, term_tab=term_tab, weight_src=np.int64(0),
        weight_tab=np.zeros(6, np.int64), group_target=np.zeros(36, np.int64), day=codes[L.DAY],
        currency=codes[L.CURRENCY], amount=amount, quantity=quantity, lines=lines, num=num, den=den,
        ratio=ratio, fast_max=fast, fixed_day=np.int64(-1), day0=np.int64(5), out=out, err=err,
    )  # fmt: skip
    want, bad, beyond = reference.rollup(
        codes, amount, quantity, lines, term_src, term_tab, num, den, 5, 36, 0, np.zeros(6)
    )
    assert out.tolist() == want
    assert err[L.ERR_BAD_LINES] == bad
    assert err[L.ERR_OUT_OF_RANGE] == beyond


@pytest.mark.parametrize("n_terms", [0, 1, 5])
def test_rollup_terms_on_one_source_merge(run_rollup, n_terms):
    """Several terms on the same source (vendor and chip_model both read the chip code),
    and any number of terms: each compiles its own loop, all agree with the reference."""
    rng = np.random.default_rng(11 + n_terms)
    codes, amount, quantity, lines, rates = _random_ledger(rng, 400)
    amount //= 1000  # few groups: keep their sums inside int64
    num, den, ratio, fast = _tables(rates, np.array([2, 0, 3, 2], np.int64), target=0)
    term_src = np.array([2, 2, 0, 4, 5][:n_terms], np.int64)
    term_tab = np.full((n_terms, 6), -1, np.int64)
    widths = [2, 3, 2, 1, 1]
    stride = 1
    for k in range(n_terms):
        # term k maps code c to (c % widths[k]) x stride; code 5 is filtered out by term 0
        term_tab[k] = (np.arange(6) % widths[k]) * stride
        stride *= widths[k]
    if n_terms:
        term_tab[0, 5] = -1
    n_groups = stride
    out = np.zeros((n_groups, 4), np.int64)
    err = np.zeros(L.ERR_SLOTS, np.int64)
    run_rollup(
        codes=codes, term_src=term_src, term_tab=term_tab, weight_src=np.int64(-1),
        weight_tab=np.zeros(6, np.int64), group_target=np.zeros(n_groups, np.int64),
        day=codes[L.DAY], currency=codes[L.CURRENCY], amount=amount, quantity=quantity, lines=lines, num=num,
        den=den, ratio=ratio, fast_max=fast, fixed_day=np.int64(-1), day0=np.int64(5), out=out,
        err=err,
    )  # fmt: skip
    want, bad, beyond = reference.rollup(
        codes, amount, quantity, lines, term_src, term_tab, num, den, 5, n_groups
    )
    assert out[:, :3].tolist() == [w[:3] for w in want]
    assert err[L.ERR_BAD_LINES] == bad
    assert err[L.ERR_OUT_OF_RANGE] == beyond == 0


def test_rollup_independent_of_thread_count():
    rng = np.random.default_rng(5)
    codes, amount, quantity, lines, rates = _random_ledger(rng, 20_000)
    exps = np.array([2, 0, 3, 2], np.int64)
    num, den, ratio, fast = _tables(rates, exps, target=0)
    results = []
    for threads in (1, 2, 7):
        out = np.zeros((6, 4), np.int64)
        err = np.zeros(L.ERR_SLOTS, np.int64)
        cpu.rollup(
            codes, np.array([1], np.int64), np.arange(6, dtype=np.int64)[None, :], np.int64(0),
            np.ones(6, np.int64), np.zeros(6, np.int64), codes[L.DAY], codes[L.CURRENCY], amount, quantity,
            lines, num, den, ratio, fast, np.int64(-1), np.int64(5), threads, out, err,
        )  # fmt: skip
        results.append((out.tolist(), err.tolist()))
    assert results[0] == results[1] == results[2]


def _random_screen_inputs(rng, n: int = 200, n_chips: int = 5, n_rules: int = 5) -> dict:
    return {
        "chip": rng.integers(0, n_chips, n).astype(np.uint16),
        "destination": rng.integers(0, 6, n).astype(np.uint16),
        "entity": rng.integers(0, 3, n).astype(np.uint16),
        "day": rng.integers(0, 40, n).astype(np.uint16),
        "flags": rng.integers(0, 32, n).astype(np.uint8),  # 16: IDENTITY_MISSING
        "chip_tpp": np.array([15832.0, 2368.0, 4992.0, 1548.0, 3000.0])[:n_chips],
        "chip_area": np.array([814.0, 814.0, 826.0, 295.0, 600.0])[:n_chips],
        "chip_origin": rng.integers(0, 2, n_chips).astype(np.int32),
        "entity_hq": np.array([0, 1, 2], np.int32),
        "entity_parent_hq": np.array([-1, 0, -1], np.int32),
        "rule_kind": np.arange(n_rules, dtype=np.int64) % 5,
        "rule_from": rng.integers(0, 20, n_rules),
        "rule_to": np.where(rng.random(n_rules) < 0.5, -1, 30 + rng.integers(0, 10, n_rules)),
        "rule_num": np.tile([4800, 4800, 1.6, 5.92, 1600, 3.2], (n_rules, 1)).astype(float),
        "rule_dest": rng.random((n_rules, 6)) < 0.5,
        "rule_buyer": rng.random((n_rules, 6)) < 0.3,
        "rule_origin": rng.random((n_rules, 6)) < 0.7,
        "rule_product": rng.random((n_rules, n_chips)) < 0.4,
        "rule_exempt": rng.random((n_rules, 6)) < 0.2,
    }


def _screen_reference(a: dict) -> list[int]:
    """Plain Python: the rules as DESIGN section 1 states them."""
    out = []
    for i in range(len(a["chip"])):
        f, c, d = int(a["flags"][i]), int(a["chip"][i]), int(a["day"][i])
        bits = 0
        if f & 8:
            tpp, area = float(a["chip_tpp"][c]), float(a["chip_area"][c])
            pd = tpp / area
            hq, parent = (
                int(a["entity_hq"][a["entity"][i]]),
                int(a["entity_parent_hq"][a["entity"][i]]),
            )
            for r in range(len(a["rule_kind"])):
                if d < a["rule_from"][r] or (a["rule_to"][r] >= 0 and d > a["rule_to"][r]):
                    continue
                if not a["rule_origin"][r, a["chip_origin"][c]]:
                    continue
                t_min, t_max, p_min, p_max, t_dense, p_dense = a["rule_num"][r]
                scoped = (
                    a["rule_dest"][r, a["destination"][i]]
                    or a["rule_buyer"][r, hq]
                    or (parent >= 0 and a["rule_buyer"][r, parent])
                )
                licensed, lease, reviewed = bool(f & 4), bool(f & 1), bool(f & 2)
                named = not f & 16  # a lease naming its owner and operator
                kind = int(a["rule_kind"][r])
                hit = {
                    0: scoped
                    and not licensed
                    and (tpp >= t_min or (tpp >= t_dense and pd >= p_dense)),
                    1: scoped
                    and not licensed
                    and tpp < t_max
                    and (
                        (t_min <= tpp and p_min <= pd < p_max)
                        or (tpp >= t_dense and p_dense <= pd < p_max)
                    ),
                    2: scoped and not licensed and bool(a["rule_product"][r, c]),
                    3: bool(a["rule_product"][r, c]) and not a["rule_exempt"][r, hq],
                    4: lease and tpp >= t_min and not (reviewed and named),
                }[kind]
                if hit:
                    bits |= 1 << r
        out.append(bits)
    return out


@pytest.mark.parametrize("backend", ["cpu", "cuda"])
@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_screen_matches_reference(backend, seed):
    from kernels import dispatch

    rng = np.random.default_rng(seed)
    arrays = _random_screen_inputs(rng, n=400)
    out = np.zeros(len(arrays["chip"]), np.uint64)
    dispatch.screen(out=out, which=backend, **arrays)
    assert [int(x) for x in out] == _screen_reference(arrays)
    assert out.any()


def test_rollup_with_more_near_ties_than_the_pending_buffer():
    # every line lands exactly on half a unit, so each one needs the exact pass;
    # more of them than cpu.PENDING forces the rescan of the rest of the chunk
    n = cpu.PENDING * 2 + 101
    codes = np.zeros((L.N_SOURCES, n), np.uint16)
    codes[L.DAY] = 5
    codes[8, -3:] = 1  # three lines before any rate: bad, counted once each
    amount = np.arange(n, dtype=np.int64) * 2 + 1  # odd amounts x 0.5
    num = np.array([[[0, 0, 0, 0, 0, 5 * 10**11]]], np.int64)
    den = np.array([[[10**12] * 6]], np.int64)
    ratio = np.where(num > 0, num / den, 0.0)
    fast = np.full(num.shape, 2**40, np.int64)
    out = np.zeros((1, 4), np.int64)
    err = np.zeros(L.ERR_SLOTS, np.int64)
    cpu.rollup(
        codes, np.zeros(0, np.int64), np.zeros((0, 1), np.int32), np.int64(-1),
        np.zeros(1, np.int64), np.zeros(1, np.int64), codes[L.DAY], codes[L.CURRENCY], amount,
        np.ones(n, np.int32), np.ones(n, np.int8), num, den, ratio, fast, np.int64(-1),
        np.int64(0), 1, out, err,
    )  # fmt: skip
    good = amount[:-3]
    assert out[0, L.OUT_AMOUNT] == sum(half_even_div(int(a) * 5 * 10**11, 10**12) for a in good)
    assert out[0, L.OUT_LINES] == n - 3
    assert err.tolist() == [3, 1, 0]  # 3 bad lines, the first on day 1, every total in range


def test_rollup_runs_in_a_forked_child():
    """A process forked after the kernels' thread pool exists (a pre-forking server) gets its
    own pool: its roll-up finishes and matches the parent's."""
    import os
    import signal
    import warnings

    rng = np.random.default_rng(9)
    codes, amount, quantity, lines, rates = _random_ledger(rng, 20_000)
    amount //= 1000
    num, den, ratio, fast = _tables(rates, np.array([2, 0, 3, 2], np.int64), target=0)

    def run() -> list:
        out = np.zeros((6, 4), np.int64)
        err = np.zeros(L.ERR_SLOTS, np.int64)
        cpu.rollup(
            codes, np.array([1], np.int64), np.arange(6, dtype=np.int64)[None, :], np.int64(-1),
            np.zeros(6, np.int64), np.zeros(6, np.int64), codes[L.DAY], codes[L.CURRENCY], amount, quantity,
            lines, num, den, ratio, fast, np.int64(-1), np.int64(5), 2, out, err,
        )  # fmt: skip
        return out.tolist() + [err.tolist()]

    parent = run()  # creates the pool in this process
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads alive
        pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into pytest
        try:
            signal.alarm(120)  # a child whose pool never runs is killed: the test fails
            os.write(write_end, repr(run()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as answer:
        child = answer.read()
    os.waitpid(pid, 0)
    assert child == repr(parent)
