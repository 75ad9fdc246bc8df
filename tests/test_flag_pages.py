"""The screen's counts and pages (kernels.flags) against a plain-Python reference: every
(entry, rule) pair built, sorted and sliced."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import flags
from tests import reference


@st.composite
def screens(draw):
    n = draw(st.integers(0, 300))
    n_rules = draw(st.integers(1, 64))
    words = st.integers(0, 2**n_rules - 1)
    sparse = st.one_of(st.just(0), st.sampled_from([1 << k for k in range(n_rules)]), words)
    bits = np.array(draw(st.lists(sparse, min_size=n, max_size=n)), np.uint64)
    party = np.array(sorted(draw(st.sets(st.integers(0, max(n - 1, 0)), max_size=n))), np.int64)
    fy = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), np.uint16)
    return bits, party, fy, n_rules


@settings(max_examples=60, deadline=None)
@given(screens(), st.integers(-1, 2), st.integers(0, 2**64 - 1), st.booleans(),
       st.integers(0, 400), st.integers(0, 50), st.integers(1, 3))  # fmt: skip
def test_counts_and_page_match_the_sorted_pairs(
    screen, fy_code, select, select_party, offset, limit, n_threads
):
    bits, party, fy, n_rules = screen
    if not len(bits):
        party = np.zeros(0, np.int64)
    select &= 2**n_rules - 1
    want_counts, want_page = reference.flag_pairs(
        bits, party, fy, fy_code, n_rules, select, select_party, offset, limit
    )
    counts = np.zeros(n_rules + 1, np.int64)
    flags.count(bits, party, fy, fy_code, n_rules, n_threads, counts)
    assert counts.tolist() == want_counts
    seqs, rules = np.zeros(limit, np.int64), np.zeros(limit, np.int64)
    written = flags.page(bits, party, fy, fy_code, np.uint64(select), select_party, n_rules,
                         offset, seqs, rules)  # fmt: skip
    assert list(zip(seqs[:written].tolist(), rules[:written].tolist(), strict=True)) == want_page


def test_lowest_bit_of_every_single_bit_word():
    for k in range(64):
        assert flags._lowest_bit(np.uint64(1) << np.uint64(k)) == k
        assert (
            flags._lowest_bit((np.uint64(1) << np.uint64(k)) | (np.uint64(1) << np.uint64(63))) == k
        )


def test_counts_over_several_chunks_match_numpy():
    rng = np.random.default_rng(7)
    n, n_rules = 50_000, 40  # above the 4096-entry chunk floor: two chunks on two threads
    bits = np.where(
        rng.random(n) < 0.6,
        np.uint64(1) << rng.integers(0, n_rules, n).astype(np.uint64),
        np.uint64(0),
    ) | np.where(rng.random(n) < 0.1, np.uint64(1 << 39), np.uint64(0))
    fy = rng.integers(0, 3, n).astype(np.uint16)
    party = np.flatnonzero(rng.random(n) < 0.01).astype(np.int64)
    counts = np.zeros(n_rules + 1, np.int64)
    flags.count(bits, party, fy, 1, n_rules, 2, counts)
    in_year = fy == 1
    want = [
        int((((bits >> np.uint64(k)) & np.uint64(1)) != 0)[in_year].sum()) for k in range(n_rules)
    ]
    assert counts.tolist() == [*want, int(in_year[party].sum())]


def test_licence_candidates_sort_and_gather_extremes():
    """kernels.licences.sort_candidates against numpy's lexsort, with the packed word's
    extremes: int32 quantities of both signs, the last currency and day codes."""
    from kernels import layout as L
    from kernels.licences import sort_candidates

    rng = np.random.default_rng(3)
    n = 20_000
    out = np.where(rng.random(n) < 0.4, L.LIC_COVERED << L.LIC_SHIFT, 0).astype(np.uint8)
    licence = rng.integers(1, 4, n).astype(np.uint16)
    lic_slot = np.array([-1, 2, 0, 1], np.int32)
    day = rng.choice(np.array([0, 1, 7, 65_534, 65_535], np.uint16), n)
    quantity = rng.choice(np.array([-(2**31), -1, 0, 1, 2**31 - 1], np.int32), n)
    amount = rng.choice(np.array([-(2**63), -1, 0, 2**63 - 1], np.int64), n)
    currency = rng.choice(np.array([0, 1, 65_535], np.uint16), n)
    order, seg, g_q, g_a, g_c, g_d = sort_candidates(
        out, licence, lic_slot, day, quantity, amount, currency, np.int64(3)
    )
    idx = np.flatnonzero(out)
    slot = lic_slot[licence[idx]]
    want = idx[np.lexsort((idx, day[idx], slot))]
    assert order.tolist() == want.tolist()
    assert seg.tolist() == [0, *np.cumsum(np.bincount(slot, minlength=3)).tolist()]
    for got, column in ((g_q, quantity), (g_a, amount), (g_c, currency), (g_d, day)):
        assert got.tolist() == column[want].tolist()


def test_a_fiscal_year_before_every_line_flags_nothing(ledger):
    """A year below the first fiscal-year code must not read as "every year" (-1)."""
    from ledger.resident import columns as C
    from tests.conftest import GOLDEN_CSV

    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    assert ledger.compliance()["total"] > 0
    for year in (C.FY0 - 1, C.FY0 - 500, C.FY0 + 2**16):
        answer = ledger.compliance(fiscal_year=year)
        assert answer["total"] == 0 and answer["lines"] == []
        assert all(c["lines"] == 0 for c in answer["counts"])
