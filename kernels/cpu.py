"""CPU kernels: numba `parallel=True`, chunks over `prange`, a private partial per chunk.

Each kernel is a loop over typed arrays that fills `out`. Inputs (see
`ledger.columns` for how they are built):
  codes[src, i]     uint16 dictionary code of source column `src` for entry i
  term_src[t]       the source column of term t; term_tab[t, code] its contribution
                    to the group index, or -1 when the entry is filtered out
  group_target[g]   which conversion table group g converts into (-1: skip the group)
  num/den/ratio/fast_max[target, currency, day - day0]: the conversion cells
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.scalar import (
    OVERFLOW,
    cell_of,
    group_of,
    muldiv_half_even,
    round_if_clear,
    screen_entry,
)


@njit(cache=True, inline="always")
def _add(acc, g, i, converted, lines, quantity, codes, weight_src, weight_tab):
    acc[g, 0] += lines[i]
    acc[g, 1] += quantity[i]
    acc[g, 2] += converted
    if weight_src >= 0:
        acc[g, 3] += np.int64(quantity[i]) * weight_tab[codes[weight_src, i]]


@njit(cache=True, inline="always")
def _locate(
    codes, term_src, term_tab, group_target, currency, day, fixed_day, day0, n_cur, n_days,
    num_flat, i,
):  # fmt: skip
    """(group, conversion cell) of entry i: group -1 when dropped, cell -1 when it has no rate."""
    g = group_of(codes, term_src, term_tab, group_target, i)
    if g < 0:
        return g, np.int64(-1)
    cell = cell_of(group_target[g], currency[i], day[i], fixed_day, day0, n_cur, n_days)
    # num is 0 in a cell where either currency has no rate yet
    if cell >= 0 and num_flat[cell] <= 0:
        cell = np.int64(-1)
    return g, cell


PENDING = 16384  # near-tie lines remembered per chunk for the exact pass


@njit(parallel=True, cache=True)
def rollup(
    codes, term_src, term_tab, weight_src, weight_tab, group_target, day, currency, amount,
    quantity, lines, num, den, ratio, fast_max, fixed_day, day0, n_threads, out, err,
):  # fmt: skip
    """out[g] += (lines, quantity, converted amount, quantity x weight).

    err = (count of lines that cannot be converted, the earliest such order day).
    The hot loop converts with a float whose rounding is provably exact; the
    rare lines near a half (or huge) are remembered and converted exactly in a
    second, separate loop, so the exact 128-bit code never slows the hot one.
    """
    n = amount.shape[0]
    n_groups = out.shape[0]
    n_cur = num.shape[1]
    n_days = num.shape[2]
    # flat views of the conversion cells: one offset per line instead of three indexes
    num_flat = num.reshape(-1)
    den_flat = den.reshape(-1)
    ratio_flat = ratio.reshape(-1)
    fast_flat = fast_max.reshape(-1)
    n_chunks = max(1, min(n_threads, n // 4096 + 1))
    chunk = (n + n_chunks - 1) // n_chunks
    parts = np.zeros((n_chunks, n_groups, 4), dtype=np.int64)
    bad = np.zeros((n_chunks, 2), dtype=np.int64)
    for t in prange(n_chunks):
        acc = np.zeros((n_groups, 4), dtype=np.int64)
        pending = np.empty(PENDING, dtype=np.int64)
        n_pending = 0
        rescan_from = -1  # pending overflowed: re-examine the chunk from here
        bad_count = 0
        bad_day = np.int64(2**62)
        lo = t * chunk
        hi = min(n, lo + chunk)
        for i in range(lo, hi):
            g, cell = _locate(
                codes, term_src, term_tab, group_target, currency, day, fixed_day, day0, n_cur,
                n_days, num_flat, i,
            )  # fmt: skip
            if g < 0:
                continue
            if cell < 0:
                bad_count += 1
                bad_day = min(bad_day, np.int64(day[i]))
                continue
            converted, clear = round_if_clear(amount[i], ratio_flat[cell])
            if not clear:
                if n_pending < PENDING:
                    pending[n_pending] = i
                    n_pending += 1
                elif rescan_from < 0:
                    rescan_from = i
                continue
            _add(acc, g, i, converted, lines, quantity, codes, weight_src, weight_tab)
        # the exact pass: remembered lines, then (rarely) the rest of the chunk
        start = rescan_from if rescan_from >= 0 else hi
        for j in range(n_pending + (hi - start)):
            i = pending[j] if j < n_pending else start + (j - n_pending)
            g, cell = _locate(
                codes, term_src, term_tab, group_target, currency, day, fixed_day, day0, n_cur,
                n_days, num_flat, i,
            )  # fmt: skip
            if g < 0 or cell < 0:
                continue  # dropped, or already counted as bad in the hot loop
            if j >= n_pending and round_if_clear(amount[i], ratio_flat[cell])[1]:
                continue  # converted in the hot loop
            converted = muldiv_half_even(
                amount[i], num_flat[cell], den_flat[cell], ratio_flat[cell], fast_flat[cell]
            )
            if converted == OVERFLOW:
                bad_count += 1
                bad_day = min(bad_day, np.int64(day[i]))
                continue
            _add(acc, g, i, converted, lines, quantity, codes, weight_src, weight_tab)
        parts[t] = acc
        bad[t, 0] = bad_count
        bad[t, 1] = bad_day
    for t in range(n_chunks):
        out += parts[t]
    err[0] = bad[:, 0].sum()
    err[1] = bad[:, 1].min()


@njit(parallel=True, cache=True)
def screen(
    chip, destination, entity, day, flags, chip_tpp, chip_area, chip_origin, entity_hq,
    entity_parent_hq, rule_kind, rule_from, rule_to, rule_num, rule_dest, rule_buyer,
    rule_origin, rule_product, rule_exempt, out,
):  # fmt: skip
    """out[i] = bit set of the rules that flag entry i (0 for entries not active).

    flags bits: 1 lease, 2 identity reviewed, 4 has licence, 8 active (current open line).
    rule_num[r] = (tpp_min, tpp_max, pd_min, pd_max, tpp_min_dense, pd_min_dense).
    """
    n = chip.shape[0]
    for i in prange(n):
        out[i] = screen_entry(
            i, chip, destination, entity, day, flags, chip_tpp, chip_area, chip_origin,
            entity_hq, entity_parent_hq, rule_kind, rule_from, rule_to, rule_num, rule_dest,
            rule_buyer, rule_origin, rule_product, rule_exempt,
        )  # fmt: skip


@njit(parallel=True, cache=True)
def read_floor(columns_u64, n_threads, out):
    """The bandwidth floor: sum the bytes a kernel reads, as uint64 words, in parallel."""
    n_cols = len(columns_u64)
    total = np.uint64(0)
    for k in range(n_cols):
        col = columns_u64[k]
        n = col.shape[0]
        n_chunks = max(1, n_threads)
        chunk = (n + n_chunks - 1) // n_chunks
        part = np.zeros(n_chunks, dtype=np.uint64)
        for t in prange(n_chunks):
            s = np.uint64(0)
            for i in range(t * chunk, min(n, (t + 1) * chunk)):
                s += col[i]
            part[t] = s
        total += part.sum()
    out[0] = total
