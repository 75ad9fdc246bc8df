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

from kernels.scalar import OVERFLOW, muldiv_half_even, screen_line


@njit(parallel=True, cache=True)
def rollup(
    codes, term_src, term_tab, weight_src, weight_tab, group_target, day, currency, amount,
    quantity, lines, num, den, ratio, fast_max, fixed_day, day0, n_threads, out, err,
):  # fmt: skip
    """out[g] += (lines, quantity, converted amount, quantity x weight).

    err = (count of lines that cannot be converted, the earliest such order day).
    """
    n = amount.shape[0]
    n_groups = out.shape[0]
    n_terms = term_src.shape[0]
    n_days = num.shape[2]
    n_chunks = max(1, min(n_threads, n // 4096 + 1))
    chunk = (n + n_chunks - 1) // n_chunks
    parts = np.zeros((n_chunks, n_groups, 4), dtype=np.int64)
    bad = np.zeros((n_chunks, 2), dtype=np.int64)
    for t in prange(n_chunks):
        acc = np.zeros((n_groups, 4), dtype=np.int64)
        bad_count = 0
        bad_day = np.int64(2**62)
        lo = t * chunk
        hi = min(n, lo + chunk)
        for i in range(lo, hi):
            g = 0
            keep = True
            for k in range(n_terms):
                v = term_tab[k, codes[term_src[k], i]]
                if v < 0:
                    keep = False
                    break
                g += v
            if not keep:
                continue
            target = group_target[g]
            if target < 0:
                continue
            d = (fixed_day if fixed_day >= 0 else np.int64(day[i])) - day0
            c = currency[i]
            converted = OVERFLOW
            if 0 <= d < n_days and den[target, c, d] > 0 and num[target, c, d] > 0:
                converted = muldiv_half_even(
                    amount[i], num[target, c, d], den[target, c, d], ratio[target, c, d],
                    fast_max[target, c, d],
                )  # fmt: skip
            if converted == OVERFLOW:
                bad_count += 1
                bad_day = min(bad_day, np.int64(day[i]))
                continue
            acc[g, 0] += lines[i]
            acc[g, 1] += quantity[i]
            acc[g, 2] += converted
            acc[g, 3] += np.int64(quantity[i]) * weight_tab[codes[weight_src, i]]
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
    n_rules = rule_kind.shape[0]
    for i in prange(n):
        f = flags[i]
        bits = np.uint64(0)
        if f & 8:
            c = chip[i]
            tpp = chip_tpp[c]
            density = tpp / chip_area[c] if chip_area[c] > 0 else 0.0
            d = np.int64(day[i])
            hq = entity_hq[entity[i]]
            parent = entity_parent_hq[entity[i]]
            origin = chip_origin[c]
            for r in range(n_rules):
                if d < rule_from[r] or (rule_to[r] >= 0 and d > rule_to[r]):
                    continue
                buyer = rule_buyer[r, hq] or (parent >= 0 and rule_buyer[r, parent])
                if screen_line(
                    rule_kind[r], tpp, density, rule_product[r, c], rule_origin[r, origin],
                    rule_dest[r, destination[i]], buyer, rule_exempt[r, hq], (f & 1) != 0,
                    (f & 2) != 0, (f & 4) != 0, rule_num[r, 0], rule_num[r, 1], rule_num[r, 2],
                    rule_num[r, 3], rule_num[r, 4], rule_num[r, 5],
                ):  # fmt: skip
                    bits |= np.uint64(1) << np.uint64(r)
        out[i] = bits


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
